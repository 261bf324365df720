"""Kaggle keypoints test.csv, IdLookupTable.csv and the submission: exact formats, real proportions, bad input."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hpo.data.kaggle_submission import read_keypoints_test_csv, read_lookup, write_submission
from hpo.data.keypoints import KEYPOINT_COLUMNS
from hpo.data.synth import PARTIAL_COLUMNS, lookup_rows, write_keypoints_test_csv, write_lookup_csv
from hpo.errors import DataError
from tests.conftest import run_hpo

PIXELS = 96 * 96


def _one_line_error(proc, fragment: str, code: int = 2) -> None:  # type: ignore[no-untyped-def]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def _data_error(call, *fragments: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _test_csv(path: Path, ids: list[int], pixels: list[int] | None = None) -> Path:
    """A hand-written test.csv: ImageId,Image with the given ids (and a uniform grey image)."""
    image = " ".join(map(str, pixels if pixels is not None else [128] * PIXELS))
    path.write_text("ImageId,Image\n" + "".join(f"{i},{image}\n" for i in ids))
    return path


def _lookup_csv(path: Path, rows: list[tuple[int, str]]) -> Path:
    body = "".join(f"{r},{i},{f},\n" for r, (i, f) in enumerate(rows, start=1))
    path.write_text("RowId,ImageId,FeatureName,Location\n" + body)
    return path


def test_synth_keypoints_test_csv_is_kaggles_format(tmp_path: Path) -> None:
    path = tmp_path / "test.csv"
    write_keypoints_test_csv(path, 4, seed=1)
    lines = path.read_text().splitlines()
    assert lines[0] == "ImageId,Image" and len(lines) == 5
    for n, line in enumerate(lines[1:], start=1):
        image_id, image = line.split(",")
        values = [int(v) for v in image.split(" ")]
        assert int(image_id) == n and len(values) == PIXELS and min(values) >= 0 and max(values) <= 255
    ids, images = read_keypoints_test_csv(path)
    assert ids.tolist() == [1, 2, 3, 4] and images.shape == (4, 96, 96) and images.dtype == np.uint8
    assert images.std(axis=(1, 2)).min() > 10  # drawn faces, not a blank canvas
    assert [p.name for p in tmp_path.iterdir()] == ["test.csv"]  # no temporary file left behind


def test_lookup_rows_follow_the_real_tables_proportions() -> None:
    rows = lookup_rows(range(1, 1784), seed=0)
    assert len(rows) == 27124  # the real IdLookupTable.csv
    per_image: dict[int, list[str]] = {}
    for image_id, feature in rows:
        per_image.setdefault(image_id, []).append(feature)
    assert [i for i, _ in rows] == sorted(i for i, _ in rows)  # grouped by ImageId, ascending
    assert sorted(per_image) == list(range(1, 1784))
    sizes = Counter(len(f) for f in per_image.values())
    assert sizes[8] == 1190 and sizes[30] == 556
    for features in per_image.values():
        assert features == [c for c in KEYPOINT_COLUMNS if c in features]  # training.csv's column order
        assert set(PARTIAL_COLUMNS) <= set(features)  # every image asks at least for the usual 8
        if len(features) == 8:
            assert tuple(features) == PARTIAL_COLUMNS
    between = [f for f in per_image.values() if 8 < len(f) < 30]
    assert len(between) == 1783 - 1190 - 556
    assert lookup_rows(range(1, 1784), seed=0) == rows
    assert lookup_rows(range(1, 1784), seed=1) != rows


def test_cli_writes_test_lookup_and_a_submission_end_to_end(tmp_path: Path) -> None:
    proc = run_hpo("data", "synth", "keypoints-test", "--rows", "5", "--out", "t.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_hpo("data", "synth", "lookup", "--test", "t.csv", "--out", "l.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr

    with open(tmp_path / "l.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["RowId", "ImageId", "FeatureName", "Location"]
    assert [int(r[0]) for r in table[1:]] == list(range(1, len(table)))
    assert all(r[3] == "" for r in table[1:]) and {int(r[1]) for r in table[1:]} == {1, 2, 3, 4, 5}

    lookup = read_lookup(tmp_path / "l.csv")
    ids, images = read_keypoints_test_csv(tmp_path / "t.csv")
    assert len(lookup) == len(table) - 1 and images.shape == (5, 96, 96)
    predictions = np.random.default_rng(0).uniform(-20, 120, size=(5, 30))  # some off the image
    out = tmp_path / "submission.csv"
    assert write_submission(lookup, ids, predictions, out) == len(lookup)

    lines = out.read_text().splitlines()
    assert lines[0] == "RowId,Location" and len(lines) == len(lookup) + 1
    got = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert got[:, 0].tolist() == lookup.row_ids.tolist()
    assert got[:, 1].min() >= 0 and got[:, 1].max() <= 96
    expected = np.clip(predictions[lookup.image_ids - 1, lookup.features], 0, 96)
    np.testing.assert_allclose(got[:, 1], expected, atol=1e-4)


def test_cli_lookup_needs_a_test_file(tmp_path: Path) -> None:
    _one_line_error(run_hpo("data", "synth", "lookup", "--out", "l.csv", cwd=tmp_path), "--test: required")
    _one_line_error(run_hpo("data", "synth", "lookup", "--test", "missing.csv", "--out", "l.csv", cwd=tmp_path),
                    "missing.csv: file not found")
    _one_line_error(run_hpo("data", "synth", "keypoints-test", "--test", "t.csv", "--out", "l.csv", cwd=tmp_path),
                    "--test: only for lookup")
    assert not (tmp_path / "l.csv").exists()


def test_lookup_writer_reads_the_test_files_ids(tmp_path: Path) -> None:
    test = _test_csv(tmp_path / "test.csv", [7, 3, 12])
    n = write_lookup_csv(tmp_path / "l.csv", test, seed=0)
    lookup = read_lookup(tmp_path / "l.csv")
    assert n == len(lookup) and sorted(set(lookup.image_ids.tolist())) == [3, 7, 12]
    assert lookup.image_ids.tolist() == sorted(lookup.image_ids.tolist())


def test_a_lookup_naming_an_unknown_feature_is_one_line(tmp_path: Path) -> None:
    path = _lookup_csv(tmp_path / "l.csv", [(1, "left_eye_center_x"), (1, "left_eye_centre_x" * 10)])
    message = _data_error(lambda: read_lookup(path), str(path), "row 2", "is not a Kaggle keypoint",
                          "expected one of left_eye_center_x")
    assert "did you mean left_eye_center_x" in _data_error(
        lambda: read_lookup(_lookup_csv(path, [(1, "left_eye_centre_x")])))
    assert "mouth_center_bottom_lip_y" not in message  # not all 30 names: bounded


@pytest.mark.parametrize("text, fragment", [
    ("RowId,ImageId,FeatureName\n1,1,nose_tip_x\n", "expected RowId,ImageId,FeatureName,Location"),
    ("", "the file is empty"),
    ("RowId,ImageId,FeatureName,Location\n", "no data rows"),
    ("RowId,ImageId,FeatureName,Location\n1,1,nose_tip_x\n", "row 1: has 3 fields, expected 4"),
    ("RowId,ImageId,FeatureName,Location\nx1,1,nose_tip_x,\n", "row 1: RowId 'x1' is not a whole number"),
    ("RowId,ImageId,FeatureName,Location\n1,1.5,nose_tip_x,\n", "row 1: ImageId '1.5' is not a whole number"),
    ("RowId,ImageId,FeatureName,Location\n1,1,nose_tip_x,\n1,1,nose_tip_y,\n", "row 2: RowId 1 repeats row 1"),
])
def test_a_malformed_lookup_is_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "l.csv"
    path.write_text(text)
    _data_error(lambda: read_lookup(path), str(path), fragment)


@pytest.mark.parametrize("case, fragment", [
    ("training header", "expected ImageId,Image (Kaggle's test.csv); this looks like training.csv"),
    ("short image", "row 2: Image has 9215 values, expected 9216"),
    ("repeated id", "row 2: ImageId 1 repeats row 1"),
    ("missing", "file not found"),
])
def test_a_malformed_test_csv_is_one_line(tmp_path: Path, case: str, fragment: str) -> None:
    path = tmp_path / "test.csv"
    if case == "training header":
        path.write_text(",".join([*KEYPOINT_COLUMNS, "Image"]) + "\n")
    elif case == "short image":
        path.write_text(_test_csv(path, [1]).read_text() + "2," + " ".join(["1"] * (PIXELS - 1)) + "\n")
    elif case == "repeated id":
        _test_csv(path, [1, 1])
    _data_error(lambda: read_keypoints_test_csv(path), str(path), fragment)


def test_a_lookup_naming_an_image_not_in_test_writes_nothing(tmp_path: Path) -> None:
    test = _test_csv(tmp_path / "test.csv", [1, 2])
    lookup = read_lookup(_lookup_csv(tmp_path / "l.csv", [(1, "nose_tip_x"), (2, "nose_tip_y"), (9, "nose_tip_x")]))
    ids, _ = read_keypoints_test_csv(test)
    out = tmp_path / "submission.csv"
    _data_error(lambda: write_submission(lookup, ids, np.full((2, 30), 40.0), out, test_path=test),
                "ImageId 9 is not in", str(tmp_path / "l.csv"), str(test), "row 3")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.csv", "test.csv"]  # no temporary file either


def test_bad_predictions_write_nothing(tmp_path: Path) -> None:
    lookup = read_lookup(_lookup_csv(tmp_path / "l.csv", [(1, "nose_tip_x"), (2, "nose_tip_y")]))
    out = tmp_path / "submission.csv"
    _data_error(lambda: write_submission(lookup, [1, 2], np.zeros((2, 29)), out), "expected (2, 30)")
    nan = np.full((2, 30), 50.0)
    nan[1, KEYPOINT_COLUMNS.index("nose_tip_y")] = np.nan
    _data_error(lambda: write_submission(lookup, [1, 2], nan, out), "nose_tip_y for ImageId 2 is nan")
    _data_error(lambda: write_submission(lookup, [1, 1], np.zeros((2, 30)), out), "ImageId 1 appears more than once")
    assert not out.exists()


def test_submission_pairs_each_row_with_its_image_whatever_the_order(tmp_path: Path) -> None:
    lookup = read_lookup(_lookup_csv(tmp_path / "l.csv", [(1, "nose_tip_x"), (3, "nose_tip_y"), (2, "nose_tip_x")]))
    predictions = np.array([[30.0] * 30, [10.0] * 30, [20.0] * 30])  # images 3, 1, 2: not sorted
    out = tmp_path / "submission.csv"
    write_submission(lookup, np.array([3, 1, 2]), predictions, out)
    assert out.read_text() == "RowId,Location\n1,10.0000\n2,30.0000\n3,20.0000\n"
