"""Optuna trial -> params -> pruned Keras training -> the study's metric.

Records on each trial (pruned and failed ones too): epochs run, wall seconds,
parameter count, best epoch, and the Keras version and backend it trained on.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import optuna
from optuna_integration import KerasPruningCallback

from hpo.data.datasets import Dataset
from hpo.errors import TrialError
from hpo.space import StudySpec, suggest
from hpo.training import EpochRecorder, fit


class Objective:
    def __init__(self, spec: StudySpec, dataset: Dataset) -> None:
        self.spec = spec
        self.dataset = dataset

    def __call__(self, trial: optuna.Trial) -> float:
        spec = self.spec
        started = time.perf_counter()
        trial.set_user_attr("keras", f"{keras.__version__}/{keras.backend.backend()}")
        recorder = EpochRecorder(spec.metric, spec.direction)
        try:
            params = suggest(trial, spec)
            fit(
                params, spec.task, self.dataset, epochs=spec.max_epochs, monitor=spec.metric,
                direction=spec.direction, flip=bool(spec.data.get("augment", {}).get("horizontal_flip")),
                callbacks=[KerasPruningCallback(trial, spec.metric)],
                seed=(int(spec.sampler.get("seed") or 0) + trial.number) % 2**31, recorder=recorder,
            )
            if recorder.best_value is None:
                raise TrialError(f"metric {spec.metric} never appeared in the training logs")
        except optuna.TrialPruned:
            raise
        except TrialError as e:
            trial.set_user_attr("fail_reason", str(e)[:500])
            raise
        except Exception as e:
            # Whatever else one configuration hits (out of memory, bad shapes, a sampler
            # error) fails this trial only; the worker goes on with the next.
            text = str(e).strip()
            reason = f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"[:500]
            trial.set_user_attr("fail_reason", reason)
            raise TrialError(reason) from e
        finally:
            _record(trial, recorder, started)
        return recorder.best_value


def _record(trial: optuna.Trial, recorder: EpochRecorder, started: float) -> None:
    attrs: dict[str, Any] = {
        "wall_seconds": round(time.perf_counter() - started, 3),
        "epochs": len(recorder.values),
    }
    if recorder.best_epoch is not None:
        attrs["best_epoch"] = recorder.best_epoch
    if recorder.param_count is not None:
        attrs["param_count"] = recorder.param_count
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
