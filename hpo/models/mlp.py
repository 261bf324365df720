"""The MLP family: flattened pixels through ``dense_layers`` dense layers (deep stacks
included: the activations notebook compared sigmoid, tanh, relu and LeCun's tanh at
depths 5 to 40)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.catalog import ACTIVATIONS, Bool, Choice, Float, Int, ModelFamily

if TYPE_CHECKING:
    import keras

FAMILY = ModelFamily(
    name="mlp",
    description="dense layers on the flattened image",
    build="hpo.models.mlp:build",
    params={
        "dense_layers": Int(1, 256, 2),
        "hidden_units": Int(1, 65536, 128),
        "hidden_shrink": Float(0.05, 1.0, 1.0),
        "activation": Choice(*ACTIVATIONS, default="relu"),
        "batch_norm": Bool(False),
        "batch_norm_momentum": Float(0.0, 1.0, 0.9, high_open=True),  # see layers.batch_norm
        "dropout": Float(0.0, 1.0, 0.0, high_open=True),
    },
)


def build(
    params: Mapping[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: Any, base_dir: Path = Path(".")
) -> keras.Model:
    import keras

    from hpo.models.layers import dense_stack

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(task.augment_layers(inputs))
    x = dense_stack(x, params, int(params["dense_layers"]))
    return keras.Model(inputs, task.head(x, n_outputs), name="mlp")
