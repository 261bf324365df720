"""The CNN family: VGG-style blocks of ``convs_per_block`` convolutions (filters growing
by ``filter_growth`` per block), optional batch norm, max or average pooling, then a
flatten or global pool and dense layers with dropout."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.catalog import ACTIVATIONS, Bool, Choice, Float, Int, ModelFamily

if TYPE_CHECKING:
    import keras

FAMILY = ModelFamily(
    name="cnn",
    description="convolution blocks, then dense layers",
    build="hpo.models.cnn:build",
    params={
        "conv_blocks": Int(1, 8, 3),
        "convs_per_block": Int(1, 4, 1),
        "filters": Int(1, 4096, 32),
        "filter_growth": Float(1.0, 4.0, 2.0),  # 32 -> 64 -> 128
        "kernel_size": Int(1, 15, 3),
        "activation": Choice(*ACTIVATIONS, default="relu"),
        "batch_norm": Bool(False),
        "batch_norm_momentum": Float(0.0, 1.0, 0.9, high_open=True),  # see layers.batch_norm
        "pooling": Choice("max", "avg"),
        "global_pool": Bool(False),  # global average pool instead of flatten
        "conv_dropout": Float(0.0, 1.0, 0.0, high_open=True),
        "dense_layers": Int(0, 16, 1),
        "hidden_units": Int(1, 65536, 128),
        "hidden_shrink": Float(0.05, 1.0, 1.0),  # each dense layer this times the previous
        "dropout": Float(0.0, 1.0, 0.0, high_open=True),
    },
)


def build(
    params: Mapping[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: Any, base_dir: Path = Path(".")
) -> keras.Model:
    import keras

    from hpo.models.layers import activation, batch_norm, dense_stack

    inputs = keras.Input(shape=input_shape)
    x = task.augment_layers(inputs)
    normalize = bool(params["batch_norm"])
    pool = keras.layers.MaxPooling2D if params["pooling"] == "max" else keras.layers.AveragePooling2D
    height, width = input_shape[0], input_shape[1]
    for block in range(int(params["conv_blocks"])):
        filters = int(round(int(params["filters"]) * float(params["filter_growth"]) ** block))
        for _ in range(int(params["convs_per_block"])):
            x = keras.layers.Conv2D(filters, int(params["kernel_size"]), padding="same", use_bias=not normalize)(x)
            if normalize:
                x = batch_norm(params)(x)
            x = activation(str(params["activation"]), x)
        if min(height, width) > 1:  # small inputs (8x8 digits) run out of room to pool
            x = pool(2, padding="same")(x)
            height, width = -(-height // 2), -(-width // 2)
        if float(params["conv_dropout"]) > 0:
            x = keras.layers.Dropout(float(params["conv_dropout"]))(x)
    x = keras.layers.GlobalAveragePooling2D()(x) if params["global_pool"] else keras.layers.Flatten()(x)
    x = dense_stack(x, params, int(params["dense_layers"]))
    return keras.Model(inputs, task.head(x, n_outputs), name="cnn")
