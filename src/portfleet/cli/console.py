"""stdout and stderr for people (rich consoles), and the one way a command fails with a message.

rich is imported when something is first printed through it, not with this module: importing it costs
~16 ms of CPU, and a run whose output is JSON (or CSV) prints nothing through rich unless it has a
note, a warning or an error to give.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from portfleet.exit_codes import EXIT_USAGE

if TYPE_CHECKING:
    from rich.console import Console

PIPE_WIDTH = 200  # not a terminal and no usable COLUMNS: wide enough that tables are not folded


def _width(stream: Any) -> int | None:
    """A terminal keeps its own width; a pipe, a file or CI gets $COLUMNS when it is a sane number."""
    if stream.isatty():
        return None
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isascii() and text.isdigit() and 20 <= int(text) <= 10_000 else PIPE_WIDTH


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, width=_width(sys.stderr if stderr else sys.stdout))


class LazyConsole:
    """Stands for the rich Console of stdout (or stderr), made on first use: every attribute is the Console's."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = _console(self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


out: Console = LazyConsole()  # type: ignore[assignment]
err: Console = LazyConsole(stderr=True)  # type: ignore[assignment]


def wide_console(renderable: Any) -> Console:
    """stdout as wide as `renderable` needs (--wide): a terminal then wraps the lines, nothing is cut."""
    needed = out.measure(renderable, options=out.options.update(width=10_000)).maximum
    if needed <= out.width:
        return out
    from rich.console import Console

    return Console(highlight=False, width=needed, force_terminal=out.is_terminal, color_system=out.color_system)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    # The message is plain text (it quotes paths, URLs, patterns such as '[web]', pip extras like
    # 'portfleet[postgresql]'): escaped, so rich never takes a part of it for markup.
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)
