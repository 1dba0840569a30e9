"""An HTTP answer read against one deadline for the whole of it, not a timeout per socket read.

A socket timeout bounds each recv; a host that trickles its answer (a byte every few seconds: a broken proxy, a
hostile host) would hold the controller's thread for as long as it keeps trickling, far past the command's own
timeout (portfleet_command_timeout) and the operation timeout pywinrm's read timeout stands for. Here every recv
of the answer waits at most for what is left of the exchange's deadline, so an answer that has not fully arrived
when the deadline passes raises socket.timeout, however it dribbles in.

`deadline_response(deadline)` is an http.client response class (HTTPConnection.response_class) whose body and
headers are read through such a reader.
"""

from __future__ import annotations

import functools
import http.client
import io
import socket
import time
from typing import Any, Callable


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes, each recv bounded by the time left until `deadline` (time.monotonic())."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("the answer did not arrive before its deadline")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp.close()  # the per-recv-timeout file http.client made; it holds no bytes yet
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))


def deadline_response(deadline: float) -> Callable[..., http.client.HTTPResponse]:
    """A response class for one exchange that must be answered whole by `deadline` (time.monotonic())."""
    return functools.partial(_DeadlineResponse, deadline=deadline)
