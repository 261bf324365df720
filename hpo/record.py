"""The study and trial record: every attribute key hpo writes, the trial states it counts,
and small readers, so no caller spells a key (like optuna's ``retry_history(trial)``).

No Keras, no database access: these read ``FrozenTrial``/``Trial`` objects and dicts.
"""

from __future__ import annotations

from typing import Any

# Study user attributes.
SPEC_ATTR = "hpo:spec"  # the validated spec, pinned at creation
SHA_ATTR = "hpo:spec_sha256"
CREATING_ATTR = "hpo:creating"  # time.time() the creation began (refreshed); with no spec: unfinished
CHANGES_ATTR = "hpo:changes"  # [{at, changes: [key path (old -> new)]}]: how the study grew
DATA_ATTR = "hpo:data"  # {source, file: {path, sha256}, splits: {train|validation|test: {rows, sha256}, note}}
TRIVIAL_ATTR = "hpo:trivial_baseline"  # {metric, value, predictor, split}: the trivial predictor's score
# True on studies created since successive halving / Hyperband count rungs in epochs trained
# (hpo/pruners.py); older studies keep Optuna's count, so their rungs never mix the two.
RUNGS_IN_EPOCHS_ATTR = "hpo:rungs_in_epochs"

# Trial user attributes written by hpo's loop.
BASELINE_ATTR = "hpo:baseline"  # index of the study file's baseline this trial runs
SURPLUS_ATTR = "hpo:surplus"  # a trial created past the budget, failed without training
REQUEUED_ATTR = "hpo:requeued_from"  # number of the interrupted trial this one continues
CHECKPOINT_ATTR = "hpo:checkpoint"  # {artifact_id, epoch}: the newest saved model
FIXED_ATTR = "hpo:fixed"  # {name: value}: Keras Tuner Fixed / overridden values
RESTARTED_ATTR = "hpo:restarted"  # failed because its checkpoint was gone; its params were queued afresh
RESUMED_ATTR = "resumed_from_epoch"
FAIL_REASON_ATTR = "fail_reason"
VAL_METRICS_ATTR = "val_metrics"  # every validation metric at the best epoch
# What each trial records about its run.
EPOCHS_ATTR = "epochs"
BEST_EPOCH_ATTR = "best_epoch"
WALL_SECONDS_ATTR = "wall_seconds"
PARAM_COUNT_ATTR = "param_count"
RUN_ATTRS = (EPOCHS_ATTR, BEST_EPOCH_ATTR, WALL_SECONDS_ATTR, PARAM_COUNT_ATTR)

# States by name: finished trials spend the budget; live ones may still do so.
FINISHED = ("COMPLETE", "PRUNED")
LIVE = ("COMPLETE", "PRUNED", "RUNNING", "WAITING")


def trivial_baseline(study_user_attrs: dict[str, Any]) -> dict[str, Any] | None:
    """The trivial predictor's score recorded by the worker, or None (older studies, or not yet known)."""
    found = study_user_attrs.get(TRIVIAL_ATTR)
    if not isinstance(found, dict) or not isinstance(found.get("value"), (int, float)):
        return None
    return dict(found)


def fail_reason(trial: Any) -> str:
    return str(trial.user_attrs.get(FAIL_REASON_ATTR, "failed"))


def baseline_index(trial: Any) -> int | None:
    return trial.user_attrs.get(BASELINE_ATTR)


def fixed_values(trial: Any) -> dict[str, Any]:
    return dict(trial.user_attrs.get(FIXED_ATTR, {}))


def checkpoint(trial: Any) -> dict[str, Any] | None:
    return trial.user_attrs.get(CHECKPOINT_ATTR)
