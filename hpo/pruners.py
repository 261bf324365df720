"""Optuna's successive halving and Hyperband with their resources counted in epochs trained.

Keras reports epoch 0 as step 0 (optuna-integration's KerasPruningCallback does the same), and
Optuna's successive halving decides a rung at ``step >= min_resource * reduction_factor**rung``,
so ``min_resource: 2`` judged a trial after 3 epochs, the next rung after 7, not 2 and 6
(optuna/optuna#5750). Every pruned trial paid one epoch more than the study file says, which
is a third to a half of what an early rung costs. These subclasses hand the pruner the trial
with its steps counted from 1, the epochs trained, so rungs fall where the file and the
Hyperband/ASHA papers put them; what is stored (steps from 0, like every Keras log) is unchanged.
Subclasses, not wrappers: code that asks ``isinstance(pruner, HyperbandPruner)`` still gets yes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def counted_in_epochs(trial: FrozenTrial) -> FrozenTrial:
    """``trial`` with intermediate values keyed by epochs trained (step + 1)."""
    return optuna.trial.FrozenTrial(
        number=trial.number, state=trial.state, value=None, values=trial.values,
        datetime_start=trial.datetime_start, datetime_complete=trial.datetime_complete,
        params=trial.params, distributions=trial.distributions, user_attrs=trial.user_attrs,
        system_attrs=trial.system_attrs,  # the same dict: the pruner's rung records land on the trial
        intermediate_values={step + 1: v for step, v in trial.intermediate_values.items()},
        trial_id=trial._trial_id,
    )


class EpochSuccessiveHalvingPruner(optuna.pruners.SuccessiveHalvingPruner):
    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return super().prune(study, counted_in_epochs(trial))


class EpochHyperbandPruner(optuna.pruners.HyperbandPruner):
    """Hyperband whose brackets are ``EpochSuccessiveHalvingPruner``s; ``max_resource`` is
    ``budget.max_epochs``, the last step counted from 1."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return super().prune(study, counted_in_epochs(trial))
