"""Control channel of a running lab: a small JSON-over-HTTP API on 127.0.0.1 (random port) guarded by a
bearer token, both written to <state>/control.json (mode 0600) while the lab runs; and `LabControl`, the
client that commands such as `portfleet lab fault` and the test fixture use.

API (every request needs `Authorization: Bearer <token>`; errors are {"error": "..."} with 4xx):
  GET  /status                    {"pid", "hosts", "https", "time_scale", "started"}
  GET  /hosts                     [{"name", "address", "groups", "is_up", "faults", "listening"}, ...]
  GET  /hosts/<name>              the host model snapshot (LabHost.to_json())
  GET  /hosts/<name>/endpoint     {"name", "address", "ports", "listening", "connections", "shells", "commands"}
  POST /hosts/<name>/faults       body {"unreachable": true, "slow_seconds": 3, ...}: set, persist and
                                  enforce at once; answers the host's faults after the change
<name> may also be the host's address.
"""

from __future__ import annotations

import dataclasses
import hmac
import http.client
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from portfleet_lab.http import Connection, Listener, Request, Response

CONTROL_FILE = "control.json"
FAULT_FIELDS = ("unreachable", "wrong_password", "slow_seconds", "reset_mid_command", "http_500")


class LabControlError(RuntimeError):
    """The lab is not running, or it refused a control request."""


def _faults_dict(faults: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(faults):
        return dataclasses.asdict(faults)  # type: ignore[arg-type]
    return {name: getattr(faults, name) for name in FAULT_FIELDS}


def _json(status: int, data: Any) -> Response:
    return Response(status, [("Content-Type", "application/json")], json.dumps(data).encode("utf-8"))


class ControlServer:
    def __init__(self, fleet: Any, lab_server: Any, state_dir: Path, info: dict[str, Any]) -> None:
        self.fleet = fleet
        self.lab = lab_server
        self.state_dir = Path(state_dir)
        self.info = info
        self.token = secrets.token_urlsafe(32)
        self.listener = Listener(self._handle, idle_timeout=30.0)
        self.port = 0

    @property
    def file(self) -> Path:
        return self.state_dir / CONTROL_FILE

    async def start(self) -> None:
        await self.listener.start("127.0.0.1", 0)
        assert self.listener.server is not None
        self.port = self.listener.server.sockets[0].getsockname()[1]
        tmp = self.file.with_name(CONTROL_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"url": f"http://127.0.0.1:{self.port}", "token": self.token, "pid": os.getpid()}, fh)
        os.replace(tmp, self.file)

    def close(self) -> None:
        self.listener.close()
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            if data.get("token") == self.token:  # do not remove a newer lab's file
                self.file.unlink()
        except (OSError, ValueError):
            pass

    def _host(self, name: str) -> Any:
        try:
            return self.fleet.host(name)
        except (KeyError, LookupError, ValueError):
            return None

    async def _handle(self, request: Request, conn: Connection) -> Response:
        auth = request.headers.get("Authorization")
        if not hmac.compare_digest(auth.encode(), f"Bearer {self.token}".encode()):
            return _json(401, {"error": "missing or wrong control token"})
        parts = [unquote(p) for p in request.path.strip("/").split("/") if p]
        try:
            if request.method == "GET" and parts == ["status"]:
                return _json(200, {"pid": os.getpid(), "hosts": len(self.fleet.hosts), **self.info})
            if request.method == "GET" and parts == ["hosts"]:
                return _json(200, [self._summary(h) for h in self.fleet.hosts])
            if len(parts) >= 2 and parts[0] == "hosts":
                host = self._host(parts[1])
                if host is None:
                    return _json(404, {"error": f"no host {parts[1]!r} in this lab"})
                if request.method == "GET" and len(parts) == 2:
                    return _json(200, host.to_json())
                if request.method == "GET" and parts[2:] == ["endpoint"]:
                    return _json(200, self.lab.endpoint_info(host.name))
                if request.method == "POST" and parts[2:] == ["faults"]:
                    return await self._set_faults(host, request.body)
            return _json(404, {"error": f"no such control resource: {request.method} {request.path}"})
        except Exception as exc:  # report, keep the lab running
            return _json(500, {"error": f"{type(exc).__name__}: {exc}"})

    def _summary(self, host: Any) -> dict[str, Any]:
        return {
            "name": host.name,
            "address": host.address,
            "groups": list(host.groups),
            "is_up": host.is_up,
            "faults": _faults_dict(host.faults),
            "listening": self.lab.endpoints[host.name].listening,
        }

    async def _set_faults(self, host: Any, body: bytes) -> Response:
        try:
            changes = json.loads(body or b"{}")
        except ValueError:
            return _json(400, {"error": "body is not JSON"})
        if not isinstance(changes, dict) or not set(changes) <= set(FAULT_FIELDS):
            return _json(400, {"error": f"fault fields are {', '.join(FAULT_FIELDS)}"})
        for name, value in changes.items():
            if name == "slow_seconds":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    return _json(400, {"error": "slow_seconds must be a number >= 0"})
                changes[name] = float(value)
            elif not isinstance(value, bool):
                return _json(400, {"error": f"{name} must be true or false"})
        self.fleet.set_faults(host.name, **changes)
        await self.lab.sync(host.name)
        return _json(200, _faults_dict(host.faults))


class LabControl:
    """Client of a running lab's control channel, found through <state_dir>/control.json."""

    def __init__(self, state_dir: Path | str, timeout: float = 10.0) -> None:
        self.state_dir = Path(state_dir)
        self.timeout = timeout
        path = self.state_dir / CONTROL_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            parts = urlsplit(data["url"])
            self._host, self._port, self._token = parts.hostname or "127.0.0.1", int(parts.port or 0), data["token"]
        except (OSError, ValueError, KeyError) as exc:
            raise LabControlError(f"no running lab found in {self.state_dir} (no readable {CONTROL_FILE})") from exc

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        payload = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Authorization": f"Bearer {self._token}", "Connection": "close"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except OSError as exc:
            raise LabControlError(f"the lab in {self.state_dir} does not answer: {exc}") from exc
        finally:
            conn.close()
        try:
            data = json.loads(raw or b"null")
        except ValueError as exc:
            raise LabControlError(f"bad control answer ({response.status})") from exc
        if response.status >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise LabControlError(message or f"control request failed ({response.status})")
        return data

    def status(self) -> dict[str, Any]:
        return self._request("GET", "/status")

    def hosts(self) -> list[dict[str, Any]]:
        return self._request("GET", "/hosts")

    def host(self, name: str) -> dict[str, Any]:
        """The host model snapshot (LabHost.to_json())."""
        return self._request("GET", f"/hosts/{name}")

    def endpoint(self, name: str) -> dict[str, Any]:
        """Server-side view of the host: listening, open connections, shells, commands."""
        return self._request("GET", f"/hosts/{name}/endpoint")

    def set_faults(self, name: str, **changes: Any) -> dict[str, Any]:
        """Set faults (unreachable, wrong_password, slow_seconds, reset_mid_command, http_500); returns all."""
        return self._request("POST", f"/hosts/{name}/faults", changes)

    def clear_faults(self, name: str) -> dict[str, Any]:
        return self.set_faults(
            name, unreachable=False, wrong_password=False, slow_seconds=0.0, reset_mid_command=False, http_500=False
        )

    def wait_until(self, name: str, predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> dict[str, Any]:
        """Poll the host's summary until predicate(summary) is true; LabControlError after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            summary = next((h for h in self.hosts() if name in (h["name"], h["address"])), None)
            if summary is None:
                raise LabControlError(f"no host {name!r} in this lab")
            if predicate(summary):
                return summary
            if time.monotonic() > deadline:
                raise LabControlError(f"timed out waiting for {name}")
            time.sleep(interval)
