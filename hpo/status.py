"""What ``hpo status`` prints: studies, trials by state, the best value and its params."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hpo.storage import count_states
from hpo.study import pinned_spec

if TYPE_CHECKING:
    import optuna

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


def study_summary(storage: optuna.storages.BaseStorage, name: str) -> dict[str, Any]:
    spec = pinned_spec(storage, name, wait_s=0)
    study_id = storage.get_study_id_from_name(name)
    counts = count_states(storage, study_id)
    summary: dict[str, Any] = {
        "study": name,
        "task": spec.task,
        "metric": spec.metric,
        "direction": spec.direction,
        "budget": spec.trials,
        "trials": {s.lower(): counts[s] for s in STATES},
        "finished": counts["COMPLETE"] + counts["PRUNED"],
        "best": None,
    }
    if counts["COMPLETE"]:
        best = storage.get_best_trial(study_id)
        summary["best"] = {"trial": best.number, "value": best.value, "params": best.params}
    return summary


def format_summary(s: dict[str, Any]) -> str:
    trials = ", ".join(f"{n} {state}" for state, n in s["trials"].items())
    lines = [
        f"study {s['study']}: task {s['task']}, {s['metric']} ({s['direction']}), "
        f"{s['finished']}/{s['budget']} trials finished",
        f"  trials: {trials}",
    ]
    best = s["best"]
    if best:
        lines.append(f"  best: {s['metric']}={best['value']:.6g} (trial {best['trial']})")
        lines.append(f"  params: {json.dumps(best['params'], sort_keys=True)}")
    else:
        lines.append("  best: none yet")
    return "\n".join(lines)


def hpo_studies(storage: optuna.storages.BaseStorage) -> list[str]:
    """Studies created by hpo (a shared database may hold plain Optuna ones too)."""
    from hpo.study import SPEC_ATTR

    return sorted(s.study_name for s in storage.get_all_studies() if SPEC_ATTR in s.user_attrs)
