"""Build and compile a Keras 3 CNN from a trial's params and a task head.

The shape covers the notebooks this project grew from: ``conv_blocks`` blocks of
Conv2D (filters growing by ``filter_growth``), optional batch norm, max-pool
after each; then dense layers with dropout; then the task's head.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from hpo.tasks import Task


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


def build_model(
    params: Mapping[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: Task
) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = inputs
    batch_norm = bool(params["batch_norm"])
    activation = params["activation"]
    height, width = input_shape[0], input_shape[1]
    for block in range(int(params["conv_blocks"])):
        filters = int(round(int(params["filters"]) * float(params["filter_growth"]) ** block))
        x = keras.layers.Conv2D(
            filters, int(params["kernel_size"]), padding="same", use_bias=not batch_norm
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(activation)(x)
        if min(height, width) > 1:  # small inputs (8x8 digits) run out of room to pool
            x = keras.layers.MaxPooling2D(2, padding="same")(x)
            height, width = -(-height // 2), -(-width // 2)
        if float(params["conv_dropout"]) > 0:
            x = keras.layers.Dropout(float(params["conv_dropout"]))(x)
    x = keras.layers.Flatten()(x)
    for _ in range(int(params["dense_layers"])):
        x = keras.layers.Dense(int(params["hidden_units"]), activation=activation)(x)
        if float(params["dropout"]) > 0:
            x = keras.layers.Dropout(float(params["dropout"]))(x)
    outputs = task.head(x, n_outputs)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=make_optimizer(params), loss=task.loss(), metrics=task.metrics(input_shape[1])
    )
    return model
