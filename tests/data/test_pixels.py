"""parse_pixel_strings / parse_pixel_bytes against the notebooks' per-row split, and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpo.data.pixels import CHUNK_ROWS, parse_pixel_bytes, parse_pixel_strings
from hpo.errors import DataError


def _rows(values: np.ndarray) -> list[str]:
    return [" ".join(map(str, row)) for row in values]


def _split_reference(rows: list[str]) -> np.ndarray:
    return np.stack([np.array(row.split(), dtype=int) for row in rows])


def test_matches_per_row_split_on_random_data() -> None:
    rng = np.random.default_rng(0)
    # More rows than one chunk, so chunk boundaries are crossed; 1-, 2- and 3-digit values.
    values = rng.integers(0, 256, size=(2 * CHUNK_ROWS + 5, 37))
    values[0, 0] = 7  # a one-digit first value right after the buffer's leading separator
    values[-1, -1] = 255
    rows = _rows(values)
    parsed = parse_pixel_strings(rows, 37, "x.csv")
    assert parsed.dtype == np.uint8
    assert parsed.shape == values.shape
    np.testing.assert_array_equal(parsed, _split_reference(rows))


def test_accepts_pandas_series_bytes_and_irregular_spacing() -> None:
    rows = ["0 1 2 255", "  10   200 3 4 ", "007 08 9 000"]
    expected = np.array([[0, 1, 2, 255], [10, 200, 3, 4], [7, 8, 9, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(parse_pixel_strings(pd.Series(rows), 4, "x.csv"), expected)
    encoded = [r.encode() for r in rows]
    np.testing.assert_array_equal(parse_pixel_bytes(encoded, 4, "x.csv"), expected)


def test_empty_input_gives_empty_array() -> None:
    assert parse_pixel_strings([], 9, "x.csv").shape == (0, 9)


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        ("1 2 3", "row 5: pixels has 3 values, expected 4"),
        ("1 2 3 4 5", "row 5: pixels has 5 values, expected 4"),
        ("1 2 256 4", "row 5: value '256' is not an integer 0-255"),
        ("1 2 1000 4", "row 5: value '1000' is not an integer 0-255"),
        ("1 2 x7 4", "row 5: value 'x7' is not an integer 0-255"),
        ("1 -2 3 4", "row 5: value '-2' is not an integer 0-255"),
        ("1 2.5 3 4", "row 5: value '2.5' is not an integer 0-255"),
        ("1 2 3 é", "row 5: value '?' is not an integer 0-255"),
        ("", "row 5: pixels has 0 values, expected 4"),
    ],
)
def test_bad_row_raises_data_error_naming_file_and_row(bad_row: str, expected: str) -> None:
    rows = ["0 1 2 3"] * 4 + [bad_row] + ["0 1 2 3"] * 3
    with pytest.raises(DataError) as info:
        parse_pixel_strings(rows, 4, "data/x.csv")
    assert str(info.value) == f"data/x.csv: {expected}"


def test_error_row_counts_across_chunks_and_first_row_offset() -> None:
    rows = ["1 2"] * (CHUNK_ROWS + 3)
    rows[CHUNK_ROWS + 1] = "1 2 3"
    with pytest.raises(DataError, match=rf"^f\.csv: row {CHUNK_ROWS + 2 + 10}: Image has 3 values"):
        parse_pixel_strings(rows, 2, "f.csv", field="Image", first_row=11)


def test_earliest_bad_row_is_reported() -> None:
    rows = ["1 2", "1 2", "1 999", "1 2 3", "a b"]
    with pytest.raises(DataError, match="row 3: value '999'"):
        parse_pixel_strings(rows, 2, "f.csv")


def test_missing_value_from_pandas_is_reported_as_empty() -> None:
    with pytest.raises(DataError, match=r"^f\.csv: row 2: pixels is empty"):
        parse_pixel_strings(pd.Series(["1 2", np.nan, "3 4"]), 2, "f.csv")
