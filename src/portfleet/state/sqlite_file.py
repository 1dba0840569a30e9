"""The SQLite state file on disk: made 0600 by portfleet, never a file someone else made.

Before SQLite touches a path: a file that exists must be a regular file holding an SQLite
database (or nothing at all); anything else is refused by name and left as it is. A new file is
created here, exclusively and 0600 (it holds host names, commands and their outputs); SQLite then
gives its -wal and -shm files the database file's permissions. A file or directory that cannot be
written (read-only mount, no permission) is said to be so, and can still be opened for reading.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from portfleet.state.location import StateError

SQLITE_HEADER = b"SQLite format 3\x00"
_VIRTUAL_ROOTS = ("/proc", "/sys")


class StateMissing(StateError):
    """No state database at the path yet (a reader has nothing to show)."""


@dataclass(frozen=True)
class SqliteTarget:
    uri: str  # file: URI for sqlite3.connect(uri=True)
    read_only: bool
    read_only_reason: str | None
    created: bool  # made by this call: an empty database


def _virtual(path: Path) -> str | None:
    text = str(path.absolute())
    for root in _VIRTUAL_ROOTS:
        if text == root or text.startswith(root + "/"):
            return f"{path} is under {root}, a virtual filesystem of the kernel: no state file can be kept there"
    return None


def _why(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


def _uri(path: Path, **options: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return "file:" + quote(str(path.absolute())) + (f"?{query}" if query else "")


def _not_writable(path: Path) -> str | None:
    """Why portfleet cannot write the database at `path` (its directory too: -wal, -shm), or None."""
    try:
        flags = os.statvfs(path).f_flag
    except OSError:
        flags = 0
    if flags & os.ST_RDONLY:
        return f"{path} is on a read-only file system"
    if not os.access(path, os.W_OK):
        return f"{path} is not writable by this user"
    if not os.access(path.parent if str(path.parent) else Path("."), os.W_OK | os.X_OK):
        return f"the directory of {path} is not writable by this user (SQLite keeps its -wal and -shm files there)"
    return None


def _check_existing(path: Path) -> bool:
    """True when `path` is an empty regular file; raises unless it is a regular SQLite file."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise StateError(f"cannot use {path} as the state database: {_why(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise StateError(f"{path} is a directory, not a state database: give --state a file path")
    if not stat.S_ISREG(info.st_mode):
        raise StateError(f"{path} is not a regular file (a device, pipe or socket): refusing to use it as the state database")
    virtual = _virtual(path)
    if virtual:
        raise StateError(virtual)
    if info.st_size == 0:
        return True
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StateError(f"cannot read the state database {path}: {_why(exc)}") from None
    if header != SQLITE_HEADER:
        raise StateError(
            f"{path} is not an SQLite database, so not a portfleet state file: refusing to touch it "
            "(move it away, or give --state another path)"
        )
    return False


def _create(path: Path) -> bool:
    """Make an empty 0600 file at `path` (False when another process made it first)."""
    virtual = _virtual(path)
    if virtual:
        raise StateError(virtual)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StateError(f"cannot create the directory {parent} for the state database: {_why(exc)}") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise StateError(f"cannot create the state database {path}: {_why(exc)}") from None
    try:
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
    finally:
        os.close(fd)
    return True


def prepare(path: Path, *, read_only: bool) -> SqliteTarget:
    """Check (or create) the file at `path`; say how SQLite is to open it."""
    virtual = _virtual(path)
    if virtual:
        raise StateError(virtual)
    if not path.exists() and not path.is_symlink():
        if read_only:
            raise StateMissing(f"no state database at {path} yet (no run has been recorded there)")
        if _create(path):
            return SqliteTarget(_uri(path), False, None, created=True)
    _check_existing(path)
    reason = _not_writable(path)
    if reason is not None and not read_only:
        raise StateError(f"{reason}: portfleet must write to its state database to record a run; "
                         "give --state (or PORTFLEET_STATE) a writable path")
    if read_only:
        return SqliteTarget(_uri(path, mode="ro"), True, reason or "opened for reading", created=False)
    return SqliteTarget(_uri(path), False, None, created=False)


def immutable_uri(path: Path) -> str:
    """The last resort on read-only media, where SQLite cannot make the -shm file a WAL reader needs."""
    return _uri(path, mode="ro", immutable="1")


def unflushed_wal(path: Path) -> bool:
    """A -wal file with content beside the database: rows an immutable reader will not see."""
    try:
        return os.path.getsize(str(path) + "-wal") > 0
    except OSError:
        return False
