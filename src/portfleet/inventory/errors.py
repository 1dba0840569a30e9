"""Errors raised while reading an inventory or evaluating a host pattern.

Every error names the file and, when it has one, the line, so the CLI can print
``error: inventory/hosts.ini:12: ...`` and exit 2. Messages never quote a secret value.
"""

from __future__ import annotations

from pathlib import Path


class InventoryError(Exception):
    """A bad inventory file (or a bad value in it): ``str()`` is ``path:line: message``."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        super().__init__(str(self))

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def __str__(self) -> str:
        where = self.location
        return f"{where}: {self.message}" if where else self.message


class PatternError(InventoryError):
    """A host pattern (``-l/--limit`` or a play's ``hosts:``) that selects nothing or is malformed."""

    def __init__(self, message: str, pattern: str, path: Path | str | None = None) -> None:
        self.pattern = pattern
        super().__init__(message, path)
