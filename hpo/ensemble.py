"""Ensembles and test-time augmentation as plain Keras models (stock layers only, so the
saved file loads with ``keras.saving.load_model`` and nothing else).

A flip is a fixed linear map, not a Lambda (which Keras refuses to load in safe mode):
permute the width axis last, multiply by the anti-identity, permute back. For keypoints
the prediction on the flipped image is mapped back by another fixed matrix: x -> W-1-x
and every left_* point swapped with its right_* twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np


def average(models: Sequence[keras.Model], trials: Sequence[Any]) -> keras.Model:
    """One model whose output is the mean of ``models``' outputs (each kept whole, named trial_N)."""
    inputs = keras.Input(shape=tuple(models[0].inputs[0].shape[1:]), name="pixels")
    outputs = []
    for model, trial in zip(models, trials, strict=True):
        model.name = f"trial_{trial}"
        outputs.append(model(inputs))
    return keras.Model(inputs, keras.layers.Average(name="ensemble")(outputs), name="ensemble")


def _fixed_dense(kernel: np.ndarray, bias: np.ndarray, name: str) -> keras.layers.Dense:
    layer = keras.layers.Dense(kernel.shape[1], trainable=False, dtype="float32", name=name)
    layer.build((None, kernel.shape[0]))
    layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return layer


def flip_layers(x: Any, width: int) -> Any:
    """``x`` (N, H, W, C) mirrored left-right with stock layers."""
    x = keras.layers.Permute((1, 3, 2), name="width_last")(x)
    reverse = np.eye(width)[::-1]
    x = _fixed_dense(reverse, np.zeros(width), "mirror")(x)
    return keras.layers.Permute((1, 3, 2), name="width_back")(x)


def keypoint_unflip_matrix(width: int) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) taking keypoints predicted on a mirrored image back to the original."""
    from hpo.data.keypoints import FLIP_PERMUTATION

    n = len(FLIP_PERMUTATION)
    kernel, bias = np.zeros((n, n)), np.zeros(n)
    for j, source in enumerate(FLIP_PERMUTATION):
        is_x = j % 2 == 0
        kernel[source, j] = -1.0 if is_x else 1.0
        bias[j] = (width - 1) if is_x else 0.0
    return kernel, bias


def with_flip_tta(model: keras.Model, task: str, image_shape: Sequence[int]) -> keras.Model:
    """``model`` whose prediction is averaged with its prediction on the mirrored image."""
    inputs = keras.Input(shape=tuple(image_shape), name="pixels")
    width = int(image_shape[1])
    plain = model(inputs)
    mirrored = model(flip_layers(inputs, width))
    if task == "keypoints":
        kernel, bias = keypoint_unflip_matrix(width)
        mirrored = _fixed_dense(kernel, bias, "unflip_keypoints")(mirrored)
    return keras.Model(inputs, keras.layers.Average(name="tta_flip")([plain, mirrored]), name=f"{model.name}_tta")
