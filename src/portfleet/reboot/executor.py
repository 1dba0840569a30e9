"""Controller-driven rolling reboot: batches inside maintenance windows, each reboot verified.

Per batch (the first batch of a fresh plan from "now", so that a batch starts as soon as the
previous one really ended, and never after its latest safe start):
  per host, in parallel: read it (boot time, settings) -> state row `shutdown_intent` with that
  boot time and the exact command (committed BEFORE sending) -> `shutdown /r /t D /c "..."` ->
  `shutdown_sent` -> poll with exponential backoff until it stops answering (`down`) and answers
  again with a later boot time -> re-audit (the pending rows the new boot made effective are
  cleared first) -> `verified` (or `not_compliant` / `failed`, with the reason).
A host that does not go down within --timeout-down after its grace period, or does not come back
within --timeout-up after going down, fails alone: the rest of its batch finishes, and later batches
run unless the batch's failures exceed --max-fail (Ansible's max_fail_percentage, per batch).

No host is rebooted twice: a resumed run (after Ctrl-C or a crash) first settles the hosts whose
shutdown may have gone out. `shutdown_sent`/`down`: never sent again; the host's boot time is compared
with the recorded one. `shutdown_intent` (cut off around the send): a later boot time means it went
out; the same boot time means the host has not rebooted since, so sending is safe (a still-pending
one answers 1190 and is replaced, still one reboot).

Windows exit codes (system error codes): 1190 "A system shutdown has already been scheduled." ->
someone else's (or our cut-off) shutdown is pending: abort it (`shutdown /a`) and send ours, so the
timing is ours and the host still reboots once; 1115 "A system shutdown is in progress." -> the host
is already going down: wait for it.
"""

from __future__ import annotations

import re
import signal
import threading
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from portfleet.compare import compare, host_status
from portfleet.models import HostReport, HostStatus
from portfleet.run_record import known_pending, record
from portfleet.engine import Interrupted, NoProgress, Progress, fan_out
from portfleet.desired import DesiredState
from portfleet.exit_codes import EXIT_DRIFT, EXIT_FAILED, EXIT_FOR_SIGNAL, EXIT_INTERRUPTED, EXIT_OK
from portfleet.interrupts import signal_name, signum_of
from portfleet.read_host import HostReading, read_host
from portfleet.reboot.commands import (
    NO_SHUTDOWN_IN_PROGRESS,
    SHUTDOWN_ALREADY_SCHEDULED,
    SHUTDOWN_IN_PROGRESS,
    abort_command,
    shutdown_command,
)
from portfleet.reboot.needs import pending_reasons
from portfleet.reboot.planner import RebootHost, RebootPlan, RebootPolicy, plan_reboots
from portfleet.reboot.policy import ALWAYS, estimate_duration
from portfleet.reboot.maintenance import MaintenanceSchedule
from portfleet.render import Renderer
from portfleet.state import REBOOT_FINAL, REBOOT_IN_FLIGHT, RebootHostRow, RebootStore, iso, utcnow
from portfleet.transport.base import Session, TransportError

__all__ = ["HostOutcome", "RebootExecutor", "RunOptions", "RunOutcome", "Target", "comment_for"]

UTC = timezone.utc


@dataclass(frozen=True)
class RunOptions:
    delay: int = 60  # shutdown /t: users' warning time
    timeout_down: float = 300.0  # after the grace period, how long the host may keep answering
    timeout_up: float = 900.0  # after going down, how long it may take to answer with a new boot
    max_fail_percentage: float | None = None  # stop when a batch's failed share is GREATER
    ignore_windows: bool = False  # --now: reboot at once, batch limits still apply
    wait: bool = True  # wait for a closed window to open (else stop and say when it opens)
    poll_initial: float = 0.5  # seconds between connect attempts at first ...
    poll_max: float = 15.0  # ... doubling up to this
    max_parallel: int | None = None
    batch: int | None = None
    max_unavailable: dict[str, int] = field(default_factory=dict)

    @property
    def duration(self) -> timedelta:
        return estimate_duration(self.delay, self.timeout_down, self.timeout_up)

    def policy(self) -> RebootPolicy:
        return RebootPolicy(max_parallel=self.max_parallel, batch_size=self.batch, max_unavailable=self.max_unavailable)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunOptions":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Target:
    """A host of the run: its plan (desired settings, for the re-audit), windows, groups."""

    plan: DesiredState
    schedule: MaintenanceSchedule | None
    groups: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.plan.name


@dataclass
class HostOutcome:
    name: str
    state: str  # a reboot_hosts state: final, in flight (interrupted), or planned (not started)
    detail: str = ""
    batch: int | None = None
    boot_before: datetime | None = None
    boot_after: datetime | None = None
    command: str | None = None
    notes: list[str] = field(default_factory=list)
    report: HostReport | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.state == "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.state,
            "detail": self.detail,
            "batch": self.batch,
            "reasons": self.reasons,
            "boot_before": iso(self.boot_before) if self.boot_before else None,
            "boot_after": iso(self.boot_after) if self.boot_after else None,
            "command": self.command,
            "notes": self.notes,
            "audit": self.report.to_json() if self.report else None,
        }


# Host states that leave work for a later run: not compliant, no window, or never finished.
_LEFT_OVER = ("not_compliant", "unschedulable", "planned", "shutdown_sent", "down", "shutdown_intent")


@dataclass
class RunOutcome:
    run_id: str
    hosts: list[HostOutcome]
    stopped_reason: str | None = None
    interrupted: bool = False
    batches_run: int = 0
    signum: int | None = None  # the signal that interrupted the run (SIGINT when stopped without one)
    halted: bool = False  # a batch's failures exceeded --max-fail: later batches were not started

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hosts:
            out[h.state] = out.get(h.state, 0) + 1
        return out

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        if self.stopped_reason:
            return "stopped"
        return "completed"

    def exit_code(self) -> int:
        """130/143/129 interrupted (by signal), 4 a host failed or the rollout stopped, 3 reboots left
        (not compliant, no window, not reached), 0 every host rebooted and compliant (or skipped)."""
        if self.interrupted:
            return EXIT_FOR_SIGNAL.get(self.signum or signal.SIGINT, EXIT_INTERRUPTED)
        counts = self.counts()
        if counts.get("failed") or self.halted:
            return EXIT_FAILED
        if any(counts.get(k) for k in _LEFT_OVER):
            return EXIT_DRIFT
        return EXIT_OK


def comment_for(reasons: Sequence[str]) -> str:
    """The /c text logged-on users see and event 1074 records: what the reboot is for.

    No run id in it, so that `reboot plan` can show the exact command a run will send."""
    settings = sorted({r.split(" ", 1)[0] for r in reasons if not r.startswith(("Windows:", "forced"))})
    flags = [r.split(":", 1)[1].strip() for r in reasons if r.startswith("Windows:")]
    if settings:
        why = f"reboot to apply {', '.join(settings)}"
    elif flags:
        why = f"reboot pending in Windows ({', '.join(flags)})"
    else:
        why = "maintenance reboot"
    return f"portfleet: {why}"


class RebootExecutor:
    """Drives one reboot run (fresh or resumed) from its rows in the state."""

    def __init__(
        self,
        *,
        store: RebootStore,
        run_id: str,
        targets: dict[str, Target],
        open_session: Callable[[Any], Session],
        open_poll_session: Callable[[Any], Session] | None = None,
        renderer: Renderer,
        options: RunOptions,
        progress: Progress | None = None,
        on_event: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
        signal_of: Callable[[], int | None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        forks: int = 50,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.targets = targets
        self.open_session = open_session
        self.open_poll_session = open_poll_session or open_session
        self.renderer = renderer
        self.options = options
        self.progress = progress or NoProgress()
        self.on_event = on_event or (lambda text: None)
        self.stop = stop or threading.Event()
        self.signal_of = signal_of or (lambda: None)  # which signal set `stop`, once it is set
        self.clock = clock
        self.forks = forks
        self._reasons: dict[str, list[str]] = {}
        self._forced: dict[str, bool] = {}

    # -- events ----------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.on_event(text)

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        rows = {r.host: r for r in self.store.reboot_hosts(self.run_id)}
        self._reasons = {n: r.reasons for n, r in rows.items()}
        self._forced = {n: r.forced for n, r in rows.items()}
        outcomes: dict[str, HostOutcome] = {}
        outcome = RunOutcome(self.run_id, [])
        for name, row in rows.items():
            if row.state in REBOOT_FINAL:
                outcomes[name] = self._from_row(row)
            elif name not in self.targets:
                detail = "no longer in the inventory or the playbook: not rebooted"
                if row.state in REBOOT_IN_FLIGHT:
                    detail = "shutdown was sent but the host is no longer in the inventory/playbook: not verified"
                self.store.reboot_host_update(self.run_id, name, state="failed", detail=detail)
                outcomes[name] = HostOutcome(name, "failed", detail, row.batch, reasons=row.reasons)
        todo = [n for n, r in rows.items() if n not in outcomes]
        self.progress.start(len(todo), "reboot")
        second: int | None = None  # the signal of a second interrupt, which abandons waiting
        try:
            self._drive(rows, todo, outcomes, outcome)
        except Interrupted as cut:  # a second Ctrl-C during a batch: in-flight hosts are left as recorded
            outcome.interrupted, second = True, cut.signum
            for _, result in cut.done:
                outcomes[result.name] = result
        except KeyboardInterrupt as exc:  # a second Ctrl-C between batches
            outcome.interrupted, second = True, signum_of(exc)
        finally:
            self.progress.stop()
        if self.stop.is_set():
            outcome.interrupted = True
        if outcome.interrupted:
            outcome.signum = self.signal_of() or second or signal.SIGINT
        final_rows = {r.host: r for r in self.store.reboot_hosts(self.run_id)}
        for name, row in final_rows.items():
            if name not in outcomes:
                outcomes[name] = self._from_row(row)
        outcome.hosts = [outcomes[n] for n in final_rows]
        if outcome.interrupted and not outcome.stopped_reason:
            outcome.stopped_reason = f"interrupted ({signal_name(outcome.signum or signal.SIGINT)})"
        return outcome

    def _drive(self, rows: dict[str, RebootHostRow], todo: list[str], outcomes: dict[str, HostOutcome],
               outcome: RunOutcome) -> None:
        in_flight = [n for n in todo if rows[n].state in REBOOT_IN_FLIGHT]
        if in_flight:
            self.say(f"resuming: {len(in_flight)} host(s) whose shutdown may already have gone out are checked "
                     f"against their recorded boot time first ({', '.join(in_flight)})")
            batch_no = max((rows[n].batch or 0) for n in in_flight) or 1
            if self._run_batch(in_flight, batch_no, rows, outcomes, outcome):
                return
        waiting = [n for n in todo if rows[n].state == "planned"]
        batch_no = max([r.batch or 0 for r in rows.values()] + [0])
        while waiting and not self.stop.is_set():
            now = self.clock()
            plan = self._plan(waiting, now)
            for u in plan.unschedulable:
                self.store.reboot_host_update(self.run_id, u.name, state="unschedulable", detail=u.reason)
                outcomes[u.name] = HostOutcome(u.name, "unschedulable", u.reason, reasons=self._reasons.get(u.name, []))
                waiting.remove(u.name)
                self.progress.advance(u.name, "unschedulable")
            if not plan.batches:
                break
            batch = plan.batches[0]
            if batch.window.start > now:
                opens = batch.window.start
                if not self.options.wait:
                    outcome.stopped_reason = (
                        f"the next window opens at {iso(opens)[:16]}Z ({batch.window.spec}); not waiting (--no-wait): "
                        f"{len(waiting)} host(s) left, run `portfleet reboot run` again then"
                    )
                    return
                self.say(f"waiting for the maintenance window: batch of {', '.join(batch.hosts)} starts at "
                         f"{_local_text(batch)}")
                if self._sleep_until(opens):
                    return
                continue  # plan again from the new "now"
            if self.clock() > batch.latest_safe_start:
                self.say(f"{', '.join(batch.hosts)}: too late to finish inside the window (latest safe start "
                         f"{iso(batch.latest_safe_start)[:19]}Z); planning them into a later window")
                continue
            batch_no += 1
            members = list(batch.hosts)
            where = "" if self.options.ignore_windows else (
                f"; window {batch.window.spec}, must start by {iso(batch.latest_safe_start)[:19]}Z")
            self.say(f"batch {batch_no} ({len(members)} host(s), {len(waiting) - len(members)} after it): "
                     f"{', '.join(members)}{where}")
            stop = self._run_batch(members, batch_no, rows, outcomes, outcome)
            waiting = [n for n in waiting if n not in members]
            if stop:
                return

    def _plan(self, names: list[str], now: datetime) -> RebootPlan:
        hosts = []
        for name in names:
            t = self.targets[name]
            schedule = ALWAYS if self.options.ignore_windows else t.schedule
            if schedule is None:
                schedule = _NO_WINDOW
            hosts.append(RebootHost(name, t.groups, schedule, self.options.duration))
        return plan_reboots(hosts, now, self.options.policy())

    def _run_batch(self, names: list[str], number: int, rows: dict[str, RebootHostRow],
                   outcomes: dict[str, HostOutcome], outcome: RunOutcome) -> bool:
        """Run one batch; True when the run must stop (threshold, Ctrl-C)."""
        outcome.batches_run += 1
        results = fan_out(
            names,
            lambda n: self._reboot_leased(n, self.store.reboot_host(self.run_id, n) or rows[n], number),
            forks=max(1, min(self.forks, len(names))),
            name=lambda n: n,
            status=lambda r: r.state,
            progress=self.progress,
        )
        for _, result in results:
            outcomes[result.name] = result
        if self.stop.is_set():
            return True
        bad = [r for _, r in results if r.failed]
        threshold = self.options.max_fail_percentage
        if threshold is not None and results:
            share = 100.0 * len(bad) / len(results)
            if share > threshold:
                left = [n for n, r in self._rows().items() if r.state == "planned"]
                outcome.halted = True
                outcome.stopped_reason = (
                    f"batch {number}: {len(bad)} of {len(results)} host(s) failed ({share:.0f}% > --max-fail "
                    f"{threshold:g}%): rollout stopped" + (f"; not started: {', '.join(left)}" if left else "")
                )
                return True
        return False

    def _rows(self) -> dict[str, RebootHostRow]:
        return {r.host: r for r in self.store.reboot_hosts(self.run_id)}

    def _sleep_until(self, when: datetime) -> bool:
        """Sleep (interruptibly) until `when`; True when stopped."""
        while True:
            left = (when - self.clock()).total_seconds()
            if left <= 0:
                return self.stop.is_set()
            if self.stop.wait(min(left, 60.0)):
                return True

    # -- one host --------------------------------------------------------------------------------
    def _update(self, name: str, **values: Any) -> None:
        self.store.reboot_host_update(self.run_id, name, **values)

    def _fail(self, name: str, batch: int, detail: str, **extra: Any) -> HostOutcome:
        self._update(name, state="failed", detail=detail, batch=batch)
        self.say(f"{name}: FAILED: {detail}")
        out = HostOutcome(name, "failed", detail, batch, reasons=self._reasons.get(name, []), **extra)
        t = self.targets.get(name)
        if t is not None:
            record(self.store, self.run_id, HostReport(name, t.plan.host.address, HostStatus.ERROR, detail))
        return out

    def _reboot_leased(self, name: str, row: RebootHostRow, batch: int) -> HostOutcome:
        """One host under the run's lease on it (DESIGN: one run writes a host at a time); a host
        another live run holds is not contacted. The lease is given back once the host is final; a
        host cut off in flight keeps it until the run resumes (or its controller is gone)."""
        holder = self.store.acquire_lease(self.run_id, name)
        if holder is not None:
            return self._fail(name, batch, f"locked: {holder.holder()} holds this host; not rebooted")
        outcome = self._reboot_one(name, row, batch)
        if outcome.state in REBOOT_FINAL:
            self.store.release_lease(self.run_id, name)
        return outcome

    def _reboot_one(self, name: str, row: RebootHostRow, batch: int) -> HostOutcome:
        t = self.targets[name]
        reasons = self._reasons.get(name, [])
        if row.state in ("shutdown_sent", "down"):
            # Sent before the cut-off: never send again; the boot time tells whether it happened.
            note = (f"resumed: shutdown was sent at {iso(row.sent_at)[:19]}Z; checked against the boot time "
                    f"recorded before it ({iso(row.boot_before)[:19]}Z), no second shutdown"
                    if row.sent_at and row.boot_before else "resumed: checked against the recorded boot time")
            self.say(f"{name}: {note}")
            if row.boot_before is None:
                return self._fail(name, batch, "shutdown was sent but no boot time was recorded: cannot verify")
            return self._await_reboot(t, row.boot_before, row.sent_at or self.clock(), row.down_at, batch,
                                      row.command, [note], delay=_delay_of(row.command))
        if self.stop.is_set():
            return HostOutcome(name, row.state, "not started (interrupted)", row.batch, reasons=reasons)

        notes: list[str] = []
        command: str | None = None
        sent = False
        try:
            with self.open_session(t.plan.host) as session:
                found = read_host(session, self.renderer, t.plan.host, t.plan.desired)
                boot = found.facts.boot_time
                if row.state == "shutdown_intent" and row.boot_before is not None:
                    if boot is not None and boot > row.boot_before:
                        note = (f"resumed: the shutdown went out before the cut-off: booted {iso(boot)[:19]}Z, "
                                f"after {iso(row.boot_before)[:19]}Z; not sent again")
                        self.say(f"{name}: {note}")
                        return self._verify(t, found, row.boot_before, batch, row.command, [note])
                    notes.append("resumed: the host has not rebooted since the cut-off (same boot time): "
                                 "sending the shutdown now")
                if boot is None:
                    return self._fail(name, batch, "boot time unknown (" + ("; ".join(found.facts.notes) or
                                      "no boot event") + "): a reboot could not be verified, so none was started")
                if not self._forced.get(name) and not pending_reasons(self.store, name, found.facts):
                    detail = f"no longer needs a reboot (booted {iso(boot)[:19]}Z, nothing pending)"
                    self._update(name, state="skipped", detail=detail, batch=batch, boot_before=boot)
                    self.say(f"{name}: skipped: {detail}")
                    return HostOutcome(name, "skipped", detail, batch, boot, reasons=reasons)
                boot_before = row.boot_before if row.state == "shutdown_intent" and row.boot_before else boot
                command = shutdown_command(self.renderer, t.plan.host.vars, self.options.delay,
                                           comment_for(reasons))
                # The intent (with the boot time to compare against) is committed before the send.
                self._update(name, state="shutdown_intent", batch=batch, boot_before=boot_before, command=command,
                             detail=None)
                sent = True  # from here on, a lost connection may mean the command went out
                result = session.run(command)
                sent_at = self.clock()
                if result.exit_code == SHUTDOWN_ALREADY_SCHEDULED:
                    notes.append(self._replace_pending(session, t, command))
                elif result.exit_code == SHUTDOWN_IN_PROGRESS:
                    notes.append("a shutdown was already in progress on the host (1115): waiting for that one")
                elif result.exit_code != 0:
                    text = (result.stderr or result.stdout).strip()
                    return self._fail(name, batch, f"shutdown refused (exit {result.exit_code}): {text}",
                                      boot_before=boot_before, command=command)
        except TransportError as exc:
            if not sent and row.state == "shutdown_intent" and row.boot_before is not None \
                    and exc.kind in ("unreachable", "timeout", "reset"):
                # Cut off between the intent and the record of the send: the shutdown may well have
                # gone out and the host be rebooting right now. Never send again; wait for a boot
                # later than the one recorded with the intent (or fail after --timeout-up).
                now = self.clock()
                note = (f"resumed: unreachable ({exc.kind}) after a shutdown intent: the shutdown probably went "
                        f"out before the cut-off; waiting for a boot after {iso(row.boot_before)[:19]}Z, "
                        "no second shutdown")
                self.say(f"{name}: {note}")
                self._update(name, state="down", down_at=now)
                return self._await_reboot(t, row.boot_before, now, now, batch, row.command, [note], delay=0)
            if not sent:
                return self._fail(name, batch, f"{exc.kind}: {exc} (nothing sent)")
            notes.append(f"the connection dropped while sending the shutdown ({exc.kind}): treated as sent, "
                         "the boot time decides")
            sent_at = self.clock()
        self._update(name, state="shutdown_sent", sent_at=sent_at)
        self.say(f"{name}: {command}" + (f" ({notes[-1]})" if notes else ""))
        return self._await_reboot(t, boot_before, sent_at, None, batch, command, notes)

    def _replace_pending(self, session: Session, t: Target, command: str) -> str:
        abort = session.run(abort_command(self.renderer, t.plan.host.vars))
        if abort.exit_code == NO_SHUTDOWN_IN_PROGRESS:
            return ("a shutdown was already scheduled (1190) and started before it could be replaced "
                    "(shutdown /a: 1116): waiting for it")
        if abort.exit_code != 0:
            return (f"a shutdown was already scheduled (1190) and could not be aborted (shutdown /a exit "
                    f"{abort.exit_code}): waiting for it")
        again = session.run(command)
        if again.exit_code == 0:
            return ("a shutdown was already scheduled on the host (1190): replaced it with portfleet's "
                    "(shutdown /a, then the same shutdown again): one reboot")
        return (f"a shutdown was already scheduled (1190); after shutdown /a the new one answered exit "
                f"{again.exit_code}: waiting for whatever is pending")

    def _await_reboot(self, t: Target, boot_before: datetime, sent_at: datetime, down_at: datetime | None,
                      batch: int, command: str | None, notes: list[str], delay: int | None = None) -> HostOutcome:
        name = t.name
        opts = self.options
        delay = opts.delay if delay is None else delay  # a resumed host: the /t its command was sent with
        grace_end = sent_at + timedelta(seconds=delay)
        deadline_down = grace_end + timedelta(seconds=opts.timeout_down)
        # Nothing happens before the grace period ends: no point in asking.
        if self._sleep_until(grace_end):
            return self._interrupted(name, batch, boot_before, command, notes)
        interval = opts.poll_initial
        last_error = ""
        while True:
            if self.stop.is_set():
                return self._interrupted(name, batch, boot_before, command, notes)
            try:
                with self.open_poll_session(t.plan.host) as session:
                    found = read_host(session, self.renderer, t.plan.host, t.plan.desired)
            except TransportError as exc:
                last_error = f"{exc.kind}: {exc}"
                if down_at is None:
                    down_at = self.clock()
                    self._update(name, state="down", down_at=down_at)
                    self.say(f"{name}: down")
                    interval = opts.poll_initial
            else:
                boot = found.facts.boot_time
                if boot is not None and boot > boot_before:
                    return self._verify(t, found, boot_before, batch, command, notes)
                last_error = f"answers with the old boot time {iso(boot)[:19]}Z" if boot else "boot time unreadable"
            now = self.clock()
            if down_at is None and now >= deadline_down:
                return self._fail(
                    name, batch,
                    f"did not go down within {opts.timeout_down:g}s after the {delay}s grace period "
                    f"(still booted {iso(boot_before)[:19]}Z)",
                    boot_before=boot_before, command=command, notes=notes)
            if down_at is not None and now >= down_at + timedelta(seconds=opts.timeout_up):
                return self._fail(
                    name, batch,
                    f"went down at {iso(down_at)[:19]}Z and did not come back with a new boot time within "
                    f"{opts.timeout_up:g}s ({last_error})",
                    boot_before=boot_before, command=command, notes=notes)
            deadline = deadline_down if down_at is None else down_at + timedelta(seconds=opts.timeout_up)
            pause = max(0.0, min(interval, (deadline - now).total_seconds()))
            if self.stop.wait(pause):
                return self._interrupted(name, batch, boot_before, command, notes)
            interval = min(interval * 2, opts.poll_max)

    def _interrupted(self, name: str, batch: int, boot_before: datetime, command: str | None,
                     notes: list[str]) -> HostOutcome:
        row = self.store.reboot_host(self.run_id, name)
        state = row.state if row else "shutdown_sent"
        detail = f"interrupted after the shutdown was sent: `portfleet reboot run --resume {self.run_id}` verifies it"
        return HostOutcome(name, state, detail, batch, boot_before, None, command, notes,
                           reasons=self._reasons.get(name, []))

    def _verify(self, t: Target, found: HostReading, boot_before: datetime, batch: int, command: str | None,
                notes: list[str]) -> HostOutcome:
        """Re-audit after the new boot: the values written before it are now in effect."""
        name = t.name
        boot = found.facts.boot_time
        # The pending rows this boot made effective are dropped first, then the rest compared.
        pending = known_pending(self.store, name, found.facts.boot_time)
        rows = compare(t.plan.desired, found, pending)
        status, detail = host_status(rows)
        report = HostReport(name, t.plan.host.address, status, detail, found.facts, rows)
        record(self.store, self.run_id, report)
        flags = found.facts.windows_reboot_pending
        if flags:
            notes.append(f"Windows still reports a pending reboot after it: {', '.join(flags)}")
        if status == "compliant":
            state, text = "verified", f"rebooted (boot {iso(boot_before)[:19]}Z -> {iso(boot)[:19]}Z), compliant"
        else:
            bad = ", ".join(f"{r.key} {r.status}" for r in rows if r.status != "ok") or detail
            state, text = "not_compliant", f"rebooted (boot {iso(boot)[:19]}Z) but not compliant: {bad}"
        self._update(name, state=state, boot_after=boot, detail=text, batch=batch)
        self.say(f"{name}: {text}")
        return HostOutcome(name, state, text, batch, boot_before, boot, command, notes, report,
                           reasons=self._reasons.get(name, []))

    def _from_row(self, row: RebootHostRow) -> HostOutcome:
        return HostOutcome(row.host, row.state, row.detail or "", row.batch, row.boot_before, row.boot_after,
                           row.command, reasons=row.reasons)


def _delay_of(command: str | None) -> int | None:
    """The /t of a recorded shutdown command line (templates may differ; None when not found)."""
    m = re.search(r"/t\s+(\d+)", command or "")
    return int(m.group(1)) if m else None


# A host with no window at all: an empty schedule, which the planner reports as unschedulable.
_NO_WINDOW = MaintenanceSchedule("UTC", ())


def _local_text(batch: Any) -> str:
    w = batch.window
    return f"{iso(w.start)[:16]}Z ({w.spec})"
