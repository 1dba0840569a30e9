"""stdout and stderr for people (rich consoles), and the one way a command fails with a message."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from portfleet.exit_codes import EXIT_USAGE

PIPE_WIDTH = 200  # not a terminal and no usable COLUMNS: wide enough that tables are not folded


def _width(stream: Any) -> int | None:
    """A terminal keeps its own width; a pipe, a file or CI gets $COLUMNS when it is a sane number."""
    if stream.isatty():
        return None
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isascii() and text.isdigit() and 20 <= int(text) <= 10_000 else PIPE_WIDTH


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, width=_width(sys.stderr if stderr else sys.stdout))


out = _console()
err = _console(stderr=True)


def wide_console(renderable: Any) -> Console:
    """stdout as wide as `renderable` needs (--wide): a terminal then wraps the lines, nothing is cut."""
    needed = out.measure(renderable, options=out.options.update(width=10_000)).maximum
    if needed <= out.width:
        return out
    return Console(highlight=False, width=needed, force_terminal=out.is_terminal, color_system=out.color_system)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    # The message is plain text (it quotes paths, URLs, patterns such as '[web]', pip extras like
    # 'portfleet[postgresql]'): escaped, so rich never takes a part of it for markup.
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)
