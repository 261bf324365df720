"""What the per-trial classification metrics cost: the same model, data and epochs fitted with
Keras's accuracy only (the baseline) vs. hpo's task metrics (accuracy + macro F1, precision,
recall; AUC only when it is the objective). Alternating repeats, medians, ratio.

Usage: python benchmarks/metrics_overhead.py [--repeats 5] [--epochs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402

from benchmarks.common import RESULTS, machine  # noqa: E402
from hpo.data.datasets import load_dataset  # noqa: E402
from hpo.tasks import get_task  # noqa: E402


def timed_fit(metrics: list, data, epochs: int) -> float:  # type: ignore[no-untyped-def,type-arg]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=data.image_shape)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D()(x))
    x = keras.layers.Dense(64, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(data.n_outputs, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=metrics)
    started = time.perf_counter()
    model.fit(data.x_train, data.y_train, batch_size=32, epochs=epochs, verbose=0,
              validation_data=(data.x_val, data.y_val))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    data = load_dataset({"format": "digits", "validation_fraction": 0.2, "seed": 0})
    task = get_task("classification")
    runs: dict[str, list[float]] = {"accuracy only": [], "hpo task metrics": [], "with auc": []}
    timed_fit(["accuracy"], data, 1)  # warm-up: graph tracing, thread pools
    for _ in range(args.repeats):
        runs["accuracy only"].append(timed_fit(["accuracy"], data, args.epochs))
        runs["hpo task metrics"].append(timed_fit(task.metrics(data.n_outputs, 8, "val_accuracy"), data, args.epochs))
        runs["with auc"].append(timed_fit(task.metrics(data.n_outputs, 8, "val_auc"), data, args.epochs))
    medians = {k: statistics.median(v) for k, v in runs.items()}
    base = medians["accuracy only"]
    print(f"{'metrics':<20} {'median s':>9} {'ratio':>6}")
    for name, m in medians.items():
        print(f"{name:<20} {m:9.3f} {m / base:6.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "metrics_overhead.json").write_text(json.dumps({
        "machine": machine(), "data": "load_digits, 1293 train / 324 validation rows, 8x8",
        "model": "Conv2D(16) + Dense(64), batch 32", "epochs": args.epochs, "repeats": args.repeats,
        "runs_s": runs, "median_s": medians,
        "ratio": {k: round(m / base, 3) for k, m in medians.items()},
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
