"""hpo.metrics against scikit-learn, streamed over uneven batches, inside fit, after a reload, on other backends."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from hpo.metrics import (
    ClassificationScores,
    ConfusionMatrixMetric,
    MacroF1,
    MacroPrecision,
    MacroRecall,
    SparseAUC,
    classification_metrics,
    regression_metrics,
)

REPO = Path(__file__).resolve().parent.parent
SIZES = (50, 19, 50, 19)  # uneven batches, one update_state call each (few distinct sizes: eager jax compiles each)
AUC_TOLERANCE = 0.01  # keras' AUC integrates over 200 evenly spaced thresholds, sklearn's is exact

# (seed, K, never_predicted, absent_from_y_true): the cases every backend must agree with sklearn on.
CASES = [
    (0, 2, None, None),
    (1, 2, None, None),
    (2, 5, None, None),
    (3, 5, None, None),
    (4, 5, 1, None),  # class 1 is never the argmax
    (5, 5, None, 4),  # class 4 never occurs in y_true
    (6, 5, 3, 3),  # class 3 is neither predicted nor true: 0 for it in every macro mean
    (7, 2, 0, None),  # binary, one class never predicted
]


def make_case(seed: int, k: int, never_predicted: int | None = None, absent: int | None = None,
              n: int = sum(SIZES)) -> tuple[np.ndarray, np.ndarray]:
    """Labels and softmax probabilities that are informative about them (AUC well above 0.5)."""
    rng = np.random.default_rng(seed)
    classes = [c for c in range(k) if c != absent]
    y = rng.choice(classes, size=n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    if never_predicted is not None:  # below the row's best other class, but still spread out (for the AUC)
        others = np.delete(logits, never_predicted, axis=1).max(axis=1)
        logits[:, never_predicted] = np.minimum(logits[:, never_predicted], others - 0.05)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def sklearn_reference(y: np.ndarray, p: np.ndarray, k: int, weights: np.ndarray | None = None) -> dict[str, float]:
    labels = list(range(k))
    pred = p.argmax(axis=1)
    common: dict[str, Any] = {"labels": labels, "average": "macro", "zero_division": 0, "sample_weight": weights}
    # ROC AUC per class, one-vs-rest, averaged over the classes for which it is defined.
    aucs = [roc_auc_score(y == c, p[:, c], sample_weight=weights) for c in labels if 0 < (y == c).sum() < len(y)]
    return {
        "accuracy": float(accuracy_score(y, pred, sample_weight=weights)),
        "f1": float(f1_score(y, pred, **common)),
        "precision": float(precision_score(y, pred, **common)),
        "recall": float(recall_score(y, pred, **common)),
        "auc": float(np.mean(aucs)),
    }


def streamed(k: int, y: Any, p: np.ndarray, weights: np.ndarray | None = None,
             sizes: tuple[int, ...] = SIZES) -> dict[str, float]:
    """Each metric's result after feeding (y, p) in batches of the given sizes; ClassificationScores'
    entries as ``scores.NAME``."""
    metrics: list[keras.metrics.Metric] = [MacroF1(k), MacroPrecision(k), MacroRecall(k), SparseAUC(k)]
    scores = ClassificationScores(k)
    start = 0
    for size in sizes:
        rows = slice(start, start + size)
        for metric in [*metrics, scores]:
            metric.update_state(y[rows], p[rows], None if weights is None else weights[rows])
        start += size
    assert start == len(p)
    return {**{m.name: float(keras.ops.convert_to_numpy(m.result())) for m in metrics},
            **{f"scores.{name}": float(keras.ops.convert_to_numpy(v)) for name, v in scores.result().items()}}


CONFUSION_SCORES = ("f1", "precision", "recall", "scores.accuracy", "scores.f1", "scores.precision", "scores.recall")


def reference_name(name: str) -> str:
    return name.removeprefix("scores.")


def check_against_sklearn() -> int:
    """Every case in CASES agrees with sklearn on this process's backend; returns how many were checked."""
    for case in CASES:
        k = case[1]
        y, p = make_case(*case)
        got, want = streamed(k, y, p), sklearn_reference(y, p, k)
        for name in CONFUSION_SCORES:
            assert abs(got[name] - want[reference_name(name)]) < 1e-5, (case, name, got, want)
        assert abs(got["auc"] - want["auc"]) < AUC_TOLERANCE, (case, got, want)
    return len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "seed{}-K{}-never_predicted{}-absent{}".format(*c))
def test_streamed_metrics_match_sklearn(case: tuple[int, int, int | None, int | None]) -> None:
    seed, k, never_predicted, absent = case
    y, p = make_case(*case)
    if never_predicted is not None:
        assert never_predicted not in p.argmax(axis=1)
    if absent is not None:
        assert absent not in y
    got, want = streamed(k, y, p), sklearn_reference(y, p, k)
    for name in CONFUSION_SCORES:
        assert got[name] == pytest.approx(want[reference_name(name)], abs=1e-5), name
    assert got["auc"] == pytest.approx(want["auc"], abs=AUC_TOLERANCE)
    assert want["auc"] > 0.7  # the data is informative, so the AUC comparison means something


def test_binary_auc_matches_roc_auc_score_of_the_positive_column() -> None:
    y, p = make_case(11, 2, n=400)
    got = streamed(2, y, p, sizes=(100, 1, 299))["auc"]
    assert got == pytest.approx(roc_auc_score(y, p[:, 1]), abs=AUC_TOLERANCE)


def test_sample_weights_match_sklearn() -> None:
    y, p = make_case(12, 5)
    weights = np.random.default_rng(12).uniform(0.0, 3.0, size=len(y)).astype(np.float32)
    got, want = streamed(5, y, p, weights), sklearn_reference(y, p, 5, weights)
    unweighted = streamed(5, y, p)
    for name in CONFUSION_SCORES:
        assert got[name] == pytest.approx(want[reference_name(name)], abs=1e-5), name
        assert got[name] != pytest.approx(unweighted[name], abs=1e-4), name  # the weights did change something
    assert got["auc"] == pytest.approx(want["auc"], abs=AUC_TOLERANCE)


def test_absent_and_never_predicted_classes_score_zero_like_sklearn_with_labels() -> None:
    # K=3; class 2 appears nowhere; class 0 has recall 1/2 and precision 1; class 1 precision 2/3, recall 1.
    y = np.array([0, 0, 1, 1])
    p = np.eye(3, dtype=np.float32)[[0, 1, 1, 1]]
    got = streamed(3, y, p, sizes=(4,))
    assert got["precision"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert got["recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert got["f1"] == pytest.approx((2 / 3 + 4 / 5 + 0) / 3)
    want = sklearn_reference(y, p, 3)
    for name in CONFUSION_SCORES:
        assert got[name] == pytest.approx(want[reference_name(name)]), name
    # Class 2 has no positive, so its AUC is undefined and left out of the mean; classes 0 and 1 have AUC 3/4.
    assert got["auc"] == pytest.approx(0.75, abs=AUC_TOLERANCE)
    plain = keras.metrics.AUC(multi_label=True, num_labels=3)
    plain.update_state(np.eye(3)[y], p)
    assert float(plain.result()) == pytest.approx(0.5, abs=AUC_TOLERANCE)  # keras counts class 2 as 0


def test_nothing_seen_gives_zero() -> None:
    for metric in (MacroF1(4), MacroPrecision(4), MacroRecall(4), SparseAUC(4)):
        assert float(metric.result()) == 0.0
    assert {k: float(v) for k, v in ClassificationScores(4).result().items()} == {
        "accuracy": 0.0, "f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_confusion_matrix_matches_sklearn() -> None:
    y, p = make_case(13, 5, never_predicted=2, absent=0)
    metric = ConfusionMatrixMetric(5)
    metric.update_state(y[:40], p[:40])
    metric.update_state(y[40:], p[40:])
    matrix = keras.ops.convert_to_numpy(metric.result())
    assert matrix.shape == (5, 5) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, confusion_matrix(y, p.argmax(axis=1), labels=range(5)))
    metric.update_state(np.array([-1, 5, 7]), p[:3])  # labels outside [0, K) add nothing
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(metric.result()), matrix)


def test_label_shapes_and_dtypes_give_the_same_scores() -> None:
    y, p = make_case(14, 5)
    want = streamed(5, y, p, sizes=(len(y),))
    assert want["f1"] > 0
    for dtype in ("int32", "int64", "float32"):
        assert streamed(5, y.astype(dtype), p, sizes=(len(y),)) == want, dtype
        assert streamed(5, y.astype(dtype)[:, None], p, sizes=(len(y),)) == want, dtype


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_predictions_are_cast_to_float32(dtype: str) -> None:
    y, p = make_case(15, 5)
    low = keras.ops.cast(p, dtype)
    want = streamed(5, y, keras.ops.convert_to_numpy(keras.ops.cast(low, "float32")), sizes=(len(y),))
    assert streamed(5, y, low, sizes=(len(y),)) == pytest.approx(want, abs=1e-6)


def test_reset_state_forgets_everything() -> None:
    y, p = make_case(16, 5)
    metrics: list[keras.metrics.Metric] = [ConfusionMatrixMetric(5), MacroF1(5), MacroPrecision(5), MacroRecall(5),
                                           SparseAUC(5)]
    for metric in metrics:
        metric.update_state(y, p)
        assert np.any(keras.ops.convert_to_numpy(metric.result()) != 0)
        metric.reset_state()
        assert np.all(keras.ops.convert_to_numpy(metric.result()) == 0)
        metric.update_state(y[:60], p[:60])
    scores = ClassificationScores(5)
    scores.update_state(y, p)
    scores.reset_state()
    assert all(float(v) == 0 for v in scores.result().values())
    scores.update_state(y[:60], p[:60])
    fresh = streamed(5, y[:60], p[:60], sizes=(60,))
    got = {m.name: float(m.result()) for m in metrics[1:]}
    got.update({f"scores.{k}": float(v) for k, v in scores.result().items()})
    assert got == pytest.approx(fresh)


def test_configs_round_trip() -> None:
    for metric in (ConfusionMatrixMetric(4), MacroF1(4, name="val_macro_f1"), MacroPrecision(6), MacroRecall(3),
                   SparseAUC(5, name="roc", num_thresholds=50), ClassificationScores(7)):
        config = metric.get_config()
        clone = type(metric).from_config(config)
        assert clone.get_config() == config
        assert clone.name == metric.name and clone.num_classes == metric.num_classes
        revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
        assert type(revived) is type(metric) and revived.get_config() == config
    assert SparseAUC(5, num_thresholds=50).true_positives.shape == (50, 5)
    with pytest.raises(ValueError, match="num_classes"):
        MacroF1(1)


def test_metric_lists() -> None:
    assert [type(m) for m in classification_metrics(3)] == [ClassificationScores]
    assert [type(m) for m in classification_metrics(3, auc=True)] == [ClassificationScores, SparseAUC]
    (rmse,) = regression_metrics()
    assert rmse.name == "rmse"
    rmse.update_state(np.array([[0.0], [0.0]]), np.array([[3.0], [4.0]]))
    assert float(rmse.result()) == pytest.approx(np.sqrt(12.5))


def _tiny_classifier() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=classification_metrics(3, auc=True))
    return model


def _tiny_data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)  # three classes, learnable


def test_fit_logs_every_metric_and_val_metrics_agree_with_sklearn() -> None:
    model = _tiny_classifier()
    x, y = _tiny_data(0, 90)
    x_val, y_val = _tiny_data(1, 37)  # 37 rows in batches of 16: an uneven last batch
    history = model.fit(x, y, validation_data=(x_val, y_val[:, None]), epochs=2, batch_size=16, verbose=0).history
    for name in ("accuracy", "auc", "f1", "precision", "recall"):
        for key in (name, f"val_{name}"):
            assert len(history[key]) == 2 and all(0.0 <= v <= 1.0 for v in history[key]), (key, history[key])
    # Validation runs after the epoch's last step, so the final val_* are the final model's scores on x_val.
    p = model.predict(x_val, verbose=0)
    want = sklearn_reference(y_val, p, 3)
    assert history["val_f1"][-1] == pytest.approx(want["f1"], abs=1e-5)
    assert history["val_precision"][-1] == pytest.approx(want["precision"], abs=1e-5)
    assert history["val_recall"][-1] == pytest.approx(want["recall"], abs=1e-5)
    assert history["val_auc"][-1] == pytest.approx(want["auc"], abs=AUC_TOLERANCE)
    assert history["val_accuracy"][-1] == pytest.approx(np.mean(p.argmax(axis=1) == y_val), abs=1e-5)


def test_saved_model_reloads_with_its_metrics(tmp_path: Path) -> None:
    model = _tiny_classifier()
    x, y = _tiny_data(2, 64)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    before = model.evaluate(x, y, batch_size=20, verbose=0, return_dict=True)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    after = reloaded.evaluate(x, y, batch_size=20, verbose=0, return_dict=True)
    assert set(after) == {"loss", "accuracy", "auc", "f1", "precision", "recall"}
    assert after == pytest.approx(before, abs=1e-6)
    kinds = {type(m).__name__ for group in reloaded.metrics for m in getattr(group, "metrics", [group])}
    assert {"SparseAUC", "ClassificationScores"} <= kinds


@pytest.mark.parametrize("backend", ["jax"])  # torch passes too, but its import alone takes ~8 s
def test_sklearn_agreement_under_another_backend(backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed here")
    code = ("import json, keras; from tests.test_metrics import check_against_sklearn; "
            "print(json.dumps([keras.backend.backend(), check_against_sklearn()]))")
    env = {**os.environ, "KERAS_BACKEND": backend}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [backend, len(CASES)]
