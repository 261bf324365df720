"""A study's data spec -> train/validation numpy arrays, whatever the source format.

Images come out float32 pixels on the 0-255 scale, shaped (N, H, W, C): what a saved
model takes (it divides by 255 itself). Keypoint targets stay in
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
    # The held-out test split (None: the source has none). No trial ever reads it.
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    split_note: str = ""  # how train/validation/test were decided, for the worker's start line

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def resolve_path(data: Mapping[str, Any], override: str | Path | None) -> Path | None:
    path = override if override is not None else data.get("path")
    return Path(path) if path else None


def load_dataset(
    data: Mapping[str, Any], *, path_override: str | Path | None = None, cache_dir: Path | None = None,
    base_dir: Path = Path("search_spaces"), task: str = "classification",
) -> Dataset:
    """Load and split the data a study's ``data`` section describes, with its format's loader."""
    from hpo.catalog import data_formats, resolve_callable

    fmt = data_formats()[data["format"]]
    if path_override is not None and not fmt.needs_path:
        # The user thinks their file is used; taking the bundled set instead would fool them.
        raise DataError(f"--data: format {fmt.name} reads no data file, so {path_override} would be ignored; "
                        "leave --data out, or use a study whose data.format reads files")
    path = resolve_path(data, path_override)
    if fmt.needs_path and path is not None and not path.exists():
        hint = f", or write a synthetic one with `hpo data synth {fmt.synth} --out {path}`" if fmt.synth else ""
        raise DataError(f"{path}: data file not found; put the {fmt.name} data there or pass --data PATH{hint}")
    loader = resolve_callable(fmt.loader)
    dataset: Dataset = loader(data, path, cache_dir=cache_dir, base_dir=base_dir, task=task)
    check_targets(dataset, task)
    return dataset


def check_targets(dataset: Dataset, task: str) -> None:
    """Refuse targets no model can learn from, whatever the loader: an infinite value (every
    trial would fail on it) or a split with nothing labelled (a masked loss over no labels is
    0, and every trial would complete with a perfect, fake score)."""
    if task == "classification":
        return
    for split, y in (("train", dataset.y_train), ("validation", dataset.y_val), ("test", dataset.y_test)):
        if y is None or not len(y):
            continue
        values = np.asarray(y, dtype=np.float64)
        infinite = np.isinf(values).any(axis=tuple(range(1, values.ndim)))
        if infinite.any():
            raise DataError(f"{dataset.source}: {int(infinite.sum())} row(s) of the {split} split have infinite "
                            "target values; fix or remove them (an empty cell, not inf, marks a missing keypoint)")
        if split != "test" and not np.isfinite(values).any():
            raise DataError(f"{dataset.source}: the {split} split has no labelled targets (every value is missing); "
                            "nothing could be learnt or scored: give rows with labels")


def three_way_split(
    n: int, data: Mapping[str, Any], stratify: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Seeded train / validation / test row indices: the test split (data.test_fraction) is held
    out first, then validation from the rest; and a line saying so."""
    seed = int(data.get("seed") or 0)
    val_fraction = float(data.get("validation_fraction") or 0.2)
    test_fraction = float(data.get("test_fraction", 0.1) or 0.0)
    index = np.arange(n)
    test = np.array([], dtype=np.int64)
    if test_fraction > 0:
        keep, held = split_indices(n, test_fraction, seed, stratify, key="data.test_fraction")
        index, test = keep, held
    train, val = split_indices(len(index), val_fraction, seed, None if stratify is None else stratify[index])
    note = (f"test = seeded {test_fraction:.0%} held out first ({len(test)} rows), " if len(test) else
            "no test split (data.test_fraction 0), ") + f"validation = seeded {val_fraction:.0%} of the rest"
    return index[train], index[val], test, note


def split_indices(
    n: int, fraction: float, seed: int, stratify: np.ndarray | None, key: str = "data.validation_fraction",
    what: str = "rows",
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into (kept, held out), both sorted; ``key`` names the option in errors.
    Every loader's splits go through here."""
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    try:
        kept, held = train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as e:  # too few rows (per class) for the fraction asked for
        how = " stratified by class" if stratify is not None else ""
        raise DataError(f"{key}: cannot hold out {fraction:g} of {n} {what}{how}: {' '.join(str(e).split())}") from e
    return np.sort(kept), np.sort(held)


def _limit(n: int, limit: int | None) -> int:
    return n if limit is None else min(n, int(limit))


def class_dataset(
    images: np.ndarray, labels: np.ndarray, names: tuple[str, ...], data: Mapping[str, Any], source: str,
) -> Dataset:
    """A classification set from arrays: a seeded (limit, then) stratified three-way split."""
    limit = data.get("limit")
    if limit is not None:
        keep = np.random.default_rng(int(data.get("seed") or 0)).permutation(len(images))[: _limit(len(images), limit)]
        images, labels = images[np.sort(keep)], labels[np.sort(keep)]
    train, val, test, note = three_way_split(len(images), data, labels)
    x = images[..., None] if images.ndim == 3 else images
    return Dataset(x[train], labels[train], x[val], labels[val], len(names), names, source,
                   x_test=x[test], y_test=labels[test], split_note=note)


def load_digits(data: Mapping[str, Any], path: Path | None, **_: Any) -> Dataset:
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = (digits.images * (255.0 / 16.0)).astype(np.float32)  # 0-16 grey levels on the 0-255 scale
    names = tuple(str(c) for c in digits.target_names)
    return class_dataset(images, digits.target.astype(np.int64), names, data, "scikit-learn load_digits")


def load_lfw_subset(data: Mapping[str, Any], path: Path | None, **_: Any) -> Dataset:
    from skimage import data as skdata

    images = np.asarray(skdata.lfw_subset(), dtype=np.float32) * np.float32(255.0)  # floats in [0, 1]
    # scikit-image documents the order: the first 100 are faces, the last 100 are not.
    labels = np.array([1] * 100 + [0] * 100, dtype=np.int64)
    return class_dataset(images, labels, ("non-face", "face"), data, "scikit-image data.lfw_subset")


def load_keypoints(data: Mapping[str, Any], path: Path | None, *, cache_dir: Path | None, **_: Any) -> Dataset:
    from hpo.data.keypoints import KEYPOINT_COLUMNS, read_keypoints_csv

    assert path is not None
    parsed = read_keypoints_csv(path, cache_dir=cache_dir)
    images, keypoints = parsed.images, parsed.keypoints
    if data.get("missing_keypoints", "mask") == "drop":
        complete = ~np.isnan(keypoints).any(axis=1)
        images, keypoints = images[complete], keypoints[complete]
        if len(images) < 10:
            raise DataError(
                f"{path}: only {len(images)} rows have all 30 keypoints; use missing_keypoints: mask"
            )
    n = _limit(len(images), data.get("limit"))
    images, keypoints = images[:n], keypoints[:n]
    train, val, test, note = three_way_split(n, data, None)
    x = images.astype(np.float32)[..., None]
    return Dataset(x[train], keypoints[train], x[val], keypoints[val], len(KEYPOINT_COLUMNS),
                   tuple(KEYPOINT_COLUMNS), str(path), x_test=x[test], y_test=keypoints[test], split_note=note)


def load_fer2013(data: Mapping[str, Any], path: Path | None, *, cache_dir: Path | None, **_: Any) -> Dataset:
    """FER2013's own split when the file has Usage: Training to fit, PublicTest to validate,
    PrivateTest to test; rows of a Usage never reach another split."""
    from hpo.data.fer2013 import EMOTIONS, read_fer2013_csv

    assert path is not None
    images, labels, usage = read_fer2013_csv(path, cache_dir=cache_dir)
    n = _limit(len(images), data.get("limit"))
    images, labels = images[:n], labels[:n]
    x = images.astype(np.float32)[..., None]
    if usage is None:
        train, val, test, note = three_way_split(n, data, labels)
        note = f"no Usage column: {note}"
    else:
        usage = usage[:n]
        train, val, test = (np.flatnonzero(usage == u) for u in ("Training", "PublicTest", "PrivateTest"))
        note = f"Usage: Training {len(train)} train, PublicTest {len(val)} validation, PrivateTest {len(test)} test"
        if not len(train):
            raise DataError(f"{path}: no Usage=Training rows to train on")
        seed = int(data.get("seed") or 0)
        if not len(test):
            # No PrivateTest rows: the test split is held out of Training first, as elsewhere.
            fraction = float(data.get("test_fraction", 0.1) or 0.0)
            if fraction > 0:
                keep, held = split_indices(len(train), fraction, seed, labels[train], key="data.test_fraction")
                train, test = train[keep], train[held]
                note += f" (no PrivateTest rows: test = seeded {fraction:.0%} of Training, {len(test)} rows)"
            else:
                note += " (no PrivateTest rows and data.test_fraction 0: no test split)"
        if not len(val):
            # Validation from Training only: PrivateTest (and PublicTest) rows never reach training.
            fraction = float(data.get("validation_fraction") or 0.2)
            keep, held = split_indices(len(train), fraction, seed, labels[train])
            train, val = train[keep], train[held]
            note += f" (no PublicTest rows: validation = seeded {fraction:.0%} of Training, {len(val)} rows)"
    return Dataset(x[train], labels[train], x[val], labels[val], len(EMOTIONS), tuple(EMOTIONS), str(path),
                   x_test=x[test], y_test=labels[test], split_note=note)
