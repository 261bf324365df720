"""FER2013 ``fer2013.csv``: 48x48 faces labelled with one of seven emotions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpo.data.cache import cached_arrays
from hpo.data.pixels import numeric_column, read_pixel_csv, require_file
from hpo.errors import DataError

EMOTIONS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
USAGES = ("Training", "PublicTest", "PrivateTest")
FER_SIZE = 48


def read_fer2013_csv(path: Path, cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read ``emotion,pixels[,Usage]``: images uint8 (N, 48, 48), labels int64 (N,), usage.

    ``usage`` is an array of str (Training/PublicTest/PrivateTest), or None
    for the split files that carry only ``emotion,pixels``.
    """
    path = Path(path)
    require_file(path, "fer2013.csv", "download fer2013.csv there, or write "
                 f"a synthetic one: hpo data synth fer2013 --rows 2000 --out {path}")
    arrays = cached_arrays(path, "fer2013", lambda: _parse(path), cache_dir)
    return arrays["images"], arrays["labels"], arrays.get("usage")


def _parse(path: Path) -> dict[str, np.ndarray]:
    source = str(path)
    frame, pixels = read_pixel_csv(path, "pixels", FER_SIZE * FER_SIZE, required=["emotion"])
    if len(pixels) == 0:
        raise DataError(f"{source}: no data rows, only a header")
    emotion = numeric_column(frame, "emotion", source)
    bad = np.flatnonzero(~np.isin(emotion, np.arange(len(EMOTIONS))))
    if bad.size:
        row = int(bad[0])
        value = frame["emotion"].iloc[row]
        what = "is empty" if pd.isna(value) else f"{str(value)!r} is not an integer 0-{len(EMOTIONS) - 1}"
        raise DataError(f"{source}: row {row + 1}: emotion {what} ({', '.join(EMOTIONS)})")
    arrays = {
        "images": pixels.reshape(-1, FER_SIZE, FER_SIZE),
        "labels": emotion.astype(np.int64),
    }
    if "Usage" in frame.columns:
        usage = frame["Usage"].astype(object).to_numpy()
        bad = np.flatnonzero(~np.isin(usage, np.array(USAGES, dtype=object)))
        if bad.size:
            row = int(bad[0])
            raise DataError(f"{source}: row {row + 1}: Usage {usage[row]!r} is not one of {', '.join(USAGES)}")
        arrays["usage"] = usage.astype(str)
    return arrays
