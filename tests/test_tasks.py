"""Keras pieces: masked loss, pixel RMSE, flips, model shapes. Backend-agnostic (keras.ops)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hpo.data.keypoints import KEYPOINT_COLUMNS, flip_horizontal
from hpo.models.factory import build_model
from hpo.space import spec_from_dict
from hpo.tasks import FlipAugmented, MaskedRMSE, get_task, masked_mse


def test_masked_mse_ignores_unlabelled_points() -> None:
    y_true = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]], dtype=np.float32)
    y_pred = np.array([[2.0, 100.0, 1.0], [5.0, 5.0, 5.0]], dtype=np.float32)
    loss = keras.ops.convert_to_numpy(masked_mse(y_true, y_pred))
    assert loss == pytest.approx([(1.0 + 4.0) / 2, 0.0])


def test_masked_rmse_reports_pixels() -> None:
    metric = MaskedRMSE(scale=47.5)
    y_true = np.array([[0.0, np.nan], [0.0, 0.0]], dtype=np.float32)
    y_pred = np.array([[0.1, 9.0], [0.1, -0.1]], dtype=np.float32)
    metric.update_state(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(0.1 * 47.5, rel=1e-5)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_task_flip_matches_the_pixel_space_flip() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (3, 96, 96), dtype=np.uint8)
    points = rng.uniform(0, 95, (3, 30)).astype(np.float32)
    points[1, 4:] = np.nan
    task = get_task("keypoints")
    x, y = task.flip(images[..., None].astype(np.float32), task.targets(points, 96))
    ref_images, ref_points = flip_horizontal(images, points)
    assert np.array_equal(x[..., 0], ref_images)
    np.testing.assert_allclose(y, task.targets(ref_points, 96), atol=1e-5)
    # The subject's left eye is still called left after the flip, and sits on the other side.
    left = KEYPOINT_COLUMNS.index("left_eye_center_x")
    right = KEYPOINT_COLUMNS.index("right_eye_center_x")
    assert ref_points[0, left] == pytest.approx(95 - points[0, right])


def test_flip_augmented_batches_cover_every_row_once_per_epoch() -> None:
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((10, 2, 2, 1), dtype=np.float32)
    y = np.arange(10)
    data = FlipAugmented(x, y, batch_size=4, task=get_task("classification"), seed=0)
    assert len(data) == 3
    labels = np.concatenate([data[i][1] for i in range(len(data))])
    assert sorted(labels.tolist()) == list(range(10))


@pytest.mark.parametrize(("shape", "blocks"), [((8, 8, 1), 3), ((25, 25, 1), 5), ((96, 96, 1), 5)])
def test_model_builds_for_every_input_size(shape: tuple[int, int, int], blocks: int) -> None:
    spec = spec_from_dict({"name": "k", "task": "keypoints", "data": {"format": "npz", "path": "x.npz"},
                           "objective": {"metric": "val_rmse"}, "params": {"filters": 4}})
    params = {**spec.defaults("cnn"), "conv_blocks": blocks, "filters": 4, "batch_norm": True, "dropout": 0.2}
    model = build_model(spec, params, shape, 30)
    out = model.predict(np.zeros((2, *shape), dtype=np.float32), verbose=0)
    assert out.shape == (2, 30)
    convs = [layer.filters for layer in model.get_layer("cnn").layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [4 * 2**i for i in range(blocks)]
