"""What the per-trial classification metrics cost: the same model, data and epochs fitted with
Keras's accuracy only (the baseline) vs. hpo's task metrics (accuracy, macro F1, precision and
recall from one confusion matrix; AUC only when it is the objective), and vs. the four separate
metrics hpo compiled before (Keras's accuracy + MacroF1, MacroPrecision, MacroRecall).
Alternating repeats, medians, ratios; the first epoch (tracing) and the later ones apart.

Usage: python benchmarks/metrics_overhead.py [--repeats 5] [--epochs 6]
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
from hpo.metrics import MacroF1, MacroPrecision, MacroRecall  # noqa: E402
from hpo.tasks import get_task  # noqa: E402


class EpochClock(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):  # type: ignore[no-untyped-def]
        self.times = [time.perf_counter()]

    def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.times.append(time.perf_counter())


def timed_fit(metrics: list, data, epochs: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def,type-arg]
    """Seconds for the whole fit, its first epoch, and the median of the later ones."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=data.image_shape)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D()(x))
    x = keras.layers.Dense(64, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(data.n_outputs, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=metrics)
    clock = EpochClock()
    started = time.perf_counter()
    model.fit(data.x_train, data.y_train, batch_size=32, epochs=epochs, verbose=0,
              validation_data=(data.x_val, data.y_val), callbacks=[clock])
    epochs_s = [b - a for a, b in zip(clock.times[:-1], clock.times[1:], strict=True)]
    return time.perf_counter() - started, epochs_s[0], statistics.median(epochs_s[1:] or epochs_s)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    data = load_dataset({"format": "digits", "validation_fraction": 0.2, "seed": 0})
    task = get_task("classification")
    k = data.n_outputs
    conditions = {
        "accuracy only": lambda: ["accuracy"],
        "hpo task metrics": lambda: task.metrics(k, 8, ("val_accuracy",)),
        "four separate metrics": lambda: [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                                          MacroF1(k), MacroPrecision(k), MacroRecall(k)],
        "with auc": lambda: task.metrics(k, 8, ("val_auc",)),
    }
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in conditions}
    timed_fit(["accuracy"], data, 2)  # warm-up: thread pools, the first trace of everything shared
    names = list(conditions)
    for repeat in range(args.repeats):  # each repeat starts one condition later: no condition always first
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            runs[name].append(timed_fit(conditions[name](), data, args.epochs))
    medians = {name: [statistics.median(r[i] for r in v) for i in range(3)] for name, v in runs.items()}
    base = medians["accuracy only"]
    # The machine's speed drifts between minutes: each repeat's own ratio, then their median.
    paired = {name: statistics.median(r[0] / b[0] for r, b in zip(v, runs["accuracy only"], strict=True))
              for name, v in runs.items()}
    print(f"{'metrics':<22} {'fit s':>7} {'paired':>7} {'epoch 1':>8} {'later':>7} {'ratio':>6}")
    for name, (whole, first, later) in medians.items():
        print(f"{name:<22} {whole:7.3f} {paired[name]:7.3f} {first:8.3f} {later:7.4f} {later / base[2]:6.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "metrics_overhead.json").write_text(json.dumps({
        "machine": machine(), "data": "load_digits, 1293 train / 324 validation rows, 8x8",
        "model": "Conv2D(16) + Dense(64), batch 32", "epochs": args.epochs, "repeats": args.repeats,
        "runs_s": {name: [r[0] for r in v] for name, v in runs.items()},
        "first_epoch_s": {name: [r[1] for r in v] for name, v in runs.items()},
        "later_epoch_median_s": {name: [r[2] for r in v] for name, v in runs.items()},
        "median_s": {name: m[0] for name, m in medians.items()},
        "ratio": {name: round(m[0] / base[0], 3) for name, m in medians.items()},
        "paired_ratio": {name: round(r, 3) for name, r in paired.items()},
        "ratio_later_epochs": {name: round(m[2] / base[2], 3) for name, m in medians.items()},
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
