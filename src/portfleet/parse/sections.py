"""The batched read's output cut back into one text per command.

The read command (render.Renderer.read_command) prints a marker line with `echo` before each
command: ``echo PORTFLEET:BEGIN:<name>``, and ``echo PORTFLEET:END`` last. cmd's echo keeps the
space before a following " & " (so markers end in a space), lines end in CRLF, and a command whose
output lacks a final newline leaves the next marker mid-line: markers are found anywhere in a line.
A missing END marker means the output was cut short; sections seen so far are still returned.
"""

from __future__ import annotations

import re

BEGIN = "PORTFLEET:BEGIN:"
END = "PORTFLEET:END"
NAME = r"[A-Za-z0-9_.\-]+"
END_KEY = "__end__"  # present in split_sections' result iff the END marker was seen

_MARKER = re.compile(rf"{re.escape(BEGIN)}(?P<name>{NAME})[ \t]*|{re.escape(END)}(?![A-Za-z0-9_.:\-])[ \t]*")


def begin_marker(name: str) -> str:
    if not re.fullmatch(NAME, name):
        raise ValueError(f"section name {name!r} must match {NAME}")
    return BEGIN + name


def split_sections(stdout: str | None) -> dict[str, str]:
    """{name: text printed between its marker and the next} (text without the marker line)."""
    text = (stdout or "").replace("\r\n", "\n").replace("\r", "\n")
    sections: dict[str, str] = {}
    current: str | None = None
    start = 0
    newline = -1  # the newline ending the current marker's line; reused while markers share a line
    for m in _MARKER.finditer(text):
        if current is not None:
            sections[current] = _clean(text[start:m.start()])  # "" when both markers share a line
        current = m.group("name")
        if newline < m.end():
            # Searched once per line, not once per marker: a line of many markers stays linear.
            newline = text.find("\n", m.end())
            if newline == -1:
                newline = len(text) - 1  # the text ends on this line: what follows is empty
        start = newline + 1
        if current is None:  # END
            sections[END_KEY] = ""
            break
    else:
        if current is not None:
            sections[current] = _clean(text[start:])
    return sections


def _clean(chunk: str) -> str:
    # Keep inner blank lines (parsers rely on layout) but drop the padding around the section.
    return chunk.strip("\n").rstrip()
