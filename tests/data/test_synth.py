"""The synthetic file writers: exact formats, missing-value pattern, determinism, learnable labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpo.data.fer2013 import read_fer2013_csv
from hpo.data.keypoints import IMAGE_SIZE, KEYPOINT_COLUMNS, read_keypoints_csv
from hpo.data.synth import PARTIAL_COLUMNS, format_pixel_rows, write_fer2013_csv, write_keypoints_csv


def test_keypoints_file_is_in_kaggle_format(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    write_keypoints_csv(path, rows=300, seed=0)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join([*KEYPOINT_COLUMNS, "Image"])
    assert len(lines) == 301
    assert '"' not in path.read_text()
    fields = lines[1].split(",")
    assert len(fields) == 31
    pixels = fields[-1].split(" ")
    assert len(pixels) == IMAGE_SIZE * IMAGE_SIZE
    assert all(p.isdigit() and 0 <= int(p) <= 255 for p in pixels)
    assert all(f == "" or float(f) >= 0 for f in fields[:30])
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_keypoints_missing_pattern_like_the_real_file(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    write_keypoints_csv(path, rows=300, seed=0)
    frame = pd.read_csv(path)
    present = frame[list(KEYPOINT_COLUMNS)].notna()
    complete = present.all(axis=1)
    assert 0.2 < complete.mean() < 0.4  # real file: 2140 / 7049 = 0.30
    partial = present[~complete]
    assert (partial[list(PARTIAL_COLUMNS)].all(axis=1)).all()
    assert not partial.drop(columns=list(PARTIAL_COLUMNS)).to_numpy().any()
    values = frame[list(KEYPOINT_COLUMNS)].to_numpy()
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= IMAGE_SIZE - 1


def test_keypoints_follow_kaggle_left_right_convention(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    write_keypoints_csv(path, rows=100, seed=2)
    kp = read_keypoints_csv(path).keypoints
    col = {name: kp[:, i] for i, name in enumerate(KEYPOINT_COLUMNS)}
    assert 60 < np.mean(col["left_eye_center_x"]) < 72  # Kaggle: ~66
    assert 24 < np.mean(col["right_eye_center_x"]) < 36  # Kaggle: ~30
    assert np.nanmean(col["mouth_left_corner_x"]) > np.nanmean(col["mouth_right_corner_x"])
    assert np.mean(col["nose_tip_y"]) > np.mean(col["left_eye_center_y"])


def test_keypoints_mark_the_drawn_features(tmp_path: Path) -> None:
    # The pupil (the darkest blob inside the eye) sits at the eye-centre keypoint.
    path = tmp_path / "training.csv"
    write_keypoints_csv(path, rows=40, seed=4)
    data = read_keypoints_csv(path)
    for image, kp in zip(data.images.astype(float), data.keypoints, strict=True):
        for name in ("left_eye_center", "right_eye_center"):
            x, y = kp[KEYPOINT_COLUMNS.index(f"{name}_x")], kp[KEYPOINT_COLUMNS.index(f"{name}_y")]
            r, c = int(round(y)), int(round(x))
            centre = image[r - 1 : r + 2, c - 1 : c + 2].mean()
            ring = image[r - 4 : r + 5, c - 8 : c + 9].mean()
            assert centre < ring - 10


def test_writers_are_deterministic_per_seed(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_keypoints_csv(a, rows=20, seed=5)
    write_keypoints_csv(b, rows=20, seed=5)
    write_keypoints_csv(c, rows=20, seed=6)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    write_fer2013_csv(a, rows=20, seed=5)
    write_fer2013_csv(b, rows=20, seed=5)
    assert a.read_bytes() == b.read_bytes()


def test_fer_file_format_and_classes(tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    write_fer2013_csv(path, rows=400, seed=0)
    lines = path.read_text().splitlines()
    assert lines[0] == "emotion,pixels,Usage"
    assert len(lines) == 401
    emotion, pixels, usage = lines[1].split(",")
    assert 0 <= int(emotion) <= 6 and len(pixels.split(" ")) == 48 * 48
    frame = pd.read_csv(path)
    assert set(frame["emotion"]) == set(range(7))
    shares = frame["Usage"].value_counts(normalize=True)
    assert abs(shares["Training"] - 0.8) < 0.01 and abs(shares["PublicTest"] - 0.1) < 0.01
    assert abs(shares["PrivateTest"] - 0.1) < 0.01


def test_fer_without_usage(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    write_fer2013_csv(path, rows=10, seed=0, usage=False)
    assert path.read_text().splitlines()[0] == "emotion,pixels"
    assert len(pd.read_csv(path).columns) == 2


def _ridge_fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, lam: float) -> np.ndarray:
    """Linear ridge regression in its dual form (n x n): a learnability probe that takes milliseconds."""

    def norm(x: np.ndarray) -> np.ndarray:
        x = x.reshape(len(x), -1).astype(float)
        return (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)

    a, b = norm(x_train), norm(x_test)
    mean = y_train.mean(axis=0)
    alpha = np.linalg.solve(a @ a.T + lam * np.eye(len(a)), y_train - mean)
    return np.asarray(b @ a.T @ alpha + mean)


def test_fer_classes_are_learnable_from_pixels(tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    write_fer2013_csv(path, rows=400, seed=1)
    images, labels, _ = read_fer2013_csv(path)
    scores = _ridge_fit_predict(images[:200], np.eye(7)[labels[:200]], images[200:], lam=10.0)
    accuracy = (scores.argmax(axis=1) == labels[200:]).mean()
    majority = np.bincount(labels[200:]).max() / 200
    # Even a linear model is far above the majority class (~0.25); a CNN does better still.
    assert accuracy > max(0.45, majority + 0.2)


def test_keypoints_are_learnable_from_pixels(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    write_keypoints_csv(path, rows=300, seed=0)
    data = read_keypoints_csv(path)
    always = [KEYPOINT_COLUMNS.index(c) for c in PARTIAL_COLUMNS]
    y = data.keypoints[:, always].astype(float)
    pred = _ridge_fit_predict(data.images[:200], y[:200], data.images[200:], lam=100.0)
    rmse = np.sqrt(((pred - y[200:]) ** 2).mean())
    guess_mean = np.sqrt(((y[:200].mean(axis=0) - y[200:]) ** 2).mean())
    assert rmse < 0.7 * guess_mean  # the labels follow the pixels, not noise


def test_format_pixel_rows() -> None:
    rows = format_pixel_rows(np.array([[0, 9, 10, 99], [100, 255, 1, 0]], dtype=np.uint8))
    assert rows == [b"0 9 10 99", b"100 255 1 0"]
