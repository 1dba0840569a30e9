"""A progress bar on stderr while hosts are worked on, for terminals only (JSON on stdout stays clean).

rich is imported when a bar is drawn, not with this module: a run whose stderr is not a terminal (cron,
CI, a pipe) never draws one, and rich.progress (with rich.live and rich.table) cost it ~7 ms of CPU at
start-up.
"""

from __future__ import annotations

import sys

from portfleet.engine import NoProgress, Progress


class RichProgress:
    """engine.Progress drawn with rich; messages (plain text) print above the bar."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichBar

        self._console = Console(stderr=True)
        self._bar = RichBar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=self._console,
            transient=True,
        )
        self._task: int | None = None

    def start(self, total: int, label: str) -> None:
        self._bar.start()
        self._task = self._bar.add_task(label, total=total, last="")

    def advance(self, name: str, status: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=1, last=f"{name}: {status}")

    def message(self, text: str) -> None:
        from rich.text import Text

        style = "yellow" if text.startswith("Interrupted") else ""
        self._console.print(Text(text, style=style))

    def stop(self) -> None:
        self._bar.stop()


def progress_for_terminal(enabled: bool = True) -> Progress:
    return RichProgress() if enabled and sys.stderr.isatty() else NoProgress()
