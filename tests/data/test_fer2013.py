"""Reading FER2013 files: the 3-column file and the 2-column split files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpo.data.fer2013 import EMOTIONS, read_fer2013_csv
from hpo.data.synth import write_fer2013_csv
from hpo.errors import DataError

PIXELS = " ".join(["3"] * (48 * 48))


def test_round_trip_with_usage(tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    write_fer2013_csv(path, rows=50, seed=0)
    images, labels, usage = read_fer2013_csv(path)
    frame = pd.read_csv(path)
    assert images.shape == (50, 48, 48) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, frame["emotion"].to_numpy())
    expected = np.stack([np.array(s.split(), dtype=int) for s in frame["pixels"]])
    np.testing.assert_array_equal(images.reshape(50, -1), expected)
    assert usage is not None
    assert list(usage) == list(frame["Usage"])


def test_split_file_without_usage(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    write_fer2013_csv(path, rows=12, seed=1, usage=False)
    images, labels, usage = read_fer2013_csv(path)
    assert usage is None
    assert images.shape == (12, 48, 48) and labels.shape == (12,)


def test_usage_first_column_order_does_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "fer.csv"
    path.write_text(f"Usage,pixels,emotion\nTraining,{PIXELS},5\nPublicTest,{PIXELS},0\n")
    images, labels, usage = read_fer2013_csv(path)
    assert list(labels) == [5, 0] and usage is not None and list(usage) == ["Training", "PublicTest"]
    assert (images == 3).all()


def test_emotions() -> None:
    assert EMOTIONS[3] == "Happy" and len(EMOTIONS) == 7


@pytest.mark.parametrize(
    ("emotion", "match"),
    [
        ("7", r"row 2: emotion '7' is not an integer 0-6 \(Angry, "),
        ("2.5", r"row 2: emotion '2.5' is not an integer 0-6"),
        ("", "row 2: emotion is empty"),
        ("x", "row 2: emotion 'x' is not a number"),
    ],
)
def test_bad_emotion_is_named(tmp_path: Path, emotion: str, match: str) -> None:
    path = tmp_path / "fer.csv"
    path.write_text(f"emotion,pixels\n1,{PIXELS}\n{emotion},{PIXELS}\n")
    with pytest.raises(DataError, match=match):
        read_fer2013_csv(path)


def test_bad_usage_is_named(tmp_path: Path) -> None:
    path = tmp_path / "fer.csv"
    path.write_text(f"emotion,pixels,Usage\n1,{PIXELS},Training\n1,{PIXELS},Validation\n")
    with pytest.raises(DataError, match="row 2: Usage 'Validation' is not one of"):
        read_fer2013_csv(path)


def test_bad_pixels_are_named(tmp_path: Path) -> None:
    path = tmp_path / "fer.csv"
    path.write_text(f"emotion,pixels\n1,{PIXELS}\n1,{PIXELS} 4\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: row 2: pixels has 2305 values, expected 2304$"):
        read_fer2013_csv(path)


def test_missing_pixels_column(tmp_path: Path) -> None:
    path = tmp_path / "fer.csv"
    path.write_text("emotion,Usage\n1,Training\n")
    with pytest.raises(DataError, match=r"missing column\(s\) pixels"):
        read_fer2013_csv(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found.*hpo data synth fer2013"):
        read_fer2013_csv(tmp_path / "fer2013.csv")
