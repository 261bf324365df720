"""Does a short keypoints study learn? Best val RMSE vs predicting the training mean.

Writes 2000 rows of synthetic Kaggle-format faces, runs a short study through the
real worker (masked loss, flips, pruning), and compares the best trial's validation
RMSE (pixels) with the RMSE of predicting each keypoint's training mean, on the
same validation split. Target: well under the mean predictor.

    python benchmarks/keypoints_learnable.py [--rows 2000] [--trials 6] [--epochs 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402

from hpo.data.datasets import load_dataset  # noqa: E402
from hpo.data.synth import write_keypoints_csv  # noqa: E402
from hpo.space import load_spec  # noqa: E402
from hpo.storage import open_storage  # noqa: E402
from hpo.worker import run_worker  # noqa: E402


def study_file(path: Path, data: Path, trials: int, epochs: int) -> Path:
    spec = {
        "name": "keypoints_bench",
        "task": "keypoints",
        "data": {"path": str(data), "validation_fraction": 0.2, "missing_keypoints": "mask",
                 "augment": {"horizontal_flip": True}},
        "objective": {"metric": "val_rmse", "direction": "minimize"},
        "budget": {"trials": trials, "max_epochs": epochs},
        "sampler": {"type": "tpe", "seed": 0, "n_startup_trials": 3},
        "pruner": {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 3},
        "params": {
            "conv_blocks": {"type": "int", "low": 2, "high": 4},
            "filters": {"type": "categorical", "choices": [8, 16]},
            "kernel_size": 3,
            "batch_norm": {"type": "categorical", "choices": [True, False]},
            "hidden_units": {"type": "int", "low": 32, "high": 128, "log": True},
            "dropout": {"type": "float", "low": 0.0, "high": 0.3},
            "optimizer": "adam",
            "learning_rate": {"type": "float", "low": 5e-4, "high": 5e-3, "log": True},
            "batch_size": 32,
        },
        "baselines": [{"conv_blocks": 3, "filters": 16, "batch_norm": True, "hidden_units": 64,
                       "dropout": 0.1, "learning_rate": 0.002}],
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def mean_predictor_rmse(dataset) -> float:  # type: ignore[no-untyped-def]
    mean = np.nanmean(dataset.y_train, axis=0)
    err = dataset.y_val - mean
    return float(np.sqrt(np.nanmean(err**2)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "training.csv"
        write_keypoints_csv(data, args.rows, seed=0)
        space = study_file(Path(tmp) / "keypoints_bench.yaml", data, args.trials, args.epochs)
        spec = load_spec(space)
        baseline = mean_predictor_rmse(load_dataset(spec.data))
        url = f"sqlite:///{tmp}/bench.db"
        started = time.perf_counter()
        run_worker(url, "keypoints_bench", space_path=str(space), log=print)
        wall = time.perf_counter() - started
        import optuna

        study = optuna.load_study(study_name="keypoints_bench", storage=open_storage(url))
        best = study.best_trial
        states = [t.state.name for t in study.trials]
    ratio = best.value / baseline
    print(f"mean-predictor val RMSE: {baseline:.3f} px")
    print(f"best trial #{best.number} val RMSE: {best.value:.3f} px ({ratio:.2f} x the mean predictor)")
    print(f"trials: {', '.join(f'{s.lower()}={states.count(s)}' for s in sorted(set(states)))}; {wall:.0f} s")
    path = record("keypoints_learnable", {
        "rows": args.rows, "trials": args.trials, "max_epochs": args.epochs,
        "mean_predictor_val_rmse_px": baseline, "best_val_rmse_px": best.value,
        "ratio_best_over_mean": ratio, "best_params": best.params, "best_trial": best.number,
        "states": {s: states.count(s) for s in set(states)}, "wall_seconds": wall,
    })
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
