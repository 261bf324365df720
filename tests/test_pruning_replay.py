"""benchmarks/pruning_replay.py drives hpo's own pruner and early stopping through the callbacks a
trial's fit calls, so a replayed curve is cut where a live trial's would be."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest
import yaml

from tests.test_study import _raw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from pruning_replay import epochs_to, oracle_epochs, rank_correlation, replay  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)

GOOD, BAD = [0.5, 0.7, 0.8, 0.9, 0.9, 0.9], [0.2, 0.3, 0.95, 0.95, 0.95, 0.95]


def _file() -> dict:
    raw = _raw()
    raw["budget"] = {"trials": 50, "max_epochs": 6}
    return raw


def test_no_pruner_trains_every_epoch_and_keeps_the_best_epoch() -> None:
    out = replay("s", _file(), {"pruner": {"type": "none"}, "early_stopping": None}, [GOOD, BAD])
    assert out == [(6, 0.9, False), (6, 0.95, False)]


def test_successive_halving_prunes_at_the_files_rung_in_epochs_trained() -> None:
    setting = {"pruner": {"type": "successive_halving", "min_resource": 2, "reduction_factor": 3},
               "early_stopping": None}
    out = replay("s", _file(), setting, [GOOD, BAD])
    # BAD is behind GOOD after 2 epochs (0.3 < 0.7): pruned there, before its late 0.95.
    assert out == [(6, 0.9, False), (2, None, True)]
    assert epochs_to(out, 0.95, 0.0, maximize=True) is None  # the replay never reaches the late winner
    assert epochs_to(out, 0.9, 0.0, maximize=True) == 6


def test_early_stopping_patience_stops_after_the_best_epoch_plus_patience() -> None:
    setting = {"pruner": {"type": "none"}, "early_stopping": {"patience": 2}}
    (only,) = replay("s", _file(), setting, [GOOD])
    assert only == (6, 0.9, False)  # 0.9 at epochs 4, 5, 6: no improvement for 2 epochs only at the last
    (flat,) = replay("s", _file(), setting, [[0.6, 0.6, 0.6, 0.6, 0.6, 0.6]])
    assert flat == (3, 0.6, False)  # best at epoch 1, stopped 2 epochs later


def test_minimized_metric_keeps_the_lowest_epoch() -> None:
    raw = yaml.safe_load((Path(__file__).resolve().parent.parent / "search_spaces" / "keypoints.yaml").read_text())
    assert raw["objective"]["direction"] == "minimize"
    (only,) = replay("keypoints", raw, {"pruner": {"type": "none"}, "early_stopping": None}, [[3.0, 2.0, 2.5]])
    assert only == (3, 2.0, False)


def test_oracle_cuts_every_trial_before_the_first_winner_at_the_judging_epoch() -> None:
    curves = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.5, 0.9, 0.9], [0.95, 0.95, 0.95]]
    assert oracle_epochs(curves, 0.9, 0.0, maximize=True) == 2 * 1 + 2  # trial 2 reaches 0.9 at its epoch 2
    assert oracle_epochs(curves, 0.9, 0.0, maximize=True, judged_at=3) == 2 * 3 + 2
    assert oracle_epochs(curves, 0.95, 0.06, maximize=True) == 2 + 2  # within tolerance counts
    assert oracle_epochs([[3.0, 2.0]], 2.0, 0.0, maximize=False) == 2
    with pytest.raises(ValueError):
        oracle_epochs(curves, 0.99, 0.0, maximize=True)


def test_rank_correlation_sees_early_ranks_that_do_and_do_not_hold() -> None:
    holds = [[0.1, 0.5], [0.2, 0.6], [0.3, 0.7]]
    swaps = [[0.3, 0.5], [0.2, 0.6], [0.1, 0.7]]
    assert rank_correlation(holds, 1) == pytest.approx(1.0)
    assert rank_correlation(swaps, 1) == pytest.approx(-1.0)
