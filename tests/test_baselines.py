"""The trivial predictor's scores, against sklearn / numpy computed independently, and the
fixed flip layers of ensembles and TTA against the numpy flip."""

from __future__ import annotations

import numpy as np
import pytest

from hpo.baselines import score, trivial_baseline, trivial_predictions
from hpo.data.datasets import Dataset


def _dataset(y_train: np.ndarray, y_val: np.ndarray, n_outputs: int) -> Dataset:
    x = np.zeros((1, 2, 2, 1), dtype=np.float32)
    return Dataset(x, y_train, x, y_val, n_outputs, tuple(str(i) for i in range(n_outputs)), "t")


def test_majority_class_scores() -> None:
    from sklearn.metrics import f1_score

    y_train = np.array([2, 2, 2, 1, 0, 2, 1])
    y_val = np.array([2, 1, 1, 0, 2])
    record = trivial_baseline("classification", "val_accuracy", _dataset(y_train, y_val, 3))
    assert record == {"metric": "val_accuracy", "value": 0.4, "predictor": "majority class", "split": "validation"}
    predicted = trivial_predictions("classification", y_train, len(y_val), 3)
    assert predicted[0] == pytest.approx([1 / 7, 2 / 7, 4 / 7])
    assert score("classification", "val_f1", y_val, predicted) == pytest.approx(
        f1_score(y_val, [2] * 5, average="macro", labels=[0, 1, 2], zero_division=0))
    assert score("classification", "val_loss", y_val, predicted) == pytest.approx(
        -np.mean(np.log([4 / 7, 2 / 7, 2 / 7, 1 / 7, 4 / 7])))
    assert score("classification", "val_auc", y_val, predicted) == 0.5


def test_training_mean_rmse_leaves_unlabelled_points_out() -> None:
    y_train = np.array([[10.0, np.nan], [20.0, 4.0], [30.0, 8.0]])
    y_val = np.array([[25.0, np.nan], [15.0, 5.0]])
    # means: 20 and 6; errors over labelled values only: 5, 5, 1
    expected = np.sqrt((25 + 25 + 1) / 3)
    record = trivial_baseline("keypoints", "val_rmse", _dataset(y_train, y_val, 2))
    assert record is not None and record["value"] == pytest.approx(expected, abs=1e-6)
    assert record["predictor"] == "training mean"
    assert trivial_baseline("keypoints", "val_loss", _dataset(y_train, y_val, 2)) is None  # scaled loss: no value


def test_flip_layers_and_keypoint_unflip_match_the_numpy_flip() -> None:
    import keras

    from hpo.data.keypoints import flip_horizontal
    from hpo.ensemble import flip_layers, keypoint_unflip_matrix

    inputs = keras.Input((5, 7, 1))
    mirror = keras.Model(inputs, flip_layers(inputs, 7))
    images = np.random.default_rng(0).random((2, 5, 7, 1)).astype("float32")
    np.testing.assert_allclose(mirror.predict(images, verbose=0), images[:, :, ::-1, :], atol=1e-6)
    kernel, bias = keypoint_unflip_matrix(96)
    points = np.random.default_rng(1).uniform(0, 95, (3, 30))
    _, flipped = flip_horizontal(np.zeros((3, 96, 96), np.uint8), points)
    np.testing.assert_allclose(flipped @ kernel + bias, points, atol=1e-4)  # mapped back: the original points
