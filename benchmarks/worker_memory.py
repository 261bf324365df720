"""Memory of one `hpo worker` process over many trials: RSS sampled from outside (the PID
survives re-execs), with recycling off (the baseline: TensorFlow leaks a few MB per
model.fit even after clear_session) and on (`--recycle-mb`).

    python benchmarks/worker_memory.py [--trials 30] [--recycle-mb 64]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.conftest import tiny_space  # noqa: E402

HPO = str(Path(sys.executable).parent / "hpo")


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError):
        return None


def run(trials: int, recycle_mb: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        space = tiny_space(Path(tmp), trials=trials, epochs=2, pruner="none")
        proc = subprocess.Popen(
            [HPO, "worker", "--study", "tiny", "--space", str(space), "--storage", f"sqlite:///{tmp}/m.db",
             "--recycle-mb", str(recycle_mb)],
            cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        samples: list[float] = []
        while proc.poll() is None:
            value = rss_mb(proc.pid)
            if value is not None:
                samples.append(value)
            time.sleep(0.2)
        _, err = proc.communicate()
        assert proc.returncode == 0, err
    third = len(samples) // 3
    return {
        "peak_mb": max(samples),
        "peak_first_third_mb": max(samples[:third]),
        "peak_last_third_mb": max(samples[-third:]),
        "recycles": err.count("recycling worker process"),
        "trials_logged": sum(1 for line in err.splitlines() if line.startswith("trial ")),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--recycle-mb", type=float, default=64)
    args = parser.parse_args()
    results = {"off": run(args.trials, 0), f"recycle_{args.recycle_mb:g}mb": run(args.trials, args.recycle_mb)}
    print(f"{'mode':<16} {'peak MB':>8} {'peak 1st third':>15} {'peak last third':>16} {'recycles':>9}")
    for name, r in results.items():
        print(f"{name:<16} {r['peak_mb']:>8.0f} {r['peak_first_third_mb']:>15.0f} "
              f"{r['peak_last_third_mb']:>16.0f} {r['recycles']:>9}")
    path = record("worker_memory", {
        "trials": args.trials, "model": "tests/conftest.py tiny digits CNN, 2 epochs per trial",
        "sampling": "RSS of the worker PID every 0.2 s", "results": results,
    })
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
