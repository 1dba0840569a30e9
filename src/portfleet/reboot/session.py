"""The application service behind `portfleet reboot plan|run|schedule`: requests in, values out.

A command's flags arrive as a RunRequest; the session merges them with what a resumed run stored and
with the plays' `reboot:` policy, reads the hosts, plans, and records the run in the state store. It
never prompts and never prints: each step returns what it would do (a PlanResult, a FreshRun, a
ResumedRun, a Schedule), the caller decides whether to go on (the CLI asks at a terminal), then
calls the next step. Bad input is a RequestError (the CLI exits 2 with its text).

    fresh:   start_run(request)            -> FreshRun    (hosts read, plan made, nothing written)
    resume:  choose_run(...) -> resume_run -> ResumedRun  (rows left, nothing written)
    then:    record(run) -> run id;  drive(run, stop=Event) -> RunResult (the run closed in the state)

The stop Event is the caller's: whoever sets it (a signal handler, a test) stops new shutdowns;
hosts in flight record where they are, and a later resume_run settles them by boot time.

Sliced jobs (`--shard K/N --job NAME`): a request's shard narrows the scope after the plays and
--limit (an empty shard is EmptyShard, which the caller turns into exit 0), and the run is
recorded with the store's job and shard. The automatic resume picks the last unfinished run of the
same job and shard only, so a shard restarted by its scheduler (a Kubernetes pod on another node)
continues its own run; a run that another controller still drives (its heartbeat fresh, on any
machine) is not taken over.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from portfleet.engine import DEFAULT_FORKS, NoProgress, Progress
from portfleet.exit_codes import EXIT_DRIFT, EXIT_FAILED, EXIT_OK
from portfleet.reboot.executor import RebootExecutor, RunOptions, RunOutcome, Target
from portfleet.reboot.maintenance import WindowError
from portfleet.reboot.needs import HostNeed
from portfleet.reboot.planner import RebootPlan
from portfleet.reboot.policy import PolicyInputs
from portfleet.reboot.prepare import Prepared, groups_for, load_windows, make_plan, prepare, shutdown_commands
from portfleet.reboot.scope import RequestError, Scope, load_scope, required
from portfleet.reboot.tasks import ScheduleItem, create_tasks, plan_tasks
from portfleet.render import Renderer
from portfleet.shards import Shard
from portfleet.shares import Share
from portfleet.state import REBOOT_FINAL, REBOOT_IN_FLIGHT, Heartbeat, RebootHostRow, RebootStore, Run, StateError
from portfleet.transport.base import Session

__all__ = [
    "FreshRun", "PlanResult", "RequestError", "Resumable", "ResumedRun", "RunRequest", "RunResult", "Schedule",
    "Wiring", "choose_run", "create_schedule", "drive", "merge_options", "plan_run", "plan_schedule", "record",
    "resume_run", "start_run",
]

RUN_DELAY = 60  # shutdown /t of `reboot run`: a minute's warning for logged-on users
SCHEDULE_DELAY = 300  # of `reboot schedule`: nobody watches a task fire, so warn longer
TIMEOUT_DOWN = 300.0
TIMEOUT_UP = 900.0


@dataclass(frozen=True)
class RunRequest:
    """The flags of `reboot plan|run|schedule`, parsed and typed; None means "not given"."""

    inventory: Path | None = None
    playbook: Path | None = None
    limit: str | None = None
    all_hosts: bool = False  # reboot every host of the scope, pending or not (as does naming them in --limit)
    max_parallel: int | None = None
    batch: Share | None = None
    max_unavailable: Share | None = None
    delay: int | None = None
    timeout_down: float | None = None
    timeout_up: float | None = None
    poll_max: float | None = None
    max_fail: float | None = None  # percent of a batch
    ignore_windows: bool = False  # `run --now`, `plan --ignore-windows`
    wait: bool = True  # wait for a closed window to open
    forks: int = DEFAULT_FORKS
    vault: Any = None  # the run's vault passwords (inventory.vault_secrets keyring); None: none given
    shard: Shard | None = None  # --shard K/N: this controller's slice of the scope


@dataclass
class Wiring:
    """How the session reaches hosts and where it records; the caller's choice (the CLI's, a test's)."""

    store: RebootStore
    renderer: Renderer
    open_session: Callable[[Any], Session]
    open_poll_session: Callable[[Any], Session] | None = None  # quick connects while a host reboots
    progress: Callable[[], Progress] = NoProgress  # a new one per fan-out (reading hosts, creating tasks)


def merge_options(request: RunRequest, *, policy: PolicyInputs | None = None, stored: dict[str, Any] | None = None,
                  default_delay: int = RUN_DELAY) -> RunOptions:
    """Flags win; then what a resumed run stored; then the plays' policy (fresh) and the defaults."""
    base = dict(stored or {})
    values: dict[str, Any] = {
        "delay": request.delay if request.delay is not None else base.get("delay", default_delay),
        "timeout_down": request.timeout_down if request.timeout_down is not None else base.get("timeout_down",
                                                                                                  TIMEOUT_DOWN),
        "timeout_up": request.timeout_up if request.timeout_up is not None else base.get("timeout_up", TIMEOUT_UP),
        "max_fail_percentage": request.max_fail if request.max_fail is not None else base.get("max_fail_percentage"),
        "ignore_windows": request.ignore_windows or base.get("ignore_windows", False),
        # A resumed run that was told --no-wait keeps not waiting unless asked again.
        "wait": request.wait if stored is None else (request.wait and base.get("wait", True)),
    }
    if request.poll_max is not None:
        values["poll_max"] = request.poll_max
        values["poll_initial"] = min(0.5, request.poll_max)
    elif "poll_max" in base:
        values["poll_max"] = base["poll_max"]
        values["poll_initial"] = base.get("poll_initial", 0.5)
    if policy is not None:
        values.update(max_parallel=policy.max_parallel, batch=policy.batch, max_unavailable=dict(policy.max_unavailable))
    else:
        for key in ("max_parallel", "batch", "max_unavailable"):
            if key in base:
                values[key] = base[key]
    return RunOptions(**values)


# -- plan -------------------------------------------------------------------------------------------


@dataclass
class PlanResult:
    """Who needs a reboot, when, and by which command; nothing was changed anywhere."""

    prepared: Prepared
    plan: RebootPlan
    options: RunOptions
    commands: dict[str, str]  # host -> the exact shutdown line a run sends
    request: RunRequest

    @property
    def inventory(self) -> str:
        return str(self.request.inventory)

    @property
    def playbook(self) -> str:
        return str(self.request.playbook)

    @property
    def unread(self) -> list[HostNeed]:
        return [n for n in self.prepared.needs if n.failed]

    def exit_code(self) -> int:
        """4 a host could not be read, 3 reboots planned (or no window for some), 0 nothing to reboot."""
        if self.unread:
            return EXIT_FAILED
        if self.plan.batches or self.plan.unschedulable:
            return EXIT_DRIFT
        return EXIT_OK


def _windows(scope: Scope) -> Any:
    try:
        return load_windows(scope.inventory, scope.playbook, scope.plans)
    except WindowError as exc:
        raise RequestError(str(exc)) from None


def plan_run(request: RunRequest, wiring: Wiring, at: datetime | None = None, *,
             default_delay: int = RUN_DELAY) -> PlanResult:
    """Read the hosts of the request and plan their reboots from `at` (default: now)."""
    inventory = required(request.inventory, "-i/--inventory", "the inventory")
    playbook = required(request.playbook, "-p/--playbook", "the playbook whose plays give windows and settings")
    scope = load_scope(inventory, playbook, request.limit, request.vault)
    if request.shard is not None:
        scope.plans = request.shard.take(scope.plans, lambda p: p.name)  # EmptyShard: nothing to do
    windows = _windows(scope)
    forced = {p.name for p in scope.plans} if (request.all_hosts or request.limit) else set()
    try:
        prepared = prepare(
            scope.inventory, scope.playbook, scope.plans, open_session=wiring.open_session, renderer=wiring.renderer,
            store=wiring.store, forced=forced, forks=request.forks, max_parallel=request.max_parallel,
            batch=request.batch, max_unavailable=request.max_unavailable, progress=wiring.progress(), windows=windows,
        )
    except ValueError as exc:  # a policy value the planner refuses
        raise RequestError(str(exc)) from None
    prepared.warnings[:0] = scope.warnings
    options = merge_options(request, policy=prepared.policy, default_delay=default_delay)
    plan = make_plan(list(prepared.targets.values()), at or datetime.now(timezone.utc), options)
    commands = shutdown_commands(prepared, wiring.renderer, options.delay)
    return PlanResult(prepared, plan, options, commands, request)


# -- run: fresh or resumed -----------------------------------------------------------------------------


@dataclass
class FreshRun:
    """A new reboot run as it would go (start_run); record() writes it to the state."""

    planned: PlanResult
    run_id: str | None = None  # set by record()

    resumed = False

    @property
    def request(self) -> RunRequest:
        return self.planned.request

    @property
    def targets(self) -> dict[str, Target]:
        return self.planned.prepared.targets

    @property
    def options(self) -> RunOptions:
        return self.planned.options

    @property
    def order(self) -> list[str]:
        """The hosts of the run in plan order, those without a window last."""
        plan = self.planned.plan
        return list(plan.hosts) + sorted(u.name for u in plan.unschedulable)

    @property
    def unreadable(self) -> list[str]:
        return [f"{n.name} could not be read ({n.status}: {n.detail}): not rebooted" for n in self.planned.unread]


@dataclass
class Resumable:
    """The run to resume; `complete`: --resume named a run that has nothing left."""

    run: Run
    complete: bool = False


@dataclass
class ResumedRun:
    """An earlier run picked up again (resume_run); record() claims it for this process."""

    run: Run
    request: RunRequest
    targets: dict[str, Target]
    options: RunOptions
    rows: list[RebootHostRow]
    inventory: str
    playbook: str

    resumed = True
    unreadable: list[str] = field(default_factory=list)  # a resumed run reads hosts only as it goes

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def left(self) -> list[RebootHostRow]:
        return [r for r in self.rows if r.state not in REBOOT_FINAL]

    @property
    def in_flight(self) -> list[str]:
        """Hosts whose shutdown may already have gone out: checked by boot time, never sent again."""
        return [r.host for r in self.left if r.state in REBOOT_IN_FLIGHT]

    def check_exit_code(self) -> int:
        """--check: 3 hosts are left to reboot, 0 nothing is."""
        return EXIT_DRIFT if self.left else EXIT_OK


def start_run(request: RunRequest, wiring: Wiring) -> FreshRun:
    """A fresh run: the hosts read and the plan made from now; nothing written yet."""
    return FreshRun(plan_run(request, wiring))


def choose_run(store: RebootStore, resume: str | None, fresh: bool, shard: Shard | None = None) -> Resumable | None:
    """The run `reboot run` continues: the one --resume names, else the last unfinished one of this
    job and shard (the store's labels; none with --fresh)."""
    wanted = str(shard) if shard is not None else None
    if resume:
        try:
            run = store.get_run(resume)
        except StateError as exc:
            raise RequestError(str(exc)) from None
        if run.kind != "reboot" or store.reboot_run_info(run.id) is None:
            raise RequestError(f"run {run.id} is a {run.kind} run, not a reboot run")
        if shard is not None and run.shard != wanted:
            raise RequestError(f"run {run.id} is {'shard ' + run.shard if run.shard else 'not a shard'}"
                               f"{' of job ' + run.job if run.job else ''}, not shard {wanted}: "
                               "resume it with its own --shard, or without --shard")
        return Resumable(run, complete=run.status == "completed")
    if fresh:
        return None
    run = store.last_unfinished_reboot_run(job=store.job, shard=wanted)
    return Resumable(run) if run is not None else None


def resume_run(previous: Run, request: RunRequest, wiring: Wiring) -> ResumedRun:
    """The run `previous` continued with this request's flags over its stored options; nothing written yet.

    The inventory and playbook are the request's, else those the run recorded; its hosts are the
    rows it recorded (a host since dropped from the inventory fails, unverified, when driven)."""
    store = wiring.store
    info = store.reboot_run_info(previous.id)
    if info is None:
        raise RequestError(f"run {previous.id} is a {previous.kind} run, not a reboot run")
    if previous.status == "running" and controller_alive(info.controller_pid, info.controller_host):
        raise RequestError(f"reboot run {previous.id} is still being driven by process {info.controller_pid} on "
                           "this machine; stop it first (Ctrl-C) or wait for it")
    if previous.status == "running" and previous.heartbeat_at is not None and store.run_alive(previous):
        # Another machine's controller: alive while its heartbeat is fresh (state/leases.py).
        raise RequestError(f"reboot run {previous.id} is still being driven by {info.controller_host} (pid "
                           f"{info.controller_pid}; heartbeat {previous.heartbeat_at[:19]}Z); stop it first or "
                           "wait for it (a controller that died is taken over once its heartbeat is "
                           "older than the lease time)")
    inventory = request.inventory or (Path(previous.inventory) if previous.inventory else None)
    playbook = request.playbook or (Path(previous.playbook) if previous.playbook else None)
    inventory = required(inventory, "-i/--inventory", f"run {previous.id} does not record its inventory")
    playbook = required(playbook, "-p/--playbook", f"run {previous.id} does not record its playbook")
    scope = load_scope(inventory, playbook, None, request.vault)
    rows = store.reboot_hosts(previous.id)
    names = {r.host for r in rows}
    scope.plans = [p for p in scope.plans if p.name in names]
    windows, plays = _windows(scope)
    targets = {p.name: Target(p, windows[p.name].schedule, groups_for(p.host, plays[p.name])) for p in scope.plans}
    options = merge_options(request, stored=info.options)
    return ResumedRun(previous, request, targets, options, rows, str(inventory), str(playbook))


def record(run: FreshRun | ResumedRun, wiring: Wiring) -> str:
    """Write the run to the state (a fresh one: the run and its hosts; a resumed one: this process
    now drives it). Returns the run id."""
    store = wiring.store
    pid, host = controller_identity()
    if isinstance(run, ResumedRun):
        store.reboot_run_claim(run.run_id, pid, host)
        return run.run_id
    request, prepared = run.request, run.planned.prepared
    run_id = store.start_run("reboot", inventory=run.planned.inventory, playbook=run.planned.playbook,
                             limit_pattern=request.limit)
    store.reboot_run_create(run_id, run.options.to_json(), pid, host)
    store.reboot_hosts_add(run_id, [(n, prepared.need(n).reasons, prepared.need(n).status == "forced")
                                    for n in run.order])
    run.run_id = run_id
    return run_id


@dataclass
class RunResult:
    outcome: RunOutcome
    options: RunOptions
    inventory: str
    playbook: str
    resumed: bool
    unreadable: list[str]  # hosts a fresh run could not read, so did not reboot

    def exit_code(self) -> int:
        """The outcome's code; a host that could not be read turns success or drift into 4."""
        code = self.outcome.exit_code()
        return EXIT_FAILED if self.unreadable and code in (EXIT_OK, EXIT_DRIFT) else code


def drive(run: FreshRun | ResumedRun, wiring: Wiring, *, stop: threading.Event,
          signal_of: Callable[[], int | None] | None = None, progress: Progress | None = None,
          on_event: Callable[[str], None] | None = None) -> RunResult:
    """Reboot the run's hosts batch by batch until done or `stop` is set; close the run in the state.

    `signal_of` names the signal that set `stop` (the outcome's exit code and reason follow it)."""
    if run.run_id is None:
        raise ValueError("record() the run before driving it")
    executor = RebootExecutor(
        store=wiring.store, run_id=run.run_id, targets=run.targets, open_session=wiring.open_session,
        open_poll_session=wiring.open_poll_session, renderer=wiring.renderer, options=run.options,
        progress=progress, on_event=on_event, stop=stop, signal_of=signal_of, forks=run.request.forks,
    )
    # The heartbeat tells controllers on other machines that this run is being driven (see resume_run).
    with Heartbeat(wiring.store, run.run_id):
        outcome = executor.run()
    summary = {"hosts": len(outcome.hosts), "batches": outcome.batches_run, **outcome.counts()}
    wiring.store.finish_run(run.run_id, outcome.status, summary)
    if isinstance(run, ResumedRun):
        return RunResult(outcome, run.options, run.inventory, run.playbook, True, [])
    return RunResult(outcome, run.options, run.planned.inventory, run.planned.playbook, False, run.unreadable)


def controller_identity() -> tuple[int, str]:
    """(pid, host name) of this controller, recorded so a resume can refuse a run still being driven."""
    return os.getpid(), socket.gethostname()


def controller_alive(pid: int | None, host: str | None) -> bool:
    if pid is None or host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- schedule: one-time tasks on the hosts ----------------------------------------------------------


@dataclass
class Schedule:
    """`reboot schedule`: the plan and one task per planned host (state planned until created)."""

    planned: PlanResult
    items: list[ScheduleItem]
    run_id: str | None = None

    def exit_code(self) -> int:
        """4 a host failed (task refused, or not readable), 3 tasks would be created (--check) or a
        host has no window, 0 every task created (or nothing to schedule)."""
        if any(i.state == "failed" for i in self.items) or self.planned.unread:
            return EXIT_FAILED
        if any(i.state == "planned" for i in self.items) or self.planned.plan.unschedulable:
            return EXIT_DRIFT
        return EXIT_OK


def plan_schedule(request: RunRequest, wiring: Wiring) -> Schedule:
    """The tasks `reboot schedule` would create; nothing is sent or written yet."""
    planned = plan_run(request, wiring, default_delay=SCHEDULE_DELAY)
    try:
        items = plan_tasks(planned.prepared, planned.plan, wiring.renderer, planned.options.delay)
    except ValueError as exc:  # a task command too long for schtasks, a /t too long for Server 2003
        raise RequestError(str(exc)) from None
    return Schedule(planned, items)


def create_schedule(schedule: Schedule, wiring: Wiring) -> Schedule:
    """Create the tasks on the hosts, recorded as a `reboot-schedule` run."""
    store, planned = wiring.store, schedule.planned
    run_id = store.start_run("reboot-schedule", inventory=planned.inventory, playbook=planned.playbook,
                             limit_pattern=planned.request.limit)
    items = create_tasks(schedule.items, planned.prepared, open_session=wiring.open_session,
                         renderer=wiring.renderer, store=store, run_id=run_id, forks=planned.request.forks,
                         progress=wiring.progress())
    store.finish_run(run_id, "completed", {"hosts": len(items),
                                           "created": sum(1 for i in items if i.state == "created"),
                                           "failed": sum(1 for i in items if i.state == "failed")})
    return replace(schedule, items=items, run_id=run_id)
