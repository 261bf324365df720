"""One Keras training run from params + data: shared by trials and by ``hpo train``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from hpo.data.datasets import Dataset
from hpo.errors import TrialError
from hpo.modelfile import load_for_resume
from hpo.models.factory import build_model, reset_keras
from hpo.space import StudySpec, augment_of
from hpo.tasks import FlipAugmented, get_task


class EpochRecorder(keras.callbacks.Callback):
    """Tracks the monitored metric per epoch and the best epoch; a NaN loss ends the fit.

    NaN is checked on the epoch's logs only: reading the loss after every batch (as
    ``keras.callbacks.TerminateOnNaN`` does) forces a device-to-host copy per batch, which
    stalls a GPU's pipeline; a diverged epoch's mean loss is NaN or infinite all the same.

    It must come before the pruning callback: a NaN reported to a pruner would get
    the trial PRUNED (counted as finished) instead of FAILED with its reason.
    """

    def __init__(self, monitor: str, direction: str) -> None:
        super().__init__()
        self.monitor, self.direction = monitor, direction
        self.values: list[float] = []
        self.best_epoch: int | None = None
        self.param_count: int | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.param_count = count_params(self.model)

    @property
    def best_value(self) -> float | None:
        return None if self.best_epoch is None else self.values[self.best_epoch]

    def _better(self, value: float) -> bool:
        best = self.best_value
        return best is None or (value < best if self.direction == "minimize" else value > best)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if not math.isfinite(float(logs.get("loss", 0.0))) or (value is not None and not math.isfinite(float(value))):
            raise TrialError(f"loss became NaN or infinite in epoch {epoch}")
        if value is None:
            return
        self.record(float(value))

    def record(self, value: float) -> None:
        self.values.append(value)
        if math.isfinite(value) and self._better(value):
            self.best_epoch = len(self.values) - 1


@dataclass
class FitResult:
    model: keras.Model
    recorder: EpochRecorder
    history: dict[str, list[float]] = field(default_factory=dict)


def fit(
    spec: StudySpec,
    params: Mapping[str, Any],
    dataset: Dataset,
    *,
    epochs: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    seed: int = 0,
    validate: bool = True,
    recorder: EpochRecorder | None = None,
    resume_from: Path | None = None,
    initial_epoch: int = 0,
    trial: Any = None,
    keep_session: bool = False,
) -> FitResult:
    """Train ``params`` on ``dataset``; with ``resume_from`` (a .keras checkpoint holding
    weights and optimizer state) carry on at ``initial_epoch`` instead of starting over.
    ``trial``: the Optuna trial, for a Keras Tuner ``build_model(hp)`` to ask."""
    if not keep_session:  # models trained before (an ensemble's members) must stay usable
        reset_keras()
    keras.utils.set_random_seed(seed + initial_epoch)
    task = get_task(spec.task, augment_of(params))
    width = dataset.image_shape[1]
    if resume_from is not None:
        model = load_for_resume(resume_from)
    else:
        model = build_model(spec, params, dataset.image_shape, dataset.n_outputs, trial)
    y_train = task.targets(dataset.y_train, width)
    y_val = task.targets(dataset.y_val, width)
    batch_size = int(params["batch_size"])
    recorder = recorder or EpochRecorder(spec.metric, spec.direction)
    flip = task.flips_targets
    train: Any = FlipAugmented(dataset.x_train, y_train, batch_size, task, seed) if flip else None
    history = model.fit(
        train if train is not None else dataset.x_train,
        None if train is not None else y_train,
        batch_size=None if train is not None else batch_size,
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation_data=(dataset.x_val, y_val) if validate else None,
        callbacks=[recorder, *callbacks],
        shuffle=True,
        verbose=0,
    )
    return FitResult(model, recorder, {k: [float(v) for v in vs] for k, vs in history.history.items()})


def count_params(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
