"""What differs per task: the output head, the loss, the metrics, target scaling, flips.

Written against ``keras.ops`` only, so it trains the same under the TensorFlow,
JAX and PyTorch backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="hpo")
def masked_mse(y_true: Any, y_pred: Any) -> Any:
    """Mean squared error over the labelled keypoints only (NaN = not labelled).

    Most Kaggle rows label 4 of 15 points; the rest must not pull predictions to 0.
    """
    y_pred = ops.cast(y_pred, "float32")
    mask = ops.logical_not(ops.isnan(y_true))
    target = ops.where(mask, y_true, 0.0)
    squared = ops.where(mask, ops.square(y_pred - target), 0.0)
    labelled = ops.sum(ops.cast(mask, "float32"), axis=-1)
    return ops.sum(squared, axis=-1) / ops.maximum(labelled, 1.0)


@keras.saving.register_keras_serializable(package="hpo")
class MaskedRMSE(keras.metrics.Metric):
    """RMSE in pixels over labelled keypoints, from targets scaled by ``scale``."""

    def __init__(self, scale: float = 1.0, name: str = "rmse", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.scale = float(scale)
        self.squared = self.add_variable(shape=(), initializer="zeros", name="squared")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = ops.cast(y_pred, "float32")
        mask = ops.logical_not(ops.isnan(y_true))
        target = ops.where(mask, y_true, 0.0)
        self.squared.assign_add(ops.sum(ops.where(mask, ops.square(y_pred - target), 0.0)))
        self.count.assign_add(ops.sum(ops.cast(mask, "float32")))

    def result(self) -> Any:
        return ops.sqrt(self.squared / ops.maximum(self.count, 1.0)) * self.scale

    def reset_state(self) -> None:
        self.squared.assign(0.0)
        self.count.assign(0.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


@dataclass(frozen=True)
class Task:
    name: str

    def head(self, x: Any, n_outputs: int) -> Any:
        if self.name == "keypoints":
            return keras.layers.Dense(n_outputs, dtype="float32", name="keypoints")(x)
        return keras.layers.Dense(n_outputs, activation="softmax", dtype="float32", name="classes")(x)

    def loss(self) -> Any:
        return masked_mse if self.name == "keypoints" else "sparse_categorical_crossentropy"

    def metrics(self, image_width: int) -> list[Any]:
        if self.name == "keypoints":
            return [MaskedRMSE(scale=_centre(image_width))]
        return ["accuracy"]

    def targets(self, y: np.ndarray, image_width: int) -> np.ndarray:
        """Targets as the model sees them: keypoints centred and scaled to about [-1, 1]."""
        if self.name == "keypoints":
            c = _centre(image_width)
            return ((y - c) / c).astype(np.float32)
        return y

    def flip(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mirror images left-right; keypoints mirror x and swap left_*/right_* columns."""
        x = x[:, :, ::-1, :]
        if self.name != "keypoints":
            return x, y
        from hpo.data.keypoints import FLIP_PERMUTATION

        y = y.copy()
        y[:, 0::2] = -y[:, 0::2]  # centred x: the mirror of x is -x
        return x, y[:, FLIP_PERMUTATION]


def _centre(width: int) -> float:
    # Pixel x in [0, W-1] mirrors to W-1-x, so centring on (W-1)/2 makes a flip a negation.
    return (width - 1) / 2.0


def get_task(name: str) -> Task:
    return Task(name)


class FlipAugmented(keras.utils.PyDataset):
    """Shuffled batches with a random half of each batch flipped horizontally."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, batch_size: int, task: Task, seed: int, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size, self.task = x, y, batch_size, task
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x, y = self.x[rows].copy(), self.y[rows].copy()
        flip = self.rng.random(len(rows)) < 0.5
        if flip.any():
            x[flip], y[flip] = self.task.flip(x[flip], y[flip])
        return x, y

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.x))
