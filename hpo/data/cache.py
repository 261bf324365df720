"""Cache parsed data files as uncompressed .npz, keyed by the file's identity.

Parsing a 230 MB CSV takes about a second; loading its arrays back takes tens
of milliseconds, and every trial of a study loads the same file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hpo.files import atomic_path

# Bump when a loader changes what it returns, so old cache files stop matching.
CACHE_FORMAT_VERSION = 1

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$HPO_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/hpo``, else ``~/.cache/hpo``.

    The user's cache directory, not the working directory: a cache is shared by every
    project of the user and must not land in (or be committed with) whatever folder
    ``hpo`` happened to run in.
    """
    env = os.environ.get("HPO_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec: a relative (or empty) $XDG_CACHE_HOME is invalid and ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "hpo"
    return Path.home() / ".cache" / "hpo"


def cache_key(source: Path, kind: str) -> str:
    """Identity of ``source`` as ``kind``: rewriting the file (size or mtime) changes it."""
    st = Path(source).stat()
    resolved = Path(source).resolve()
    return f"{resolved}|{st.st_size}|{st.st_mtime_ns}|{kind}|v{CACHE_FORMAT_VERSION}"


def cache_path(source: Path, kind: str, cache_dir: Path) -> Path:
    return keyed_cache_path(cache_key(source, kind), cache_dir)


def cached_arrays(
    source: Path,
    kind: str,
    build: Callable[[], dict[str, np.ndarray]],
    cache_dir: Path | None,
) -> dict[str, np.ndarray]:
    """Arrays parsed from ``source`` by ``build()``, from ``cache_dir`` when it holds them.

    ``cache_dir`` None disables caching. A cache file that cannot be read is
    rebuilt; one that cannot be written is skipped (the cache only saves time).
    """
    if cache_dir is None:
        return build()
    # Key taken before reading: if the file changes meanwhile, the entry won't match it.
    return cached_arrays_keyed(cache_key(source, kind), build, cache_dir, what=str(source))


def keyed_cache_path(key: str, cache_dir: Path) -> Path:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return Path(cache_dir) / f"{digest}.npz"


def cached_arrays_keyed(
    key: str,
    build: Callable[[], dict[str, np.ndarray]],
    cache_dir: Path | None,
    *,
    what: str = "",
) -> dict[str, np.ndarray]:
    """Arrays stored under ``key`` (any string naming the source's identity), else ``build()``'s.

    For sources that are not one file (a folder of images): the caller computes
    the key. ``what`` names the source in the log line when the entry cannot be
    written.
    """
    if cache_dir is None:
        return build()
    target = keyed_cache_path(key, cache_dir)
    hit = _load(target)
    if hit is not None:
        return hit
    arrays = build()
    try:
        _save(target, arrays)
    except OSError as e:
        log.warning("not caching %s in %s: %s", what or key, cache_dir, e)
    return arrays


def _load(target: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(target, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        log.warning("ignoring unreadable cache file %s: %s", target, e)
        return None


def _save(target: Path, arrays: dict[str, np.ndarray]) -> None:
    # Temp name in the same directory, then an atomic rename: never half-written.
    with atomic_path(target) as tmp, open(tmp, "xb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy stubs: a key could be allow_pickle
