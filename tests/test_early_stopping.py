"""early_stopping: a trial stops once its objective stops improving (a resumed one keeps its
patience), or once it reaches a target."""

from __future__ import annotations

from pathlib import Path

import keras
import optuna
import pytest

from hpo.objective import ResumingEarlyStopping, StopAtTarget
from tests.conftest import run_hpo, tiny_space


def _stopped_after(callback: keras.callbacks.Callback, first_epoch: int, values: list[float],
                   metric: str = "val_accuracy") -> int | None:
    """Feed ``values`` as the epochs from ``first_epoch`` on; the epoch the fit would stop after."""
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.stop_training = False  # as fit sets it before the first epoch
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(values, start=first_epoch):
        callback.on_epoch_end(epoch, {metric: value})
        if callback.model.stop_training:
            return epoch
    return None


def test_patience_counts_the_epochs_since_the_best() -> None:
    fresh = ResumingEarlyStopping("val_accuracy", "maximize", patience=2)
    assert _stopped_after(fresh, 0, [0.5, 0.7, 0.6, 0.65, 0.9]) == 3


def test_a_resumed_trial_carries_on_with_the_patience_its_dead_run_had_used() -> None:
    # The dead run saw 0.5, 0.7 (best), 0.6: one epoch of patience used. One more without a gain stops it.
    resumed = ResumingEarlyStopping("val_accuracy", "maximize", patience=2, prior=(0.5, 0.7, 0.6))
    assert _stopped_after(resumed, 3, [0.65, 0.9]) == 3
    # Without the replay the same epochs would not have stopped it: the replay is what counts.
    assert _stopped_after(ResumingEarlyStopping("val_accuracy", "maximize", patience=2), 3, [0.65, 0.9]) is None


def test_a_nan_epoch_in_the_replayed_curve_uses_patience_but_is_never_the_best() -> None:
    resumed = ResumingEarlyStopping("val_loss", "minimize", patience=3, prior=(1.0, float("nan")))
    assert resumed.best is None  # on_train_begin has not run yet
    inputs = keras.Input((2,))
    resumed.set_model(keras.Model(inputs, keras.layers.Dense(1)(inputs)))
    resumed.on_train_begin()
    assert resumed.best == 1.0 and resumed.wait == 1


def test_a_target_stops_the_fit_after_the_first_epoch_that_reaches_it() -> None:
    assert _stopped_after(StopAtTarget("val_accuracy", "maximize", 1.0), 0, [0.5, 0.99, 1.0, 1.0]) == 2
    assert _stopped_after(StopAtTarget("val_accuracy", "maximize", 1.0), 0, [0.5, float("nan"), 0.99]) is None
    assert _stopped_after(StopAtTarget("val_rmse", "minimize", 2.0), 0, [3.0, 2.5, 1.9, 1.0], "val_rmse") == 2


def test_a_resumed_trial_whose_dead_run_reached_the_target_stops_after_one_epoch() -> None:
    resumed = StopAtTarget("val_accuracy", "maximize", 1.0, prior=(0.8, 1.0, 0.9))
    assert _stopped_after(resumed, 3, [0.95, 0.97]) == 3
    assert _stopped_after(StopAtTarget("val_accuracy", "maximize", 1.0, prior=(0.8, 0.9)), 2, [0.95, 0.97]) is None


@pytest.mark.parametrize("early_stopping", [None, "{patience: 1, min_delta: 0.05}", "{target: 0.0}"])
def test_a_worker_stops_a_trial_that_no_longer_improves(tmp_path: Path, early_stopping: str | None) -> None:
    """A learning rate of 1e-9 leaves the validation accuracy where the first epoch put it: with
    patience 1 and a 0.05 minimum gain the trial stops after its second epoch; with a target of
    0 accuracy (every epoch reaches it) after its first; without early stopping it trains all 6."""
    space = tiny_space(tmp_path, trials=1, epochs=6, pruner="none")
    text = space.read_text().replace("learning_rate: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}",
                                     "learning_rate: 1.0e-9").replace(", learning_rate: 0.005}", "}")
    if early_stopping:
        text += f"early_stopping: {early_stopping}\n"
    space.write_text(text)
    url = f"sqlite:///{tmp_path / 'es.db'}"
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (trial,) = optuna.load_study(study_name="tiny", storage=url).trials
    assert trial.state.name == "COMPLETE"
    epochs = {None: 6, "{target: 0.0}": 1}.get(early_stopping, 2)
    assert trial.user_attrs["epochs"] == epochs and sorted(trial.intermediate_values) == list(range(epochs))
    assert trial.value == max(trial.intermediate_values.values())  # the best epoch's, as ever
