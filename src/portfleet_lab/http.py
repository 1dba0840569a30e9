"""A small asyncio HTTP/1.1 server: keep-alive, Content-Length and chunked bodies, Expect: 100-continue,
per-connection state (NTLM authenticates the connection, not the request), and an abortive close (RST).

One coroutine per connection, no threads, so a single process can hold thousands of listeners.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
# HTTP.sys's default idle connection timeout is 120 s (netsh http show timeout: IdleConnectionTimeout).
IDLE_TIMEOUT = 120.0
SERVER_HEADER = "Microsoft-HTTPAPI/2.0"  # what WinRM's HTTP.sys listener sends

REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Headers:
    """Case-insensitive, order-keeping header list (WWW-Authenticate may repeat)."""

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self.items: list[tuple[str, str]] = list(items or [])

    def get(self, name: str, default: str = "") -> str:
        lname = name.lower()
        for key, value in self.items:
            if key.lower() == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.items if k.lower() == lname]

    def __contains__(self, name: str) -> bool:
        lname = name.lower()
        return any(k.lower() == lname for k, _ in self.items)


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: Headers
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("Connection").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    close: bool = False  # close the connection after sending
    reset: bool = False  # send nothing; abort the TCP connection with RST


class BadRequest(Exception):
    def __init__(self, status: int = 400) -> None:
        super().__init__(status)
        self.status = status


class Connection:
    """One accepted TCP (or TLS) connection and the state bound to it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.peer: tuple[Any, ...] = writer.get_extra_info("peername") or ("", 0)
        self.local: tuple[Any, ...] = writer.get_extra_info("sockname") or ("", 0)
        self.tls = writer.get_extra_info("sslcontext") is not None
        self.state: dict[str, Any] = {}
        self.closed = False

    def peer_certificate(self) -> bytes | None:
        """The client's TLS certificate (DER), if it sent one that verified."""
        ssl_object = self.writer.get_extra_info("ssl_object")
        try:
            return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        except (ValueError, ssl.SSLError):
            return None

    @property
    def peer_ip(self) -> str:
        return str(self.peer[0]) if self.peer else ""

    def reset(self) -> None:
        """Abort with RST: SO_LINGER(on, 0) makes close() discard the send queue and reset the peer."""
        if self.closed:
            return
        self.closed = True
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.writer.transport.abort()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.writer.close()


Handler = Callable[[Request, Connection], Awaitable[Response]]


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        line = await reader.readline()
        if not line.endswith(b"\n"):
            raise asyncio.IncompleteReadError(line, None)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise BadRequest(400) from exc
        if size == 0:
            while True:  # trailers, up to the empty line
                trailer = await reader.readline()
                if trailer in (b"\r\n", b"\n", b""):
                    return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise BadRequest(413)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def read_request(conn: Connection) -> Request | None:
    """Next request on the connection, or None at a clean end of stream."""
    reader = conn.reader
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadRequest(400) from exc
    except asyncio.LimitOverrunError as exc:
        raise BadRequest(431) from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400)
    method, target, version = parts
    items: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400)
        items.append((name, value.strip()))
    headers = Headers(items)
    if headers.get("Expect").lower() == "100-continue":
        conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("Transfer-Encoding").lower():
        body = await _read_chunked(reader)
    elif "Content-Length" in headers:
        try:
            length = int(headers.get("Content-Length"))
        except ValueError as exc:
            raise BadRequest(400) from exc
        if length < 0:
            raise BadRequest(400)
        if length > MAX_BODY_BYTES:
            raise BadRequest(413)
        body = await reader.readexactly(length) if length else b""
    else:
        body = b""
    return Request(method, target, version, headers, body)


def render_response(resp: Response, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, '')}"]
    names = {k.lower() for k, _ in resp.headers}
    lines += [f"{k}: {v}" for k, v in resp.headers]
    if "server" not in names:
        lines.append(f"Server: {SERVER_HEADER}")
    lines.append(f"Content-Length: {len(resp.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + resp.body


async def serve_connection(conn: Connection, handler: Handler, idle_timeout: float = IDLE_TIMEOUT) -> None:
    """Request loop of one connection until the peer closes, an idle timeout, or the handler asks to end."""
    try:
        while not conn.closed:
            try:
                request = await asyncio.wait_for(read_request(conn), idle_timeout)
            except BadRequest as exc:
                conn.writer.write(render_response(Response(exc.status), keep_alive=False))
                break
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
                break
            if request is None:
                break
            response = await handler(request, conn)
            if conn.closed:
                return
            if response.reset:
                conn.reset()
                return
            keep_alive = request.keep_alive and not response.close
            conn.writer.write(render_response(response, keep_alive))
            await conn.writer.drain()
            if not keep_alive:
                break
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        conn.close()


class Listener:
    """A listening socket and the connections it accepted; close() refuses new ones and can abort the rest."""

    def __init__(self, handler: Handler, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self.connections: set[Connection] = set()
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self.server = await asyncio.start_server(
            self._accept, host, port, ssl=ssl_context, limit=MAX_HEADER_BYTES, backlog=128, reuse_address=True
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        self.connections.add(conn)
        try:
            await serve_connection(conn, self.handler, self.idle_timeout)
        except asyncio.CancelledError:
            conn.reset()  # the lab is shutting down; asyncio's stream callback would log the cancellation
        finally:
            self.connections.discard(conn)

    @property
    def listening(self) -> bool:
        return self.server is not None and self.server.is_serving()

    def close(self, abort_connections: bool = True) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if abort_connections:
            for conn in list(self.connections):
                conn.reset()
            self.connections.clear()
