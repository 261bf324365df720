"""Checkpoints on a time interval, and a resumed trial that does not report its epochs twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import optuna
import pytest

from hpo import objective as objective_module
from hpo.errors import ConfigError
from hpo.objective import Checkpointer, ResumingPruningCallback, checkpoint_interval
from tests.conftest import db_snapshot, run_hpo, tiny_space


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tiny_model() -> keras.Model:
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="adam", loss="mse")
    return model


def _run_epochs(tmp_path: Path, interval: float, last_epoch: int, clock: Clock, seconds: list[float]) -> list[Any]:
    """Drive a Checkpointer through epochs taking ``seconds`` each; the checkpointed epoch after each."""
    (tmp_path / "artifacts").mkdir()
    store = optuna.artifacts.FileSystemArtifactStore(str(tmp_path / "artifacts"))
    trial = optuna.create_study().ask()
    saver = Checkpointer(trial, store, tmp_path, {"task": "regression"}, interval=interval, last_epoch=last_epoch)
    saver.set_model(_tiny_model())
    saved = []
    for epoch, elapsed in enumerate(seconds):
        clock.now += elapsed
        saver.on_epoch_end(epoch)
        saved.append(trial.user_attrs.get("hpo:checkpoint", {}).get("epoch"))
    return saved


def test_a_checkpoint_is_saved_once_the_interval_has_passed_and_never_for_the_last_epoch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(objective_module.time, "monotonic", clock)
    saved = _run_epochs(tmp_path, 30.0, 5, clock, [10, 10, 15, 1, 40, 40])  # seconds each epoch took
    # 10, 20: not yet; 35 s: saved at epoch 2; 1 s later: not; 41 s later: epoch 4; epoch 5 is the last.
    assert saved == [None, None, 2, 2, 4, 4]
    assert len(list((tmp_path / "artifacts").iterdir())) == 1  # only the newest is kept


def test_interval_zero_saves_every_epoch_but_the_last(tmp_path: Path) -> None:
    assert _run_epochs(tmp_path, 0.0, 2, Clock(), [0, 0, 0]) == [0, 1, 1]


def test_a_resumed_trial_reports_only_the_epochs_the_dead_run_did_not(recwarn: pytest.WarningsRecorder) -> None:
    study = optuna.create_study()
    trial = study.ask()
    for step, value in enumerate([0.9, 0.8, 0.7]):  # the dead run's curve: epochs 0-2
        trial.report(value, step)
    callback = ResumingPruningCallback(trial, "val_loss", reported={0, 1, 2})
    # Resumed from the checkpoint of epoch 0: epochs 1 and 2 are trained again, then 3.
    for epoch, value in [(1, 0.81), (2, 0.71), (3, 0.6)]:
        callback.on_epoch_end(epoch, {"val_loss": value})
    frozen = study.trials[0]
    assert frozen.intermediate_values == {0: 0.9, 1: 0.8, 2: 0.7, 3: 0.6}
    assert not [w for w in recwarn if "already reported" in str(w.message)]


@pytest.mark.parametrize("raw", ["abc", "-1", "nan"])
def test_a_bad_checkpoint_interval_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("HPO_CHECKPOINT_INTERVAL", raw)
    with pytest.raises(ConfigError, match="HPO_CHECKPOINT_INTERVAL: expected seconds"):
        checkpoint_interval()


def test_a_bad_checkpoint_interval_stops_the_worker_before_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = str(tiny_space(tmp_path))
    run_hpo("create", "--space", space, "--storage", url, cwd=tmp_path)
    before = db_snapshot(url)
    proc = run_hpo("worker", "--study", "tiny", "--space", space, "--storage", url, cwd=tmp_path,
                   env={"HPO_CHECKPOINT_INTERVAL": "soon"})
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "hpo: error: HPO_CHECKPOINT_INTERVAL: expected seconds (a number >= 0), got 'soon'"]
    assert db_snapshot(url) == before


def test_the_default_interval_is_thirty_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPO_CHECKPOINT_INTERVAL")
    assert checkpoint_interval() == 30.0
    assert np.isfinite(checkpoint_interval())



SIGNAL_MID_EPOCH = """
import numpy as np, keras
from hpo import signals
from hpo.errors import Interrupted
from hpo.objective import StopOnSignal

batches, ended = [], []

class Watch(keras.callbacks.Callback):
    async_safe = True  # like StopOnSignal: must not make the fit synchronous on its own

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        batches.append((self.epoch, batch))
        if (self.epoch, batch) == (1, 3):
            signals._received.append(15)  # what the SIGTERM handler records

    def on_epoch_end(self, epoch, logs=None):
        ended.append(epoch)

inputs = keras.Input((4,))
model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
model.compile(optimizer="adam", loss="mse")
stop, watch = StopOnSignal(), Watch()
try:
    model.fit(np.zeros((320, 4), "float32"), np.zeros((320, 2), "float32"), batch_size=8, epochs=3,
              callbacks=[stop, watch], verbose=0)
    raise SystemExit("the fit was not interrupted")
except Interrupted as e:
    assert "SIGTERM" in str(e), e
assert ended == [0], ended  # epoch 1 was cut short and never reached an epoch-end callback
ours = keras.callbacks.CallbackList([stop, watch], model=model)
bare = keras.callbacks.CallbackList([], model=model)
assert (ours._async_train, ours._async_test) == (bare._async_train, bare._async_test), keras.backend.backend()
if bare._async_train:
    # On the callback thread the raise reaches the fit whenever that thread has run (no bound
    # under load), and at the latest at the epoch's end: epoch 2 never starts.
    assert batches[-1][0] == 1, batches[-3:]
else:
    assert batches[-1] == (1, 3), batches[-3:]  # synchronous: the very batch the signal came in
print("ok", keras.backend.backend(), bare._async_train)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_signal_mid_epoch_stops_the_fit_without_reporting_that_epoch(backend: str) -> None:
    """StopOnSignal leaves Keras's batch hooks where a bare fit has them (on its callback thread
    under JAX: no per-batch host sync on the training thread), and still stops the fit within the
    epoch the signal came in, before any epoch-end callback sees that partial epoch. No bound on
    how many batches later under JAX: that is thread scheduling, and a loaded CI machine saw 8."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": backend}
    proc = subprocess.run([sys.executable, "-c", SIGNAL_MID_EPOCH], env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    asynchronous = backend != "tensorflow"  # Keras dispatches callbacks on a thread where the backend allows
    assert proc.stdout.split() == ["ok", backend, str(asynchronous)]
