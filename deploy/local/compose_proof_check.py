"""The checks of scripts/compose_proof.sh, in two halves.

``dump``: run inside the hpo image (it has optuna), against the compose stack's PostgreSQL;
prints every trial of the study as JSON: number, state, params (an enqueued trial's fixed
params included), the retry links, the worker that ran it, and its times.

``report``: run on the host (standard library only); reads the files the script saved
(``hpo status --json``, the trial dump, the dashboard's answers, the script's events) and
prints the summary. Exit status 1 when a check fails.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

FINISHED = ("COMPLETE", "PRUNED")
RETRY_KEYS = ("failed_trial", "retry_history")
REQUEUED = "hpo:requeued_from"
SURPLUS = "hpo:surplus"
BASELINE = "hpo:baseline"


def dump(study_name: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=os.environ["HPO_STORAGE"])
    out = []
    for t in study.get_trials(deepcopy=False):
        params = {**t.system_attrs.get("fixed_params", {}), **t.params}
        out.append({
            "number": t.number,
            "state": t.state.name,
            "params": params,
            "failed_trial": t.system_attrs.get("failed_trial"),
            "retry_history": t.system_attrs.get("retry_history", []),
            "requeued_from": t.user_attrs.get(REQUEUED),
            "surplus": bool(t.user_attrs.get(SURPLUS)),
            "baseline": t.user_attrs.get(BASELINE),
            "fail_reason": t.user_attrs.get("fail_reason"),
            "resumed_from_epoch": t.user_attrs.get("resumed_from_epoch"),
            "worker": (t.user_attrs.get("runtime") or {}).get("worker"),
            "epochs": len(t.intermediate_values),
            "value": t.value,
            "start": t.datetime_start.isoformat() if t.datetime_start else None,
            "complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
        })
    json.dump(out, sys.stdout)


def parent(t: dict[str, Any]) -> int | None:
    """The trial this one directly re-runs: the last of its retry history, else the one it was requeued from."""
    if t["retry_history"]:
        return int(t["retry_history"][-1])
    if t["requeued_from"] is not None:
        return int(t["requeued_from"])
    return t["failed_trial"]


def retried_from(t: dict[str, Any]) -> set[int]:
    """The numbers of the trials this one re-runs (optuna's stale-trial retry or hpo's requeue)."""
    links = set(t["retry_history"] or [])
    if t["failed_trial"] is not None:
        links.add(t["failed_trial"])
    if t["requeued_from"] is not None:
        links.add(t["requeued_from"])
    return links


def key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def report(folder: Path) -> int:
    status = json.loads((folder / "status.json").read_text())
    (summary,) = [s for s in status if s["study"] == os.environ["HPO_STUDY"]]
    trials: list[dict[str, Any]] = json.loads((folder / "trials.json").read_text())
    events = json.loads((folder / "events.json").read_text())
    by_number = {t["number"]: t for t in trials}
    states = Counter(t["state"] for t in trials)
    budget = summary["budget"]
    checks: list[tuple[str, str]] = []

    def check(ok: bool, what: str) -> None:
        checks.append(("PASS" if ok else "FAIL", what))

    def warn(ok: bool, what: str) -> None:
        """A known defect, reported on every run but not failing it."""
        checks.append(("PASS" if ok else "WARN", what))

    finished = sum(states[s] for s in FINISHED)
    check(finished == budget, f"COMPLETE + PRUNED = {finished}, the budget is {budget}")
    check(summary["finished"] == finished, f"hpo status --json says {summary['finished']} finished, "
                                           f"the trial dump {finished}")
    check(states["RUNNING"] == 0 and states["WAITING"] == 0,
          f"no trial left RUNNING ({states['RUNNING']}) or WAITING ({states['WAITING']})")
    check(not summary["running"], "hpo status lists no running trial")

    # Requeues: which trial re-runs which.
    children: dict[int, list[int]] = defaultdict(list)
    for t in trials:
        up = parent(t)
        if up is not None:
            children[up].append(t["number"])
    requeued = [t for t in trials if retried_from(t)]

    # Nothing lost: every failed trial that had params is re-run, down a chain that ends finished.
    def ends_finished(number: int, seen: frozenset[int] = frozenset()) -> bool:
        t = by_number[number]
        if t["state"] in FINISHED:
            return True
        return any(ends_finished(c, seen | {number}) for c in children[number] if c not in seen)

    failed = [t for t in trials if t["state"] == "FAIL"]
    surplus = [t for t in failed if t["surplus"]]
    lost = [t["number"] for t in failed if not t["surplus"] and t["params"] and not ends_finished(t["number"])]
    check(not lost, f"every FAIL trial with params was re-run to COMPLETE/PRUNED (lost: {lost or 'none'})")

    # Nothing duplicated: one set of params finishes at most once, and a repeat of a set is a requeue.
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in trials:
        if t["params"]:
            groups[key(t["params"])].append(t)
    twice_finished = [[t["number"] for t in g] for g in groups.values() if sum(t["state"] in FINISHED for t in g) > 1]
    check(not twice_finished, f"no params finished twice ({twice_finished or 'none'})")
    unexplained = []
    for g in groups.values():
        numbers = {t["number"] for t in g}
        for t in sorted(g, key=lambda t: t["number"])[1:]:
            if not (retried_from(t) & numbers):
                unexplained.append(t["number"])
    check(not unexplained, f"every repeated params set is a requeue (unexplained repeats: {unexplained or 'none'})")

    # The baseline ran, once.
    baselines = [t for t in trials if t["baseline"] is not None and t["state"] in FINISHED]
    check(len(baselines) == 1, f"the study file's baseline finished exactly once ({len(baselines)})")

    # The faults really happened mid-study, and were survived.
    for name in ("killed_worker", "postgres_restarted"):
        ev = events.get(name)
        check(bool(ev) and ev["finished_before"] < budget,
              f"{name.replace('_', ' ')} mid-study" + (f" (at {ev['finished_before']}/{budget} finished, "
                                                       f"{ev['running_before']} running)" if ev else ""))
    crash = events.get("crashed_worker")
    check(bool(crash) and crash["finished_before"] < budget and crash["restarted_by_docker"],
          "a worker whose process was SIGKILLed mid-study was restarted by `restart: on-failure`"
          + (f" (at {crash['finished_before']}/{budget} finished)" if crash else ""))
    for what in ("killed_worker", "crashed_worker"):
        victim = events.get(what, {}).get("trial")
        if victim is None:
            continue
        state = by_number[victim]["state"] if victim in by_number else "missing"
        check(state == "FAIL" and ends_finished(victim),
              f"the {what.replace('_', ' ')}'s trial {victim} was failed and re-run to the end "
              f"(state {state}, re-run as {children.get(victim) or 'nothing'})")
    for c in events.get("containers", []):
        check(c["exit_code"] == 0 and c["status"] == "exited",
              f"worker {c['name']} exited 0 at the end ({c['status']}, exit {c['exit_code']}, "
              f"{c['restarts']} automatic restarts)")
    pg = events.get("postgres", {})
    check(pg.get("max_connections") == "300",
          f"deploy/postgres-init ran: max_connections = {pg.get('max_connections')}")

    # The dashboard.
    dash = events.get("dashboard", {})
    check(dash.get("before_faults") == 200,
          f"dashboard GET /dashboard before the faults -> HTTP {dash.get('before_faults')}")
    after = dash.get("after_pg_restart", [0, 0])
    check(200 in after,
          f"dashboard answers after the PostgreSQL restart (GET /api/studies -> {after[0]}, then {after[1]})")
    warn(after[0] == 200, f"dashboard's first request after the PostgreSQL restart -> HTTP {after[0]}"
         + ("" if after[0] == 200 else " (optuna-dashboard's engine has no pool_pre_ping: a connection pooled "
            "before the restart fails once)"))
    warn(dash.get("empty_db_crashes", 0) == 0,
         f"dashboard started on the empty database: {dash.get('empty_db_crashes', 0)} crashes "
         f"('relation \"version_info\" does not exist': optuna-dashboard never creates optuna's tables), "
         f"{dash.get('restarts', 0)} restarts by `restart: unless-stopped`")
    check(dash.get("index_status") == 200, f"dashboard GET /dashboard at the end -> HTTP {dash.get('index_status')}")
    studies = json.loads((folder / "dashboard-studies.json").read_text())["study_summaries"]
    names = [s["study_name"] for s in studies]
    check(os.environ["HPO_STUDY"] in names, f"dashboard GET /api/studies lists {names}")
    detail = json.loads((folder / "dashboard-study.json").read_text())
    dash_states = Counter(t["state"] for t in detail["trials"])
    check(len(detail["trials"]) == len(trials) and dash_states["Complete"] == states["COMPLETE"],
          f"dashboard GET /api/studies/ID shows {len(detail['trials'])} trials "
          f"({dict(dash_states)}), the database {len(trials)}")

    # The summary.
    print()
    print(f"study {summary['study']}: budget {budget} trials, {finished} finished "
          f"({states['COMPLETE']} COMPLETE, {states['PRUNED']} PRUNED); {len(trials)} trials in all")
    print(f"  states: {', '.join(f'{s} {n}' for s, n in sorted(states.items()))}")
    print(f"  FAIL: {len(failed)} ({len(surplus)} surplus, created past the budget and never trained; "
          f"{len(failed) - len(surplus)} interrupted)")
    for t in failed:
        if t["surplus"]:
            continue
        print(f"    trial {t['number']}: {t['fail_reason'] or 'failed'}; ran {t['epochs']} epochs on "
              f"{t['worker']}; re-run as {children.get(t['number']) or 'nothing'}")
    print(f"  requeued/retried trials: {len(requeued)}")
    for t in requeued:
        resumed = (f", resumed from epoch {t['resumed_from_epoch']}" if t["resumed_from_epoch"] is not None
                   else "")
        print(f"    trial {t['number']} re-runs {sorted(retried_from(t))}: {t['state']}{resumed}")
    per_worker = Counter((t["worker"] or "?").split("/")[0] for t in trials if t["state"] in FINISHED)
    print(f"  finished per worker container: {dict(per_worker)}")
    for g in groups.values():
        if len(g) > 1 and any(t["number"] in unexplained for t in g):
            print("  the same params, not a requeue:")
            for t in g:
                print(f"    trial {t['number']}: {t['state']} on {t['worker']}, started {t['start']}")
    if summary["best"]:
        print(f"  best: {summary['metric']}={summary['best']['value']:.4f} (trial {summary['best']['trial']})")
    print("  timeline:")
    for line in events.get("timeline", []):
        print(f"    {line}")
    print()
    for verdict, what in checks:
        print(f"  {verdict}  {what}")
    bad = sum(v == "FAIL" for v, _ in checks)
    warned = sum(v == "WARN" for v, _ in checks)
    print()
    print(f"compose proof: {len(checks) - bad - warned}/{len(checks)} checks passed"
          + (f", {warned} known defects (WARN)" if warned else "") + (f", {bad} FAILED" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["dump"]:
        dump(sys.argv[2])
    elif sys.argv[1:2] == ["report"]:
        sys.exit(report(Path(sys.argv[2])))
    else:
        sys.exit("usage: compose_proof_check.py dump STUDY | report FOLDER")
