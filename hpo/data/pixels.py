"""Parse the space-separated pixel strings of Kaggle-style CSV files, fast.

The notebooks did ``np.array(row.split(), dtype=int)`` per row, which builds
9216 Python strings per image. Here a chunk of rows is copied into one byte
buffer and every step (token boundaries, digit values, per-row counts,
validation) is a numpy array operation; Python only loops over rows and chunks.
"""

from __future__ import annotations

import contextlib
import io
import mmap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo.errors import DataError

# Rows per numpy pass: enough to amortise the ~30 calls per pass, few enough
# that the scratch buffers stay in cache and the one per-pass allocation (the
# token index, 8 bytes per value) stays small enough for malloc to recycle.
CHUNK_ROWS = 32

_NL = 10
_SPACE = 32
_ZERO = 48


def parse_pixel_strings(
    strings: Sequence[str] | pd.Series,
    n_values: int,
    source: str,
    *,
    field: str = "pixels",
    first_row: int = 1,
) -> np.ndarray:
    """Parse rows of space-separated integers 0-255 into a (N, n_values) uint8 array.

    ``source`` (a file name) and ``field`` (a column name) only serve the error
    messages; ``first_row`` is the 1-based data row number of ``strings[0]``.
    """
    rows = strings.tolist() if isinstance(strings, pd.Series) else list(strings)
    parser = PixelParser(n_values, source, field)
    out = np.empty((len(rows), n_values), dtype=np.uint8)
    for lo in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[lo : lo + CHUNK_ROWS]
        encoded: list[bytes] = []
        for i, text in enumerate(chunk):
            if not isinstance(text, str):  # pandas gives NaN (a float) for an empty field
                raise DataError(
                    f"{source}: row {first_row + lo + i}: {field} is empty; "
                    f"expected {n_values} space-separated integers 0-255"
                )
            # Non-ASCII characters become '?', which is reported as non-numeric.
            encoded.append(text.encode("ascii", errors="replace"))
        parser.parse(encoded, out[lo : lo + len(chunk)], first_row + lo)
    return out


def parse_pixel_bytes(
    fields: Sequence[bytes | memoryview],
    n_values: int,
    source: str,
    *,
    field: str = "pixels",
    first_row: int = 1,
) -> np.ndarray:
    """Like :func:`parse_pixel_strings`, for ASCII byte strings (or views into a file)."""
    parser = PixelParser(n_values, source, field)
    out = np.empty((len(fields), n_values), dtype=np.uint8)
    for lo in range(0, len(fields), CHUNK_ROWS):
        chunk = fields[lo : lo + CHUNK_ROWS]
        parser.parse(chunk, out[lo : lo + len(chunk)], first_row + lo)
    return out


class PixelParser:
    """Parses chunks of pixel rows, reusing its scratch buffers from chunk to chunk.

    Reuse matters: fresh multi-megabyte temporaries per chunk cost more in
    page faults than the arithmetic itself (measured 2.5M faults, ~3x slower).
    """

    def __init__(self, n_values: int, source: str, field: str = "pixels") -> None:
        self.n_values = n_values
        self.source = source
        self.field = field
        self._capacity = 0

    def _reserve(self, size: int) -> None:
        if size <= self._capacity:
            return
        size = max(size, self._capacity * 5 // 4)
        self._capacity = size
        self._buf = np.empty(size, dtype=np.uint8)
        self._digit = np.empty(size, dtype=np.uint8)
        self._is_digit = np.empty(size, dtype=bool)
        self._mask = np.empty(size, dtype=bool)
        self._pairs = np.empty(size, dtype=bool)
        self._z = np.empty(size, dtype=np.uint8)
        self._ones_tens = np.empty(size, dtype=np.uint8)
        self._hundreds = np.empty(size, dtype=np.uint8)
        self._picked = np.empty(size // 2 + 1, dtype=np.uint8)
        self._values = np.empty(size // 2 + 1, dtype=np.uint16)

    def parse(self, rows: Sequence[bytes | memoryview], out: np.ndarray, first_row: int) -> None:
        """Parse ``rows`` into ``out`` (len(rows), n_values); DataError on the first bad row.

        The rows are laid out as ``\\n\\n row \\n row ... row \\n\\n\\n``: with
        separators around every row, each token has a non-digit on both sides
        and the shifted views below stay in bounds.
        """
        n_rows = len(rows)
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=n_rows)
        # seps[i] is the separator before row i; row i is [seps[i] + 1, seps[i + 1]).
        seps = np.empty(n_rows + 1, dtype=np.int64)
        seps[0] = 1
        np.cumsum(lengths + 1, out=seps[1:])
        seps[1:] += 1
        size = int(seps[-1]) + 3
        self._reserve(size)
        a = self._buf[:size]
        a[:2] = _NL
        for row, start, n in zip(rows, seps[:-1].tolist(), lengths.tolist(), strict=True):
            a[start + 1 : start + 1 + n] = np.frombuffer(row, dtype=np.uint8)
        a[seps[1:]] = _NL
        a[size - 2 :] = _NL

        digit = np.subtract(a, _ZERO, out=self._digit[:size])  # non-digits wrap to >= 10
        is_digit = np.less(digit, 10, out=self._is_digit[:size])
        mask = self._mask[:size]
        n_space = np.count_nonzero(np.equal(a, _SPACE, out=mask))
        # Every byte must be a digit, a space, or one of the n_rows + 4 separators.
        bad_chars = size - np.count_nonzero(is_digit) - n_space != n_rows + 4

        # Value of the (up to 3-digit) number ending at each byte; views are
        # aligned so that index j stands for byte j + 2.
        z = np.multiply(digit, is_digit, out=self._z[:size])  # 0 at non-digits
        ones_tens = np.multiply(z[1:-1], 10, out=self._ones_tens[: size - 2])
        ones_tens += z[2:]
        hundreds = np.multiply(z[:-2], is_digit[1:-1], out=self._hundreds[: size - 2])
        ends = np.flatnonzero(np.greater(is_digit[2:-1], is_digit[3:], out=mask[: size - 3]))
        n_tokens = len(ends)
        picked = self._picked[:n_tokens]
        values = self._values[:n_tokens]
        np.take(hundreds, ends, out=picked, mode="wrap")
        np.multiply(picked, np.uint16(100), out=values)
        np.take(ones_tens, ends, out=picked, mode="wrap")
        values += picked

        counts = np.diff(np.searchsorted(ends, seps - 2))
        bad_counts = bool(np.any(counts != self.n_values))
        pairs = np.logical_and(is_digit[:-1], is_digit[1:], out=self._pairs[: size - 1])
        if np.logical_and(pairs[:-2], pairs[2:], out=mask[: size - 3]).any():
            _check_long_tokens(digit, is_digit, values)
        bad_values = n_tokens > 0 and int(values.max()) > 255

        if bad_chars or bad_counts or bad_values:
            _raise_first_problem(
                a,
                is_digit,
                seps,
                lengths,
                counts,
                ends + 2,
                values,
                self.n_values,
                self.source,
                self.field,
                first_row,
            )
        np.copyto(out, values.reshape(n_rows, self.n_values), casting="unsafe")


def _check_long_tokens(digit: np.ndarray, is_digit: np.ndarray, values: np.ndarray) -> None:
    """Set ``values`` to 256 (invalid) for tokens of 4+ digits that are not "0007"-style."""
    edges = np.flatnonzero(is_digit[1:] != is_digit[:-1]) + 1
    starts, ends = edges[0::2], edges[1::2]
    long = np.flatnonzero(ends - starts > 3)
    nonzero = np.concatenate(([0], np.cumsum(is_digit & (digit != 0))))
    lead = nonzero[ends[long] - 3] - nonzero[starts[long]]
    values[long[lead > 0]] = 256


def _raise_first_problem(
    a: np.ndarray,
    is_digit: np.ndarray,
    seps: np.ndarray,
    lengths: np.ndarray,
    counts: np.ndarray,
    token_ends: np.ndarray,
    values: np.ndarray,
    n_values: int,
    source: str,
    field: str,
    first_row: int,
) -> None:
    """Raise a DataError for the earliest bad row in a chunk (only on the error path)."""
    problems: list[tuple[int, int, str]] = []  # (row, precedence, message)

    other = ~is_digit & (a != _SPACE)
    other[seps] = False
    other[0] = False
    other[len(a) - 3 :] = False
    if other.any():
        pos = int(np.argmax(other))
        row = int(np.searchsorted(seps, pos, side="right")) - 1
        problems.append((row, 0, _bad_token(a, pos, seps[row] + 1, lengths[row])))

    big = np.flatnonzero(values > 255)
    if big.size:
        pos = int(token_ends[big[0]])
        row = int(np.searchsorted(seps, pos, side="right")) - 1
        problems.append((row, 1, _bad_token(a, pos, seps[row] + 1, lengths[row])))

    wrong = np.flatnonzero(counts != n_values)
    if wrong.size:
        row = int(wrong[0])
        problems.append((row, 2, f"{field} has {counts[row]} values, expected {n_values}"))

    if not problems:  # defensive: the checks that sent us here found nothing specific
        problems.append((0, 3, f"{field} is not {n_values} space-separated integers 0-255"))
    # A stray character also splits a token and so miscounts: name the cause.
    row, _, what = min(problems)
    raise DataError(f"{source}: row {first_row + row}: {what}")


def _bad_token(a: np.ndarray, pos: int, row_start: int, row_len: int) -> str:
    """Describe the whitespace-delimited token around byte ``pos``."""
    row = a[row_start : row_start + row_len].tobytes().decode("ascii", errors="replace")
    i = pos - row_start
    lo = row.rfind(" ", 0, i) + 1
    hi = row.find(" ", i)
    token = row[lo : hi if hi >= 0 else len(row)]
    if len(token) > 20:
        token = token[:20] + "..."
    return f"value {token!r} is not an integer 0-255"


def require_file(path: Path, name: str, missing: str) -> None:
    """A data file must be a file: a folder given instead is named as one, not reported missing."""
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give the {name} file itself, e.g. {path / name}")
    if not path.is_file():
        raise DataError(f"{path}: file not found; {missing}")


def read_pixel_csv(
    path: Path,
    pixel_column: str,
    n_values: int,
    required: Sequence[str] = (),
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a CSV with one huge pixel column: (the other columns, (N, n_values) uint8).

    A plain file (no quotes) is split with numpy on its raw bytes, so pandas
    never turns the pixel column into Python strings; pandas parses only the
    small remaining columns. Quoted files go through ``pd.read_csv``.
    Raises DataError if a column in ``required`` (or ``pixel_column``) is missing.
    """
    source = str(path)
    try:
        data = _map(Path(path))
    except FileNotFoundError:
        raise DataError(f"{source}: file not found") from None
    except OSError as e:
        raise DataError(f"{source}: cannot read: {e.strerror or e}") from e
    try:
        begin = 3 if data[:3] == b"\xef\xbb\xbf" else 0  # UTF-8 byte order mark
        if len(data) == begin:
            raise DataError(f"{source}: the file is empty; expected a CSV header")
        head_end = data.find(b"\n")
        header_line = data[begin : head_end if head_end >= 0 else len(data)].rstrip(b"\r")
        try:
            names = header_line.decode("utf-8").split(",")
        except UnicodeDecodeError:
            raise DataError(f"{source}: the header is not text; is this a CSV file?") from None
        if data.find(b'"') >= 0:
            return _read_quoted(Path(path), pixel_column, n_values, required, source)
        _check_header(names, [*required, pixel_column], source)
        return _read_plain(data, head_end, names, pixel_column, n_values, source)
    finally:
        if isinstance(data, mmap.mmap):
            with contextlib.suppress(BufferError):  # a view still alive (error path): GC closes it
                data.close()


def _map(path: Path) -> mmap.mmap | bytes:
    """The file's bytes, memory-mapped: reading 230 MB into a fresh buffer costs 5x more."""
    with path.open("rb") as f:
        try:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # empty file, or not mappable (a pipe)
            return f.read()


def _read_plain(
    data: mmap.mmap | bytes, head_end: int, names: list[str], pixel_column: str, n_values: int, source: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """Split an unquoted CSV on its raw bytes, a chunk of lines at a time.

    Commas are located per chunk (a few MB, cache-resident) rather than over
    the whole file, which would allocate and fault in file-sized temporaries.
    """
    k = names.index(pixel_column)
    n_cols = len(names)
    a = np.frombuffer(data, dtype=np.uint8)
    view = memoryview(data)
    line_start, line_end = _data_lines(data, head_end)
    n_rows = len(line_start)
    pixels = np.empty((n_rows, n_values), dtype=np.uint8)
    parser = PixelParser(n_values, source, pixel_column)
    others: list[bytes | memoryview] = [",".join(n for i, n in enumerate(names) if i != k).encode("utf-8")]
    for lo in range(0, n_rows, CHUNK_ROWS):
        ls, le = line_start[lo : lo + CHUNK_ROWS], line_end[lo : lo + CHUNK_ROWS]
        commas = np.flatnonzero(a[ls[0] : le[-1]] == ord(",")) + ls[0]
        first = np.searchsorted(commas, ls)
        n_commas = np.searchsorted(commas, le) - first
        wrong = np.flatnonzero(n_commas != n_cols - 1)
        if wrong.size:
            row = int(wrong[0])
            raise DataError(
                f"{source}: row {lo + row + 1}: has {n_commas[row] + 1} fields, expected "
                f"{n_cols} ({', '.join(names[:3])}{', ...' if n_cols > 3 else ''})"
            )
        fs = (ls if k == 0 else commas[first + k - 1] + 1).tolist()
        fe = (le if k == n_cols - 1 else commas[first + k]).tolist()
        fields = [view[s:e] for s, e in zip(fs, fe, strict=True)]
        parser.parse(fields, pixels[lo : lo + len(fs)], first_row=lo + 1)
        # The other fields of each line, without the pixel field and its comma.
        if k == n_cols - 1:
            others += [view[s : f - 1] for s, f in zip(ls.tolist(), fs, strict=True)]
        elif k == 0:
            others += [view[e + 1 : x] for e, x in zip(fe, le.tolist(), strict=True)]
        else:
            others += [
                bytes(view[s:f]) + view[e + 1 : x] for s, f, e, x in zip(ls.tolist(), fs, fe, le.tolist(), strict=True)
            ]
    if n_cols == 1:
        return pd.DataFrame(index=pd.RangeIndex(n_rows)), pixels
    # skip_blank_lines=False: a row whose only other field is empty must stay a row.
    # Every line ends in a newline, so an empty last line still counts as a row.
    try:
        frame = pd.read_csv(io.BytesIO(b"\n".join(others) + b"\n"), skip_blank_lines=False)
    except (ValueError, pd.errors.ParserError) as e:  # UnicodeDecodeError is a ValueError
        raise DataError(f"{source}: cannot parse the columns besides {pixel_column}: {_first_line(e)}") from e
    if len(frame) != n_rows:  # cannot happen for a file that passed the checks above
        raise DataError(f"{source}: read {len(frame)} rows of other columns but {n_rows} images")
    return frame, pixels


def _check_header(names: list[str], wanted: Sequence[str], source: str) -> None:
    missing = [n for n in dict.fromkeys(wanted) if n not in names]
    if missing:
        found = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} (header has: {found})")


def _data_lines(data: mmap.mmap | bytes, head_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without CR) of each non-blank line after the header.

    A loop of bytes.find (memchr) costs ~1 ms per thousand lines and allocates
    nothing file-sized, unlike ``np.flatnonzero(a == 10)``.
    """
    starts: list[int] = []
    ends: list[int] = []
    pos = len(data) if head_end < 0 else head_end + 1
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl
        stop = end - 1 if end > pos and data[end - 1] == 13 else end  # CRLF
        if stop > pos:
            starts.append(pos)
            ends.append(stop)
        pos = end + 1
    return np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


def _read_quoted(
    path: Path, pixel_column: str, n_values: int, required: Sequence[str], source: str
) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        frame = pd.read_csv(path, dtype=object, encoding="utf-8-sig")
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(f"{source}: not a valid CSV file: {_first_line(e)}") from e
    _check_header([str(c) for c in frame.columns], [*required, pixel_column], source)
    pixels = parse_pixel_strings(frame[pixel_column], n_values, source, field=pixel_column)
    return frame.drop(columns=[pixel_column]), pixels


def numeric_column(frame: pd.DataFrame, name: str, source: str) -> np.ndarray:
    """Column ``name`` as float64 (NaN where empty); DataError naming the first non-number."""
    col: Any = frame[name]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    num = pd.to_numeric(col, errors="coerce")
    bad = np.flatnonzero(num.isna().to_numpy() & col.notna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{source}: row {row + 1}: {name} {col.iloc[row]!r} is not a number")
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
