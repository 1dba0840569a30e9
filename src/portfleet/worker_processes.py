"""Forked worker processes for the fan-out (engine.py): `--procs N` processes, each with its share of `--forks`
threads, so the controller uses every core (one Python process runs one core's worth of bytecode: the GIL).

How, and why the run stays exactly as safe as with threads:
- fork, not spawn: a child starts with the parent's imports, inputs and closures (no second start-up, no pickling
  of the work). The children are forked once per run, before any other thread exists (heartbeat, progress bar,
  the hub below): fork() copies a lock another thread holds, held for ever. `start()` refuses (the fan-out then
  uses threads only) when another thread is alive. The parent flushes stdio first (no buffered line printed twice).
- One writer: a child never opens the state database. SQLite says an open connection, and with it the library's
  per-process lock state, must not cross a fork (sqlite.org/howtocorrupt.html 2.6); PostgreSQL's pooled sockets
  neither. The objects given as `shared` (the run's Store) are served by the parent: in a child, each of their
  public methods is replaced by a call sent to the parent, run there on the real object and answered with its
  value or its exception. A journal intent is therefore committed (in the parent) before the child's write is
  sent, and its outcome after, in the same order as in one process; leases, heartbeat and the run row stay the
  parent's (its pid is the run's controller, as the lease rules expect). Process-wide services registered in
  main_process.py (the run's Kerberos credentials: one kinit per principal per run) are served the same way.
- Sessions (pywinrm, SSH) are opened by the work itself, in the child: none crosses a fork.
- Signals: the children ignore SIGINT, SIGTERM and SIGHUP (a terminal's Ctrl-C reaches the whole process group);
  the parent alone decides, as with threads: it stops handing out hosts and keeps serving the children's
  bookkeeping until their in-flight hosts are done, then tells them to exit. If the parent dies, a child's next
  bookkeeping call fails (no intent committed means no write sent) and it exits.
- A child that dies (killed, out of memory): the hosts it held are given to `on_lost` in the parent, which records
  them; no host is dropped or reported twice.
"""

from __future__ import annotations

import gc
import importlib
import itertools
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Sequence

from portfleet import gc_phases, main_process

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MAX_TEXT = 500


def default_procs() -> int:
    """The cores this process may run on (a container's CPU set, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def shares(forks: int, procs: int) -> list[int]:
    """--forks split over the processes: each gets forks // procs threads, the first ones one more."""
    base, extra = divmod(forks, procs)
    return [base + (1 if i < extra else 0) for i in range(procs)]


def _pack_error(exc: BaseException) -> tuple[str, str, tuple, dict]:
    """An exception as (module, class, args, attributes): rebuilt without calling __init__, so classes whose
    constructor takes other arguments than their args (state.LeaseLost) come back intact."""
    cls = type(exc)
    try:
        state = pickle.loads(pickle.dumps(dict(vars(exc))))
    except Exception:  # noqa: BLE001 - an attribute that cannot travel is left behind
        state = {}
    try:
        args = pickle.loads(pickle.dumps(exc.args))
    except Exception:  # noqa: BLE001
        args = (str(exc)[:MAX_TEXT],)
    return cls.__module__, cls.__qualname__, args, state


def _unpack_error(packed: tuple[str, str, tuple, dict]) -> BaseException:
    module, name, args, state = packed
    try:
        cls: Any = importlib.import_module(module)
        for part in name.split("."):
            cls = getattr(cls, part)
        exc = cls.__new__(cls)
        exc.args = args
        exc.__dict__.update(state)
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{name}: {args[0] if args else ''}"[:MAX_TEXT])


def _exit_code(pid: int, patience: float = 2.0) -> int | None:
    """The exit code of a child whose pipe just closed (it is ending); None if it lives on or was reaped."""
    deadline = time.monotonic() + patience
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)


def _send_locked(conn: Connection, lock: threading.Lock, message: tuple) -> bool:
    """One message on a pipe that several threads write to; False when the other end is gone."""
    with lock:
        try:
            conn.send(message)
            return True
        except (OSError, ValueError):
            return False


class _Child:
    """The parent's handle on one worker process."""

    def __init__(self, number: int, pid: int, conn: Connection, threads: int) -> None:
        self.number, self.pid, self.conn, self.threads = number, pid, conn, threads
        self.in_flight: set[int] = set()
        self.alive = True
        self.send_lock = threading.Lock()

    def send(self, message: tuple) -> bool:
        return _send_locked(self.conn, self.send_lock, message)


class WorkerProcesses:
    """`procs` forked children working on `items` (indices travel; the items were copied by fork)."""

    def __init__(self, items: Sequence[Any], work: Callable[[Any], Any], *, procs: int, forks: int,
                 on_result: Callable[[Any, Any], None] | None = None, shared: Sequence[Any] = (),
                 on_lost: Callable[[Any, str], Any] | None = None) -> None:
        self.items, self.work, self.on_result, self.on_lost = items, work, on_result, on_lost
        # The run's own shared objects, and the process-wide services that must run here (main_process.py).
        self.shared = list(shared) + [s for s in main_process.registered() if all(s is not o for o in shared)]
        self.procs = max(1, min(procs, forks, len(items)))
        self.forks = forks
        self.children: list[_Child] = []
        self.events: queue.Queue[tuple] = queue.Queue()
        self.refused: str | None = None
        self._hub: threading.Thread | None = None
        self._closing = threading.Event()
        self._abandoned = False
        self._lock = threading.Lock()  # in_flight sets and results: main thread and hub
        self.results: dict[int, Any] = {}
        self.completed: list[int] = []  # indices in completion order
        self.failures: list[BaseException] = []
        self._index = {id(item): i for i, item in enumerate(items)}

    def index_of(self, item: Any) -> int:
        return self._index[id(item)]

    # -- parent ------------------------------------------------------------------------------------
    def start(self) -> bool:
        """Fork the children; False (and `refused` says why) when it would not be safe or of use."""
        if self.procs < 2:
            self.refused = "one process is enough"
            return False
        if threading.active_count() > 1:
            self.refused = f"{threading.active_count() - 1} other thread(s) alive: fork() would copy their locks"
            return False
        sys.stdout.flush()
        sys.stderr.flush()
        # Objects made so far are left out of the children's garbage collections: a collection would write to
        # every inherited object and copy each page (copy-on-write) for nothing (gc.freeze's documented use).
        gc.freeze()
        ends: list[Connection] = []
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # no handler runs half-way into a fork
        try:
            for number, threads in enumerate(shares(self.forks, self.procs)):
                parent_end, child_end = Pipe(duplex=True)
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child's coverage is not collected
                    parent_end.close()
                    for other in ends:
                        other.close()
                    self._child_main(child_end, threads, old_mask)
                child_end.close()
                ends.append(parent_end)
                self.children.append(_Child(number, pid, parent_end, threads))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            gc.unfreeze()  # in this process only: the children keep theirs frozen
        self._hub = threading.Thread(target=self._serve, name="portfleet-worker-hub", daemon=True)
        self._hub.start()
        return True

    def submit(self, index: int) -> bool:
        """Hand item `index` to the least busy live child with a free thread; False when none has one."""
        with self._lock:
            free = [c for c in self.children if c.alive and len(c.in_flight) < c.threads]
            if not free:
                return False
            child = min(free, key=lambda c: len(c.in_flight) / c.threads)
            child.in_flight.add(index)
        if child.send(("run", index)):
            return True
        self._lost(child, "its pipe closed")  # hands `index` on as lost: it is reported, not retried
        return True

    def in_flight(self) -> int:
        with self._lock:
            return sum(len(c.in_flight) for c in self.children)

    def wait(self, timeout: float) -> None:
        """Until something completes (or `timeout`): a wake-up only; what completed is in `completed`."""
        try:
            self.events.get(timeout=timeout)
        except queue.Empty:
            pass

    def completed_since(self, start: int) -> list[tuple[int, Any]]:
        """(index, result) of the items completed after the first `start`, in completion order."""
        with self._lock:
            return [(i, self.results[i]) for i in self.completed[start:]]

    def _complete(self, index: int, result: Any) -> None:
        """Called on the hub thread, which no signal interrupts: a result is kept before anyone is told."""
        with self._lock:
            for child in self.children:
                child.in_flight.discard(index)
            if index not in self.results:
                self.results[index] = result
                self.completed.append(index)
        self.events.put(("done", index))

    def _fail(self, index: int, error: BaseException) -> None:
        with self._lock:
            for child in self.children:
                child.in_flight.discard(index)
            self.failures.append(error)
        self.events.put(("failed", index))

    def _serve(self) -> None:
        """The hub (a parent thread, so signals never interrupt a write half-way): answers the children's calls
        on the shared objects, and queues their results for the fan-out."""
        by_conn = {c.conn: c for c in self.children}
        while not self._closing.is_set():
            live = [c.conn for c in self.children if c.alive]
            if not live:
                return
            for conn in wait(live, timeout=0.5):
                child = by_conn[conn]  # type: ignore[index]
                try:
                    message = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError, pickle.UnpicklingError):
                    self._lost(child, "it exited")
                    continue
                self._handle(child, message)

    def _handle(self, child: _Child, message: tuple) -> None:
        kind = message[0]
        if kind == "call":
            _, call_id, number, method, args, kwargs = message
            try:
                value = getattr(self.shared[number], method)(*args, **kwargs)
                reply: tuple = ("reply", call_id, True, value)
            except Exception as exc:  # noqa: BLE001 - the child raises it where the call was made
                reply = ("reply", call_id, False, _pack_error(exc))
            child.send(reply)
        elif kind == "done":
            self._complete(message[1], message[2])
        elif kind == "failed":
            self._fail(message[1], _unpack_error(message[2]))

    def _lost(self, child: _Child, why: str) -> None:
        with self._lock:
            if not child.alive:
                return
            child.alive = False
            held = sorted(child.in_flight)
        code = _exit_code(child.pid)
        reason = f"worker process {child.pid} ended while working on this host ({why}"
        reason += f", exit {code})" if code is not None else ")"
        for index in held:
            if self.on_lost is None:
                self._fail(index, RuntimeError(reason))
                continue
            try:
                self._complete(index, self.on_lost(self.items[index], reason))
            except Exception as exc:  # noqa: BLE001 - the fan-out raises it after bookkeeping
                self._fail(index, exc)

    def close(self, wait_for_children: bool = True) -> None:
        """Tell every child to exit once its in-flight items are done, and reap them. Without waiting (a second
        Ctrl-C abandons the hosts in flight) the hub goes on answering their bookkeeping while this process
        lives; when it exits, their next call fails and they end."""
        if self._abandoned:
            return
        for child in self.children:
            child.send(("stop",))
        if not wait_for_children:
            self._abandoned = True
            return
        for child in self.children:
            try:
                os.waitpid(child.pid, 0)
            except ChildProcessError:
                pass
        self._closing.set()
        if self._hub is not None:
            self._hub.join(timeout=5)
        for child in self.children:
            child.conn.close()

    # -- child -------------------------------------------------------------------------------------
    def _child_main(self, conn: Connection, threads: int, mask: Any) -> None:  # pragma: no cover
        code = 0
        try:
            for s in STOP_SIGNALS:
                signal.signal(s, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            gc_phases.started()  # start-up's objects are frozen already (start()); the run collects as usual
            _ChildLoop(self, conn, threads).run()
        except BaseException:  # noqa: BLE001 - a child never returns into the parent's code
            traceback.print_exc(file=sys.stderr)
            code = 70
        finally:
            sys.stderr.flush()
            os._exit(code)


class _ChildLoop:  # pragma: no cover - runs in the forked children
    def __init__(self, owner: WorkerProcesses, conn: Connection, threads: int) -> None:
        self.owner, self.conn = owner, conn
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="portfleet")
        self.send_lock = threading.Lock()
        self.calls: dict[int, list[Any]] = {}  # call id -> [event, ok, value]
        self.calls_lock = threading.Lock()
        self.ids = itertools.count(1)
        self.parent_gone = False
        self.active = 0  # items taken and not yet answered
        self.active_lock = threading.Lock()
        for number, obj in enumerate(owner.shared):
            self._forward(number, obj)

    def _forward(self, number: int, obj: Any) -> None:
        """Every public method of `obj` becomes a call answered by the parent (see the module doc)."""
        for name in dir(type(obj)):
            if name.startswith("_") or not callable(getattr(type(obj), name, None)):
                continue
            if isinstance(getattr(type(obj), name), property):
                continue
            setattr(obj, name, self._remote(number, name))

    def _remote(self, number: int, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if method == "close":
                return None  # the parent's object is the parent's to close
            call_id = next(self.ids)
            slot: list[Any] = [threading.Event(), False, None]
            with self.calls_lock:
                self.calls[call_id] = slot
            if self.parent_gone or not self._send(("call", call_id, number, method, args, kwargs)):
                raise RuntimeError(f"the run's main process is gone: {method} was not recorded")
            slot[0].wait()
            if slot[1]:
                return slot[2]
            raise _unpack_error(slot[2])

        return call

    def _send(self, message: tuple) -> bool:
        return _send_locked(self.conn, self.send_lock, message)

    def _one(self, index: int) -> None:
        item = self.owner.items[index]
        try:
            result = self.owner.work(item)
            if self.owner.on_result is not None:
                self.owner.on_result(item, result)
            message: tuple = ("done", index, result)
        except BaseException as exc:  # noqa: BLE001 - the parent re-raises it after bookkeeping
            message = ("failed", index, _pack_error(exc))
        try:
            pickle.dumps(message)
        except Exception as exc:  # noqa: BLE001 - a result that cannot travel is a bug: say which
            message = ("failed", index, _pack_error(RuntimeError(f"result not transferable: {exc}"[:MAX_TEXT])))
        self._send(message)
        with self.active_lock:
            self.active -= 1

    def _fail_calls(self) -> None:
        self.parent_gone = True
        with self.calls_lock:
            waiting = list(self.calls.values())
            self.calls.clear()
        for slot in waiting:
            slot[1], slot[2] = False, _pack_error(RuntimeError("the run's main process is gone"))
            slot[0].set()

    def run(self) -> None:
        """Take items and replies from the parent; after "stop", finish the items in flight (their bookkeeping
        still needs the parent's replies), then return."""
        stopping = False
        try:
            while not (stopping and self._idle()):
                try:
                    if not self.conn.poll(0.1):
                        continue
                    message = self.conn.recv()
                except (EOFError, OSError):
                    self._fail_calls()
                    break
                if message[0] == "run":
                    with self.active_lock:
                        self.active += 1
                    self.pool.submit(self._one, message[1])
                elif message[0] == "reply":
                    _, call_id, ok, value = message
                    with self.calls_lock:
                        slot = self.calls.pop(call_id, None)
                    if slot is not None:
                        slot[1], slot[2] = ok, value
                        slot[0].set()
                elif message[0] == "stop":
                    stopping = True
        finally:
            self.pool.shutdown(wait=True)

    def _idle(self) -> bool:
        with self.active_lock:
            return self.active == 0
