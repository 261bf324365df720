"""Reading Kaggle training.csv files, and the horizontal flip."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpo.data.keypoints import (
    FLIP_PERMUTATION,
    IMAGE_SIZE,
    KEYPOINT_COLUMNS,
    flip_horizontal,
    read_keypoints_csv,
)
from hpo.data.synth import write_keypoints_csv
from hpo.errors import DataError

HEADER = ",".join([*KEYPOINT_COLUMNS, "Image"])
PIXELS = " ".join(["7"] * (IMAGE_SIZE * IMAGE_SIZE))


def _col(name: str) -> int:
    return KEYPOINT_COLUMNS.index(name)


def test_columns_are_kaggles() -> None:
    assert len(KEYPOINT_COLUMNS) == 30
    assert KEYPOINT_COLUMNS[:4] == (
        "left_eye_center_x",
        "left_eye_center_y",
        "right_eye_center_x",
        "right_eye_center_y",
    )
    assert KEYPOINT_COLUMNS[-2:] == ("mouth_center_bottom_lip_x", "mouth_center_bottom_lip_y")


def test_flip_permutation_pairs_left_with_right() -> None:
    names = [KEYPOINT_COLUMNS[i] for i in FLIP_PERMUTATION]
    assert names[_col("left_eye_center_x")] == "right_eye_center_x"
    assert names[_col("right_eyebrow_outer_end_y")] == "left_eyebrow_outer_end_y"
    assert names[_col("mouth_left_corner_x")] == "mouth_right_corner_x"
    assert names[_col("nose_tip_x")] == "nose_tip_x"
    assert names[_col("mouth_center_top_lip_y")] == "mouth_center_top_lip_y"
    np.testing.assert_array_equal(FLIP_PERMUTATION[FLIP_PERMUTATION], np.arange(30))  # an involution


def test_round_trip_matches_pandas_and_split(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    write_keypoints_csv(path, rows=40, seed=3)
    data = read_keypoints_csv(path)
    frame = pd.read_csv(path)
    assert data.images.shape == (40, IMAGE_SIZE, IMAGE_SIZE) and data.images.dtype == np.uint8
    assert data.keypoints.shape == (40, 30) and data.keypoints.dtype == np.float32
    expected = np.stack([np.array(s.split(), dtype=int) for s in frame["Image"]])
    np.testing.assert_array_equal(data.images.reshape(40, -1), expected)
    np.testing.assert_array_equal(data.keypoints, frame[list(KEYPOINT_COLUMNS)].to_numpy(np.float32))
    assert len(data) == 40


def test_missing_values_are_nan(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    values = ["" for _ in KEYPOINT_COLUMNS]
    values[_col("nose_tip_x")] = "48.5"
    path.write_text(f"{HEADER}\n{','.join(values)},{PIXELS}\n")
    data = read_keypoints_csv(path)
    assert data.keypoints[0, _col("nose_tip_x")] == np.float32(48.5)
    assert np.isnan(np.delete(data.keypoints[0], _col("nose_tip_x"))).all()
    assert (data.images == 7).all()


def test_crlf_line_endings_and_no_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    row = ",".join(["1.5"] * 30) + "," + PIXELS
    path.write_bytes(f"{HEADER}\r\n{row}\r\n{row}".encode())
    data = read_keypoints_csv(path)
    assert data.images.shape == (2, IMAGE_SIZE, IMAGE_SIZE)
    assert (data.keypoints == 1.5).all()


def test_quoted_file_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    row = ",".join(["2"] * 30) + f',"{PIXELS}"'
    path.write_text(f"{HEADER}\n{row}\n")
    data = read_keypoints_csv(path)
    assert (data.keypoints == 2).all() and (data.images == 7).all()


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    names = [n for n in KEYPOINT_COLUMNS if n not in ("nose_tip_x", "nose_tip_y")]
    path.write_text(",".join([*names, "Image"]) + "\n" + ",".join(["1"] * 28) + "," + PIXELS + "\n")
    with pytest.raises(DataError, match=r"training\.csv: missing column\(s\) nose_tip_x, nose_tip_y"):
        read_keypoints_csv(path)


def test_missing_file_suggests_synth(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "training.csv"
    with pytest.raises(DataError, match=r"file not found.*hpo data synth keypoints --rows 2000 --out"):
        read_keypoints_csv(path)


def test_header_only_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    path.write_text(HEADER + "\n")
    with pytest.raises(DataError, match="no data rows"):
        read_keypoints_csv(path)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_keypoints_csv(path)


def test_bad_pixel_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    good = ",".join(["1"] * 30) + "," + PIXELS
    short = ",".join(["1"] * 30) + "," + PIXELS[:-2]
    path.write_text(f"{HEADER}\n{good}\n{good}\n{short}\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: row 3: Image has 9215 values, expected 9216$"):
        read_keypoints_csv(path)


def test_wrong_field_count_is_named(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    good = ",".join(["1"] * 30) + "," + PIXELS
    path.write_text(f"{HEADER}\n{good}\n" + ",".join(["1"] * 29) + "," + PIXELS + "\n")
    with pytest.raises(DataError, match="row 2: has 30 fields, expected 31"):
        read_keypoints_csv(path)


def test_non_numeric_keypoint_is_named(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    values = ["1"] * 30
    values[_col("nose_tip_y")] = "abc"
    path.write_text(f"{HEADER}\n" + ",".join(["1"] * 30) + f",{PIXELS}\n" + ",".join(values) + f",{PIXELS}\n")
    with pytest.raises(DataError, match="row 2: nose_tip_y 'abc' is not a number"):
        read_keypoints_csv(path)


@pytest.mark.parametrize(("value", "accepted"), [("500", False), ("-60", False), ("145", False), ("-3", True),
                                                ("99.5", True), ("inf", True)])
def test_a_keypoint_far_outside_the_image_is_named(tmp_path: Path, value: str, accepted: bool) -> None:
    """A point a little outside the frame is a cut-off face; far outside, a typo or another unit.
    (An infinite one is left to the loader-independent check in hpo.data.datasets.)"""
    path = tmp_path / "training.csv"
    values = ["40"] * 30
    values[_col("mouth_left_corner_x")] = value
    path.write_text(f"{HEADER}\n" + ",".join(["40"] * 30) + f",{PIXELS}\n" + ",".join(values) + f",{PIXELS}\n")
    if accepted:
        assert read_keypoints_csv(path).keypoints[1, _col("mouth_left_corner_x")] == float(value)
    else:
        with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: row 2: mouth_left_corner_x {value} lies far "
                                            r"outside the 96x96 image .*-48\.\.144 accepted"):
            read_keypoints_csv(path)


def _sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    keypoints = rng.uniform(0, IMAGE_SIZE - 1, size=(3, 30)).astype(np.float32)
    keypoints[1, 4:12] = np.nan
    return images, keypoints


def test_flip_twice_is_identity() -> None:
    images, keypoints = _sample()
    once = flip_horizontal(images, keypoints)
    twice = flip_horizontal(*once)
    np.testing.assert_array_equal(twice[0], images)
    np.testing.assert_allclose(twice[1], keypoints, rtol=0, atol=1e-4)
    assert not np.array_equal(once[0], images)


def test_flip_mirrors_pixels_and_x_and_swaps_left_right() -> None:
    images, keypoints = _sample()
    flipped, kp = flip_horizontal(images, keypoints)
    np.testing.assert_array_equal(flipped[:, :, 0], images[:, :, IMAGE_SIZE - 1])
    lx, ly, rx, ry = (
        _col(n) for n in ("left_eye_center_x", "left_eye_center_y", "right_eye_center_x", "right_eye_center_y")
    )
    np.testing.assert_allclose(kp[:, lx], IMAGE_SIZE - 1 - keypoints[:, rx])
    np.testing.assert_array_equal(kp[:, ly], keypoints[:, ry])  # y is unchanged, only the name swaps
    np.testing.assert_allclose(kp[:, rx], IMAGE_SIZE - 1 - keypoints[:, lx])
    nose = _col("nose_tip_x")
    np.testing.assert_allclose(kp[:, nose], IMAGE_SIZE - 1 - keypoints[:, nose])
    np.testing.assert_array_equal(np.isnan(kp), np.isnan(keypoints[:, FLIP_PERMUTATION]))
    assert np.isnan(kp).sum() == np.isnan(keypoints).sum()
    assert not np.isnan(keypoints).all()  # the sample does have values to compare


def test_flip_of_synthetic_faces_keeps_left_eye_on_image_right(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    write_keypoints_csv(path, rows=30, seed=1)
    data = read_keypoints_csv(path)
    _, kp = flip_horizontal(data.images, data.keypoints)
    # Subject's left eye is on the image's right side, before and after a flip.
    assert (data.keypoints[:, _col("left_eye_center_x")] > data.keypoints[:, _col("right_eye_center_x")]).all()
    assert (kp[:, _col("left_eye_center_x")] > kp[:, _col("right_eye_center_x")]).all()


def test_flip_handles_channels_last() -> None:
    images, keypoints = _sample()
    flipped, _ = flip_horizontal(images[..., None], keypoints)
    np.testing.assert_array_equal(flipped[..., 0], images[:, :, ::-1])
