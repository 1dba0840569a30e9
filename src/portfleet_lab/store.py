"""Persistence of a lab fleet: JSON files in a state directory, each written atomically.

Layout of ``state_dir``::

    fleet.json          {"format": 1, "profile", "seed", "first_address", "hosts": [names in order], "replay": {...}}
    credentials.json    {"username", "password"}   (mode 0600: it holds the lab password)
    hosts/<name>.json   one HostState snapshot per host (see model.HostState.to_json)
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

FORMAT = 1


def write_json(path: Path, data: Any, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, then os.replace."""
    text = json.dumps(data, separators=(",", ":"))  # the C encoder; json.dump streams in pure Python
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if mode is not None else 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if mode is not None else 0o644)
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # before any byte of a secret is written
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class StateDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def fleet_file(self) -> Path:
        return self.root / "fleet.json"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    def host_file(self, name: str) -> Path:
        return self.root / "hosts" / f"{name}.json"

    def exists(self) -> bool:
        return self.fleet_file.is_file()

    def load_fleet(self) -> dict:
        data = read_json(self.fleet_file)
        if data.get("format") != FORMAT:
            raise ValueError(f"{self.fleet_file}: unsupported lab state format {data.get('format')!r}")
        return data

    def save_fleet(self, meta: dict) -> None:
        write_json(self.fleet_file, {"format": FORMAT, **meta})

    def load_credentials(self) -> dict:
        return read_json(self.credentials_file)

    def save_credentials(self, username: str, password: str) -> None:
        write_json(self.credentials_file, {"username": username, "password": password}, mode=0o600)

    def load_host(self, name: str) -> dict:
        return read_json(self.host_file(name))

    def save_host(self, name: str, data: dict) -> None:
        write_json(self.host_file(name), data)
