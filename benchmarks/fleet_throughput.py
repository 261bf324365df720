"""Fleet throughput: trials per second with 1, 2, 4 and 8 worker processes on one PostgreSQL study.

Each worker is a separate process running `hpo.worker.run_worker` against the same study
in a throwaway PostgreSQL database (a fresh one per run). The objective samples the
params with `suggest` and then sleeps 0.25 s: a fixed, sleep-bound cost, so a 2-core
machine does not cap the fleet and what limits scaling is hpo's loop and the database.
For n workers the study budget is 24*n trials. Workers import everything and wait at a
barrier before starting, and throughput is measured from the database's timestamps,
n_finished / (max(datetime_complete) - min(datetime_start)), so process start-up is
excluded. Reported: trials/s, speedup vs 1 worker, efficiency = speedup / n (target
>= 0.85 at 8 workers), exactness (finished == budget, nothing RUNNING or WAITING, no
FAIL but the budget's surplus ones), the workers' CPU per trial, and how many cores the
machine had busy just before and during each run (hpo's per-trial loop costs ~50 ms of
CPU, so 8 workers need most of 2 cores: other load on the machine shows up directly as
lost efficiency).

Needs a PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres, trust
auth; --postgres to change); creates and drops its own databases.

    python benchmarks/fleet_throughput.py [--workers 1,2,4,8] [--trials-per-worker 24]
                                          [--sleep 0.25] [--repeats 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_ticks, record  # noqa: E402

from hpo.record import SURPLUS_ATTR  # noqa: E402
from hpo.space import load_spec, suggest  # noqa: E402
from hpo.storage import open_storage  # noqa: E402
from hpo.study import create_study  # noqa: E402
from hpo.worker import run_worker  # noqa: E402

DIGITS = Path(__file__).resolve().parent.parent / "search_spaces" / "digits.yaml"
STUDY = "fleet"
TARGET_EFFICIENCY = 0.85
START_TIMEOUT_S = 180.0  # every worker must have imported and reached the barrier by then
RUN_TIMEOUT_S = 600.0
OTHER_LOAD_CORES = 0.3  # busier than this before a run: someone else is using the machine


def write_space(directory: Path, trials: int) -> Path:
    """digits.yaml's search space with a random sampler, no pruner, no baselines and our budget."""
    raw = yaml.safe_load(DIGITS.read_text())
    raw.update(name=STUDY, sampler={"type": "random", "seed": 0}, pruner={"type": "none"})
    raw["budget"]["trials"] = trials
    raw.pop("baselines", None)  # every trial sampled: all of them cost the same
    path = directory / f"{STUDY}-{trials}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def admin(server: str) -> Any:
    import psycopg

    return psycopg.connect(server, autocommit=True)


def create_database(server: str) -> tuple[str, str]:
    """A fresh, empty database; returns (its name, its SQLAlchemy URL)."""
    name = f"hpo_fleet_{uuid.uuid4().hex[:12]}"
    with admin(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{base}/{name}"


def drop_database(server: str, name: str) -> None:
    with admin(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def worker_main(url: str, space: str, worker_id: int, sleep_s: float, barrier: Any, results: Any) -> None:
    """One worker process: wait for the others, then pull trials until the study's budget is spent."""

    def factory(spec: Any, _data: Any, _context: Any) -> Any:
        def objective(trial: Any) -> float:
            params = suggest(trial, spec)
            time.sleep(sleep_s)
            return float(params["dropout"])

        return objective

    barrier.wait(timeout=START_TIMEOUT_S)
    cpu = time.process_time()
    report = run_worker(url, STUDY, space_path=space, worker_id=worker_id,
                        objective_factory=factory, log=lambda line: None)
    results.put((worker_id, report.ran, time.process_time() - cpu))


def measure(url: str) -> dict[str, Any]:
    """Throughput and exactness from the database's own trial timestamps."""
    import optuna

    storage = open_storage(url)
    try:
        trials = optuna.load_study(study_name=STUDY, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    # FAIL trials that lost the race for the budget's last slots (never trained): expected, not errors
    surplus = sum(1 for t in trials if t.state.name == "FAIL" and t.user_attrs.get(SURPLUS_ATTR))
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")
    durations = sorted((t.datetime_complete - t.datetime_start).total_seconds() for t in finished)
    return {
        "finished": len(finished), "states": states, "surplus_fails": surplus,
        "other_fails": states.get("FAIL", 0) - surplus, "span_s": span,
        "trials_per_s": len(finished) / span if span > 0 else float("nan"),
        "median_trial_s": statistics.median(durations) if durations else float("nan"),
    }


def busy_cores(seconds: float) -> float | None:
    """How many cores the machine keeps busy over the next few seconds (other users' load)."""
    busy0, total0 = cpu_ticks()
    time.sleep(seconds)
    busy1, total1 = cpu_ticks()
    return (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1) if total1 > total0 else None


def run_fleet(server: str, tmp: Path, n: int, per_worker: int, sleep_s: float) -> dict[str, Any]:
    budget = per_worker * n
    before = busy_cores(1.0)  # nothing of ours runs yet: what else is loading the machine
    space = write_space(tmp, budget)
    name, url = create_database(server)
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    try:
        storage = open_storage(url)  # schema and study made here, not raced by n fresh workers
        try:
            create_study(storage, load_spec(space, expected_name=STUDY))
        finally:
            storage.engine.dispose()
        barrier, results = ctx.Barrier(n + 1), ctx.Queue()  # + this process: it starts the CPU clock
        procs = [ctx.Process(target=worker_main, args=(url, str(space), i, sleep_s, barrier, results),
                             name=f"fleet-w{i}") for i in range(n)]
        for p in procs:
            p.start()
        barrier.wait(timeout=START_TIMEOUT_S)
        busy0, total0 = cpu_ticks()
        reports: dict[int, tuple[int, float]] = {}
        deadline = time.monotonic() + START_TIMEOUT_S + RUN_TIMEOUT_S
        while len(reports) < n:
            try:
                wid, ran, cpu_s = results.get(timeout=1.0)
                reports[wid] = (ran, cpu_s)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"{dead[0].name} exited with {dead[0].exitcode}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n} workers did not finish within {RUN_TIMEOUT_S:g} s") from None
        busy1, total1 = cpu_ticks()
        for p in procs:
            p.join(timeout=30)
            if p.exitcode != 0:
                raise RuntimeError(f"{p.name} exited with {p.exitcode}")
        result = measure(url)
    finally:
        for p in procs:  # on any failure: no worker outlives the benchmark
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
        drop_database(server, name)
    worker_cpu = sum(cpu for _, cpu in reports.values())
    result.update(
        workers=n, budget=budget, ran_per_worker=[reports[i][0] for i in sorted(reports)],
        exact=(result["finished"] == budget and result["states"].get("RUNNING", 0) == 0
               and result["states"].get("WAITING", 0) == 0 and result["other_fails"] == 0),
        # CPU of the worker processes (all threads) per finished trial, and how busy the whole
        # machine was meanwhile (workers + PostgreSQL + anything else running), in cores.
        worker_cpu_ms_per_trial=1000 * worker_cpu / max(result["finished"], 1),
        busy_cores_before=before,
        machine_busy_cores=(busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1) if total1 > total0 else None,
    )
    return result


def cores(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}/{os.cpu_count()}"


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def cleanup_on_signals() -> None:
    """Ctrl-C and SIGTERM unwind through the finally blocks (workers, databases), even when this
    script was started with SIGINT ignored (`cmd &` in a script)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts (default 1,2,4,8)")
    parser.add_argument("--trials-per-worker", type=int, default=24, help="budget = this * workers (default 24)")
    parser.add_argument("--sleep", type=float, default=0.25, help="objective's fixed cost in seconds (default 0.25)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per worker count (default 1)")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="server to create throwaway databases on (an admin connection URL)")
    args = parser.parse_args()
    cleanup_on_signals()
    counts = sorted({int(x) for x in args.workers.split(",")})
    if counts[0] < 1 or args.trials_per_worker < 1 or args.repeats < 1 or args.sleep < 0:
        parser.error("--workers, --trials-per-worker and --repeats must be >= 1, --sleep >= 0")

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with admin(args.postgres) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()[0]
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # each repeat sweeps all n, so drift on the machine hits all alike
            for n in counts:
                runs[n].append(run_fleet(args.postgres, Path(tmp), n, args.trials_per_worker, args.sleep))

    # trials/s of one worker (from the smallest fleet, if 1 is not among --workers)
    base = statistics.median(r["trials_per_s"] for r in runs[counts[0]]) / counts[0]
    results: dict[str, dict[str, Any]] = {}
    for n in counts:
        tps = statistics.median(r["trials_per_s"] for r in runs[n])
        speedup = tps / base
        results[str(n)] = {
            "workers": n, "budget": args.trials_per_worker * n, "trials_per_s": tps,
            "speedup_vs_1": speedup, "efficiency": speedup / n,
            "ideal_trials_per_s": n / args.sleep,
            "exact": all(r["exact"] for r in runs[n]), "runs": runs[n],
        }

    print(f"{'workers':>7} {'budget':>6} {'trials/s':>9} {'speedup':>8} {'efficiency':>10} "
          f"{'span s':>7} {'med trial s':>11} {'cpu ms/trial':>12} {'busy before':>11} {'busy during':>11}  "
          f"{'exact':<5} states")
    for n in counts:
        r, last = results[str(n)], runs[n][-1]
        states = ", ".join(f"{k}={v}" for k, v in sorted(last["states"].items()))
        if last["surplus_fails"]:
            states += f" ({last['surplus_fails']} FAIL surplus: lost the race for the last slots, never run)"
        print(f"{n:>7} {r['budget']:>6} {r['trials_per_s']:>9.2f} {r['speedup_vs_1']:>8.2f} "
              f"{r['efficiency']:>10.3f} {last['span_s']:>7.2f} {last['median_trial_s']:>11.3f} "
              f"{last['worker_cpu_ms_per_trial']:>12.1f} {cores(last['busy_cores_before']):>11} "
              f"{cores(last['machine_busy_cores']):>11}  "
              f"{r['exact']!s:<5} {states}")
    loaded = [n for n in counts if any((r["busy_cores_before"] or 0) > OTHER_LOAD_CORES for r in runs[n])]
    if loaded:
        print(f"warning: other processes kept > {OTHER_LOAD_CORES} cores busy just before the run(s) with "
              f"{', '.join(map(str, loaded))} workers; their efficiency is a lower bound, run again on a quiet machine")
    top = results[str(counts[-1])]
    verdict = "meets" if top["efficiency"] >= TARGET_EFFICIENCY else "MISSES"
    print(f"efficiency at {counts[-1]} workers: {top['efficiency']:.3f} ({verdict} target >= {TARGET_EFFICIENCY})"
          f"; every run exact: {all(r['exact'] for r in results.values())}"
          f"; total {time.monotonic() - started:.0f} s")
    path = record("fleet_throughput", {
        "storage": f"postgresql {server_version} (127.0.0.1, a fresh database per run)",
        "objective": f"suggest(trial, spec) then time.sleep({args.sleep:g})",
        "space": "search_spaces/digits.yaml params, random sampler (seed 0 + worker id), no pruner, no baselines",
        "workers": counts, "trials_per_worker": args.trials_per_worker, "repeats": args.repeats,
        "processes": "multiprocessing spawn, one run_worker per process, started together at a barrier",
        "throughput": "finished / (max(datetime_complete) - min(datetime_start)), median over repeats",
        "results": results,
        "runs_with_other_load": loaded,
        "target": f"efficiency >= {TARGET_EFFICIENCY} at {counts[-1]} workers",
        "meets_target": top["efficiency"] >= TARGET_EFFICIENCY,
        "all_exact": all(r["exact"] for r in results.values()),
    })
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
