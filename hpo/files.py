"""Writing files: the one way hpo writes any file (JSON, CSV, HTML, PNG, .keras, cache, checkpoints).

Every file is written to a temporary name in its own folder and renamed into place, so a
reader sees the old file or the new one, never half of one; a failure (an exception, Ctrl-C)
leaves neither the target changed nor the temporary file behind. Every file gets the mode a
plain ``open(path, "w")`` gives (0o666 minus the umask, usually 0o644): readable by a
dashboard or worker container running as another user, whichever writer made it.

Two forms: ``write_atomic(path, data)`` for data in hand, ``atomic_path(path)`` for writers
that need a file name of their own (Keras ``model.save``, matplotlib ``savefig``, numpy).
No Keras, no numpy: every command may import this.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "same_file", "write_atomic", "writable_problem"]


def write_atomic(path: str | os.PathLike[str], data: str | bytes | Iterable[bytes]) -> None:
    """Write ``data`` (text as UTF-8, bytes, or an iterable of byte chunks) to ``path`` atomically.

    The parent folder is created. An iterable that raises part-way leaves nothing behind.
    """
    with atomic_path(path) as tmp:
        # O_EXCL: never write through a file (or symlink) someone else put at the temporary name.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, str):
                f.write(data.encode("utf-8"))
            elif isinstance(data, bytes | bytearray | memoryview):
                f.write(data)
            else:
                f.writelines(data)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends.

    The temporary name keeps ``path``'s suffix (Keras and matplotlib choose the format by it)
    and starts with a dot (globs for ``*.keras`` or ``*.npz`` do not see it). The writer
    creates the file itself, so it gets the same mode as ``write_atomic``'s. If the block
    raises, or leaves no file, the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")
    try:
        yield tmp
        _fsync(tmp)  # contents on disk before the rename makes them the file: no empty file after a crash
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def writable_problem(path: str | os.PathLike[str], *, folder: bool = False) -> str | None:
    """Why ``path`` (a file, or with ``folder`` a folder) cannot be written, or None if it can.

    Asked before hours of training, not after: the nearest folder that exists on the way to
    it must take a new file, and that is tried for real (an access check is wrong for root, on
    read-only mounts and under ACLs). Nothing is left behind.
    """
    here = Path(path) if folder else Path(path).parent
    while not here.exists():
        if here.parent == here:
            break
        here = here.parent
    if not here.is_dir():
        return f"{here} is a file, not a folder"
    probe = here / f".hpo-write-probe.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        return f"cannot write in {here}: {e.strerror}"
    probe.unlink(missing_ok=True)
    return None


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file (through links too); False when either does not exist yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)  # raises FileNotFoundError if the writer wrote nothing
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
