"""The pretrained family: a keras.applications backbone as feature extractor, with a
fresh dense head. Grey images are repeated to 3 channels, images smaller than the
backbone accepts are resized up, and the backbone's own ``preprocess_input`` runs
inside the model (on 0-255 pixels), so the saved model needs nothing beside it.

``weights``: ``imagenet`` downloads Keras's ImageNet weights on first use (needs the
internet once; cached in ~/.keras/models), ``none`` starts from random weights, any
other value is a path to a weights file saved from the same backbone
(``backbone.save_weights("vgg16.weights.h5")``), relative to the study file.
``trainable_layers``: how many of the backbone's last layers train (0 = frozen).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.catalog import ACTIVATIONS, Choice, Domain, Float, Int, ModelFamily
from hpo.errors import ConfigError

if TYPE_CHECKING:
    import keras

# backbone -> (keras.applications constructor, its preprocessing module, smallest input side)
BACKBONES: dict[str, tuple[str, str, int]] = {
    "vgg16": ("VGG16", "vgg16", 32),
    "resnet50": ("ResNet50", "resnet", 32),
    "mobilenet_v3_small": ("MobileNetV3Small", "mobilenet_v3", 32),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet", 32),
}

FAMILY = ModelFamily(
    name="pretrained",
    description="a keras.applications backbone with a new head",
    build="hpo.models.pretrained:build",
    params={
        "backbone": Choice(*BACKBONES, default="mobilenet_v3_small"),
        "weights": Domain("text", "imagenet", choices=("imagenet", "none")),
        "trainable_layers": Int(0, 1000, 0),
        "dense_layers": Int(0, 8, 1),
        "hidden_units": Int(1, 65536, 128),
        "activation": Choice(*ACTIVATIONS, default="relu"),
        "dropout": Float(0.0, 1.0, 0.0, high_open=True),
    },
)


def weights_argument(value: str, base_dir: Path) -> str | None:
    """``weights`` as keras.applications takes it: "imagenet", None, or a file path."""
    if value == "imagenet":
        return "imagenet"
    if value == "none":
        return None
    path = Path(value)
    return str(path if path.is_absolute() else base_dir / path)


def build(
    params: Mapping[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: Any, base_dir: Path = Path(".")
) -> keras.Model:
    import keras

    from hpo.models.layers import dense_stack

    constructor, module, smallest = BACKBONES[str(params["backbone"])]
    height, width, channels = input_shape
    inputs = keras.Input(shape=input_shape)
    x = task.augment_layers(inputs)
    if min(height, width) < smallest:
        height, width = max(height, smallest), max(width, smallest)
        x = keras.layers.Resizing(height, width)(x)
    if channels == 1:
        x = keras.layers.Concatenate()([x, x, x])
    x = keras.layers.Rescaling(255.0)(x)  # hpo feeds [0, 1]; the backbones expect 0-255
    x = getattr(keras.applications, module).preprocess_input(x)
    weights = weights_argument(str(params["weights"]), base_dir)
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise ConfigError(f"params.weights: {weights}: no such weights file (paths are relative to the study file)")
    try:
        backbone = getattr(keras.applications, constructor)(
            include_top=False, input_shape=(height, width, 3), pooling="avg", weights=weights)
    except Exception as e:
        if weights != "imagenet" or "URL fetch failure" not in str(e):
            raise
        raise ConfigError(
            f"params.weights: cannot download the ImageNet weights of {params['backbone']} (no internet here?); "
            "put Keras's weights file in ~/.keras/models/, or use weights: none or a local weights file"
        ) from e
    trainable = int(params["trainable_layers"])
    backbone.trainable = trainable > 0
    if trainable:
        for layer in backbone.layers[:-trainable]:
            layer.trainable = False
    # training=False keeps a frozen backbone's batch-norm statistics as they are.
    x = backbone(x, training=False if trainable == 0 else None)
    x = dense_stack(x, params, int(params["dense_layers"]))
    return keras.Model(inputs, task.head(x, n_outputs), name=f"pretrained_{params['backbone']}")
