"""A run's sign of life: a thread renewing its heartbeat and its leases while the run works.

Renewed every third of the lease time, so a lease outlives two missed renewals (a busy state
database, a slow disk) before another controller may take it over. A failed renewal is retried
at the next beat; the journal's lease check (Store.journal_intent) is what stops a run that lost
its lease from writing.
"""

from __future__ import annotations

import threading
from types import TracebackType

from portfleet.state.location import StateError
from portfleet.state.store import Store


class Heartbeat:
    """`with Heartbeat(store, run_id):` beats once at once, then in the background until the block ends."""

    def __init__(self, store: Store, run_id: str, interval: float | None = None) -> None:
        self.store, self.run_id = store, run_id
        self.interval = interval if interval is not None else max(0.2, store.lease_seconds / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"portfleet-heartbeat-{run_id}", daemon=True)
        self.failures = 0

    def _beat(self) -> None:
        try:
            self.store.heartbeat(self.run_id)
        except StateError:
            self.failures += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

    def __enter__(self) -> "Heartbeat":
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)
