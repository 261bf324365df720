"""Layers the built-in families share: activations, dense stacks, the optimizer.

Only built-in Keras layers are used, so a saved model loads with plain
``keras.saving.load_model`` (``lecun_tanh`` is tanh between two Rescaling layers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras


def activation(name: str, x: Any) -> Any:
    if name == "lecun_tanh":  # LeCun's scaled tanh: 1.7159 * tanh(2x/3), unit variance for unit inputs
        x = keras.layers.Rescaling(2.0 / 3.0)(x)
        x = keras.layers.Activation("tanh")(x)
        return keras.layers.Rescaling(1.7159)(x)
    return keras.layers.Activation(name)(x)


def dense_stack(x: Any, params: Mapping[str, Any], layers: int) -> Any:
    """``layers`` dense layers of ``hidden_units`` (times ``hidden_shrink`` per layer), each
    followed by optional batch norm, the activation and dropout."""
    units = float(params["hidden_units"])
    batch_norm = bool(params.get("batch_norm", False))
    for _ in range(layers):
        x = keras.layers.Dense(max(1, int(round(units))), use_bias=not batch_norm)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = activation(str(params["activation"]), x)
        if float(params.get("dropout") or 0) > 0:
            x = keras.layers.Dropout(float(params["dropout"]))(x)
        units *= float(params.get("hidden_shrink", 1.0))
    return x


def make_optimizer(params: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    lr = float(params["learning_rate"])
    name = params["optimizer"]
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "adamw":
        return keras.optimizers.AdamW(lr)
    if name == "nadam":
        return keras.optimizers.Nadam(lr)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=float(params.get("momentum") or 0.0))
    raise ValueError(f"unknown optimizer {name!r}")
