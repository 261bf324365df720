"""Memory across many trials in one worker: RSS after each trial, with hpo's per-trial
Keras reset and, as the baseline in the same run, without it.

    python benchmarks/worker_memory.py [--trials 30]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(trials: int, reset: bool, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    sys.path.insert(0, str(REPO))
    import hpo.training
    from hpo.worker import run_worker
    from tests.conftest import tiny_space

    if not reset:
        hpo.training.reset_keras = lambda: None  # the notebooks' loop: nothing cleared
    with tempfile.TemporaryDirectory() as tmp:
        space = tiny_space(Path(tmp), trials=trials, epochs=2, pruner="none")
        samples: list[float] = []
        run_worker(f"sqlite:///{tmp}/m.db", "tiny", space_path=str(space),
                   log=lambda line: samples.append(rss_mb()) if line.startswith("trial ") else None)
    queue.put(samples)


def measure(trials: int, reset: bool) -> list[float]:
    ctx = multiprocessing.get_context("spawn")  # a fresh process per mode: nothing shared
    queue = ctx.Queue()
    proc = ctx.Process(target=run, args=(trials, reset, queue))
    proc.start()
    samples = queue.get()
    proc.join()
    return samples


def growth_per_trial(samples: list[float]) -> float:
    """Least-squares slope (MB per trial) over the second half, after warm-up."""
    import numpy as np

    half = samples[len(samples) // 2:]
    return float(np.polyfit(np.arange(len(half)), half, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    with_reset = measure(args.trials, reset=True)
    without = measure(args.trials, reset=False)
    slope_reset, slope_none = growth_per_trial(with_reset), growth_per_trial(without)
    print(f"{'mode':<22} {'RSS first':>10} {'RSS last':>10} {'MB/trial (2nd half)':>20}")
    for name, s, slope in (("hpo (reset per trial)", with_reset, slope_reset),
                           ("no reset (baseline)", without, slope_none)):
        print(f"{name:<22} {s[0]:>10.0f} {s[-1]:>10.0f} {slope:>20.2f}")
    path = record("worker_memory", {
        "trials": args.trials, "model": "tests/conftest.py tiny digits CNN, 2 epochs",
        "rss_mb_after_each_trial": {"hpo": with_reset, "no_reset": without},
        "mb_per_trial_second_half": {"hpo": slope_reset, "no_reset": slope_none},
    })
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
