"""Successive halving and Hyperband judge a trial after min_resource x reduction_factor^k epochs
trained, as the study file says, not one epoch later (Keras reports epoch 0 as step 0)."""

from __future__ import annotations

import random

import optuna
import pytest

from hpo.space import spec_from_dict
from hpo.study import make_pruner
from tests.test_study import _raw

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _study(pruner: dict, max_epochs: int) -> optuna.Study:
    raw = _raw(pruner=pruner)
    raw["budget"] = {"trials": 50, "max_epochs": max_epochs}
    return optuna.create_study(direction="maximize", pruner=make_pruner(spec_from_dict(raw)))


def _epochs_trained(study: optuna.Study, curve: list[float]) -> int | None:
    """Epochs a trial with this learning curve trains before it is pruned; None: it completes."""
    trial = study.ask()
    for epoch, value in enumerate(curve):
        trial.report(value, epoch)  # step = epoch index from 0, as Keras and KerasPruningCallback count
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return epoch + 1
    study.tell(trial, curve[-1])
    return None


def test_successive_halving_rungs_fall_at_min_resource_epochs_and_its_multiples() -> None:
    study = _study({"type": "successive_halving", "min_resource": 2, "reduction_factor": 3}, max_epochs=10)
    assert _epochs_trained(study, [0.9] * 10) is None  # the first trial is the best at every rung
    assert _epochs_trained(study, [0.1] * 10) == 2  # rung 0: after 2 epochs (Optuna alone: 3)
    # Best at rung 0, then the worst at rung 1: judged again after 2 x 3 = 6 epochs (Optuna alone: 7).
    assert _epochs_trained(study, [0.95, 0.95] + [0.5] * 8) == 6


def test_successive_halving_from_one_epoch() -> None:
    study = _study({"type": "successive_halving", "min_resource": 1, "reduction_factor": 3}, max_epochs=10)
    assert _epochs_trained(study, [0.9] * 10) is None
    assert _epochs_trained(study, [0.1] * 10) == 1


def test_hyperband_brackets_judge_at_their_rungs_in_epochs() -> None:
    # min_resource 2, eta 3, max_resource 10: two brackets, rungs at epochs 2 and 6 (bracket 0)
    # and 6 (bracket 1); Optuna alone would judge at 3 and 7.
    study = _study({"type": "hyperband", "min_resource": 2, "reduction_factor": 3}, max_epochs=10)
    pruner = study.pruner
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)  # a subclass: Optuna's checks still see it
    rng = random.Random(0)
    pruned_after = []
    for _ in range(40):
        level = rng.random()
        epochs = _epochs_trained(study, [level * (e + 1) / 10 for e in range(10)])
        if epochs is not None:
            pruned_after.append(epochs)
    assert pruned_after and set(pruned_after) <= {2, 6}, pruned_after
    assert 2 in pruned_after  # bracket 0's first rung did prune


@pytest.mark.parametrize("kind", ["median", "percentile"])
def test_step_based_pruners_are_optunas_own(kind: str) -> None:
    # Their warm-up is documented by Optuna in steps from 0; hpo leaves them as they are.
    pruner = {"type": kind, "percentile": 25.0} if kind == "percentile" else {"type": kind}
    study = _study(pruner, max_epochs=4)
    assert type(study.pruner).__module__.startswith("optuna.")


def test_studies_created_before_keep_optunas_rungs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A study that spans the upgrade must not compare rung values taken after 3 epochs with new
    # ones taken after 2: only studies created with the marker count rungs in epochs.
    from hpo.pruners import EpochSuccessiveHalvingPruner
    from hpo.record import RUNGS_IN_EPOCHS_ATTR
    from hpo.storage import open_storage
    from hpo.study import create_study, open_study

    raw = _raw(pruner={"type": "successive_halving", "min_resource": 2})
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    create_study(storage, spec_from_dict(raw))
    study_id = storage.get_study_id_from_name("s")
    assert storage.get_study_user_attrs(study_id)[RUNGS_IN_EPOCHS_ATTR] is True
    assert isinstance(open_study(storage, "s")[0].pruner, EpochSuccessiveHalvingPruner)

    storage.set_study_user_attr(study_id, RUNGS_IN_EPOCHS_ATTR, False)  # read as absent: an older study
    assert type(open_study(storage, "s")[0].pruner) is optuna.pruners.SuccessiveHalvingPruner
