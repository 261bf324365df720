"""Ctrl-C and SIGTERM, in one place.

The handler never raises: an exception raised from a signal handler lands wherever
Python happens to be, and inside a garbage-collection callback (JAX's, TensorFlow's)
it is printed and swallowed ("Exception ignored in ...") while the trial trains on.
So the handler only records the signal; hpo stops at the next safe point — the next
batch of a fit (``requested()`` in a Keras callback), the end of a trial, a wait for
the database, the end of start-up — where ``check()`` raises ``Interrupted`` (exit 130).
A second signal raises ``KeyboardInterrupt`` at once, for a user who cannot wait.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from hpo.errors import Interrupted

_received: list[int] = []


def _record(signum: int, frame: FrameType | None) -> None:
    if _received:
        raise KeyboardInterrupt(f"{signal.Signals(signum).name} again")
    _received.append(signum)


def install() -> Callable[[], None]:
    """Record SIGINT and SIGTERM from now on; returns the function that restores the old handlers.
    Both explicitly: a worker started with `&` from a script inherits SIGINT as ignored."""
    if signal.getsignal(signal.SIGTERM) is _record:
        return lambda: None  # already recording (the CLI installs before its slow imports): keep what arrived
    _received.clear()
    previous: dict[int, Any] = {sig: signal.signal(sig, _record) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _received.clear()

    return restore


def requested() -> bool:
    return bool(_received)


def received_name() -> str:
    return signal.Signals(_received[0]).name if _received else ""


def check(where: str) -> None:
    """Raise ``Interrupted`` if a signal arrived; ``where`` says what was (not) left behind."""
    if _received:
        raise Interrupted(f"{received_name()} {where}")
