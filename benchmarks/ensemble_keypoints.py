"""Best single model vs top-5 ensemble vs top-5 ensemble + flip TTA, on synthetic keypoints.

Runs the real commands a user would: a keypoints study (the worker), `hpo export`,
`hpo train --top 5 --tta flip` (refit on train + validation), `hpo evaluate` (which
scores the saved model, its ensemble without the flip, and its best member alone on
the test split no trial saw, beside the training-mean predictor).
(Kaggle's facial-keypoints leaders: about 1.28 RMSE with ensembles vs about 1.46 for a
good single model, on the real data.)

    python benchmarks/ensemble_keypoints.py [--rows 2000] [--trials 12] [--epochs 12] [--top 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402
from keypoints_learnable import study_file  # noqa: E402

from hpo.data.synth import write_keypoints_csv  # noqa: E402

HPO = str(Path(sys.executable).with_name("hpo"))


def hpo(*args: str, cwd: Path) -> str:
    proc = subprocess.run([HPO, *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"hpo {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_keypoints_csv(d / "training.csv", args.rows, seed=0)
        space = study_file(d / "keypoints_bench.yaml", d / "training.csv", args.trials, args.epochs)
        url = f"sqlite:///{d / 'bench.db'}"
        started = time.perf_counter()
        hpo("worker", "--study", "keypoints_bench", "--space", str(space), "--storage", url, "--quiet", cwd=d)
        search_s = time.perf_counter() - started
        hpo("export", "--study", "keypoints_bench", "--storage", url, "--out", "best.json", cwd=d)
        started = time.perf_counter()
        hpo("train", "--config", "best.json", "--out", "ens.keras", "--top", str(args.top), "--tta", "flip", cwd=d)
        train_s = time.perf_counter() - started
        print(hpo("evaluate", "--model", "ens.keras", "--out", "eval", cwd=d).strip())
        result = json.loads((d / "eval" / "evaluation.json").read_text())
        config = json.loads((d / "best.json").read_text())
    variants = {("ensemble + flip TTA" if k == "model" else k): v["rmse"] for k, v in result["variants"].items()}
    single = next(v for k, v in variants.items() if k.startswith("best single"))
    print(f"{'model':<32} {'test RMSE px':>12} {'vs single':>9}")
    for name, rmse in [*variants.items(), (f"trivial ({result['trivial']['predictor']})", result["trivial"]["rmse"])]:
        print(f"{name:<32} {rmse:12.3f} {rmse / single:9.3f}")
    path = record("ensemble_keypoints", {
        "rows": args.rows, "trials": args.trials, "max_epochs": args.epochs, "top": args.top,
        "test_rows": result["test_rows"], "test_rmse_px": variants,
        "trivial_test_rmse_px": result["trivial"]["rmse"], "ratio_to_best_single": {
            k: v / single for k, v in variants.items()},
        "best_trial_val_rmse_px": config["value"], "trivial_val_rmse_px": config["trivial_baseline"]["value"],
        "members": [r["trial"] for r in config["ranked"][: args.top]],
        "search_seconds": search_s, "final_training_seconds": train_s,
    })
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
