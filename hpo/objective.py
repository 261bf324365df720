"""Optuna trial -> params -> pruned Keras training -> the study's metric.

Records on each trial (pruned and failed ones too): epochs run, wall seconds,
parameter count, best epoch, and the Keras version and backend it trained on.

A finished epoch is checkpointed (weights and optimizer state, one .keras file) to the
study's artifact store once ``HPO_CHECKPOINT_INTERVAL`` seconds (default 30; 0: every
epoch) have passed since the trial's start or its last checkpoint, and the trial points
at it (``hpo:checkpoint``). A retry of a trial whose worker died, or one re-enqueued after
Ctrl-C, inherits that pointer and resumes at the epoch after it instead of epoch 0; the
epochs it trains again were already reported by the dead run, and are not reported twice.
Saving every epoch cost a third of a small model's trial (save + zip + upload ~40 ms an
epoch against ~100 ms of training); a 30 s interval bounds both that cost and the work a
crash loses.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import optuna
from optuna_integration import KerasPruningCallback

from hpo import signals
from hpo.data.datasets import Dataset
from hpo.errors import ConfigError, Interrupted, TrialError
from hpo.modelfile import read_metadata, save_model
from hpo.record import (
    BASELINE_ATTR,
    BEST_EPOCH_ATTR,
    CHECKPOINT_ATTR,
    EPOCHS_ATTR,
    FAIL_REASON_ATTR,
    PARAM_COUNT_ATTR,
    REQUEUED_ATTR,
    RESTARTED_ATTR,
    RESUMED_ATTR,
    VAL_METRICS_ATTR,
    WALL_SECONDS_ATTR,
)
from hpo.space import StudySpec, suggest
from hpo.storage import caused_by_storage
from hpo.training import EpochRecorder, fit

DEFAULT_CHECKPOINT_INTERVAL_S = 30.0


def checkpoint_interval() -> float:
    """Seconds between checkpoints (``HPO_CHECKPOINT_INTERVAL``; 0: after every epoch)."""
    raw = os.environ.get("HPO_CHECKPOINT_INTERVAL", "")
    try:
        value = float(raw) if raw else DEFAULT_CHECKPOINT_INTERVAL_S
    except ValueError:
        raise ConfigError(f"HPO_CHECKPOINT_INTERVAL: expected seconds (a number >= 0), got {raw!r}") from None
    if not value >= 0:  # also NaN
        raise ConfigError(f"HPO_CHECKPOINT_INTERVAL: expected seconds (a number >= 0), got {raw!r}")
    return value


class Checkpointer(keras.callbacks.Callback):
    """At the end of an epoch, once ``interval`` seconds have passed since the last checkpoint
    (or the trial's start): save the model (self-contained, with its optimizer state), upload
    it, point the trial at it. The last epoch is never saved: a finished trial is not resumed."""

    def __init__(self, trial: optuna.Trial, store: Any, workdir: Path, metadata: dict[str, Any],
                 interval: float = 0.0, last_epoch: int | None = None) -> None:
        super().__init__()
        self.trial, self.store, self.workdir, self.metadata = trial, store, workdir, metadata
        self.interval, self.last_epoch = interval, last_epoch
        self.previous: str | None = None
        self.since = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == self.last_epoch or time.monotonic() - self.since < self.interval:
            return
        self.save(epoch)
        self.since = time.monotonic()

    def save(self, epoch: int) -> None:
        from optuna.artifacts import upload_artifact

        path = self.workdir / f"trial-{self.trial.number}-epoch-{epoch}.keras"
        save_model(self.model, path, {**self.metadata, "epoch": epoch})
        artifact_id = upload_artifact(artifact_store=self.store, file_path=str(path), study_or_trial=self.trial)
        path.unlink()
        self.trial.set_user_attr(CHECKPOINT_ATTR, {"artifact_id": artifact_id, "epoch": epoch})
        self.discard()  # only the newest checkpoint is worth its disk space
        self.previous = artifact_id

    def discard(self) -> None:
        if self.previous is not None:
            try:
                self.store.remove(self.previous)
            except Exception:  # already gone: nothing to free
                pass
            self.previous = None


class ResumingPruningCallback(KerasPruningCallback):
    """Optuna's Keras pruning callback, except for the epochs a resumed trial trains again:
    the dead run reported them (and was not pruned at them), so they are skipped rather than
    reported twice (optuna would warn and keep the first value anyway)."""

    def __init__(self, trial: optuna.Trial, monitor: str, reported: set[int]) -> None:
        super().__init__(trial, monitor)
        self.reported = reported

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if epoch not in self.reported:
            super().on_epoch_end(epoch, logs)


class ResumingEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's early stopping on the study's objective, except that a resumed trial first replays
    the epochs its dead run recorded (``prior``), so its patience carries on where that run was
    instead of starting over. The trial's value is its best epoch's either way; stopping early only
    saves the epochs after it that would not have improved on it."""

    def __init__(self, monitor: str, direction: str, patience: int, min_delta: float = 0.0,
                 prior: tuple[float, ...] = ()) -> None:
        super().__init__(monitor=monitor, mode="min" if direction == "minimize" else "max",
                         patience=patience, min_delta=min_delta)
        self.prior = prior
        self.wait: int = 0
        self.best: float | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        if self.prior and self.monitor_op is None:
            self._set_monitor_op()  # Keras sets it at the first epoch's end; the replay needs it now
        for epoch, value in enumerate(self.prior):  # as on_epoch_end would have, without stopping
            self.wait += 1
            if value == value and self._is_improvement(value, self.best):  # value == value: not NaN
                self.best, self.best_epoch, self.wait = value, epoch, 0


class StopAtTarget(keras.callbacks.Callback):
    """Ends the fit after the first epoch whose objective reaches ``target`` (``early_stopping.target``,
    as Ray Tune's ``stop={metric: value}``). At a metric's bound (accuracy 1.0) no later epoch can
    beat it, so the epochs it saves cost the trial nothing: its value, best epoch and the model
    ``hpo train`` rebuilds are those of that epoch either way. A resumed trial whose dead run had
    reached it (``prior``) stops after its first epoch."""

    def __init__(self, monitor: str, direction: str, target: float, prior: tuple[float, ...] = ()) -> None:
        super().__init__()
        self.monitor, self.target = monitor, target
        self.sign = -1.0 if direction == "minimize" else 1.0
        self.reached = any(self.hits(v) for v in prior)

    def hits(self, value: float) -> bool:
        return self.sign * value >= self.sign * self.target  # False for NaN

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        self.reached = self.reached or (value is not None and self.hits(float(value)))
        if self.reached:
            self.model.stop_training = True


def early_stopping_callbacks(spec: StudySpec, prior: tuple[float, ...]) -> list[keras.callbacks.Callback]:
    """What ``early_stopping`` asks for: patience (Keras's EarlyStopping), a target, or both."""
    settings = dict(spec.early_stopping)
    target = settings.pop("target", None)
    callbacks: list[keras.callbacks.Callback] = []
    if "patience" in settings:
        callbacks.append(ResumingEarlyStopping(spec.metric, spec.direction, prior=prior, **settings))
    if target is not None:
        callbacks.append(StopAtTarget(spec.metric, spec.direction, target, prior=prior))
    return callbacks


class StopOnSignal(keras.callbacks.Callback):
    """Ends the fit at the next batch once Ctrl-C or SIGTERM arrived (hpo.signals): raising here,
    not from the signal handler, and before the epoch's end, so no partial epoch is reported
    to the pruner or checkpointed.

    ``async_safe``: where the backend allows (JAX, torch; not TensorFlow) Keras then runs these
    hooks on its callback thread, as it does for a bare fit, instead of turning each batch's
    logs into Python floats on the training thread: a device-to-host wait per batch that
    stalls a GPU. The raise then reaches the fit a batch later, and at the latest when the
    epoch ends, before any epoch-end callback reports or saves it."""

    async_safe = True

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        signals.check("during a trial; it was re-enqueued")

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        signals.check("during a trial; it was re-enqueued")


class Objective:
    def __init__(
        self, spec: StudySpec, dataset: Dataset, artifacts: Any = None, worker_label: str = "",
        on_epoch: Callable[[int, int, int, str, float | None], None] | None = None,
        data_file: Path | None = None,
    ) -> None:
        self.data_file = data_file  # the file (or folder) the data came from; None: a bundled set
        self.study_name = spec.name
        self.on_epoch = on_epoch
        self.spec = spec
        self.dataset = dataset
        self.artifacts = artifacts  # an optuna ArtifactStore; None: no checkpoints
        self.worker_label = worker_label
        self.checkpoint_interval = checkpoint_interval()

    def data_record(self) -> dict[str, Any]:
        """What the trials train on, for the study to pin: the file and every split's fingerprint."""
        from hpo.data.fingerprint import file_sha256, split_record

        record: dict[str, Any] = {"source": self.dataset.source, "splits": split_record(self.dataset)}
        if self.data_file is not None and self.data_file.exists():
            record["file"] = {"path": str(self.data_file.resolve()), "sha256": file_sha256(self.data_file)}
        return record

    def trivial_baseline(self) -> dict[str, Any] | None:
        from hpo.baselines import trivial_baseline

        return trivial_baseline(self.spec.task, self.spec.metric, self.dataset)

    def model_metadata(self, trial_number: int) -> dict[str, Any]:
        """What a checkpoint carries: enough to use it, and to know where it came from."""
        from hpo.modelfile import describe_model

        return describe_model(self.spec, self.dataset, study=self.study_name, trial=trial_number)

    def describe_data(self) -> str:
        d = self.dataset
        n_test = 0 if d.x_test is None else len(d.x_test)
        return (f"data {d.source}: {len(d.x_train)} train, {len(d.x_val)} validation, {n_test} test "
                f"(never seen by trials); {d.split_note}")

    def _resume_point(self, trial: optuna.Trial, workdir: Path, recorder: EpochRecorder) -> tuple[Path | None, int]:
        """The inherited checkpoint, downloaded, and the epoch to carry on at (0: none)."""
        pointer = trial.user_attrs.get(CHECKPOINT_ATTR)
        if self.artifacts is None:
            return None, 0
        curve = trial.storage.get_trial(trial._trial_id).intermediate_values
        if not pointer and not curve:
            return None, 0  # a fresh trial, or a requeued one with no curve of its own: a clean start
        from optuna.artifacts import download_artifact

        path = workdir / "resume.keras"
        try:
            if not pointer:  # the dead run reported epochs but died before its first checkpoint
                raise FileNotFoundError("no checkpoint was saved yet")
            download_artifact(artifact_store=self.artifacts, artifact_id=pointer["artifact_id"], file_path=str(path))
            read_metadata(path, "checkpoint")  # a truncated or foreign file is as good as gone
        except Exception as e:
            if not curve:
                return None, 0  # a requeued trial with no curve of its own: epoch 0 is a clean start
            # A retry that inherited the dead run's curve cannot start over under the same number
            # (its epochs are already reported): fail it and queue its params afresh, once.
            frozen = trial.storage.get_trial(trial._trial_id)
            params = {**frozen.system_attrs.get("fixed_params", {}), **trial.params}
            attrs: dict[str, Any] = {REQUEUED_ATTR: trial.number}
            if trial.user_attrs.get(BASELINE_ATTR) is not None:
                attrs[BASELINE_ATTR] = trial.user_attrs[BASELINE_ATTR]
            trial.study.enqueue_trial(params, user_attrs=attrs)
            trial.set_user_attr(RESTARTED_ATTR, True)
            what = f"its checkpoint of epoch {pointer['epoch']} is gone" if pointer else (
                f"it died after {len(curve)} epochs, before its first checkpoint")
            raise TrialError(f"{what} ({type(e).__name__}); queued again to start from epoch 0") from e
        last = int(pointer["epoch"])
        # The inherited curve (epochs 0..last) is part of this trial's record.
        for step in range(last + 1):
            recorder.record(float(curve[step]) if step in curve else float("nan"))
        trial.set_user_attr(RESUMED_ATTR, last)
        return path, last + 1

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        spec = self.spec
        started = time.perf_counter()
        trial.set_user_attr("keras", f"{keras.__version__}/{keras.backend.backend()}")
        trial.set_user_attr("runtime", {
            "worker": self.worker_label,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "precision": keras.mixed_precision.global_policy().name,
        })
        recorder = EpochRecorder(spec.metric, spec.direction)
        workdir = Path(tempfile.mkdtemp(prefix="hpo-trial-"))
        checkpointer = (Checkpointer(trial, self.artifacts, workdir, self.model_metadata(trial.number),
                                     self.checkpoint_interval, last_epoch=spec.max_epochs - 1)
                        if self.artifacts is not None else None)
        try:
            params = suggest(trial, spec)
            resume_from, initial_epoch = self._resume_point(trial, workdir, recorder)
            signals.check("before a trial; it was re-enqueued")
            callbacks: list[keras.callbacks.Callback] = [StopOnSignal()]
            if not spec.multi_objective:  # optuna takes one value per step: no curve, no pruning
                reported = set(trial.storage.get_trial(trial._trial_id).intermediate_values) if initial_epoch else set()
                callbacks.append(ResumingPruningCallback(trial, spec.metric, reported))
            if checkpointer is not None:
                callbacks.append(checkpointer)  # after the report: the curve never has a gap
            # Last: the epoch they stop at is reported and recorded first.
            callbacks += early_stopping_callbacks(spec, tuple(recorder.values))
            if self.on_epoch is not None:
                show = self.on_epoch
                show(trial.number, -1 + initial_epoch, spec.max_epochs, spec.metric, None)
                callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: show(
                    trial.number, epoch, spec.max_epochs, spec.metric, (logs or {}).get(spec.metric))))
            result = fit(
                spec, params, self.dataset, epochs=spec.max_epochs, callbacks=callbacks,
                seed=(int(spec.sampler.get("seed") or 0) + trial.number) % 2**31, recorder=recorder,
                resume_from=resume_from, initial_epoch=initial_epoch, trial=trial,
            )
            at_best = _record_metrics(trial, result.history, recorder)
            if recorder.best_value is None:
                raise TrialError(f"metric {spec.metric} never appeared in the training logs")
            values = self._objective_values(recorder.best_value, at_best, result.model)
        except Interrupted:
            raise  # not this configuration's fault: the worker requeues it and exits
        except optuna.TrialPruned:
            if checkpointer is not None:
                checkpointer.discard()
            raise
        except TrialError as e:
            trial.set_user_attr(FAIL_REASON_ATTR, str(e)[:500])
            raise
        except Exception as e:
            if caused_by_storage(e):
                raise  # the database, not this configuration: the worker waits for it and requeues
            # Whatever else one configuration hits (out of memory, bad shapes, a sampler
            # error) fails this trial only; the worker goes on with the next.
            text = str(e).strip()
            reason = f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"[:500]
            trial.set_user_attr(FAIL_REASON_ATTR, reason)
            raise TrialError(reason) from e
        else:
            if checkpointer is not None:
                checkpointer.discard()  # finished: no run will resume from it
        finally:
            _record(trial, recorder, started)
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        return values if spec.multi_objective else values[0]

    def _objective_values(self, best: float, at_best: dict[str, float], model: keras.Model) -> list[float]:
        """The study's objectives for a trained trial: the trained-on metric at its best epoch, then
        each other one: a validation metric at that epoch, or a model metric measured now."""
        from hpo import catalog

        values = [best]
        for metric, _direction in self.spec.objectives[1:]:
            if metric in catalog.MODEL_METRICS:
                measure = catalog.resolve_callable(catalog.MODEL_METRICS[metric].measure)
                values.append(float(measure(model, self.dataset.x_val)))
            elif metric in at_best:
                values.append(float(at_best[metric]))
            else:
                raise TrialError(f"objective {metric} never appeared in the training logs")
        return values


def _record_metrics(
    trial: optuna.Trial, history: dict[str, list[float]], recorder: EpochRecorder
) -> dict[str, float]:
    """Every validation metric at the best epoch (precision, recall, F1 beside the objective)."""
    best = recorder.best_epoch
    if best is None:
        return {}
    offset = len(recorder.values) - len(next(iter(history.values()), []))  # epochs before a resume
    step = best - offset
    values = {k: round(v[step], 6) for k, v in history.items() if k.startswith("val_") and 0 <= step < len(v)}
    if values:
        trial.set_user_attr(VAL_METRICS_ATTR, values)
    return values


def _record(trial: optuna.Trial, recorder: EpochRecorder, started: float) -> None:
    attrs: dict[str, Any] = {
        WALL_SECONDS_ATTR: round(time.perf_counter() - started, 3),
        EPOCHS_ATTR: len(recorder.values),
    }
    if recorder.best_epoch is not None:
        attrs[BEST_EPOCH_ATTR] = recorder.best_epoch
    if recorder.param_count is not None:
        attrs[PARAM_COUNT_ATTR] = recorder.param_count
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
