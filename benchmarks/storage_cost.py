"""Per-trial storage cost as a study grows, on SQLite, PostgreSQL and `hpo proxy` (gRPC) + PostgreSQL.

One worker (`hpo.worker.run_worker`, in a fresh process per backend) runs a study whose
objective only samples the params (search_spaces/digits.yaml's space, random sampler, no
pruner) and returns a float, so a trial's time is hpo's loop plus the storage. The
objective records time.perf_counter() at every call; trial i's cost is the time since
call i-1 (the previous trial's tell and callbacks, this one's ask and suggest). Reported:
the median ms/trial over windows early, in the middle and at the end of the study
(trials 1-100, 1001-1100, 2401-2500, 4901-5000 at 5000 trials; scaled for --trials),
and last window / first window per backend: about 1 means a trial costs the same in a
big study as in a small one.

Backends: SQLite (a file in a temp dir), PostgreSQL (a throwaway database), and `hpo
proxy` serving another throwaway PostgreSQL database (started as a subprocess, SIGINT-ed
at the end). Needs a PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres,
trust auth; --postgres to change); creates and drops its own databases.

    python benchmarks/storage_cost.py [--trials 2000] [--backends sqlite,postgres,proxy] [--max-seconds 600]

The default is 2000 trials (about 4 minutes on 2 cores), not 5000: at 5000 the three
backends take about 10 minutes. `--trials 5000` runs the full study. Each backend's
worker stops after --max-seconds, so a backend whose per-trial cost grows with the study
cannot hold the run up; it reports the windows it reached ('-' for the others).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_ticks, record  # noqa: E402

from hpo.space import suggest  # noqa: E402
from hpo.worker import run_worker  # noqa: E402

DIGITS = Path(__file__).resolve().parent.parent / "search_spaces" / "digits.yaml"
HPO = str(Path(sys.executable).parent / "hpo")
STUDY = "growth"
FULL_TRIALS = 5000
DEFAULT_TRIALS = 2000
BACKENDS = ("sqlite", "postgres", "proxy")
DEFAULT_MAX_SECONDS = 600.0
PROXY_START_TIMEOUT_S = 60.0


def windows(trials: int) -> list[tuple[int, int]]:
    """1-based inclusive trial ranges: 1-100, 1001-1100, 2401-2500, 4901-5000 at 5000 trials."""
    width = min(100, max(trials // 20, 2))
    ends = sorted({width, round(0.22 * trials), round(0.5 * trials), trials})
    return [(max(end - width + 1, 1), end) for end in ends if end >= width]


def write_space(directory: Path, trials: int) -> Path:
    raw = yaml.safe_load(DIGITS.read_text())
    raw.update(name=STUDY, sampler={"type": "random", "seed": 0}, pruner={"type": "none"})
    raw["budget"]["trials"] = trials
    raw.pop("baselines", None)  # every trial sampled alike
    path = directory / f"{STUDY}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# PostgreSQL's own counters of the rows it read, summed over the study database's tables: a
# per-trial cost that does not depend on how fast the machine is at the moment.
PG_ROWS_READ = """SELECT COALESCE(SUM(seq_scan), 0), COALESCE(SUM(seq_tup_read), 0),
                         COALESCE(SUM(idx_scan), 0), COALESCE(SUM(idx_tup_fetch), 0)
                  FROM pg_stat_user_tables"""
COUNTER_EVERY = 100  # trials between two reads of the counters (each waits 1.1 s)


def pg_counter_reader(url: str) -> Callable[[], list[int]]:
    """The database's table-read counters now (stats flushed by the worker's connections first)."""
    import psycopg

    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True)

    def read() -> list[int]:
        time.sleep(1.1)  # a backend flushes its table stats at most once a second (PostgreSQL 15+)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(PG_ROWS_READ).fetchone()
        return [int(v) for v in row] if row else [0, 0, 0, 0]

    return read


def run_one(url: str, space: str, max_seconds: float) -> dict[str, Any]:
    """In a fresh process: one worker spends the budget (or max_seconds); returns the objective's
    call times (wall and this process's CPU) and, on PostgreSQL, the rows-read counters every
    COUNTER_EVERY trials (the pause to read them falls inside one trial in 100: medians skip it)."""
    calls: list[float] = []
    cpu_at: list[float] = []
    counters: list[tuple[int, list[int]]] = []
    read_counters = pg_counter_reader(url) if url.startswith("postgresql") else None

    def factory(spec: Any, _data: Any, _context: Any) -> Callable[[Any], float]:
        def objective(trial: Any) -> float:
            if read_counters is not None and len(calls) % COUNTER_EVERY == 0:
                counters.append((len(calls), read_counters()))
            calls.append(time.perf_counter())
            cpu_at.append(time.process_time())
            return float(suggest(trial, spec)["dropout"])

        return objective

    started, cpu = time.perf_counter(), time.process_time()
    report = run_worker(url, STUDY, space_path=space, timeout=max_seconds, objective_factory=factory,
                        log=lambda line: None)
    if read_counters is not None:
        counters.append((len(calls), read_counters()))  # the end of the last window
    return {"calls": calls, "cpu_at": cpu_at, "counters": counters, "ran": report.ran, "states": dict(report.states),
            "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}


@contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped (connections and all) on the way out."""
    import psycopg

    name = f"hpo_storage_cost_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def proxy(database_url: str, log_path: Path) -> Iterator[str]:
    """`hpo proxy` in front of the database; yields its grpc:// URL once it answers; SIGINT at the end."""
    import grpc

    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([HPO, "proxy", "--storage", database_url, "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + PROXY_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"hpo proxy exited with {proc.returncode}: {log_path.read_text().strip()}")
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                try:
                    grpc.channel_ready_future(channel).result(timeout=1.0)
                    break
                except grpc.FutureTimeoutError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"hpo proxy did not answer within {PROXY_START_TIMEOUT_S:g} s") from None
        yield f"grpc://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def child(url: str, space: str, max_seconds: float, results: Any) -> None:
    results.put(run_one(url, space, max_seconds))


def in_fresh_process(url: str, space: Path, max_seconds: float) -> dict[str, Any]:
    """run_one in a spawned process; on any failure here (Ctrl-C, SIGTERM) the child is stopped."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=child, args=(url, str(space), max_seconds, results), name="storage-cost-worker")
    proc.start()
    try:
        while True:
            try:
                run: dict[str, Any] = results.get(timeout=1.0)  # before join: the result is large
                break
            except queue.Empty:
                if proc.exitcode is not None:
                    raise RuntimeError(f"the worker process exited with {proc.exitcode}") from None
        proc.join(timeout=30)
        return run
    finally:
        if proc.is_alive():
            proc.terminate()  # SIGTERM: run_worker fails its running trial and exits
            proc.join(timeout=15)
        if proc.is_alive():
            proc.kill()
            proc.join()


def run_backend(backend: str, server: str, tmp: Path, space: Path, max_seconds: float,
                pair: int = 0) -> dict[str, Any]:
    """One backend's run, and how many cores the whole machine kept busy meanwhile."""
    busy0, total0 = cpu_ticks()
    run = _run_backend(backend, server, tmp, space, max_seconds, pair)
    busy1, total1 = cpu_ticks()
    run["busy_cores"] = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1) if total1 > total0 else None
    return run


def _run_backend(backend: str, server: str, tmp: Path, space: Path, max_seconds: float,
                 pair: int = 0) -> dict[str, Any]:
    with backend_url(backend, server, tmp, "big") as url:
        run = in_fresh_process(url, space, max_seconds)
        if pair and run["ran"] == len(run["calls"]) >= PAIR_SMALL:
            with backend_url(backend, server, tmp, "small") as small_url:
                run["pair"] = paired(url, len(run["calls"]), small_url, tmp, pair, max_seconds)
    return run


@contextmanager
def backend_url(backend: str, server: str, tmp: Path, name: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp}/{name}.db"
        return
    with throwaway_database(server) as url:
        if backend == "postgres":
            yield url
            return
        with proxy(url, tmp / f"proxy-{name}.log") as grpc_url:
            yield grpc_url


PAIR_SMALL = 100  # trials in the small study of the paired run
PAIR_WARMUP = 10  # first trials of each paired worker left out (imports warm, caches filled)


def paired(big_url: str, big_trials: int, small_url: str, tmp: Path, more: int, max_seconds: float) -> dict[str, Any]:
    """The drift-free comparison: the study just grown to ``big_trials`` and a fresh one of
    PAIR_SMALL trials each run ``more`` trials, two workers at the same time, so whatever the
    machine does meanwhile (the shared VM's speed moves by a third within minutes) falls on both.
    Returns each side's median ms and CPU ms per trial, and big / small."""
    import concurrent.futures

    here = Path(tempfile.mkdtemp(prefix="pair-", dir=tmp))  # one per backend
    for folder in ("fill", "small", "big"):
        (here / folder).mkdir()
    in_fresh_process(small_url, write_space(here / "fill", PAIR_SMALL), max_seconds)
    spaces = {side: (write_space(here / side, start + more), start)
              for side, start in (("small", PAIR_SMALL), ("big", big_trials))}
    urls = {"small": small_url, "big": big_url}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {side: pool.submit(in_fresh_process, urls[side], spaces[side][0], max_seconds) for side in urls}
        runs = {side: f.result() for side, f in futures.items()}
    out: dict[str, Any] = {"more_trials_each": more, "warmup_left_out": PAIR_WARMUP}
    for side, run in runs.items():
        calls, cpu = run["calls"][PAIR_WARMUP:], run["cpu_at"][PAIR_WARMUP:]
        per_trial = [b - a for a, b in zip(calls, calls[1:], strict=False)]
        out[side] = {"study_trials_at_start": spaces[side][1], "trials_run": run["ran"],
                     "median_ms_per_trial": 1000 * statistics.median(per_trial),
                     "worker_cpu_ms_per_trial": 1000 * (cpu[-1] - cpu[0]) / (len(cpu) - 1)}
    for key in ("median_ms_per_trial", "worker_cpu_ms_per_trial"):
        out[f"{key}_big_over_small"] = out["big"][key] / out["small"][key]
    return out


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def cleanup_on_signals() -> None:
    """Ctrl-C and SIGTERM unwind through the finally blocks (children, proxy, databases), even
    when this script was started with SIGINT ignored (`cmd &` in a script)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def summarize(run: dict[str, Any], spans: list[tuple[int, int]]) -> dict[str, Any]:
    """Median ms/trial per window reached, and over the last window's width of trials reached."""
    calls = run["calls"]
    reached = len(calls)
    # per_trial[i] is trial i+2's cost: the time from call i+1 to call i+2 (trial 1 has none)
    per_trial = [b - a for a, b in zip(calls, calls[1:], strict=False)]

    def median_ms(lo: int, hi: int) -> float | None:
        values = per_trial[max(lo - 2, 0):hi - 1]
        return 1000 * statistics.median(values) if values else None

    medians = {f"{lo}-{hi}": median_ms(lo, hi) if hi <= reached else None for lo, hi in spans}
    cpu = run["cpu_at"]

    def cpu_ms(lo: int, hi: int) -> float | None:  # the worker's own CPU per trial (client side)
        lo, hi = max(lo - 1, 0), min(hi, len(cpu)) - 1
        return 1000 * (cpu[hi] - cpu[lo]) / (hi - lo) if hi > lo else None

    def rows_read(lo: int, hi: int) -> dict[str, float] | None:
        """Per trial, between the counter reads nearest the window's ends: scans and rows read."""
        marks = run.get("counters") or []
        if not marks:
            return None
        first = min(marks, key=lambda m: abs(m[0] - (lo - 1)))
        last = min(marks, key=lambda m: abs(m[0] - hi))
        if last[0] <= first[0]:
            return None
        n = last[0] - first[0]
        d = [b - a for a, b in zip(first[1], last[1], strict=True)]
        return {"seq_scans": d[0] / n, "seq_rows_read": d[1] / n, "index_scans": d[2] / n,
                "index_rows_fetched": d[3] / n, "trials": f"{first[0] + 1}-{last[0]}"}

    cpu_medians = {f"{lo}-{hi}": cpu_ms(lo, hi) if hi <= reached else None for lo, hi in spans}
    reads = {f"{lo}-{hi}": rows_read(lo, hi) if hi <= reached else None for lo, hi in spans}
    width = spans[0][1] - spans[0][0] + 1
    end = (max(reached - width + 1, 1), reached)
    first, last = median_ms(*spans[0]) if reached >= spans[0][1] else None, median_ms(*end)
    return {
        "trials_reached": reached, "complete": run["ran"] == reached and reached >= spans[-1][1],
        "median_ms_per_trial": medians, "worker_cpu_ms_per_trial": cpu_medians, "db_reads_per_trial": reads,
        "end_window": f"{end[0]}-{end[1]}", "end_window_median_ms": last,
        "ratio_last_over_first": last / first if first and last else None,
        "mean_ms_per_trial": 1000 * statistics.fmean(per_trial) if per_trial else None,
        "wall_s": run["wall_s"], "worker_cpu_s": run["cpu_s"], "states": run["states"],
        "machine_busy_cores": run["busy_cores"], "paired": run.get("pair"),
    }


def busy(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}/{os.cpu_count()}"


def cell(value: float | None, spec: str = ">10.2f") -> str:
    return format(value, spec) if value is not None else format("-", spec.split(".")[0].rstrip("f"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS,
                        help=f"study budget (default {DEFAULT_TRIALS}; {FULL_TRIALS} for the full run)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated subset of " + ",".join(BACKENDS))
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                        help=f"stop a backend's worker after this long (default {DEFAULT_MAX_SECONDS:g}): a backend "
                             "whose per-trial cost grows with the study reports the windows it reached")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="server to create throwaway databases on (an admin connection URL)")
    parser.add_argument("--pair", type=int, default=300, metavar="N",
                        help="then N more trials on the grown study and on a fresh 100-trial one at the same time "
                             "(the drift-free comparison; 0: skip)")
    args = parser.parse_args()
    cleanup_on_signals()
    backends = [b for b in args.backends.split(",") if b]
    if args.trials < 20:
        parser.error("--trials must be >= 20")
    if args.max_seconds <= 0:
        parser.error("--max-seconds must be > 0")
    if not backends or set(backends) - set(BACKENDS):
        parser.error(f"--backends: choose from {', '.join(BACKENDS)}")
    spans = windows(args.trials)
    labels = [f"{lo}-{hi}" for lo, hi in spans]
    if args.trials < FULL_TRIALS:
        print(f"note: {args.trials} trials, not {FULL_TRIALS} (the full run, --trials {FULL_TRIALS}, takes about "
              f"10 minutes on 2 cores); windows scaled: {', '.join(labels)}")

    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        space = write_space(Path(tmp), args.trials)
        for backend in backends:
            run = run_backend(backend, args.postgres, Path(tmp), space, args.max_seconds, args.pair)
            if run["ran"] != len(run["calls"]):
                raise RuntimeError(f"{backend}: the worker reported {run['ran']} trials, the objective saw "
                                   f"{len(run['calls'])}")
            results[backend] = summarize(run, spans)
            stop = "" if results[backend]["complete"] else f" (stopped at --max-seconds {args.max_seconds:g})"
            print(f"  {backend}: {run['ran']} trials in {run['wall_s']:.0f} s{stop}", flush=True)

    print(f"median ms/trial over trial windows (budget {args.trials} trials, one worker; "
          f"'-': not reached within --max-seconds {args.max_seconds:g})")
    print(f"{'backend':<13} " + " ".join(f"{label:>10}" for label in labels)
          + f" {'reached':>8} {'end window':>11} {'end ms':>8} {'end/first':>9} {'total s':>8} {'busy cores':>10}")
    for backend, r in results.items():
        print(f"{backend:<13} " + " ".join(cell(r["median_ms_per_trial"][label]) for label in labels)
              + f" {r['trials_reached']:>8} {r['end_window']:>11} {cell(r['end_window_median_ms'], '>8.2f')}"
              f" {cell(r['ratio_last_over_first'], '>9.2f')} {r['wall_s']:>8.0f} {busy(r['machine_busy_cores']):>10}")
    print("the worker's own CPU ms/trial (client side: Python, SQLAlchemy, the driver) over the same windows")
    for backend, r in results.items():
        print(f"{backend:<13} " + " ".join(cell(r["worker_cpu_ms_per_trial"][label]) for label in labels))
    if any(any(r["db_reads_per_trial"].values()) for r in results.values()):
        print("PostgreSQL's counters per trial (pg_stat_user_tables): seq scans / rows they read / index rows fetched")
        for backend, r in results.items():
            if any(r["db_reads_per_trial"].values()):
                print(f"{backend:<13} " + " ".join(
                    format(f"{v['seq_scans']:.1f}/{v['seq_rows_read']:.0f}/{v['index_rows_fetched']:.0f}", ">14")
                    if v else format("-", ">14") for v in r["db_reads_per_trial"].values()))
    if any(r["paired"] for r in results.values()):
        print(f"paired: {args.pair} more trials on the grown study and on a {PAIR_SMALL}-trial one, two workers at "
              "the same time (machine drift falls on both): ms/trial and worker CPU ms/trial, big / small")
        for backend, r in results.items():
            pr = r["paired"]
            if pr:
                small, big = pr["small"], pr["big"]
                print(f"{backend:<13} at {small['study_trials_at_start']:>5}: {small['median_ms_per_trial']:7.2f} ms "
                      f"{small['worker_cpu_ms_per_trial']:7.2f} cpu | at {big['study_trials_at_start']:>5}: "
                      f"{big['median_ms_per_trial']:7.2f} ms {big['worker_cpu_ms_per_trial']:7.2f} cpu | big/small "
                      f"{pr['median_ms_per_trial_big_over_small']:.2f} "
                      f"(cpu {pr['worker_cpu_ms_per_trial_big_over_small']:.2f})")
    print(f"busy cores: the whole machine's, during each backend's run; one worker and its database need "
          f"about 1 of {os.cpu_count()}, more means other load, which inflates and blurs the timings")
    print(f"total {time.monotonic() - started:.0f} s")
    path = record("storage_cost", {
        "trials": args.trials, "full_trials": FULL_TRIALS, "reduced": args.trials < FULL_TRIALS,
        "reduced_why": (f"default {DEFAULT_TRIALS}: {FULL_TRIALS} trials on the three backends take about "
                        "10 minutes on a 2-core machine; run --trials 5000 for the full study")
                       if args.trials < FULL_TRIALS else None,
        "max_seconds_per_backend": args.max_seconds,
        "windows": labels, "workers": 1,
        "objective": "suggest(trial, spec) on search_spaces/digits.yaml's params, return a float",
        "sampler": "random (seed 0), no pruner, no baselines",
        "per_trial": "time between consecutive objective calls (time.perf_counter), median per window; "
                     "end window: the last window-width of trials reached; ratio: end window / first window",
        "paired": (f"then {args.pair} more trials each on the grown study and on a fresh {PAIR_SMALL}-trial study, "
                   f"two workers at once (first {PAIR_WARMUP} left out): big / small under the same machine "
                   "conditions") if args.pair else None,
        "backends": {
            "sqlite": "file in a temp dir (WAL)", "postgres": "throwaway database on 127.0.0.1:5432",
            "proxy": "`hpo proxy` subprocess in front of a throwaway database on 127.0.0.1:5432",
        },
        "results": results,
    })
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
