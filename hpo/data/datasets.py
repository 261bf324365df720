"""A study's data spec -> train/validation numpy arrays, whatever the source format.

Images come out float32 in [0, 1], shaped (N, H, W, 1). Keypoint targets stay in
pixels with NaN for unlabelled points (the task decides how to scale and mask);
class targets are int64 labels. The split is seeded, so every trial of a study
sees the same validation rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.errors import DataError


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_outputs: int  # keypoint coordinates or classes
    labels: tuple[str, ...]  # keypoint column names or class names
    source: str

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def resolve_path(data: Mapping[str, Any], override: str | Path | None) -> Path | None:
    path = override if override is not None else data.get("path")
    return Path(path) if path else None


def load_dataset(
    data: Mapping[str, Any], *, path_override: str | Path | None = None, cache_dir: Path | None = None
) -> Dataset:
    """Load and split the data a study's ``data`` section describes."""
    fmt = data["format"]
    path = resolve_path(data, path_override)
    if fmt in ("kaggle_keypoints", "fer2013") and path is not None and not path.exists():
        hint = (
            f"write a synthetic one with `hpo data synth {'keypoints' if fmt == 'kaggle_keypoints' else 'fer2013'} "
            f"--rows 2000 --out {path}`"
        )
        raise DataError(f"{path}: data file not found; put the {fmt} file there, pass --data PATH, or {hint}")
    seed = int(data.get("seed") or 0)
    fraction = float(data.get("validation_fraction") or 0.2)
    limit = data.get("limit")
    if fmt == "kaggle_keypoints":
        assert path is not None
        return _keypoints(path, data, seed, fraction, limit, cache_dir)
    if fmt == "fer2013":
        assert path is not None
        return _fer2013(path, seed, fraction, limit, cache_dir)
    if fmt == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = (digits.images / 16.0).astype(np.float32)
        names = tuple(str(c) for c in digits.target_names)
        return _classes(images, digits.target.astype(np.int64), names, seed, fraction, limit,
                        "scikit-learn load_digits")
    if fmt == "lfw_subset":
        from skimage import data as skdata

        images = np.asarray(skdata.lfw_subset(), dtype=np.float32)
        # scikit-image documents the order: the first 100 are faces, the last 100 are not.
        labels = np.array([1] * 100 + [0] * 100, dtype=np.int64)
        return _classes(images, labels, ("non-face", "face"), seed, fraction, limit,
                        "scikit-image data.lfw_subset")
    raise DataError(f"data.format: {fmt!r} has no loader")


def _split(n: int, fraction: float, seed: int, stratify: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    try:
        train, val = train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as e:  # too few rows (per class) for the split asked for
        raise DataError(f"data.validation_fraction: cannot split {n} rows: {e}") from e
    return np.sort(train), np.sort(val)


def _limit(n: int, limit: int | None) -> int:
    return n if limit is None else min(n, int(limit))


def _classes(
    images: np.ndarray, labels: np.ndarray, names: tuple[str, ...], seed: int, fraction: float,
    limit: int | None, source: str,
) -> Dataset:
    if limit is not None:
        keep = np.random.default_rng(seed).permutation(len(images))[: _limit(len(images), limit)]
        images, labels = images[np.sort(keep)], labels[np.sort(keep)]
    train, val = _split(len(images), fraction, seed, labels)
    x = images[..., None] if images.ndim == 3 else images
    return Dataset(x[train], labels[train], x[val], labels[val], len(names), names, source)


def _keypoints(
    path: Path, data: Mapping[str, Any], seed: int, fraction: float, limit: int | None,
    cache_dir: Path | None,
) -> Dataset:
    from hpo.data.keypoints import KEYPOINT_COLUMNS, read_keypoints_csv

    parsed = read_keypoints_csv(path, cache_dir=cache_dir)
    images, keypoints = parsed.images, parsed.keypoints
    if data.get("missing_keypoints", "mask") == "drop":
        complete = ~np.isnan(keypoints).any(axis=1)
        images, keypoints = images[complete], keypoints[complete]
        if len(images) < 10:
            raise DataError(
                f"{path}: only {len(images)} rows have all 30 keypoints; use missing_keypoints: mask"
            )
    n = _limit(len(images), limit)
    images, keypoints = images[:n], keypoints[:n]
    train, val = _split(n, fraction, seed, None)
    x = (images.astype(np.float32) / 255.0)[..., None]
    return Dataset(x[train], keypoints[train], x[val], keypoints[val], len(KEYPOINT_COLUMNS),
                   tuple(KEYPOINT_COLUMNS), str(path))


def _fer2013(
    path: Path, seed: int, fraction: float, limit: int | None, cache_dir: Path | None
) -> Dataset:
    from hpo.data.fer2013 import EMOTIONS, read_fer2013_csv

    images, labels, usage = read_fer2013_csv(path, cache_dir=cache_dir)
    n = _limit(len(images), limit)
    images, labels = images[:n], labels[:n]
    x = (images.astype(np.float32) / 255.0)[..., None]
    if usage is not None and (usage[:n] == "PublicTest").any() and (usage[:n] == "Training").any():
        # FER2013's own split: Training to fit, PublicTest to validate; PrivateTest stays unseen.
        train, val = np.flatnonzero(usage[:n] == "Training"), np.flatnonzero(usage[:n] == "PublicTest")
    else:
        train, val = _split(n, fraction, seed, labels)
    return Dataset(x[train], labels[train], x[val], labels[val], len(EMOTIONS), tuple(EMOTIONS),
                   str(path))
