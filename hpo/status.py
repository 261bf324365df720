"""What ``hpo status`` prints: studies, trials by state, the best value and its params."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.fmt import clean_params, count, params_json, trivial_mark, trivial_verdict
from hpo.record import CHANGES_ATTR, trivial_baseline
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
    if spec.multi_objective:
        summary["objectives"] = [{"metric": m, "direction": d} for m, d in spec.objectives]
        summary["pareto_front"] = pareto_front(storage, name, spec) if counts["COMPLETE"] else []
    elif counts["COMPLETE"]:
        best = storage.get_best_trial(study_id)
        # Params as suggested (0.35, not 0.35000000000000003), in JSON as in text.
        summary["best"] = {"trial": best.number, "value": best.value, "params": clean_params(best.params)}
    attrs = storage.get_study_user_attrs(study_id)
    summary["changes"] = attrs.get(CHANGES_ATTR, [])
    summary["trivial_baseline"] = trivial_baseline(attrs)
    summary["running"] = running_trials(storage, study_id)
    # Workers, not trials: a worker runs one trial at a time. With none alive the estimate is one
    # worker's pace, and the line says so rather than claiming a worker that is not there.
    summary["live_workers"] = len({r["worker"] for r in summary["running"] if r["alive"]})
    summary["eta_s"] = eta_seconds(storage, study_id, spec.trials - summary["finished"],
                                   max(1, summary["live_workers"]))
    return summary


def pareto_front(storage: optuna.storages.BaseStorage, name: str, spec: Any) -> list[dict[str, Any]]:
    """The trials no other trial beats on every objective, by the first objective, best first."""
    import optuna

    front = optuna.load_study(study_name=name, storage=storage).best_trials
    front.sort(key=lambda t: t.values[0], reverse=spec.direction == "maximize")
    return [{"trial": t.number, "values": dict(zip(spec.metric_names, t.values, strict=True)),
             "params": clean_params(t.params)} for t in front]


def heartbeat_ages(storage: optuna.storages.BaseStorage, trial_ids: list[int]) -> dict[int, float]:
    """Seconds since each trial's last heartbeat, in the database's own clock."""
    from optuna.storages import RDBStorage

    storage = getattr(storage, "_backend", storage)
    if not trial_ids or not isinstance(storage, RDBStorage):
        return {}
    import datetime as dt

    import sqlalchemy

    with storage.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        now = conn.execute(sqlalchemy.text("SELECT CURRENT_TIMESTAMP" if sqlite else "SELECT LOCALTIMESTAMP")).scalar()
        rows = conn.execute(sqlalchemy.text(
            "SELECT trial_id, heartbeat FROM trial_heartbeats WHERE trial_id IN :ids"
        ).bindparams(sqlalchemy.bindparam("ids", expanding=True)), {"ids": trial_ids}).all()
    if isinstance(now, str):
        now = dt.datetime.fromisoformat(now)
    if now is None:
        return {}
    ages = {}
    for trial_id, beat in rows:
        if isinstance(beat, str):
            beat = dt.datetime.fromisoformat(beat)
        ages[int(trial_id)] = max(0.0, (now.replace(tzinfo=None) - beat.replace(tzinfo=None)).total_seconds())
    return ages


def running_trials(storage: optuna.storages.BaseStorage, study_id: int) -> list[dict[str, Any]]:
    from optuna.trial import TrialState

    from hpo.storage import GRACE_PERIOD_S

    running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
    ages = heartbeat_ages(storage, [t._trial_id for t in running])
    out = []
    for t in running:
        step = max(t.intermediate_values) if t.intermediate_values else None
        age = ages.get(t._trial_id)
        out.append({
            "trial": t.number,
            "worker": (t.user_attrs.get("runtime") or {}).get("worker", "?"),
            "epoch": step,
            "value": t.intermediate_values[step] if step is not None else None,
            "heartbeat_age_s": age,
            "alive": age is not None and age < GRACE_PERIOD_S,
        })
    return out


def eta_seconds(storage: optuna.storages.BaseStorage, study_id: int, left: int, workers: int) -> float | None:
    """Time left: the median duration of the last 10 finished trials x trials left / live workers."""
    import statistics

    from optuna.trial import TrialState

    if left <= 0:
        return 0.0
    done = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    durations = [t.duration.total_seconds() for t in done[-10:] if t.duration is not None]
    if not durations:
        return None
    return statistics.median(durations) * left / workers


def format_summary(s: dict[str, Any]) -> str:
    trials = ", ".join(f"{n} {state}" for state, n in s["trials"].items())
    lines = [
        f"study {s['study']}: task {s['task']}, {s['metric']} ({s['direction']}), "
        f"{s['finished']}/{s['budget']} trials finished",
        f"  trials: {trials}",
    ]
    best = s["best"]
    front = s.get("pareto_front")
    if front is not None:
        goals = ", ".join(f"{o['metric']} ({o['direction']})" for o in s["objectives"])
        lines[0] = (f"study {s['study']}: task {s['task']}, {len(s['objectives'])} objectives: {goals}; "
                    f"{s['finished']}/{s['budget']} trials finished")
        lines.append(f"  Pareto front: {len(front)} trials" + ("; pick one with `hpo export --trial N`" if front
                                                               else ": none yet"))
        for t in front:
            values = " ".join(f"{m}={v:.4g}" for m, v in t["values"].items())
            mark = trivial_mark(next(iter(t["values"].values())), s.get("trivial_baseline"), s["direction"])
            lines.append(f"    trial {t['trial']}: {values}{f' ({mark})' if mark else ''}  {params_json(t['params'])}")
    elif best:
        lines.append(f"  best: {s['metric']}={best['value']:.6g} (trial {best['trial']})")
        lines.append(f"  params: {params_json(best['params'])}")
    else:
        lines.append("  best: none yet")
    trivial = s.get("trivial_baseline")
    if trivial:
        # Next to the best, so a search that loses to predicting the mean says so plainly.
        line = (f"  trivial baseline: {trivial.get('metric', s['metric'])}={trivial['value']:.6g} "
                f"({trivial.get('predictor', 'trivial predictor')}, {trivial.get('split', 'validation')} split)")
        if best and best["value"] is not None:
            line += f"; {trivial_verdict(best['value'], trivial, s['direction'])}"
        lines.append(line)
    for change in s.get("changes", []):
        lines.append(f"  changed {change['at']}: {'; '.join(change['changes'])}")
    for r in s.get("running", []):
        epoch = f"epoch {r['epoch']}" if r["epoch"] is not None else "no epoch yet"
        value = f" {s['metric']}={r['value']:.4g}" if r["value"] is not None else ""
        beat = (f"heartbeat {r['heartbeat_age_s']:.0f} s ago" if r["heartbeat_age_s"] is not None
                else "no heartbeat")
        state = "" if r["alive"] else " (stale: its worker looks dead)"
        lines.append(f"  running: trial {r['trial']} on {r['worker']}, {epoch}{value}, {beat}{state}")
    eta = s.get("eta_s")
    if eta is not None and s["finished"] < s["budget"]:
        live = s.get("live_workers", 0)
        pace = count(live, "live worker") if live else "at one worker's pace; no worker running now"
        lines.append(f"  time left: ~{_duration(eta)} ({count(s['budget'] - s['finished'], 'trial')}, {pace})")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def hpo_studies(storage: optuna.storages.BaseStorage) -> list[str]:
    """Studies created by hpo (a shared database may hold plain Optuna ones too)."""
    from hpo.record import SPEC_ATTR

    return sorted(s.study_name for s in storage.get_all_studies() if SPEC_ATTR in s.user_attrs)


def half_made_studies(storage: optuna.storages.BaseStorage) -> list[str]:
    """Studies whose creation by hpo was interrupted (no spec pinned): listed so they are not invisible."""
    from hpo.study import half_made

    return sorted(s.study_name for s in storage.get_all_studies() if half_made(s.user_attrs))
