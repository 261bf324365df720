"""Fingerprints that pin what a study trained on: the data file's SHA-256, and each split's
row count and a hash of its contents (pixels and labels, in order), so a later worker,
`hpo train` or `hpo evaluate` can tell it is looking at the same rows. No Keras."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's file list (relative paths, sizes and contents)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path)).encode() + b"\0")
            _update_from_file(digest, file)
        return digest.hexdigest()
    _update_from_file(digest, path)
    return digest.hexdigest()


def _update_from_file(digest: Any, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)


def array_sha256(*arrays: np.ndarray | None) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        if a is not None:
            a = np.ascontiguousarray(a)
            digest.update(f"{a.dtype}{a.shape}".encode())
            digest.update(a.data)
    return digest.hexdigest()


def split_record(dataset: Any) -> dict[str, Any]:
    """``{train|validation|test: {rows, sha256}, note}`` for a loaded ``Dataset``."""
    splits = {"train": (dataset.x_train, dataset.y_train), "validation": (dataset.x_val, dataset.y_val),
              "test": (dataset.x_test, dataset.y_test)}
    record: dict[str, Any] = {}
    for name, (x, y) in splits.items():
        rows = 0 if x is None else len(x)
        record[name] = {"rows": rows, "sha256": array_sha256(x, y)[:16] if rows else None}
    record["note"] = dataset.split_note
    return record


def describe_splits(record: dict[str, Any]) -> str:
    return ", ".join(f"{name} {record[name]['rows']} ({record[name]['sha256'] or '-'})"
                     for name in ("train", "validation", "test"))
