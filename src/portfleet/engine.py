"""Fan-out over hosts: bounded concurrency, rolling batches, failure threshold, progress, Ctrl-C.

One worker thread per in-flight host (a pywinrm Protocol is not thread-safe, so a host never
shares its session), in this process or, with `workers` (worker_processes.py, --procs N), in N forked
processes with their share of the forks each. Ctrl-C stops new hosts from starting and lets in-flight
hosts finish their bookkeeping (their journal rows are already written before any write); a second
Ctrl-C abandons them.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Generic, Protocol, Sequence, TypeVar

from portfleet import gc_phases
from portfleet.interrupts import signal_name, signum_of
from portfleet.shares import parse_share
from portfleet.worker_processes import WorkerProcesses

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_FORKS = 50


class Progress(Protocol):
    """What a fan-out reports as it goes; the CLI draws it (cli/render/progress.py), tests ignore it.
    `message` takes plain text (no markup)."""

    def start(self, total: int, label: str) -> None: ...
    def advance(self, name: str, status: str) -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


class NoProgress:
    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, name: str, status: str) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def stop(self) -> None:
        pass


class Interrupted(Exception):
    """A stop signal during a fan-out (interrupts.py); `.done` holds what finished, `.signum` why."""

    def __init__(self, done: list, signum: int = signal.SIGINT) -> None:
        super().__init__("interrupted")
        self.done = done
        self.signum = signum


def fan_out(
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    forks: int = DEFAULT_FORKS,
    name: Callable[[T], str] = str,
    status: Callable[[R], str] = lambda r: "done",
    progress: Progress | None = None,
    on_result: Callable[[T, R], None] | None = None,
    workers: WorkerProcesses | None = None,
) -> list[tuple[T, R]]:
    """Run `work` on every item with at most `forks` in flight; results in completion order.

    `work` must not raise for per-host failures (it returns an outcome value); an exception that
    escapes is a bug and is re-raised after in-flight items finish. With `workers` (started, holding
    these items, `work` and `on_result`), the items are worked on in its processes: `work` and
    `on_result` run there, and `forks` is the processes' threads together.
    """
    progress = progress or NoProgress()
    gc_phases.started()
    if workers is not None:
        return _fan_out_processes(items, workers, name=name, status=status, progress=progress)
    done: list[tuple[T, R]] = []
    pending = list(items)
    pending.reverse()
    in_flight: dict[Future, T] = {}
    lock = threading.Lock()
    pool = ThreadPoolExecutor(max_workers=max(1, min(forks, len(items) or 1)), thread_name_prefix="portfleet")
    failure: BaseException | None = None

    def submit_more() -> None:
        while pending and len(in_flight) < forks:
            item = pending.pop()
            in_flight[pool.submit(work, item)] = item

    def collect(futures: set[Future]) -> None:
        nonlocal failure
        for fut in futures:
            item = in_flight.pop(fut)
            try:
                result = fut.result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after bookkeeping
                failure = failure or exc
                continue
            with lock:
                done.append((item, result))
            if on_result is not None:
                on_result(item, result)
            progress.advance(name(item), status(result))

    try:
        submit_more()
        while in_flight:
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            collect(set(finished))
            if failure is None:
                submit_more()
    except KeyboardInterrupt as stop:
        signum = signum_of(stop)
        pending.clear()
        progress.message(
            f"Interrupted: letting {len(in_flight)} in-flight host(s) finish their bookkeeping "
            "(Ctrl-C again to abandon them)"
        )
        try:
            while in_flight:
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                collect(set(finished))
        except KeyboardInterrupt:
            pass
        pool.shutdown(wait=False, cancel_futures=True)
        raise Interrupted(done, signum) from None
    pool.shutdown(wait=True)
    if failure is not None:
        raise failure
    return done


def _fan_out_processes(
    items: Sequence[T], workers: WorkerProcesses, *, name: Callable[[T], str], status: Callable[[R], str],
    progress: Progress,
) -> list[tuple[T, R]]:
    """fan_out over forked workers: the same contract. Results are kept by the workers' hub thread as they
    arrive (no signal lands between a result and its keeping); this thread hands out items and draws progress."""
    pending = [workers.index_of(item) for item in items]
    pending.reverse()
    start = len(workers.completed)
    shown = 0

    def submit_more() -> None:
        while pending and not workers.failures and workers.submit(pending[-1]):
            pending.pop()

    def show() -> None:
        nonlocal shown
        fresh = workers.completed_since(start + shown)
        for index, result in fresh:
            progress.advance(name(workers.items[index]), status(result))
        shown += len(fresh)

    def done() -> list[tuple[T, R]]:
        return [(workers.items[i], r) for i, r in workers.completed_since(start)]

    try:
        submit_more()
        while workers.in_flight():
            workers.wait(0.5)
            show()
            submit_more()
    except KeyboardInterrupt as stop:
        signum = signum_of(stop)
        pending.clear()
        progress.message(
            f"Interrupted: letting {workers.in_flight()} in-flight host(s) finish their bookkeeping "
            "(Ctrl-C again to abandon them)"
        )
        try:
            while workers.in_flight():
                workers.wait(0.5)
                show()
        except KeyboardInterrupt:
            workers.close(wait_for_children=False)
        raise Interrupted(done(), signum) from None
    show()
    if workers.failures:
        raise workers.failures[0]
    return done()


# -- rolling batches -------------------------------------------------------------------------------


def batch_size(spec: object, total: int) -> int:
    """Ansible `serial` semantics: a count, or "N%" of the hosts (rounded down, at least 1)."""
    if total <= 0:
        return 1
    if spec is None:
        return total
    return max(1, min(parse_share(spec).resolve(total), total))


def split_batches(items: Sequence[T], spec: object) -> list[list[T]]:
    size = batch_size(spec, len(items))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@dataclass
class RolloutOutcome(Generic[T, R]):
    results: list[tuple[T, R]] = field(default_factory=list)
    skipped: list[T] = field(default_factory=list)
    stopped_reason: str | None = None
    interrupted: bool = False
    interrupted_by: int | None = None  # the signal, when interrupted


def rollout(
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    failed: Callable[[R], bool],
    batch: object = None,
    max_fail_percentage: float | None = None,
    forks: int = DEFAULT_FORKS,
    name: Callable[[T], str] = str,
    status: Callable[[R], str] = lambda r: "done",
    progress: Progress | None = None,
    on_result: Callable[[T, R], None] | None = None,
    workers: WorkerProcesses | None = None,
) -> RolloutOutcome[T, R]:
    """Batches one after another; stop when a batch's failures exceed the threshold.

    As Ansible's max_fail_percentage: the rollout stops when the share of failed hosts in a batch
    is GREATER than the threshold (0 means any failure stops it).
    """
    progress = progress or NoProgress()
    outcome: RolloutOutcome[T, R] = RolloutOutcome()
    batches = split_batches(items, batch)
    progress.start(len(items), "hosts")
    try:
        for index, members in enumerate(batches):
            try:
                results = fan_out(
                    members, work, forks=forks, name=name, status=status, progress=progress, on_result=on_result,
                    workers=workers,
                )
            except Interrupted as stop:
                outcome.results.extend(stop.done)
                finished = {id(item) for item, _ in stop.done}
                outcome.skipped.extend(m for m in members if id(m) not in finished)
                for rest in batches[index + 1 :]:
                    outcome.skipped.extend(rest)
                outcome.interrupted = True
                outcome.interrupted_by = stop.signum
                outcome.stopped_reason = f"interrupted ({signal_name(stop.signum)})"
                return outcome
            outcome.results.extend(results)
            if max_fail_percentage is not None and results:
                bad = sum(1 for _, r in results if failed(r))
                share = 100.0 * bad / len(results)
                if share > max_fail_percentage and index + 1 < len(batches):
                    outcome.stopped_reason = (
                        f"batch {index + 1}/{len(batches)}: {bad} of {len(results)} hosts failed "
                        f"({share:.0f}% > max_fail_percentage {max_fail_percentage:g}%); rollout stopped"
                    )
                    for rest in batches[index + 1 :]:
                        outcome.skipped.extend(rest)
                    return outcome
    finally:
        progress.stop()
    return outcome
