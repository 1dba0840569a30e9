"""Signal handling at the edge: one place installs it, every command uses it.

`interrupting()` (audit, apply, rollback, diagnose): SIGTERM and SIGHUP raise interrupts.Interrupt in
the main thread, exactly where Ctrl-C raises KeyboardInterrupt, so the engine's Ctrl-C path (in-flight
hosts finish, the run is closed as interrupted) serves all three.
`stopping(event)` (reboot run, which waits on an Event rather than blocking in a fan-out): the first
SIGINT/SIGTERM/SIGHUP sets the event; a second signal interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from portfleet.exit_codes import EXIT_FOR_SIGNAL, EXIT_INTERRUPTED
from portfleet.interrupts import Interrupt

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def exit_code_for(signum: int | None) -> int:
    return EXIT_FOR_SIGNAL.get(signum, EXIT_INTERRUPTED) if signum is not None else EXIT_INTERRUPTED


class Seen:
    """The last stop signal that arrived while `interrupting()` was in force (None: none did)."""

    signum: int | None = None


def _raise_interrupt(signum: int, frame: Any) -> None:
    Seen.signum = signum
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupt(signum)


@contextmanager
def _handlers(handler: Callable[[int, Any], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextmanager
def interrupting() -> Iterator[type[Seen]]:
    """SIGTERM/SIGHUP behave as Ctrl-C does (see the module doc) while the block runs."""
    Seen.signum = None
    with _handlers(_raise_interrupt):
        yield Seen


class Stop:
    """What `stopping` hands out: the event, and which signal set it."""

    def __init__(self, event: threading.Event, on_first: Callable[[int], None] | None) -> None:
        self.event = event
        self.signum: int | None = None
        self._on_first = on_first

    def handle(self, signum: int, frame: Any) -> None:
        if self.event.is_set():  # the second signal: stop waiting for bookkeeping
            _raise_interrupt(signum, frame)
        self.signum = Seen.signum = signum
        self.event.set()
        if self._on_first is not None:
            self._on_first(signum)


@contextmanager
def stopping(event: threading.Event, on_first: Callable[[int], None] | None = None) -> Iterator[Stop]:
    stop = Stop(event, on_first)
    with _handlers(stop.handle):
        yield stop
