"""What a worker shows while it runs.

On a terminal: a live panel (rich) with the study's finished trials against the
budget, the best value so far, and the running trial's epoch and metric, redrawn as
epochs end, with one line per finished trial scrolling above it. The panel is first
drawn once the budget is known (the worker calls ``study()`` before its first trial), so
no frame says ``0/?``; every piece of user text is a rich ``Text``, never markup. Not on a terminal
(logs, CI): one plain line per finished trial. ``--quiet``: nothing but errors.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """Plain: one line per finished trial (and the worker's own notices)."""

    live_updates = False  # whether study()/epoch() are worth calling (they cost queries)

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def study(self, finished: int, budget: int, best: float | None, metric: str) -> None:
        pass

    def epoch(self, trial: int, epoch: int, max_epochs: int, metric: str, value: float | None) -> None:
        pass

    def close(self) -> None:
        pass


class Quiet(Progress):
    def line(self, text: str) -> None:
        pass


class Live(Progress):
    """A rich Live panel on the terminal; finished-trial lines print above it."""

    live_updates = True

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live as RichLive

        self.console = Console(file=self.stream, force_terminal=True)
        self.state: dict[str, Any] = {"finished": 0, "budget": None, "best": None, "metric": "",
                                      "trial": None, "epoch": None, "max_epochs": None, "value": None,
                                      "since": time.monotonic()}
        # Not started yet: a first frame without the budget would read "0/?".
        self.live = RichLive(console=self.console, refresh_per_second=4, transient=True)
        self.started = False

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        # Text objects: a metric or value with brackets prints as written, never as markup.
        s = self.state
        table = Table.grid(padding=(0, 2))
        best = f"{s['best']:.4g}" if s["best"] is not None else "none yet"
        if s["budget"] is not None:  # unknown only if epoch() came first: then no "0/?" row at all
            table.add_row(Text.assemble(("study", "bold"), f" {s['finished']}/{s['budget']} trials finished"),
                          Text(f"best {s['metric']} {best}"))
        if s["trial"] is not None:
            value = f"{s['metric']}={s['value']:.4g}" if s["value"] is not None else "starting"
            epoch = f"epoch {s['epoch'] + 1}/{s['max_epochs']}" if s["epoch"] is not None else "epoch -"
            table.add_row(Text.assemble((f"trial {s['trial']}", "bold"), f" {epoch}"), Text(value))
        return table

    def _redraw(self) -> None:
        self.live.update(self._render())
        if not self.started:
            self.started = True
            self.live.start(refresh=True)

    def line(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def study(self, finished: int, budget: int, best: float | None, metric: str) -> None:
        self.state.update(finished=finished, budget=budget, best=best, metric=metric)
        self._redraw()

    def epoch(self, trial: int, epoch: int, max_epochs: int, metric: str, value: float | None) -> None:
        self.state.update(trial=trial, epoch=epoch, max_epochs=max_epochs, metric=metric, value=value)
        self._redraw()

    def close(self) -> None:
        if self.started:
            self.live.stop()


def for_terminal(quiet: bool, stream: TextIO | None = None) -> Progress:
    stream = stream or sys.stderr
    if quiet:
        return Quiet(stream)
    return Live(stream) if stream.isatty() else Progress(stream)
