"""The garbage collector's cost per trial in a long-running worker: TensorFlow leaks its traced
graphs with every model.fit (~7,000 Python objects a model, even after clear_session), and each
trial's clear_session runs a full gc.collect(), which walks every tracked object. The worker
freezes what survives between trials (hpo.worker.start_clean) so each collection walks only the
new ones. Two `hpo worker` runs of the same study in fresh processes, timing every full
collection: as shipped, and without start_clean (hpo before it: the fit's clear_session
collects alone; the import's freeze kept).
The ratio is the late trials' collection time over the early ones', within each run.

    python benchmarks/gc_growth.py [--trials 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.conftest import tiny_space  # noqa: E402

# Runs in the child: time each full collection, tagged with the trial it ran in.
CHILD = """
import gc, json, sys, time
import hpo.worker
from hpo.cli import main
from hpo.quiet import import_keras_quietly

import_keras_quietly()
timings, trial = [], [0]
real_collect = gc.collect

def collect(generation=2):
    started = time.perf_counter()
    n = real_collect(generation)
    if generation == 2:
        timings.append((trial[0], time.perf_counter() - started, len(gc.get_objects())))
    return n

gc.collect = collect
real_start = hpo.worker.start_clean

def start_clean():
    trial[0] += 1
    if sys.argv[3] != "off":  # off: as before start_clean, the fit's own clear_session collects alone
        real_start()

hpo.worker.start_clean = start_clean
code = main(["worker", "--study", "tiny", "--space", sys.argv[1], "--storage", sys.argv[2], "--quiet"])
print(json.dumps({"code": code, "timings": timings}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=60)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    raw: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for mode in ("freeze", "off"):
            (tmp / mode).mkdir()
            space = tiny_space(tmp / mode, trials=args.trials, epochs=1, sampler="random", pruner="none")
            url = f"sqlite:///{tmp / mode / 'studies.db'}"
            proc = subprocess.run([sys.executable, "-c", CHILD, str(space), url, mode], cwd=tmp / mode,
                                  capture_output=True, text=True,
                                  env={**os.environ, "HPO_CACHE_DIR": str(tmp / "cache")})
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-2000:])
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            per_trial: dict[int, float] = {}
            tracked: dict[int, int] = {}
            for t, seconds, objects in out["timings"]:
                per_trial[t] = per_trial.get(t, 0.0) + seconds
                tracked[t] = objects
            trials = sorted(t for t in per_trial if t >= 1)
            early = [per_trial[t] for t in trials[:10]]
            late = [per_trial[t] for t in trials[-10:]]
            results[mode] = {
                "early_ms": 1000 * statistics.median(early), "late_ms": 1000 * statistics.median(late),
                "late_over_early": statistics.median(late) / statistics.median(early),
                "tracked_objects_after_first": tracked[trials[0]], "tracked_objects_after_last": tracked[trials[-1]],
            }
            raw[mode] = [[t, per_trial[t], tracked[t]] for t in trials]
    print(f"{'per-trial freeze':<18} {'trials 1-10 ms':>15} {'last 10 ms':>11} {'late/early':>11} "
          f"{'tracked after first':>20} {'after last':>11}  ({args.trials} trials)")
    for mode, r in results.items():
        print(f"{mode:<18} {r['early_ms']:15.1f} {r['late_ms']:11.1f} {r['late_over_early']:11.2f} "
              f"{r['tracked_objects_after_first']:20d} {r['tracked_objects_after_last']:11d}")
    path = record("gc_growth", {
        "trials": args.trials, "model": "tests/conftest.py tiny digits CNN, 1 epoch per trial",
        "measure": "seconds in full gc.collect() calls per trial (the worker's and clear_session's)",
        "results": results, "per_trial": raw,
    })
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
