"""Start-up of `hpo worker`: from process start to the end of the first epoch, broken down.

Runs the real ``hpo worker --study S --trials 1`` on a fresh temporary SQLite storage, twice per
repeat and scenario:

* traced: a ``sitecustomize`` put first on the child's PYTHONPATH (nothing in hpo changes) times
  the imports that matter (optuna, sqlalchemy, scikit-learn, TensorFlow, Keras, ...) and wraps the
  functions the worker calls in order (load_spec, load_dataset, import_keras_quietly, preflight,
  open_storage, create_study, open_study, pin_data, the trial's build_model, Keras's fit, the
  pruning callback's epoch end) and writes their monotonic timestamps to a file. The phases
  between consecutive markers add up to the total exactly.
* plain: no tracer; the benchmark polls the study database (read-only) for the trial's first
  intermediate value, i.e. the first epoch as the pruner sees it, to check that the tracer does
  not change the end-to-end time.

Scenarios: ``digits`` (bundled set, no file cache), ``keypoints-cold`` (a synthetic Kaggle
training.csv, empty $HPO_CACHE_DIR) and ``keypoints-warm`` (the same file, its cache filled by the
cold run). The worker is killed once the second epoch ended (the second epoch gives the steady
epoch time, so the first epoch's tracing cost shows). One untimed warm-up run first (disk cache).

    python benchmarks/startup.py [--scenarios digits,keypoints-cold,keypoints-warm] [--repeats 3]
                                 [--rows 2000] [--backend tensorflow] [--no-plain] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HPO = str(Path(sys.executable).with_name("hpo"))
SCENARIOS = ("digits", "keypoints-cold", "keypoints-warm")

# The child's tracer. Only time.monotonic (one clock for every process on Linux) and the standard
# library; it patches module attributes right after the module ran, so `from X import f` inside a
# function (as hpo's worker does) picks the wrapper up.
TRACER = r'''
import importlib.abc, os, sys, time
_now = time.monotonic
_T0 = _now()
_OUT = open(os.environ["HPO_STARTUP_TRACE"], "a", buffering=1)
_stack = []

def _emit(kind, name, start, end, depth):
    _OUT.write(f"{kind}\t{name}\t{start:.6f}\t{end:.6f}\t{depth}\n")

_emit("mark", "site", _T0, _T0, 0)

IMPORTS = {"hpo.cli", "hpo.storage", "hpo.worker", "hpo.space", "hpo.progress", "yaml", "optuna", "sqlalchemy",
           "numpy", "scipy", "pandas", "sklearn", "sklearn.datasets", "sklearn.model_selection", "tensorflow",
           "keras", "jax", "torch", "optuna_integration", "hpo.models.factory", "hpo.objective",
           "hpo.training", "hpo.data.keypoints", "hpo.data.datasets", "rich", "matplotlib", "PIL", "skimage",
           "alembic", "h5py"}

def _wrap(module, attr, label, first=None, after=False):
    obj = module
    *path, leaf = attr.split(".")
    for p in path:
        obj = getattr(obj, p, None)
        if obj is None:
            return
    fn = getattr(obj, leaf, None)
    if fn is None or getattr(fn, "_hpo_traced", False):
        return
    calls = [0]

    def traced(*a, **k):
        calls[0] += 1
        if first is not None and calls[0] > first:
            return fn(*a, **k)
        start = _now()
        _emit("enter", f"{label}#{calls[0]}", start, start, len(_stack))
        _stack.append(label)
        try:
            return fn(*a, **k)
        finally:
            _stack.pop()
            _emit("call", f"{label}#{calls[0]}", start, _now(), len(_stack))

    traced._hpo_traced = True
    traced.__wrapped__ = fn
    setattr(obj, leaf, traced)

PATCHES = {
    "hpo.cli": [("main", "cli.main")],
    "hpo.worker": [("_run_worker", "run_worker"), ("load_spec", "load_spec"),
                   ("_training_objective", "training_objective"), ("open_storage", "open_storage"),
                   ("open_artifact_store", "open_artifact_store"), ("pinned_spec", "pinned_spec"),
                   ("create_study", "create_study"), ("open_study", "open_study"), ("pin_data", "pin_data"),
                   ("fail_stale_trials", "fail_stale_trials")],
    "hpo.data.datasets": [("load_dataset", "load_dataset")],
    "hpo.data.cache": [("cached_arrays_keyed", "data_cache")],
    "hpo.data.keypoints": [("read_keypoints_csv", "read_keypoints_csv")],
    "hpo.quiet": [("import_keras_quietly", "import_keras")],
    "hpo.models.factory": [("preflight", "preflight")],
    "hpo.objective": [("Objective.__call__", "trial", 1), ("Objective.data_record", "data_record"),
                      ("Objective.trivial_baseline", "trivial_baseline")],
    "hpo.training": [("build_model", "trial_build_model", 1), ("fit", "trial_fit", 1)],
}

def _patch(name, module):
    for entry in PATCHES.get(name, ()):
        _wrap(module, entry[0], entry[1], *entry[2:])
    hook = HOOKS.get(name)
    if hook is not None:
        hook(module)

def _hook_pruning_callback(module):
    cls = module.KerasPruningCallback
    original = cls.on_epoch_end
    epochs = [0]

    def on_epoch_end(self, epoch, logs=None):
        result = original(self, epoch, logs)
        epochs[0] += 1
        t = _now()
        _emit("mark", f"epoch_end#{epochs[0]}", t, t, 0)
        return result

    cls.on_epoch_end = on_epoch_end

def _hook_train_begin(module):
    cls = module.EpochRecorder
    original = cls.on_train_begin
    seen = [False]

    def on_train_begin(self, logs=None):
        if not seen[0]:
            seen[0] = True
            t = _now()
            _emit("mark", "train_begin", t, t, 0)
        return original(self, logs)

    cls.on_train_begin = on_train_begin

HOOKS = {"optuna_integration.keras.keras": _hook_pruning_callback, "hpo.training": _hook_train_begin}

class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in IMPORTS and name not in PATCHES and name not in HOOKS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module):
            start = _now()
            _stack.append(name)
            try:
                original(module)
            finally:
                _stack.pop()
                _emit("import", name, start, _now(), len(_stack))
            _patch(name, module)

        loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Finder())
'''


def _env(cache_dir: Path, trace: Path | None, tracer_dir: Path | None, backend: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HPO_STORAGE", "PYTHONPATH", "HPO_STARTUP_TRACE")}
    env["HPO_CACHE_DIR"] = str(cache_dir)
    if backend:
        env["KERAS_BACKEND"] = backend
    if trace is not None and tracer_dir is not None:
        env["PYTHONPATH"] = str(tracer_dir)
        env["HPO_STARTUP_TRACE"] = str(trace)
    return env


def _intermediate_values(db: Path) -> int:
    """How many epochs the study database has seen reported (0 until the table exists)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        try:
            return int(conn.execute("SELECT count(*) FROM trial_intermediate_values").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def run_once(study: str, workdir: Path, cache_dir: Path, data: Path | None, *, traced: bool, tracer_dir: Path,
             backend: str | None, limit_s: float) -> dict[str, Any]:
    """One `hpo worker` until its second epoch ended; returns the spawn time, trace and end times."""
    db = workdir / f"{study}-{time.monotonic_ns()}.db"
    trace = workdir / f"trace-{time.monotonic_ns()}.tsv" if traced else None
    argv = [HPO, "worker", "--study", study, "--trials", "1", "--storage", f"sqlite:///{db}", "--quiet"]
    if data is not None:
        argv += ["--data", str(data)]
    env = _env(cache_dir, trace, tracer_dir if traced else None, backend)
    log = (workdir / "worker.log").open("ab")
    spawned = time.monotonic()
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=log)
    ends: list[float] = []
    try:
        while time.monotonic() - spawned < limit_s:
            if traced:
                assert trace is not None
                text = trace.read_text() if trace.exists() else ""
                done = text.count("\tepoch_end#")
            else:
                done = _intermediate_values(db)
                while len(ends) < done:
                    ends.append(time.monotonic())
            if done >= 2:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"hpo worker exited with {proc.returncode} before its second epoch; "
                                   f"see {workdir / 'worker.log'}")
            time.sleep(0.02)
        else:
            raise RuntimeError(f"no second epoch within {limit_s:g} s")
    finally:
        proc.kill()
        proc.wait()
        log.close()
    result: dict[str, Any] = {"spawned": spawned}
    if traced:
        assert trace is not None
        result["events"] = [line.split("\t") for line in trace.read_text().splitlines()]
    else:
        result["epoch_ends"] = ends
    db.unlink(missing_ok=True)
    return result


# The markers, in the order the worker reaches them, and the phase each one closes.
PHASES: tuple[tuple[str, str], ...] = (
    ("interpreter start (to sitecustomize)", "site"),
    ("hpo.cli import", "import:hpo.cli"),
    ("parse args, import hpo.storage/.progress/.worker", "call-start:run_worker"),
    ("import optuna (+sqlalchemy), load study file", "call-start:training_objective"),
    ("data load (load_dataset, incl. sklearn import)", "call-end:load_dataset"),
    ("keras + backend import (import_keras_quietly)", "call-end:import_keras"),
    ("import hpo.models.factory, hpo.objective (+optuna_integration)", "call-start:preflight"),
    ("preflight: build the model once", "call-end:preflight"),
    ("storage: open/create study, pin data, artifact store", "call-start:trial"),
    ("trial start: suggest, attrs, reset_keras", "call-start:trial_build_model"),
    ("model build + compile", "call-end:trial_build_model"),
    ("model.fit set-up (data adapter, callbacks)", "train_begin"),
    ("first epoch (tracing + validation + pruner report)", "epoch_end#1"),
)
# Pieces inside the phases (not added to the total): imports inclusive of what they import.
DETAILS: tuple[tuple[str, str], ...] = (
    ("  import optuna (inclusive)", "import:optuna"),
    ("  import sqlalchemy (inclusive)", "import:sqlalchemy"),
    ("  import yaml", "import:yaml"),
    ("  import numpy", "import:numpy"),
    ("  import scipy", "import:scipy"),
    ("  import pandas", "import:pandas"),
    ("  import sklearn (inclusive)", "import:sklearn"),
    ("  import tensorflow (inclusive)", "import:tensorflow"),
    ("  import jax (inclusive)", "import:jax"),
    ("  import torch (inclusive)", "import:torch"),
    ("  import keras (inclusive)", "import:keras"),
    ("  import optuna_integration", "import:optuna_integration"),
    ("  import rich", "import:rich"),
    ("  import alembic", "import:alembic"),
    ("  data: read_keypoints_csv", "call:read_keypoints_csv"),
    ("  data: cache lookup/build", "call:data_cache"),
    ("  storage: open_storage", "call:open_storage"),
    ("  storage: pinned_spec (study not found)", "call:pinned_spec"),
    ("  storage: create_study", "call:create_study"),
    ("  storage: open_study", "call:open_study"),
    ("  storage: data_record (fingerprints)", "call:data_record"),
    ("  storage: trivial_baseline", "call:trivial_baseline"),
    ("  storage: pin_data", "call:pin_data"),
    ("  storage: fail_stale_trials", "call:fail_stale_trials"),
    ("  storage: open_artifact_store", "call:open_artifact_store"),
    ("second epoch (steady state, for comparison)", "epoch2"),
)


def breakdown(run: dict[str, Any]) -> dict[str, float]:
    """Phase and detail durations (s) of one traced run; phases sum to 'total'."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    durations: dict[str, float] = {}
    for kind, name, start, end, _depth in run["events"]:
        s, e = float(start), float(end)
        base = name.split("#")[0]
        if kind == "mark":
            ends.setdefault(name, e)
        elif kind == "enter":
            starts.setdefault(f"call-start:{base}", s)
        elif kind == "import":
            ends.setdefault(f"import:{name}", e)
            durations.setdefault(f"import:{name}", e - s)
        else:
            ends.setdefault(f"call-end:{base}", e)
            durations[f"call:{base}"] = durations.get(f"call:{base}", 0.0) + e - s
    marks = {**ends, **starts}
    out: dict[str, float] = {}
    previous = run["spawned"]
    for label, marker in PHASES:
        if marker not in marks:
            raise RuntimeError(f"marker {marker} missing from the trace (did the worker's order change?)")
        out[label] = marks[marker] - previous
        previous = marks[marker]
    out["total: spawn to first epoch end"] = previous - run["spawned"]
    for label, key in DETAILS:
        if key == "epoch2":
            out[label] = marks["epoch_end#2"] - marks["epoch_end#1"]
        elif key in durations:
            out[label] = durations[key]
    return out


def _synth_keypoints(path: Path, rows: int) -> None:
    subprocess.run([HPO, "data", "synth", "keypoints", "--rows", str(rows), "--out", str(path)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, from {', '.join(SCENARIOS)}")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000, help="keypoints: synthetic training.csv rows")
    parser.add_argument("--backend", default=None, help="KERAS_BACKEND for the worker (default: as set, else Keras's)")
    parser.add_argument("--no-plain", dest="plain", action="store_false",
                        help="skip the untraced runs (end-to-end check)")
    parser.add_argument("--limit", type=float, default=300, help="seconds one worker may take to its second epoch")
    parser.add_argument("--no-record", dest="record", action="store_false")
    parser.add_argument("--name", default="startup", help="results file name (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(sorted(unknown))}")

    traced_runs: dict[str, list[dict[str, float]]] = {s: [] for s in scenarios}
    plain_totals: dict[str, list[float]] = {s: [] for s in scenarios}
    plain_epoch2: dict[str, list[float]] = {s: [] for s in scenarios}
    load: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hpo-startup-") as name:
        tmp = Path(name)
        tracer_dir = tmp / "tracer"
        tracer_dir.mkdir()
        (tracer_dir / "sitecustomize.py").write_text(TRACER)
        data = tmp / "training.csv"
        if any(s.startswith("keypoints") for s in scenarios):
            _synth_keypoints(data, args.rows)

        def one(scenario: str, cache: Path, traced: bool) -> dict[str, Any]:
            study = "digits" if scenario == "digits" else "keypoints"
            return run_once(study, tmp, cache, data if study == "keypoints" else None, traced=traced,
                            tracer_dir=tracer_dir, backend=args.backend, limit_s=args.limit)

        print(f"warm-up ({scenarios[0]}) ...", file=sys.stderr, flush=True)
        one(scenarios[0], tmp / "cache-warmup", traced=False)
        for repeat in range(args.repeats):
            for traced in (True, False) if args.plain else (True,):
                cache = tmp / f"cache-{repeat}-{'traced' if traced else 'plain'}"  # empty: keypoints-cold
                for scenario in scenarios:
                    if scenario == "keypoints-warm" and not any(cache.glob("*.npz")):
                        one("keypoints-cold", cache, traced=False)  # fill it (keypoints-cold was not asked for)
                    load.append(os.getloadavg()[0])
                    run = one(scenario, cache, traced)
                    if traced:
                        traced_runs[scenario].append(breakdown(run))
                        total = traced_runs[scenario][-1]["total: spawn to first epoch end"]
                    else:
                        total = run["epoch_ends"][0] - run["spawned"]
                        plain_totals[scenario].append(total)
                        plain_epoch2[scenario].append(run["epoch_ends"][1] - run["epoch_ends"][0])
                    print(f"repeat {repeat + 1}/{args.repeats} {scenario:<15} {'traced' if traced else 'plain':<6} "
                          f"{total:7.2f} s to first epoch end", file=sys.stderr, flush=True)

    medians: dict[str, dict[str, float]] = {}
    for scenario, runs in traced_runs.items():
        keys = list(dict.fromkeys(k for r in runs for k in r))
        medians[scenario] = {k: statistics.median(r[k] for r in runs if k in r) for k in keys}
        if plain_totals[scenario]:
            medians[scenario]["plain (untraced): spawn to first epoch end"] = statistics.median(plain_totals[scenario])
            medians[scenario]["plain (untraced): second epoch"] = statistics.median(plain_epoch2[scenario])

    labels = list(dict.fromkeys(k for m in medians.values() for k in m))
    width = max(len(label) for label in labels)
    print(f"\nmedian seconds over {args.repeats} runs (keypoints: {args.rows} synthetic rows; "
          f"KERAS_BACKEND={args.backend or os.environ.get('KERAS_BACKEND') or 'default'})")
    print(f"{'phase':<{width}} " + " ".join(f"{s:>15}" for s in medians))
    for label in labels:
        cells = [f"{medians[s][label]:15.3f}" if label in medians[s] else f"{'-':>15}" for s in medians]
        print(f"{label:<{width}} " + " ".join(cells))
    ratios = {s: m["total: spawn to first epoch end"] / m["plain (untraced): spawn to first epoch end"]
              for s, m in medians.items() if "plain (untraced): spawn to first epoch end" in m}
    if ratios:
        print("traced/plain total: " + ", ".join(f"{s} {r:.3f}" for s, r in ratios.items()))
    if args.record:
        path = record(args.name, {
            "what": "hpo worker --trials 1 on a fresh SQLite study: spawn to first epoch end, by phase",
            "scenarios": scenarios, "repeats": args.repeats, "keypoints_rows": args.rows,
            "keras_backend": args.backend or os.environ.get("KERAS_BACKEND") or "default",
            "load_average_1min": statistics.median(load) if load else None,
            "phases": [label for label, _ in PHASES], "medians_s": medians,
            "runs_s": traced_runs, "plain_totals_s": plain_totals, "plain_epoch2_s": plain_epoch2,
            "traced_over_plain": ratios,
        })
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
