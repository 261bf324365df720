"""A study's data section -> arrays: mask vs drop, limits, seeded splits, bundled sets, FER usage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpo.data.datasets import load_dataset
from hpo.data.synth import write_fer2013_csv, write_keypoints_csv
from hpo.errors import DataError


@pytest.fixture(scope="module")
def keypoints_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kp") / "training.csv"
    write_keypoints_csv(path, 120, seed=3)
    return path


def _kp(path: Path, **data: object) -> dict:
    return {"format": "kaggle_keypoints", "path": str(path), "validation_fraction": 0.25, **data}


def test_mask_keeps_every_row_and_drop_only_complete_ones(keypoints_csv: Path, tmp_path: Path) -> None:
    masked = load_dataset(_kp(keypoints_csv, missing_keypoints="mask"), cache_dir=tmp_path)
    dropped = load_dataset(_kp(keypoints_csv, missing_keypoints="drop"), cache_dir=tmp_path)
    assert len(masked.x_train) + len(masked.x_val) + len(masked.x_test) == 120
    assert len(masked.x_test) == 12  # data.test_fraction 0.1, held out before validation
    assert np.isnan(masked.y_train).any()
    complete = len(dropped.x_train) + len(dropped.x_val) + len(dropped.x_test)
    assert 10 <= complete < 120
    assert not np.isnan(dropped.y_train).any() and not np.isnan(dropped.y_val).any()
    assert masked.x_train.shape[1:] == (96, 96, 1) and masked.x_train.dtype == np.float32
    assert masked.x_train.min() >= 0.0 and 1.0 < masked.x_train.max() <= 255.0  # raw pixels: the model scales them


def test_split_is_seeded_and_limit_applies(keypoints_csv: Path, tmp_path: Path) -> None:
    a = load_dataset(_kp(keypoints_csv, limit=40), cache_dir=tmp_path)
    b = load_dataset(_kp(keypoints_csv, limit=40), cache_dir=tmp_path)
    c = load_dataset(_kp(keypoints_csv, limit=40, seed=7), cache_dir=tmp_path)
    assert len(a.x_train) + len(a.x_val) + len(a.x_test) == 40
    assert np.array_equal(a.y_test, b.y_test, equal_nan=True)
    assert np.array_equal(a.y_val, b.y_val, equal_nan=True)
    assert not np.array_equal(a.y_val, c.y_val, equal_nan=True)


def test_data_override_and_missing_file(tmp_path: Path, keypoints_csv: Path) -> None:
    with pytest.raises(DataError, match=r"data file not found; .* `hpo data synth keypoints --rows 2000"):
        load_dataset(_kp(tmp_path / "absent.csv"))
    found = load_dataset(_kp(tmp_path / "absent.csv"), path_override=keypoints_csv, cache_dir=tmp_path)
    assert found.source == str(keypoints_csv)


def test_bundled_sets_are_real_and_stratified() -> None:
    digits = load_dataset({"format": "digits", "validation_fraction": 0.2})
    assert digits.x_train.shape[1:] == (8, 8, 1) and digits.n_outputs == 10
    assert len(digits.x_train) + len(digits.x_val) + len(digits.x_test) == 1797
    assert set(np.unique(digits.y_val)) == set(range(10)) == set(np.unique(digits.y_test))
    # No image in two splits: the test rows are held out before validation is drawn.
    flat = {s: {x.tobytes() for x in getattr(digits, f"x_{s}")} for s in ("train", "val", "test")}
    assert not flat["test"] & (flat["train"] | flat["val"])
    faces = load_dataset({"format": "lfw_subset", "validation_fraction": 0.25})
    assert faces.x_train.shape[1:] == (25, 25, 1) and faces.labels == ("non-face", "face")
    assert np.bincount(faces.y_test).tolist() == [10, 10]
    assert np.bincount(faces.y_val).tolist() == [23, 22] or np.bincount(faces.y_val).tolist() == [22, 23]


def test_fer2013_uses_its_own_usage_split(tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    write_fer2013_csv(path, 200, seed=0)
    data = load_dataset({"format": "fer2013", "path": str(path), "validation_fraction": 0.2})
    assert data.x_train.shape[1:] == (48, 48, 1) and data.n_outputs == 7
    assert 0 < len(data.x_val) < len(data.x_train) < 200  # PrivateTest rows held out
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 200
    assert data.split_note.startswith("Usage: Training")


def test_fer2013_private_test_rows_never_reach_training(tmp_path: Path) -> None:
    """A file with Training and PrivateTest rows only: validation comes from Training."""
    import pandas as pd

    full = tmp_path / "full.csv"
    write_fer2013_csv(full, 300, seed=1)
    frame = pd.read_csv(full)
    frame = frame[frame["Usage"] != "PublicTest"]
    path = tmp_path / "no_public.csv"
    frame.to_csv(path, index=False)
    data = load_dataset({"format": "fer2013", "path": str(path), "validation_fraction": 0.2})
    private = int((frame["Usage"] == "PrivateTest").sum())
    assert private > 0 and len(data.x_test) == private
    assert len(data.x_train) + len(data.x_val) == int((frame["Usage"] == "Training").sum())
    seen = {x.tobytes() for x in np.concatenate([data.x_train, data.x_val])}
    assert not seen & {x.tobytes() for x in data.x_test}
    assert "no PublicTest rows" in data.split_note


def test_fer2013_training_rows_only_hold_out_a_test_split_and_say_so(tmp_path: Path) -> None:
    import pandas as pd

    full = tmp_path / "full.csv"
    write_fer2013_csv(full, 300, seed=2)
    frame = pd.read_csv(full)
    frame = frame[frame["Usage"] == "Training"]
    path = tmp_path / "training_only.csv"
    frame.to_csv(path, index=False)
    data = load_dataset({"format": "fer2013", "path": str(path), "validation_fraction": 0.2, "test_fraction": 0.1})
    n = len(frame)
    assert data.x_test is not None and len(data.x_test) == round(n * 0.1)
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == n
    seen = {x.tobytes() for x in np.concatenate([data.x_train, data.x_val])}
    assert not seen & {x.tobytes() for x in data.x_test}
    assert f"no PrivateTest rows: test = seeded 10% of Training, {len(data.x_test)} rows" in data.split_note
    assert "no PublicTest rows: validation = seeded 20% of Training" in data.split_note
