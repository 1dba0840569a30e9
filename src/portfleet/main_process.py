"""Objects whose methods must run in the run's main process, even when a forked worker (--procs,
worker_processes.py) calls them: a process-wide service registers itself here, the workers forward its calls.

The Kerberos credentials of a run (transport/kerberos.py) are one: one kinit per principal per run, into the
run's cache collection, however many worker processes use the ticket. A leaf module: it imports nothing, so the
transport can register without depending on the fan-out.
"""

from __future__ import annotations

from typing import Any

_registered: list[Any] = []


def register(service: Any) -> None:
    """`service`'s public methods are called in the main process from every worker forked after this."""
    if all(service is not s for s in _registered):
        _registered.append(service)


def registered() -> list[Any]:
    return list(_registered)
