"""``data: {loader: "data.py:load"}``: the user's own function returns the arrays.

The function is called with no arguments and returns one of:

- ``(x, y)``: everything; test and validation are held out as for an .npz file;
- ``((x, y), (x_test, y_test))``: what ``keras.datasets.*.load_data()`` returns;
- ``{"train": (x, y), "validation": (x_val, y_val), "test": (x_test, y_test)}``
  (validation and test optional);
- ``{"x": ..., "y": ..., "x_val": ..., ...}``: the arrays of the npz format.

The arrays go through the npz format's checks (``hpo.data.npz.dataset_from_arrays``),
so both formats accept the same arrays and say the same things about bad ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo.data.datasets import Dataset
from hpo.data.npz import dataset_from_arrays
from hpo.errors import DataError
from hpo.userref import call_user, load_callable, parse_ref

KEY = "data.loader"
_SPLIT_KEYS = {"train": ("x", "y"), "validation": ("x_val", "y_val"), "test": ("x_test", "y_test")}
_ARRAY_KEYS = ("x", "y", "x_val", "y_val", "x_test", "y_test", "class_names", "target_names")
_SHAPES = ('(x, y), ((x, y), (x_test, y_test)), {"train": (x, y), "validation": ..., "test": ...} '
           'or {"x": ..., "y": ...}')


def load(
    data: Mapping[str, Any], path: Path | None, *, cache_dir: Path | None, base_dir: Path, task: str
) -> Dataset:
    """Call the function ``data.loader`` names and split what it returns."""
    ref = parse_ref(data.get("loader"), KEY, base_dir)
    fn = load_callable(ref, KEY)
    result = call_user(fn, KEY, ref.text)
    where = f"{KEY}: {ref.text} returned"
    arrays, names = as_arrays(result, where)
    return dataset_from_arrays(arrays, data, task, where=where, source=ref.text, names=names)


def as_arrays(result: Any, where: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A loader's return value -> the npz format's arrays, and the names to call them by in messages."""
    if isinstance(result, tuple | list) and len(result) == 2:
        if all(isinstance(part, tuple) and len(part) == 2 for part in result):  # keras.datasets style
            (x, y), (x_test, y_test) = result
            return {"x": x, "y": y, "x_test": x_test, "y_test": y_test}, {
                "x": "train x", "y": "train y", "x_test": "test x", "y_test": "test y"}
        return {"x": result[0], "y": result[1]}, {}
    if isinstance(result, Mapping):
        keys = [str(k) for k in result]
        if set(keys) & set(_SPLIT_KEYS):
            return _from_splits(result, keys, where)
        unknown = [k for k in keys if k not in _ARRAY_KEYS]
        if unknown or "x" not in keys or "y" not in keys:
            what = f"unknown key {unknown[0]!r}" if unknown else f"no {'x' if 'x' not in keys else 'y'!r}"
            raise DataError(f"{where} a dict with {what} (keys: {', '.join(keys) or 'none'}); expected {_SHAPES}")
        return dict(result), {}
    raise DataError(f"{where} {_describe(result)}; expected {_SHAPES}")


def _from_splits(result: Mapping[str, Any], keys: list[str], where: str) -> tuple[dict[str, Any], dict[str, str]]:
    unknown = [k for k in keys if k not in _SPLIT_KEYS]
    if unknown:
        raise DataError(f"{where} a dict with unknown key {unknown[0]!r} (keys: {', '.join(keys)}); "
                        f"expected train, validation and test")
    if "train" not in keys:
        raise DataError(f"{where} a dict without 'train' (keys: {', '.join(keys)}); give the training "
                        "split as \"train\": (x, y)")
    arrays: dict[str, Any] = {}
    names: dict[str, str] = {}
    for split, value in result.items():
        if not (isinstance(value, tuple | list) and len(value) == 2):
            raise DataError(f"{where} {split!r}: {_describe(value)}; expected a pair (x, y)")
        xkey, ykey = _SPLIT_KEYS[split]
        arrays[xkey], arrays[ykey] = value
        names[xkey], names[ykey] = f"{split} x", f"{split} y"
    return arrays, names


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"
