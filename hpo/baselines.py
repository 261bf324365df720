"""The trivial predictor's score: what a model must beat to have learnt anything.

Keypoints and regression: every target predicted as its training mean (NaN = unlabelled,
left out as the loss leaves it out). Classification: every image predicted as the
training set's majority class (probabilities = the training class frequencies, for the
loss). Scored on the split given, in the study's own metric. numpy and scikit-learn only.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def trivial_predictions(task: str, y_train: np.ndarray, n_rows: int, n_outputs: int) -> np.ndarray:
    """What the trivial predictor outputs for ``n_rows`` images, shaped like the model's output."""
    if task == "classification":
        freq = np.bincount(y_train.astype(np.int64), minlength=n_outputs).astype(np.float64)
        return np.tile(freq / max(freq.sum(), 1.0), (n_rows, 1))
    with np.errstate(all="ignore"):
        mean = np.nanmean(y_train.astype(np.float64), axis=0)
    return np.tile(np.nan_to_num(mean), (n_rows, 1))


def score(task: str, metric: str, y_true: np.ndarray, predicted: np.ndarray) -> float | None:
    """``metric`` (as Keras logs it, with or without ``val_``) of ``predicted`` against ``y_true``;
    None for a metric this module cannot compute."""
    name = metric.removeprefix("val_")
    if task == "classification":
        return _classification(name, y_true.astype(np.int64), predicted)
    if name in ("rmse", "loss"):
        mask = ~np.isnan(y_true)
        if not mask.any():
            return None
        err = np.where(mask, predicted - np.where(mask, y_true, 0.0), 0.0)
        mse = float((err**2).sum() / mask.sum())
        return float(np.sqrt(mse)) if name == "rmse" else None  # the loss is scaled: no honest trivial value
    return None


def _classification(name: str, y_true: np.ndarray, probabilities: np.ndarray) -> float | None:
    from sklearn import metrics

    labels = np.arange(probabilities.shape[1])
    predicted = probabilities.argmax(axis=1)
    if name == "accuracy":
        return float((predicted == y_true).mean())
    if name in ("f1", "precision", "recall"):
        fn = {"f1": metrics.f1_score, "precision": metrics.precision_score, "recall": metrics.recall_score}[name]
        return float(fn(y_true, predicted, labels=labels, average="macro", zero_division=0))
    if name == "auc":
        return 0.5  # one score for every image ranks nothing
    if name == "loss":
        p = np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-7, 1.0)
        return float(-np.log(p).mean())
    return None


def predictor_name(task: str) -> str:
    return "majority class" if task == "classification" else "training mean"


def trivial_baseline(task: str, metric: str, dataset: Any, split: str = "validation") -> dict[str, Any] | None:
    """``{metric, value, predictor, split}`` for ``dataset``'s ``split``, or None when it has no value."""
    y = dataset.y_val if split == "validation" else dataset.y_test
    if y is None or not len(y):
        return None
    value = score(task, metric, y, trivial_predictions(task, dataset.y_train, len(y), dataset.n_outputs))
    if value is None:
        return None
    return {"metric": metric, "value": round(value, 6), "predictor": predictor_name(task), "split": split}
