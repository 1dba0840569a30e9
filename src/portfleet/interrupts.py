"""Stopping a run from outside: SIGINT, SIGTERM and SIGHUP all mean "stop starting hosts, let those in
flight finish their bookkeeping, close the run as interrupted" (DESIGN "Rules that matter").

Ctrl-C arrives as Python's KeyboardInterrupt; the CLI turns SIGTERM and SIGHUP into `Interrupt`, a
KeyboardInterrupt that knows its signal, so every path that handles Ctrl-C handles them the same way
and the exit code still says which signal it was (130/143/129).
"""

from __future__ import annotations

import signal


class Interrupt(KeyboardInterrupt):
    """A KeyboardInterrupt raised for a signal other than SIGINT."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def signum_of(exc: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: its Interrupt's, else SIGINT (Ctrl-C)."""
    return getattr(exc, "signum", signal.SIGINT)


def signal_name(signum: int) -> str:
    """'Ctrl-C' for SIGINT, else the signal's name (SIGTERM, SIGHUP)."""
    if signum == signal.SIGINT:
        return "Ctrl-C"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
