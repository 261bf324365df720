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


def batch_norm(params: Mapping[str, Any]) -> keras.layers.BatchNormalization:
    """Batch norm whose moving statistics (what validation and inference use) catch up within an
    epoch or two. Keras's default momentum, 0.99, keeps ~460 steps of history: a trial of 1300
    images at batch 32 (40 steps an epoch) validates on statistics still mostly at their initial
    values for its first 5-10 epochs, so a batch-norm model sits near chance at exactly the epochs
    a pruner compares, and the best models of a search are pruned (digits: every trial of 0.994).
    0.9 (PyTorch's default, ``momentum=0.1`` there) keeps ~45 steps."""
    return keras.layers.BatchNormalization(momentum=float(params.get("batch_norm_momentum", 0.9)))


def dense_stack(x: Any, params: Mapping[str, Any], layers: int) -> Any:
    """``layers`` dense layers of ``hidden_units`` (times ``hidden_shrink`` per layer), each
    followed by optional batch norm, the activation and dropout."""
    units = float(params["hidden_units"])
    normalize = bool(params.get("batch_norm", False))
    for _ in range(layers):
        x = keras.layers.Dense(max(1, int(round(units))), use_bias=not normalize)(x)
        if normalize:
            x = batch_norm(params)(x)
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
