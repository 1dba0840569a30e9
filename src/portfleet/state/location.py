"""Where the state lives: `--state PATH|URL` / $PORTFLEET_STATE as a value, with the secret masked.

A path (the default ./.portfleet/state.db) is SQLite; `postgresql://user[:pass]@host[:port]/db`
(also `postgres://`, `postgresql+psycopg://`, and libpq query options such as `?host=/run/sock`)
is PostgreSQL through psycopg 3. The URL's password is a secret: `str()` and `repr()` of a
location mask it, and `secret()` is the one way to read it (for the driver and for scrubbing
error texts).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(".portfleet") / "state.db"
ENV_VAR = "PORTFLEET_STATE"
MASK = "***"

_PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(/+)(.*)\Z", re.DOTALL)


class StateError(Exception):
    """A state store that cannot be used as asked: the message says why (the CLI exits 2)."""


@dataclass(frozen=True)
class StateLocation:
    """A SQLite file (`path`) or a PostgreSQL database (`url`, a sqlalchemy URL)."""

    path: Path | None = None
    url: Any = field(default=None, repr=False)  # sqlalchemy.engine.URL with the password inside

    @property
    def is_postgresql(self) -> bool:
        return self.url is not None

    def secret(self) -> str | None:
        return self.url.password if self.url is not None else None

    def __str__(self) -> str:
        if self.url is None:
            return str(self.path)
        return self.url.render_as_string(hide_password=True).replace("postgresql+psycopg://", "postgresql://", 1)

    def __repr__(self) -> str:
        return f"StateLocation({str(self)!r})"

    def scrub(self, text: str) -> str:
        """`text` with the URL's password (and its URL-quoted form) replaced by ***."""
        password = self.secret()
        if not password:
            return text
        from urllib.parse import quote

        for form in {password, quote(password, safe=""), quote(password)}:
            if form:
                text = text.replace(form, MASK)
        return text


def parse_location(value: str | os.PathLike[str]) -> StateLocation:
    """A `--state` value as typed, or as typer's Path made it (which folds `//` into `/`)."""
    text = os.fspath(value)
    if "\x00" in text:
        raise StateError("--state: the value holds a NUL character")
    match = _SCHEME.match(text)
    # A one-letter "scheme" is a Windows drive (C:/x), never a URL.
    if match is None or len(match.group(1)) == 1:
        return StateLocation(path=Path(text))
    scheme = match.group(1).lower()
    if scheme == "sqlite":
        # sqlite:///relative or sqlite:////absolute, as SQLAlchemy spells a file.
        rest = match.group(3)
        slashes = len(match.group(2))
        return StateLocation(path=Path(("/" if slashes >= 4 else "") + rest))
    if scheme not in _PG_SCHEMES:
        raise StateError(
            f"--state: unsupported scheme {scheme + '://'!r}; give a file path (SQLite) or postgresql://user@host/db"
        )
    # typer turns `--state postgresql://u@h/db` into Path("postgresql:/u@h/db"): put the // back
    # (a Path-typed option cannot carry postgresql:///db, the empty-host form: type it as str).
    slashes = match.group(2) if len(match.group(2)) >= 2 else "//"
    return StateLocation(url=_pg_url("postgresql+psycopg:" + slashes + match.group(3)))


def _pg_url(text: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        # The text may hold the password: say what is wrong without repeating it.
        raise StateError("--state: not a valid postgresql://user[:password]@host[:port]/database URL") from None
    if not url.database:
        raise StateError(f"--state {StateLocation(url=url)}: the URL names no database (postgresql://user@host/DATABASE)")
    return url


def default_location() -> StateLocation:
    env = os.environ.get(ENV_VAR)
    return parse_location(env) if env else StateLocation(path=DEFAULT_PATH)


def default_state_path() -> Path:
    """The SQLite path of the default location (kept for callers from before PostgreSQL)."""
    location = default_location()
    return location.path if location.path is not None else DEFAULT_PATH
