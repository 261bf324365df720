"""The .npz cache of parsed data files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hpo.data.cache import cache_path, cached_arrays, default_cache_dir
from hpo.data.keypoints import read_keypoints_csv
from hpo.data.synth import write_keypoints_csv


class Counting:
    """A build function that counts its calls and returns arrays derived from the file."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.calls = 0

    def __call__(self) -> dict[str, np.ndarray]:
        self.calls += 1
        raw = np.frombuffer(self.source.read_bytes(), dtype=np.uint8)
        return {"raw": raw.copy(), "labels": np.array(["a", "bc"])}


def test_hit_returns_same_arrays_without_rebuilding(tmp_path: Path) -> None:
    source = tmp_path / "f.csv"
    source.write_text("hello")
    build = Counting(source)
    first = cached_arrays(source, "test", build, tmp_path / "cache")
    second = cached_arrays(source, "test", build, tmp_path / "cache")
    assert build.calls == 1
    assert first.keys() == second.keys()
    np.testing.assert_array_equal(second["raw"], first["raw"])
    np.testing.assert_array_equal(second["labels"], ["a", "bc"])
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".npz"]  # no temp files left


def test_rewritten_file_invalidates(tmp_path: Path) -> None:
    source = tmp_path / "f.csv"
    source.write_text("hello")
    build = Counting(source)
    cached_arrays(source, "test", build, tmp_path / "cache")
    source.write_text("world")  # same size: only the mtime tells
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = cached_arrays(source, "test", build, tmp_path / "cache")
    assert build.calls == 2
    assert again["raw"].tobytes() == b"world"
    source.write_text("world, longer")  # size changes
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # even with the mtime put back
    assert cached_arrays(source, "test", build, tmp_path / "cache")["raw"].tobytes() == b"world, longer"
    assert build.calls == 3


def test_kind_is_part_of_the_key(tmp_path: Path) -> None:
    source = tmp_path / "f.csv"
    source.write_text("hello")
    assert cache_path(source, "a", tmp_path) != cache_path(source, "b", tmp_path)


@pytest.mark.parametrize("garbage", [b"", b"not a zip file", b"PK\x03\x04truncated"])
def test_corrupt_cache_file_is_rebuilt(tmp_path: Path, garbage: bytes) -> None:
    source = tmp_path / "f.csv"
    source.write_text("hello")
    build = Counting(source)
    cached_arrays(source, "test", build, tmp_path / "cache")
    target = cache_path(source, "test", tmp_path / "cache")
    target.write_bytes(garbage)
    again = cached_arrays(source, "test", build, tmp_path / "cache")
    assert build.calls == 2
    assert again["raw"].tobytes() == b"hello"
    cached_arrays(source, "test", build, tmp_path / "cache")  # and the rebuilt file is good
    assert build.calls == 2


def test_none_disables_caching(tmp_path: Path) -> None:
    source = tmp_path / "f.csv"
    source.write_text("hello")
    build = Counting(source)
    cached_arrays(source, "test", build, None)
    cached_arrays(source, "test", build, None)
    assert build.calls == 2


def test_unwritable_cache_dir_still_returns_data(tmp_path: Path) -> None:
    source = tmp_path / "f.csv"
    source.write_text("hello")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the directory should be")
    assert cached_arrays(source, "test", Counting(source), blocker)["raw"].tobytes() == b"hello"


def test_keypoints_reader_uses_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    write_keypoints_csv(path, rows=10, seed=0)
    fresh = read_keypoints_csv(path, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    cached = read_keypoints_csv(path, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(cached.images, fresh.images)
    np.testing.assert_array_equal(cached.keypoints, fresh.keypoints)
    write_keypoints_csv(path, rows=12, seed=1)
    assert len(read_keypoints_csv(path, cache_dir=tmp_path / "cache")) == 12


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The user's cache directory, never the working directory (see tests/faults/test_one_home.py)."""
    monkeypatch.delenv("HPO_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "hpo"
    monkeypatch.setenv("HPO_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
