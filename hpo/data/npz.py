"""``format: npz``: numpy arrays in one ``.npz`` file, and the array checks every array source shares.

The file holds ``x`` (images, (N, H, W) or (N, H, W, C) with C = 1 or 3) and
``y`` (labels or targets), optionally ``x_val``/``y_val`` and ``x_test``/``y_test``
(each pair together) and ``class_names``. Splits the file lacks are held out
from ``x``: the test split first (seeded ``data.test_fraction``, stratified by
class for classification), then validation (``data.validation_fraction``) from
the rest.

``dataset_from_arrays`` is also what a user's loader (``hpo.data.user_loader``)
goes through, so both give the same checks and the same messages; ``SplitOptions``
is shared with the image-folder loader.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.data.datasets import Dataset, split_indices
from hpo.errors import DataError

PAIRS = (("x", "y"), ("x_val", "y_val"), ("x_test", "y_test"))


@dataclass(frozen=True)
class SplitOptions:
    seed: int
    validation_fraction: float
    test_fraction: float  # 0: no test split

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SplitOptions:
        seed = data.get("seed")
        val = data.get("validation_fraction")
        test = data.get("test_fraction")
        val = 0.2 if val is None else val
        test = 0.1 if test is None else test
        if isinstance(seed, bool) or not isinstance(seed, int | None):
            raise DataError(f"data.seed: must be an integer, got {seed!r}")
        if isinstance(val, bool) or not isinstance(val, int | float) or not 0 < val < 1:
            raise DataError(f"data.validation_fraction: must be a number between 0 and 1, got {val!r}")
        if isinstance(test, bool) or not isinstance(test, int | float) or not 0 <= test < 1 or val + test >= 1:
            raise DataError(f"data.test_fraction: must be a number in [0, 1) leaving rows to train on, got {test!r}")
        return cls(int(seed or 0), float(val), float(test))


def percent(fraction: float) -> str:
    return f"{100 * fraction:g}%"


# ---------------------------------------------------------------- the file


def load(
    data: Mapping[str, Any], path: Path | None, *, cache_dir: Path | None, base_dir: Path, task: str
) -> Dataset:
    """Load an .npz file (``data.path``) and split it; see the module docstring."""
    if path is None:
        raise DataError("data.path: format npz needs the path of an .npz file (data.path or --data)")
    arrays = read_npz(Path(path))
    if "x" not in arrays and "x_train" in arrays and "y_train" in arrays:  # Keras' own naming
        arrays["x"], arrays["y"] = arrays.pop("x_train"), arrays.pop("y_train")
    if "x" not in arrays or "y" not in arrays:
        missing = "x" if "x" not in arrays else "y"
        held = ", ".join(sorted(arrays)) or "nothing"
        raise DataError(f"{path}: no array {missing!r} (it holds: {held}); save the images as x and the labels "
                        "as y: np.savez(path, x=images, y=labels)")
    return dataset_from_arrays(arrays, data, task, where=f"{path}:", source=str(path))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read without pickle; each problem one line naming the file."""
    if not path.exists():
        raise DataError(f"{path}: no such file; pass the .npz file as data.path or --data PATH")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; format npz needs one .npz file (a folder of images is "
                        "format: image_folder)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as e:  # a pickle file, or a .npy holding objects
        raise DataError(f"{path}: holds pickled Python objects, which hpo does not load; save plain "
                        "numeric arrays with np.savez") from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz file ({' '.join(str(e).split())})") from e
    if isinstance(loaded, np.ndarray):
        raise DataError(f"{path}: is a single .npy array; save x and y together: np.savez(path, x=images, "
                        "y=labels)")
    arrays: dict[str, np.ndarray] = {}
    with loaded:
        for name in loaded.files:
            try:
                arrays[name] = loaded[name]
            except ValueError as e:  # object dtype: allow_pickle=False refuses it
                raise DataError(f"{path}: array {name!r} holds Python objects (dtype=object), which hpo does "
                                "not unpickle; save it as a numeric array") from e
            except (OSError, EOFError, zipfile.BadZipFile) as e:
                raise DataError(f"{path}: array {name!r} cannot be read ({' '.join(str(e).split())})") from e
    return arrays


# ---------------------------------------------------------------- arrays -> Dataset


@dataclass
class _Split:
    x: np.ndarray
    y: np.ndarray
    xname: str  # as the messages call them: "x", "x_val" (or the caller's names)
    yname: str

    def take(self, rows: np.ndarray) -> _Split:
        return _Split(self.x[rows], self.y[rows], self.xname, self.yname)


def dataset_from_arrays(
    arrays: Mapping[str, Any], data: Mapping[str, Any], task: str, *, where: str, source: str,
    names: Mapping[str, str] | None = None,
) -> Dataset:
    """Check and convert ``x``/``y`` (and the optional pairs), make the missing splits, return the Dataset.

    ``where`` starts every message: ``"data.npz:"`` or ``"data.loader: data.py:load returned"``;
    what follows it is a noun phrase naming the array and what to do. ``names`` renames
    arrays in messages and in the split note (``{"x_val": "validation x"}``).
    """

    def fail(detail: str) -> DataError:
        return DataError(f"{where} {detail}")

    def nm(key: str) -> str:
        return (names or {}).get(key, key)

    for a, b in PAIRS:
        given_a, given_b = arrays.get(a) is not None, arrays.get(b) is not None
        if given_a != given_b:
            have, lack = (a, b) if given_a else (b, a)
            raise fail(f"{nm(have)} without {nm(lack)}; give both or neither")
    splits: dict[str, _Split] = {}
    for xkey, ykey in PAIRS:
        if arrays.get(xkey) is None:
            continue
        xname, yname = nm(xkey), nm(ykey)
        x = _images(arrays[xkey], xname, fail)
        y = _array(arrays[ykey], yname, fail)
        if y.ndim == 0 or len(y) != len(x):
            length = f"a single {yname}" if y.ndim == 0 else f"{yname} of length {len(y)}"
            raise fail(f"{length} for {xname} of length {len(x)}; each image needs one label")
        if splits and x.shape[1:] != splits["x"].x.shape[1:]:
            raise fail(f"{xname} images shaped {x.shape[1:]} but {nm('x')} images shaped "
                       f"{splits['x'].x.shape[1:]}; every split needs the same image size and channels")
        splits[xkey] = _Split(x, y, xname, yname)
    if "x" not in splits:
        raise fail(f"no {nm('x')}; give the training images and their labels")

    classify = task == "classification"
    if classify:
        ys, labels = _class_labels(list(splits.values()), arrays.get("class_names"), fail)
        for s, y in zip(splits.values(), ys, strict=True):
            s.y = y
        n_outputs = len(labels)
    else:
        first = splits["x"]
        for s in splits.values():
            s.y = _targets(s.y, s.yname, task, fail)
            if s.y.shape[1] != first.y.shape[1]:
                raise fail(f"{s.yname} with {s.y.shape[1]} targets per row but {first.yname} has {first.y.shape[1]}")
        n_outputs = first.y.shape[1]
        labels = _target_names(arrays.get("target_names"), n_outputs, task, fail)
    return _assemble(splits, data, n_outputs, labels, source, classify)


def _assemble(
    splits: dict[str, _Split], data: Mapping[str, Any], n_outputs: int, labels: tuple[str, ...], source: str,
    classify: bool,
) -> Dataset:
    opts = SplitOptions.from_data(data)
    pool = splits["x"]
    how = "stratified " if classify else ""
    notes = []
    test = splits.get("x_test")
    if test is not None:
        notes.append(f"test = {test.xname} ({len(test.x)} images)")
    elif opts.test_fraction > 0:
        kept, held = split_indices(len(pool.x), opts.test_fraction, opts.seed, pool.y if classify else None,
                              "data.test_fraction")
        test, pool = pool.take(held), pool.take(kept)
        notes.append(f"test = seeded {how}{percent(opts.test_fraction)} of {pool.xname} ({len(held)} images)")
    else:
        notes.append("no test split (data.test_fraction: 0)")
    val = splits.get("x_val")
    if val is not None:
        notes.append(f"validation = {val.xname} ({len(val.x)} images)")
    else:
        kept, held = split_indices(len(pool.x), opts.validation_fraction, opts.seed, pool.y if classify else None,
                              "data.validation_fraction")
        rest = "the rest" if "x_test" not in splits and opts.test_fraction > 0 else pool.xname
        val, pool = pool.take(held), pool.take(kept)
        notes.append(f"validation = seeded {how}{percent(opts.validation_fraction)} of {rest} ({len(held)} images)")
    return Dataset(
        pool.x, pool.y, val.x, val.y, n_outputs, labels, source,
        x_test=None if test is None else test.x, y_test=None if test is None else test.y,
        split_note="; ".join(notes),
    )


def _array(value: Any, name: str, fail: Callable[[str], DataError]) -> np.ndarray:
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise fail(f"{name} that is not a rectangular array ({' '.join(str(e).split())[:200]})") from e
    if a.dtype == object:
        raise fail(f"{name} of Python objects (dtype=object, e.g. images of different sizes); "
                   "give a numeric array")
    return a


def _images(value: Any, name: str, fail: Callable[[str], DataError]) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) numbers -> float32 (N, H, W, C) pixels on the 0-255 scale (what every
    hpo model takes): integers 0-255 as they are, floats in [0, 1] (and 0/1 integers) times 255."""
    x = _array(value, name, fail)
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3)):
        raise fail(f"{name} with shape {x.shape}; expected images shaped (N, H, W) or (N, H, W, C) with C = 1 or 3 "
                   "(channels last)")
    if len(x) == 0:
        raise fail(f"{name} with no images")
    if x.dtype.kind not in "biuf":
        raise fail(f"{name} of dtype {x.dtype}; expected numbers (uint8 0-255, or floats in [0, 1])")
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype.kind == "f":
        out = x.astype(np.float32)
        if not np.isfinite(out).all():
            raise fail(f"{name} with NaN or infinite pixels")
        if out.min() < 0 or out.max() > 255:
            raise fail(f"{name} with values {out.min():g}..{out.max():g}; expected floats in [0, 1] or pixels 0-255")
        return out * np.float32(255.0) if out.max() <= 1.0 else out
    if x.dtype.kind in "iu" and (x.min() < 0 or x.max() > 255):
        raise fail(f"{name} of dtype {x.dtype} with values {x.min()}..{x.max()}; expected pixels 0-255")
    pixels = x.dtype == np.uint8 or (x.dtype.kind in "iu" and x.max() > 1)
    out = x.astype(np.float32)
    return out if pixels else out * np.float32(255.0)


def _class_labels(
    splits: list[_Split], class_names: Any, fail: Callable[[str], DataError]
) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """Each split's labels as int64 0..K-1, and the K class names."""
    names = None
    if class_names is not None:
        raw = _array(class_names, "class_names", fail)
        if raw.ndim != 1 or len(raw) < 2:
            raise fail(f"class_names with shape {raw.shape}; expected a list of at least 2 names")
        names = tuple(str(v) for v in raw.tolist())
        if len(set(names)) != len(names):
            raise fail("class_names with a repeated name")
    text = [s for s in splits if s.y.dtype.kind in "US"]
    out: list[np.ndarray] = []
    if text:  # class names as the labels themselves
        if len(text) != len(splits):
            raise fail(f"{text[0].yname} of text labels but other splits with numbers; use one kind")
        for s in splits:
            if s.y.ndim != 1:
                raise fail(f"{s.yname} with shape {s.y.shape}; expected one text label per image")
        values = sorted({str(v) for s in splits for v in s.y.tolist()})
        names = names or tuple(values)
        unknown = [v for v in values if v not in names]
        if unknown:
            raise fail(f"label {unknown[0]!r}, which is not in class_names ({', '.join(names)})")
        lookup = {n: i for i, n in enumerate(names)}
        out = [np.array([lookup[str(v)] for v in s.y.tolist()], dtype=np.int64) for s in splits]
    else:
        out = [_int_labels(s.y, s.yname, fail) for s in splits]
    top = max(int(y.max()) for y in out)
    present = np.unique(np.concatenate(out))
    if len(present) < 2:
        only = names[present[0]] if names is not None and present[0] < len(names) else str(present[0])
        raise fail(f"labels of only one class ({only}); classification needs at least 2")
    if names is None:
        names = tuple(str(i) for i in range(top + 1))
    elif top >= len(names):
        raise fail(f"label {top} but class_names has only {len(names)} names (labels 0..{len(names) - 1})")
    return out, names


def _int_labels(y: np.ndarray, name: str, fail: Callable[[str], DataError]) -> np.ndarray:
    if y.dtype.kind not in "biuf":
        raise fail(f"{name} of dtype {y.dtype}; expected integer class labels 0..K-1")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2:  # one-hot, as keras.utils.to_categorical writes them
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise fail(f"{name} with shape {y.shape} that is not one-hot; give one integer class per image")
        return np.argmax(y, axis=1).astype(np.int64)
    if y.ndim != 1:
        raise fail(f"{name} with shape {y.shape}; expected one integer class per image (N,)")
    if y.dtype.kind == "f":
        bad = np.flatnonzero(np.isnan(y))
        if len(bad):
            raise fail(f"{name} with NaN labels (at index {', '.join(map(str, bad[:5]))}); "
                       "classification needs a class for every image")
        bad = np.flatnonzero(y != np.round(y))
        if len(bad):
            raise fail(f"{name} with non-integer labels ({y[bad[0]].item()!r} at index {bad[0]}); "
                       "classification needs integer classes 0..K-1 (for numeric targets use task: regression)")
    if len(y) and y.min() < 0:
        raise fail(f"{name} with negative labels ({y.min()}); classes are numbered 0..K-1")
    return y.astype(np.int64)


def _targets(y: np.ndarray, name: str, task: str, fail: Callable[[str], DataError]) -> np.ndarray:
    """Regression / keypoint targets as float32 (N, D); NaN marks a missing keypoint (masked in the loss)."""
    if y.dtype.kind not in "biuf":
        raise fail(f"{name} of dtype {y.dtype}; expected numeric targets")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise fail(f"{name} with shape {y.shape}; expected targets shaped (N,) or (N, D)")
    out = y.astype(np.float32)
    if np.isinf(out).any() or (task != "keypoints" and np.isnan(out).any()):
        what = "infinite" if np.isinf(out).any() else "NaN"
        raise fail(f"{name} with {what} targets; every image needs a finite target")
    return out


def _target_names(raw: Any, width: int, task: str, fail: Callable[[str], DataError]) -> tuple[str, ...]:
    if raw is not None:
        names = tuple(str(v) for v in _array(raw, "target_names", fail).ravel().tolist())
        if len(names) != width:
            raise fail(f"target_names with {len(names)} names for {width} targets per row")
        return names
    if task == "keypoints":
        from hpo.data.keypoints import KEYPOINT_COLUMNS

        if width == len(KEYPOINT_COLUMNS):
            return tuple(KEYPOINT_COLUMNS)
    return tuple(f"y{i}" for i in range(width))
