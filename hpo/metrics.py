"""Streaming classification metrics from sparse integer labels, written against ``keras.ops`` only.

They run the same under the TensorFlow, JAX and PyTorch backends, accumulate state in Keras
variables (no host sync per batch, no Python branching on tensor values) and are registered
as ``hpo>ClassName`` so that a saved ``.keras`` model reloads with them (``hpo.metrics`` must
be imported before ``keras.saving.load_model``).

Inputs for every classification metric here: ``y_true`` holds class indices, shaped ``(batch,)``
or ``(batch, 1)``, integer or float; ``y_pred`` holds probabilities shaped ``(batch, K)`` (any
float dtype: it is cast to float32, so mixed precision is fine). An optional ``sample_weight``
is one weight per example, shaped ``(batch,)``, ``(batch, 1)`` or a scalar.

Agreement with scikit-learn (checked in ``tests/test_metrics.py``):

* :class:`MacroPrecision`, :class:`MacroRecall` and :class:`MacroF1` (and the same entries of
  :class:`ClassificationScores`, the one hpo compiles) over everything seen
  since the last reset equal ``precision_score`` / ``recall_score`` / ``f1_score`` with
  ``average="macro", zero_division=0, labels=range(K)``. A 0/0 per-class ratio is 0: a class
  never predicted has precision 0, a class absent from ``y_true`` has recall 0, and a class
  with no true positives has F1 0 (F1 per class is ``2 TP / (2 TP + FP + FN)``, as in
  scikit-learn, and the macro F1 is the mean of the per-class F1s, not the F1 of the macro
  precision and recall). A class absent from both ``y_true`` and the predictions still counts
  in the mean with 0 for all three, exactly as scikit-learn does when ``labels`` lists it.
  (Without ``labels``, scikit-learn would average over the classes present in ``y_true`` or
  the predictions only; a metric with a fixed ``num_classes`` follows the ``labels=range(K)``
  convention, so the score does not depend on which classes a batch happens to contain.)
* :class:`SparseAUC` is ``keras.metrics.AUC(multi_label=True, num_labels=K)`` on the one-hot
  labels: one-vs-rest ROC AUC per class, estimated on ``num_thresholds`` evenly spaced
  thresholds, averaged over classes. For K=2 this is ``roc_auc_score(y, p[:, 1])`` up to the
  threshold discretisation. One deliberate difference from ``keras.metrics.AUC``: a class's
  ROC AUC is undefined until both a positive and a negative example of it have been seen
  (scikit-learn raises), and Keras would count such a class as AUC 0; here the mean is taken
  over the classes whose AUC is defined (0 if none is), so a validation set lacking a class
  does not cap the score at (K-1)/K.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = [
    "ClassificationScores",
    "ConfusionMatrixMetric",
    "MacroF1",
    "MacroPrecision",
    "MacroRecall",
    "SparseAUC",
    "classification_metrics",
    "regression_metrics",
]


def _one_hot_labels(y_true: Any, num_classes: int) -> Any:
    """One-hot float32 rows from class indices shaped ``(batch,)`` or ``(batch, 1)``, int or float.

    A label outside ``[0, num_classes)`` gives an all-zero row on every backend (torch's one_hot
    would raise on a label >= num_classes, so those are mapped to -1 first).
    """
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    labels = ops.where(ops.logical_and(labels >= 0, labels < num_classes), labels, -1)
    return ops.one_hot(labels, num_classes, dtype="float32")


def _example_weights(sample_weight: Any) -> Any:
    """One float32 weight per example as a flat vector (a scalar becomes shape ``(1,)``)."""
    return ops.reshape(ops.cast(sample_weight, "float32"), (-1,))


def _macro_precision(tp: Any, predicted: Any) -> Any:
    return ops.mean(ops.divide_no_nan(tp, predicted))


def _macro_recall(tp: Any, actual: Any) -> Any:
    return ops.mean(ops.divide_no_nan(tp, actual))


def _macro_f1(tp: Any, predicted: Any, actual: Any) -> Any:
    # Per class 2 TP / (2 TP + FP + FN), as scikit-learn; not the F1 of the macro precision and recall.
    return ops.mean(ops.divide_no_nan(2.0 * tp, predicted + actual))


@keras.saving.register_keras_serializable(package="hpo")
class ConfusionMatrixMetric(keras.metrics.Metric):
    """A K x K confusion matrix (rows: true class, columns: argmax of ``y_pred``), summed over batches.

    ``result()`` returns the matrix itself; subclasses reduce it to a scalar. Entries are
    float32 sums of sample weights (counts when unweighted). Labels outside ``[0, K)`` add
    nothing to the matrix.
    """

    def __init__(self, num_classes: int, name: str = "confusion_matrix", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = int(num_classes)
        self.confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes), initializer="zeros", dtype="float32", name="confusion"
        )

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        k = self.num_classes
        y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1, k))
        actual = _one_hot_labels(y_true, k)
        predicted = ops.one_hot(ops.argmax(y_pred, axis=-1), k, dtype="float32")
        if sample_weight is not None:  # a static choice: None or a tensor, never a tensor's value
            actual = actual * ops.expand_dims(_example_weights(sample_weight), -1)
        self.confusion.assign_add(ops.matmul(ops.transpose(actual), predicted))

    def result(self) -> Any:
        return ops.copy(self.confusion)  # a tensor, not the variable itself

    def reset_state(self) -> None:
        self.confusion.assign(ops.zeros((self.num_classes, self.num_classes), dtype="float32"))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes}

    def _per_class(self) -> tuple[Any, Any, Any]:
        """Per-class true positives, predicted counts (TP + FP) and true counts (TP + FN)."""
        matrix = ops.convert_to_tensor(self.confusion)
        return ops.diagonal(matrix), ops.sum(matrix, axis=0), ops.sum(matrix, axis=1)


@keras.saving.register_keras_serializable(package="hpo")
class MacroPrecision(ConfusionMatrixMetric):
    """Mean over the K classes of TP / (TP + FP); 0 for a class never predicted."""

    def __init__(self, num_classes: int, name: str = "precision", dtype: Any = None) -> None:
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self) -> Any:
        tp, predicted, _ = self._per_class()
        return _macro_precision(tp, predicted)


@keras.saving.register_keras_serializable(package="hpo")
class MacroRecall(ConfusionMatrixMetric):
    """Mean over the K classes of TP / (TP + FN); 0 for a class absent from ``y_true``."""

    def __init__(self, num_classes: int, name: str = "recall", dtype: Any = None) -> None:
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self) -> Any:
        tp, _, actual = self._per_class()
        return _macro_recall(tp, actual)


@keras.saving.register_keras_serializable(package="hpo")
class MacroF1(ConfusionMatrixMetric):
    """Mean over the K classes of 2 TP / (2 TP + FP + FN); 0 for a class with no true positive."""

    def __init__(self, num_classes: int, name: str = "f1", dtype: Any = None) -> None:
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self) -> Any:
        tp, predicted, actual = self._per_class()
        return _macro_f1(tp, predicted, actual)


@keras.saving.register_keras_serializable(package="hpo")
class ClassificationScores(ConfusionMatrixMetric):
    """Accuracy, macro F1, macro precision and macro recall from one confusion matrix.

    ``result()`` is a dict; Keras logs each entry under its own name (``f1``, ``val_f1``, ...).
    One metric instead of four because a small model's training step is mostly its metrics'
    ops: four metrics update four states, and Keras computes every metric's result after every
    batch (``benchmarks/metrics_overhead.py``). Accuracy is the confusion matrix's trace over its
    sum, which is ``SparseCategoricalAccuracy`` for labels in ``[0, K)`` (the data loaders
    guarantee that); a label outside that range counts in neither.
    """

    def __init__(self, num_classes: int, name: str = "classification_scores", dtype: Any = None) -> None:
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self) -> Any:
        tp, predicted, actual = self._per_class()
        return {
            "accuracy": ops.divide_no_nan(ops.sum(tp), ops.sum(actual)),
            "f1": _macro_f1(tp, predicted, actual),
            "precision": _macro_precision(tp, predicted),
            "recall": _macro_recall(tp, actual),
        }


@keras.saving.register_keras_serializable(package="hpo")
class SparseAUC(keras.metrics.AUC):
    """Macro one-vs-rest ROC AUC from sparse labels: ``keras.metrics.AUC(multi_label=True)`` on one-hot labels.

    The mean runs over the classes whose AUC is defined (at least one positive and one negative
    example seen), not over all K; see the module docstring.
    """

    def __init__(
        self, num_classes: int, name: str = "auc", num_thresholds: int = 200, dtype: Any = None
    ) -> None:
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        super().__init__(
            num_thresholds=num_thresholds, curve="ROC", summation_method="interpolation", name=name, dtype=dtype,
            multi_label=True, num_labels=int(num_classes),
        )
        self.num_classes = int(num_classes)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        k = self.num_classes
        y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1, k))
        labels = _one_hot_labels(y_true, k)
        if sample_weight is not None:
            sample_weight = _example_weights(sample_weight)
        super().update_state(labels, y_pred, sample_weight=sample_weight)

    def result(self) -> Any:
        tp, fp = ops.convert_to_tensor(self.true_positives), ops.convert_to_tensor(self.false_positives)
        tn, fn = ops.convert_to_tensor(self.true_negatives), ops.convert_to_tensor(self.false_negatives)
        tpr = ops.divide_no_nan(tp, tp + fn)  # (thresholds, K), thresholds ascending
        fpr = ops.divide_no_nan(fp, fp + tn)
        heights = (tpr[:-1] + tpr[1:]) / 2.0  # trapezoids, as keras.metrics.AUC's "interpolation"
        by_class = ops.sum((fpr[:-1] - fpr[1:]) * heights, axis=0)
        # At the lowest threshold every example is predicted positive: TP + FN = positives, FP + TN = negatives.
        defined = ops.cast(ops.logical_and(tp[0] + fn[0] > 0, fp[0] + tn[0] > 0), "float32")
        return ops.divide_no_nan(ops.sum(by_class * defined), ops.sum(defined))

    def get_config(self) -> dict[str, Any]:
        # Only what __init__ takes: the curve, summation and multi-label settings are fixed here.
        return {**keras.metrics.Metric.get_config(self), "num_classes": self.num_classes,
                "num_thresholds": self.num_thresholds}


def classification_metrics(num_classes: int, auc: bool = False) -> list[keras.metrics.Metric]:
    """Metrics for sparse-label softmax classifiers, logged as accuracy, f1, precision, recall and,
    with ``auc``, auc (and val_* of each). AUC keeps 200 thresholds per class and updates them every
    batch, so hpo asks for it only when a study optimises it."""
    return [ClassificationScores(num_classes)] + ([SparseAUC(num_classes)] if auc else [])


def regression_metrics() -> list[keras.metrics.Metric]:
    """Metrics for regression heads: root mean squared error, logged as rmse (and val_rmse)."""
    return [keras.metrics.RootMeanSquaredError(name="rmse")]
