"""Kaggle Facial Keypoints' ``test.csv`` and ``IdLookupTable.csv``, and the submission they ask for.

``test.csv`` is ``ImageId,Image`` (96x96 faces, no keypoints). ``IdLookupTable.csv``
is ``RowId,ImageId,FeatureName,Location`` with Location empty: each row asks for
one keypoint column of one test image. A submission is ``RowId,Location``, one
row per RowId in the table's order. No Keras here: predictions come in as arrays.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpo.data.keypoints import IMAGE_COLUMN, IMAGE_SIZE, KEYPOINT_COLUMNS
from hpo.data.pixels import numeric_column, read_pixel_csv
from hpo.errors import DataError
from hpo.files import write_atomic

TEST_HEADER = ("ImageId", IMAGE_COLUMN)
LOOKUP_HEADER = ("RowId", "ImageId", "FeatureName", "Location")
SUBMISSION_HEADER = ("RowId", "Location")
_FEATURE_INDEX = {name: i for i, name in enumerate(KEYPOINT_COLUMNS)}
_SHOWN = 40  # characters of a bad value quoted in an error: keeps every message one short line


@dataclass(frozen=True, eq=False)
class Lookup:
    """An ``IdLookupTable.csv``: row i asks for ``KEYPOINT_COLUMNS[features[i]]`` of image ``image_ids[i]``."""

    path: Path
    row_ids: np.ndarray  # int64 (M,), the submission's RowIds in the table's order
    image_ids: np.ndarray  # int64 (M,)
    features: np.ndarray  # intp (M,), index into KEYPOINT_COLUMNS

    def __len__(self) -> int:
        return len(self.row_ids)

    @property
    def feature_names(self) -> list[str]:
        return [KEYPOINT_COLUMNS[i] for i in self.features.tolist()]


def read_lookup(path: Path | str) -> Lookup:
    """Read and validate a Kaggle ``IdLookupTable.csv``; DataError (one line, naming the file) if it is not one."""
    path = Path(path)
    text = _read_text(path, "Kaggle's IdLookupTable.csv (RowId,ImageId,FeatureName,Location)")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path}: the file is empty; expected the header {','.join(LOOKUP_HEADER)}")
    if tuple(header) != LOOKUP_HEADER:
        raise DataError(f"{path}: header is {_clip(','.join(header))!r}; expected {','.join(LOOKUP_HEADER)} "
                        "(Kaggle's IdLookupTable.csv)")
    row_ids: list[int] = []
    image_ids: list[int] = []
    features: list[int] = []
    n = 0
    for fields in reader:
        if not fields:  # a blank line (a trailing one is common): not a row
            continue
        n += 1
        if len(fields) != len(LOOKUP_HEADER):
            raise DataError(f"{path}: row {n}: has {len(fields)} fields, expected {len(LOOKUP_HEADER)} "
                            f"({','.join(LOOKUP_HEADER)})")
        row_ids.append(_whole_number(fields[0], "RowId", path, n))
        image_ids.append(_whole_number(fields[1], "ImageId", path, n))
        feature = _FEATURE_INDEX.get(fields[2])
        if feature is None:
            raise DataError(_unknown_feature(fields[2], path, n))
        features.append(feature)
    if not row_ids:
        raise DataError(f"{path}: no data rows, only a header")
    rows = np.array(row_ids, dtype=np.int64)
    # A repeated RowId would make Kaggle reject the submission: say so here, with both rows.
    _, first, counts = np.unique(rows, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = int(np.flatnonzero(counts > 1)[0])
        at = np.flatnonzero(rows == rows[first[dup]])
        raise DataError(f"{path}: row {at[1] + 1}: RowId {rows[at[1]]} repeats row {at[0] + 1}")
    return Lookup(path=path, row_ids=rows, image_ids=np.array(image_ids, dtype=np.int64),
                  features=np.array(features, dtype=np.intp))


def read_keypoints_test_csv(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Read a Kaggle keypoints ``test.csv``: (image ids int64 (N,), images uint8 (N, 96, 96))."""
    path = Path(path)
    _check_test_header(path)
    frame, pixels = read_pixel_csv(path, IMAGE_COLUMN, IMAGE_SIZE * IMAGE_SIZE, required=TEST_HEADER[:1])
    if len(pixels) == 0:
        raise DataError(f"{path}: no data rows, only a header")
    raw = numeric_column(frame, "ImageId", str(path))
    bad = np.flatnonzero(~np.isfinite(raw) | (raw != np.round(raw)) | (raw < 0))
    if bad.size:
        row = int(bad[0])
        what = "is empty" if np.isnan(raw[row]) else f"{raw[row]:g} is not a whole number >= 0"
        raise DataError(f"{path}: row {row + 1}: ImageId {what}")
    ids = raw.astype(np.int64)
    _, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():  # a submission could not tell the two images apart
        dup = ids[first[int(np.flatnonzero(counts > 1)[0])]]
        at = np.flatnonzero(ids == dup)
        raise DataError(f"{path}: row {at[1] + 1}: ImageId {dup} repeats row {at[0] + 1}")
    return ids, pixels.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


def write_submission(
    lookup: Lookup,
    image_ids: Sequence[int] | np.ndarray,
    predictions: np.ndarray,
    out_path: Path | str,
    *,
    test_path: Path | str | None = None,
) -> int:
    """Write the Kaggle submission ``RowId,Location`` for ``lookup``; returns its row count.

    ``predictions[i]`` holds the 30 keypoint values (pixels, KEYPOINT_COLUMNS
    order) of image ``image_ids[i]``; each Location is clipped to [0, 96].
    ``test_path`` (the test.csv the images came from) only names it in errors.
    Every check runs before anything is written, and the file appears whole
    (temporary name, then rename) or not at all.
    """
    out = Path(out_path)
    images = f"{test_path}" if test_path is not None else "the test images"
    ids = np.asarray(image_ids, dtype=np.int64).reshape(-1)
    values = np.asarray(predictions, dtype=np.float64)
    if values.shape != (len(ids), len(KEYPOINT_COLUMNS)):
        raise DataError(f"{images}: predictions have shape {values.shape}; expected ({len(ids)}, "
                        f"{len(KEYPOINT_COLUMNS)}): the 30 keypoint values of each image")
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    if len(ids) and (sorted_ids[1:] == sorted_ids[:-1]).any():
        dup = int(sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]][0])
        raise DataError(f"{images}: ImageId {dup} appears more than once; each image needs its own id")
    pos = np.minimum(np.searchsorted(sorted_ids, lookup.image_ids), max(len(ids) - 1, 0))
    found = sorted_ids[pos] == lookup.image_ids if len(ids) else np.zeros(len(lookup), dtype=bool)
    if not found.all():
        row = int(np.argmin(found))
        missing = len(np.unique(lookup.image_ids[~found]))
        raise DataError(f"{lookup.path}: row {row + 1}: ImageId {lookup.image_ids[row]} is not in {images} "
                        f"({missing} of the table's image ids are missing); give the test.csv this table belongs to")
    picked = values[order[pos], lookup.features]
    bad = np.flatnonzero(~np.isfinite(picked))
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{images}: the prediction of {KEYPOINT_COLUMNS[lookup.features[row]]} for ImageId "
                        f"{lookup.image_ids[row]} is {picked[row]}; the model gave a value that is not a number")
    # Keypoints lie on the 96x96 image; a prediction off its edge only adds error.
    located = np.clip(picked, 0.0, float(IMAGE_SIZE))
    if out.is_dir():
        raise DataError(f"{out}: is a directory; give a file name such as submission.csv")
    body = "".join(f"{r},{v:.4f}\n" for r, v in zip(lookup.row_ids.tolist(), located.tolist(), strict=True))
    try:
        write_atomic(out, ",".join(SUBMISSION_HEADER) + "\n" + body)
    except OSError as e:
        raise DataError(f"{out}: cannot write: {e.strerror or e}") from e
    return len(lookup)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # utf-8-sig: Excel's byte order mark
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; expected {what}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file; expected {what}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from e


def _check_test_header(path: Path) -> None:
    """The exact ``ImageId,Image`` header, checked before the (large) pixel parse."""
    try:
        with path.open("rb") as f:
            line = f.readline(4096)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; expected Kaggle's test.csv (ImageId,Image), or write a "
                        f"synthetic one: hpo data synth keypoints-test --rows 1783 --out {path}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from e
    text = line.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    header = next(csv.reader([text]), [])
    if tuple(header) == TEST_HEADER:
        return
    if not text:
        raise DataError(f"{path}: the file is empty; expected the header {','.join(TEST_HEADER)}")
    hint = "; this looks like training.csv" if KEYPOINT_COLUMNS[0] in header else ""
    raise DataError(f"{path}: header is {_clip(text)!r}; expected {','.join(TEST_HEADER)} (Kaggle's test.csv){hint}")


def _whole_number(text: str, column: str, path: Path, n: int) -> int:
    if not (text.isascii() and text.isdigit()):  # int() would also take " 5", "+5" and "5_0"
        raise DataError(f"{path}: row {n}: {column} {_clip(text)!r} is not a whole number")
    return int(text)


def _unknown_feature(name: str, path: Path, n: int) -> str:
    close = difflib.get_close_matches(name, KEYPOINT_COLUMNS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (f"{path}: row {n}: FeatureName {_clip(name)!r} is not a Kaggle keypoint{hint}; expected one of "
            f"{', '.join(KEYPOINT_COLUMNS[:4])}, ... (the {len(KEYPOINT_COLUMNS)} columns of training.csv)")


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
