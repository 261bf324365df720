"""The Keras side of each task in ``hpo.catalog.TASKS``: output head, loss, metrics,
target scaling, in-model augmentation and flips.

Written against ``keras.ops`` only, so it trains the same under the TensorFlow,
JAX and PyTorch backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import ops

from hpo.catalog import TASKS, resolve
from hpo.metrics import classification_metrics  # also registers the metrics for load_model


@keras.saving.register_keras_serializable(package="hpo")
def masked_mse(y_true: Any, y_pred: Any) -> Any:
    """Mean squared error over the labelled targets only (NaN = not labelled).

    Most Kaggle rows label 4 of 15 points; the rest must not pull predictions to 0.
    """
    y_pred = ops.cast(y_pred, "float32")
    mask = ops.logical_not(ops.isnan(y_true))
    target = ops.where(mask, y_true, 0.0)
    squared = ops.where(mask, ops.square(y_pred - target), 0.0)
    labelled = ops.sum(ops.cast(mask, "float32"), axis=-1)
    return ops.sum(squared, axis=-1) / ops.maximum(labelled, 1.0)


@keras.saving.register_keras_serializable(package="hpo")
class MaskedMSE(keras.losses.Loss):
    """``masked_mse`` times ``scale``: keypoints are learnt in pixels, but scaled by 1/c^2 the
    loss (and so every optimizer's step size) is what it is on targets in [-1, 1]."""

    def __init__(self, scale: float = 1.0, name: str = "masked_mse", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.scale = float(scale)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return masked_mse(y_true, y_pred) * self.scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="hpo")
class MaskedRMSE(keras.metrics.Metric):
    """RMSE over labelled targets, in the data's units (targets scaled by ``scale``)."""

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
    """One task's head, loss and metrics; ``augment`` holds this trial's data.augment values."""

    name: str = "task"
    augment: Mapping[str, Any] = field(default_factory=dict)

    def head(self, x: Any, n_outputs: int) -> Any:
        return keras.layers.Dense(n_outputs, dtype="float32", name="outputs")(x)

    def loss(self, image_width: int) -> Any:
        return masked_mse

    def metrics(self, n_outputs: int, image_width: int, objectives: tuple[str, ...] = ()) -> list[Any]:
        return [MaskedRMSE()]

    def targets(self, y: np.ndarray, image_width: int) -> np.ndarray:
        """Targets as the model is trained on them."""
        return y.astype(np.float32)

    def decode(self, x: Any, image_width: int) -> Any:
        """Layers after the head that turn its output into what a user of the model wants."""
        return x

    def augment_layers(self, x: Any) -> Any:
        """In-model augmentation (Keras preprocessing layers: active in training only)."""
        a = self.augment
        if a.get("horizontal_flip"):
            x = keras.layers.RandomFlip("horizontal")(x)
        if a.get("rotation"):
            x = keras.layers.RandomRotation(float(a["rotation"]), fill_mode="nearest")(x)
        if a.get("zoom"):
            x = keras.layers.RandomZoom(float(a["zoom"]), fill_mode="nearest")(x)
        if a.get("translation"):
            t = float(a["translation"])
            x = keras.layers.RandomTranslation(t, t, fill_mode="nearest")(x)
        if a.get("contrast"):
            x = keras.layers.RandomContrast(float(a["contrast"]))(x)
        return x

    @property
    def flips_targets(self) -> bool:
        """Whether a horizontal flip must also move the targets (done outside the model)."""
        return False

    def flip(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[:, :, ::-1, :], y


class Classification(Task):
    def head(self, x: Any, n_outputs: int) -> Any:
        return keras.layers.Dense(n_outputs, activation="softmax", dtype="float32", name="classes")(x)

    def loss(self, image_width: int) -> Any:
        return "sparse_categorical_crossentropy"

    def metrics(self, n_outputs: int, image_width: int, objectives: tuple[str, ...] = ()) -> list[Any]:
        return classification_metrics(n_outputs, auc="val_auc" in objectives)

    def targets(self, y: np.ndarray, image_width: int) -> np.ndarray:
        return y


class Regression(Task):
    """Any vector target; RMSE in the target's units; NaN targets are left out of loss and metric."""


class Keypoints(Task):
    """Keypoints in pixels: the head predicts them centred and scaled to about [-1, 1], and a
    fixed layer after it maps that back to pixels, so the saved model outputs pixels."""

    def head(self, x: Any, n_outputs: int) -> Any:
        return keras.layers.Dense(n_outputs, dtype="float32", name="keypoints")(x)

    def loss(self, image_width: int) -> Any:
        return MaskedMSE(scale=1.0 / _centre(image_width) ** 2)

    def decode(self, x: Any, image_width: int) -> Any:
        c = _centre(image_width)
        return keras.layers.Rescaling(c, offset=c, dtype="float32", name="keypoints_px")(x)

    def augment_layers(self, x: Any) -> Any:
        return x  # the flip moves the keypoints too: FlipAugmented does it on the batches

    @property
    def flips_targets(self) -> bool:
        return bool(self.augment.get("horizontal_flip"))

    def flip(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mirror images left-right; keypoints mirror x and swap left_*/right_* columns."""
        from hpo.data.keypoints import FLIP_PERMUTATION

        y = y.copy()
        y[:, 0::2] = (x.shape[2] - 1) - y[:, 0::2]  # pixel x in [0, W-1] mirrors to W-1-x
        return x[:, :, ::-1, :], y[:, FLIP_PERMUTATION]


def _centre(width: int) -> float:
    # Pixel x in [0, W-1]: (W-1)/2 is the image's centre and half its extent.
    return (width - 1) / 2.0


def get_task(name: str, augment: Mapping[str, Any] | None = None) -> Task:
    cls = resolve(TASKS[name].impl)
    return cls(name, dict(augment or {}))  # type: ignore[no-any-return]


class FlipAugmented(keras.utils.PyDataset):
    """Shuffled batches with a random half of each batch flipped horizontally (targets too)."""

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
