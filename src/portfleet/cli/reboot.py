"""`portfleet reboot plan|run|schedule|status|cancel`: reboots inside maintenance windows."""

from __future__ import annotations

import signal
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

from portfleet.cli import common as c
from portfleet.shares import ShareError, parse_percentage, parse_share

app = typer.Typer(
    help=(
        "Reboot the hosts whose new settings wait for a boot (MaxUserPort, TcpTimedWaitDelay), inside their "
        "maintenance windows, in batches.\n\n"
        "Windows per host: inventory vars portfleet_maintenance_windows (e.g. ['Sat 02:00-04:00']), "
        "portfleet_timezone, portfleet_freeze; else the play's `reboot:` block. "
        "`plan` shows who and when, `run` reboots and verifies from here, `schedule` leaves one-time "
        "scheduled tasks on the hosts, `status` and `cancel` follow them up."
    ),
    no_args_is_help=True,
)

# -- options shared by the commands ------------------------------------------------------------------

InventoryOpt = typer.Option(None, "-i", "--inventory", help="Ansible inventory (YAML/INI file or directory).",
                            show_default=False)
PlaybookOpt = typer.Option(None, "-p", "--playbook", help="Desired-state playbook (its plays' `reboot:` blocks "
                           "give windows and limits).", show_default=False)
AllOpt = typer.Option(False, "--all", help="Reboot every host of the playbook (and --limit), pending or not.")
LimitOpt = typer.Option(
    None, "-l", "--limit",
    help="Ansible host pattern. The hosts it names are rebooted whether or not a reboot is pending "
         "(as --all); without it only hosts with a pending reboot are.",
)
MaxParallelOpt = typer.Option(None, "--max-parallel", min=1, help="At most this many hosts reboot at once "
                              "(default: the plays' reboot.max_parallel).", show_default=False)
BatchOpt = typer.Option(None, "--batch", help="Batch size: a count or a share of the hosts to reboot (e.g. 25%). "
                        "Default: the plays' reboot.batch.", show_default=False)
MaxUnavailableOpt = typer.Option(None, "--max-unavailable", help="Per group: never more than this many (or this "
                                 "share) of a group's hosts down at once. Default: the plays' reboot.max_unavailable.",
                                 show_default=False)
DelayOpt = typer.Option(None, "--delay", min=0, max=315360000, help="shutdown /t: seconds users are warned before "
                        "the restart. Default 60 (run), 300 (schedule).", show_default=False)
TimeoutDownOpt = typer.Option(None, "--timeout-down", min=1, help="Seconds a host may keep answering after its "
                              "grace period before it counts as failed. Default 300.", show_default=False)
TimeoutUpOpt = typer.Option(None, "--timeout-up", min=1, help="Seconds a host may take to come back with a new boot "
                            "time after going down. Default 900.", show_default=False)

DEFAULTS = {"delay": 60, "timeout_down": 300.0, "timeout_up": 900.0}
SCHEDULE_DELAY = 300


def _fmt_json(output: Any) -> bool:
    return output == c.TableOrJson.json


def _need(value: Optional[Path], flag: str, what: str) -> Path:
    if value is None:
        c.fail(f"missing option {flag}: {what}")
    return value


def _parse_now(text: Optional[str]) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        c.fail(f"--now {text!r}: write an ISO 8601 time such as 2027-03-27T12:00:00Z or 2027-03-27T13:00+01:00")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # documented: a time without offset is UTC
    return value


def _percent(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    try:
        return parse_percentage(text)
    except ShareError:
        c.fail(f"--max-fail {text!r}: write a percentage from 0% to 100%, such as 10% or 0")


def _share(text: Optional[str], flag: str) -> Optional[int | str]:
    if text is None:
        return None
    try:
        return parse_share(text).to_json()
    except ShareError:
        c.fail(f"{flag} {text!r}: write a host count (e.g. 2) or a share (e.g. 25%)")


def _connect(timeout: int, ca_bundle: Optional[str], *, poll: bool = False) -> Any:
    from portfleet.transport.factory import ConnectOptions, session_factory

    if poll:
        # While waiting for a reboot each attempt is one quick connect: the backoff is the executor's.
        return session_factory(ConnectOptions(connect_timeout=5.0, operation_timeout=timeout, connect_retries=0,
                                              ca_bundle=ca_bundle))
    return session_factory(ConnectOptions(operation_timeout=timeout, ca_bundle=ca_bundle))


def _open_store(state: Optional[Path]) -> Any:
    from portfleet.state import RebootStore, StateError

    try:
        return RebootStore(c.state_path(state))
    except StateError as exc:
        c.fail(str(exc))


def _scope(inventory: Path, playbook: Optional[Path], limit: Optional[str]) -> tuple[Any, Any, list[Any], list[str]]:
    """(inventory, playbook or None, host plans, warnings): the playbook's hosts, or every host."""
    inv = c.load_inventory_or_exit(inventory)
    if playbook is not None:
        book = c.load_playbook_or_exit(playbook)
        plans = c.build_plans_or_exit(inv, book, limit)
        return inv, book, plans.hosts, plans.warnings
    from portfleet.inventory import InventoryError
    from portfleet.desired import DesiredState

    try:
        hosts = inv.select(limit) if limit else list(inv.hosts)
    except InventoryError as exc:
        c.fail(str(exc))
    plans = [DesiredState(h, {}, ()) for h in hosts if getattr(h, "platform", "windows") == "windows"]
    if not plans:
        c.fail("no Windows host in the inventory matches" + (f" --limit {limit!r}" if limit else ""))
    return inv, None, plans, []


def _windows_or_exit(inv: Any, book: Any, plans: list[Any]) -> Any:
    from portfleet.reboot.prepare import load_windows
    from portfleet.reboot.maintenance import WindowError

    try:
        return load_windows(inv, book, plans)
    except WindowError as exc:
        c.fail(str(exc))


def _options(delay: Optional[int], timeout_down: Optional[float], timeout_up: Optional[float], *,
             max_fail: Optional[float] = None, ignore_windows: bool = False, wait: bool = True,
             policy: Any = None, stored: Optional[dict] = None, default_delay: Optional[int] = None,
             poll_max: Optional[float] = None) -> Any:
    from portfleet.reboot.executor import RunOptions

    base = dict(stored or {})
    values = {
        "delay": delay if delay is not None else base.get("delay", default_delay or DEFAULTS["delay"]),
        "timeout_down": timeout_down if timeout_down is not None else base.get("timeout_down", DEFAULTS["timeout_down"]),
        "timeout_up": timeout_up if timeout_up is not None else base.get("timeout_up", DEFAULTS["timeout_up"]),
        "max_fail_percentage": max_fail if max_fail is not None else base.get("max_fail_percentage"),
        "ignore_windows": ignore_windows or base.get("ignore_windows", False),
        "wait": wait if stored is None else (wait and base.get("wait", True)),
    }
    if poll_max is not None:
        values["poll_max"] = poll_max
        values["poll_initial"] = min(0.5, poll_max)
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


def _prepare(inventory: Optional[Path], playbook: Optional[Path], limit: Optional[str], all_hosts: bool,
             forks: int, state: Any, templates: Optional[Path], timeout: int, ca_bundle: Optional[str],
             max_parallel: Optional[int], batch: Optional[str], max_unavailable: Optional[str],
             show_progress: bool) -> tuple[Any, Any, Any]:
    """-> (prepared, renderer, open_session); exits 2 on bad input (windows with file:line)."""
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.reboot.prepare import prepare

    inv_path = _need(inventory, "-i/--inventory", "the inventory")
    book_path = _need(playbook, "-p/--playbook", "the playbook whose plays give windows and settings")
    inv, book, plans, warnings = _scope(inv_path, book_path, limit)
    windows = _windows_or_exit(inv, book, plans)
    renderer = c.renderer(templates)
    open_session = _connect(timeout, ca_bundle)
    forced = {p.name for p in plans} if (all_hosts or limit) else set()
    try:
        prepared = prepare(
            inv, book, plans, open_session=open_session, renderer=renderer, store=state, forced=forced, forks=forks,
            max_parallel=max_parallel, batch=_share(batch, "--batch"),
            max_unavailable=_share(max_unavailable, "--max-unavailable"),
            progress=progress_for_terminal(show_progress), windows=windows,
        )
    except ValueError as exc:  # a policy value the planner refuses
        c.fail(str(exc))
    prepared.warnings[:0] = warnings
    return prepared, renderer, open_session


def _print(*renderables: Any) -> None:
    for r in renderables:
        c.out.print(r)


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        c.err.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True, markup=True)


def _plan_exit(prepared: Any, plan: Any) -> int:
    if any(n.status in ("unreachable", "auth_failed", "error") for n in prepared.needs):
        return c.EXIT_FAILED
    if plan.batches or plan.unschedulable:
        return c.EXIT_DRIFT
    return c.EXIT_OK


# -- plan --------------------------------------------------------------------------------------------


@app.command("plan")
def plan_cmd(
    inventory: Optional[Path] = InventoryOpt,
    playbook: Optional[Path] = PlaybookOpt,
    limit: Optional[str] = LimitOpt,
    all_hosts: bool = AllOpt,
    now: Optional[str] = typer.Option(None, "--now", help="Plan as if it were this time (ISO 8601, e.g. "
                                      "2027-03-27T12:00:00Z; no offset means UTC): what-if and tests."),
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table, or json (schema "
                                         "portfleet.reboot-plan/1)."),
    ics: Optional[Path] = typer.Option(None, "--ics", help="Also write the plan as an iCalendar file (one event "
                                       "per batch, each host's exact shutdown command in the description)."),
    ignore_windows: bool = typer.Option(False, "--ignore-windows", help="Plan as `reboot run --now` would: at once, "
                                        "batch limits only."),
    max_parallel: Optional[int] = MaxParallelOpt,
    batch: Optional[str] = BatchOpt,
    max_unavailable: Optional[str] = MaxUnavailableOpt,
    delay: Optional[int] = DelayOpt,
    timeout_down: Optional[float] = TimeoutDownOpt,
    timeout_up: Optional[float] = TimeoutUpOpt,
    forks: int = c.ForksOpt,
    state: Optional[Path] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
) -> None:
    """Which hosts need a reboot, and when: each in its next window, in batches. Changes nothing.

    A host needs one when portfleet wrote a reboot-needing value after its last boot (state), or
    Windows reports a pending reboot (CBS, Windows Update, PendingFileRenameOperations). Each batch
    obeys --max-parallel, --batch and --max-unavailable (per group) and must fit, with the estimated
    reboot time (delay + timeout-down + timeout-up), inside every member's window.

    Exit: 0 nothing to reboot, 3 reboots planned, 4 a host could not be read, 2 bad input.
    """
    from portfleet.reboot.ics import write_ics
    from portfleet.reboot.prepare import make_plan, shutdown_commands
    from portfleet.report.reboot_json import plan_json
    from portfleet.cli.render.reboot_tables import plan_tables
    from portfleet.report.json_out import write_json

    at = _parse_now(now)
    with _open_store(state) as store:
        prepared, renderer, _ = _prepare(inventory, playbook, limit, all_hosts, forks, store, templates, timeout,
                                         ca_bundle, max_parallel, batch, max_unavailable, not _fmt_json(output))
    options = _options(delay, timeout_down, timeout_up, ignore_windows=ignore_windows, policy=prepared.policy)
    plan = make_plan(list(prepared.targets.values()), at, options)
    commands = shutdown_commands(prepared, renderer, options.delay)
    if ics is not None:
        try:
            write_ics(plan, ics, commands=commands)
        except OSError as exc:
            c.fail(f"--ics {ics}: {exc.strerror}")
    if _fmt_json(output):
        write_json(plan_json(prepared, plan, options, commands, inventory=str(inventory), playbook=str(playbook)))
    else:
        _warn(prepared.warnings)
        _print(*plan_tables(prepared, plan, commands))
        c.out.print(_plan_summary(prepared, plan))
        if ics is not None:
            c.out.print(f"iCalendar written to {ics} ({len(plan.batches)} event(s))")
    raise typer.Exit(_plan_exit(prepared, plan))


def _plan_summary(prepared: Any, plan: Any) -> str:
    not_needed = sum(1 for n in prepared.needs if n.status == "not_needed")
    bad = sum(1 for n in prepared.needs if n.status in ("unreachable", "auth_failed", "error"))
    parts = [f"{len(plan.hosts)} host(s) in {len(plan.batches)} batch(es)"]
    if plan.unschedulable:
        parts.append(f"{len(plan.unschedulable)} not schedulable")
    parts.append(f"{not_needed} need no reboot")
    if bad:
        parts.append(f"{bad} could not be read")
    return "; ".join(parts)


# -- run ---------------------------------------------------------------------------------------------


@app.command("run")
def run_cmd(
    inventory: Optional[Path] = InventoryOpt,
    playbook: Optional[Path] = PlaybookOpt,
    limit: Optional[str] = LimitOpt,
    all_hosts: bool = AllOpt,
    now: bool = typer.Option(False, "--now", help="Do not wait for maintenance windows: reboot at once (batch "
                             "limits still apply)."),
    check: bool = typer.Option(False, "--check", "--dry-run", "-C", help="Show what would be rebooted, when, by "
                               "which command; touch nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before rebooting more than one host."),
    max_fail: Optional[str] = typer.Option(None, "--max-fail", help="Stop when more than this share of a batch "
                                           "fails (e.g. 10%). Default: never stop early.", show_default=False),
    resume: Optional[str] = typer.Option(None, "--resume", help="Resume this reboot run (after Ctrl-C or a crash) "
                                         "from the state, rebooting no host twice. Without it the last unfinished "
                                         "reboot run is resumed automatically.", show_default=False),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new run even if an earlier one is unfinished."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for closed windows to open (default), or stop "
                              "and report when the next one opens."),
    max_parallel: Optional[int] = MaxParallelOpt,
    batch: Optional[str] = BatchOpt,
    max_unavailable: Optional[str] = MaxUnavailableOpt,
    delay: Optional[int] = DelayOpt,
    timeout_down: Optional[float] = TimeoutDownOpt,
    timeout_up: Optional[float] = TimeoutUpOpt,
    poll_max: Optional[float] = typer.Option(None, "--poll-max", min=0.1, hidden=True,
                                             help="Longest pause between connect attempts while waiting (s)."),
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table, or json (schema "
                                         "portfleet.reboot-run/1)."),
    forks: int = c.ForksOpt,
    state: Optional[Path] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
) -> None:
    """Rolling reboot driven from here: batch by batch inside the windows, every reboot verified.

    Per host: read its boot time, record it, `shutdown /r /t DELAY /c "portfleet: ..."`, wait for it
    to go down and come back (backoff, no busy loop), confirm the boot time changed, re-audit that the
    settings are in effect, record it. A shutdown already scheduled on the host (1190) is replaced by
    portfleet's (shutdown /a, then ours): one reboot. A host that does not come back fails alone after
    its timeout; the run stops only when a batch's failures exceed --max-fail. A batch never starts
    when it could not end inside its window.

    Ctrl-C stops: hosts already sent a shutdown are recorded; `portfleet reboot run` (or --resume RUN_ID)
    continues later and checks their boot times instead of sending a second shutdown.

    Exit: 0 all rebooted and compliant, 3 not compliant / left for a later window, 4 a host failed or
    the run stopped, 130 interrupted, 2 bad input.
    """
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.report.json_out import write_json

    threshold = _percent(max_fail)
    store = _open_store(state)
    with store:
        previous = _find_resumable(store, resume, fresh)
        if previous is not None:
            opts, targets, run_id, inv_path, book_path, unread = _resume_setup(
                store, previous, inventory, playbook, templates, timeout, ca_bundle, delay, timeout_down,
                timeout_up, threshold, now, wait, poll_max, output, check, yes)
            resumed = True
        else:
            opts, targets, run_id, inv_path, book_path, unread = _fresh_setup(
                store, inventory, playbook, limit, all_hosts, forks, templates, timeout, ca_bundle, max_parallel,
                batch, max_unavailable, delay, timeout_down, timeout_up, threshold, now, wait, poll_max, output,
                check, yes)
            resumed = False
        outcome = _execute(store, run_id, targets, opts, templates, timeout, ca_bundle,
                           progress_for_terminal(not _fmt_json(output)), output, forks)
        summary = {"hosts": len(outcome.hosts), "batches": outcome.batches_run, **outcome.counts()}
        store.finish_run(run_id, outcome.status, summary)
    if _fmt_json(output):
        from portfleet.report.reboot_json import run_json

        doc = run_json(outcome, opts, inventory=inv_path, playbook=book_path, resumed=resumed)
        doc["unreadable"] = unread
        write_json(doc)
    else:
        from portfleet.cli.render.reboot_tables import run_table

        c.out.print(run_table(outcome))
        c.out.print(_run_summary(outcome))
        if outcome.stopped_reason:
            c.err.print(f"[red]{outcome.stopped_reason}[/red]", soft_wrap=True)
            if outcome.interrupted:
                c.err.print(f"resume with: portfleet reboot run --resume {run_id}")
    code = _run_exit(outcome)
    raise typer.Exit(c.EXIT_FAILED if unread and code in (c.EXIT_OK, c.EXIT_DRIFT) else code)


def _run_summary(outcome: Any) -> str:
    counts = outcome.counts()
    parts = [f"{v} {k}" for k, v in sorted(counts.items())]
    return f"run {outcome.run_id}: " + ", ".join(parts) + f" ({outcome.batches_run} batch(es))"


def _run_exit(outcome: Any) -> int:
    counts = outcome.counts()
    if outcome.interrupted:
        return c.EXIT_INTERRUPTED
    if counts.get("failed") or (outcome.stopped_reason and "not started" in outcome.stopped_reason):
        return c.EXIT_FAILED
    if any(counts.get(k) for k in ("not_compliant", "unschedulable", "planned", "shutdown_sent", "down",
                                   "shutdown_intent")):
        return c.EXIT_DRIFT
    return c.EXIT_OK


def _find_resumable(store: Any, resume: Optional[str], fresh: bool) -> Any:
    from portfleet.state import StateError

    if resume:
        try:
            run = store.get_run(resume)
        except StateError as exc:
            c.fail(str(exc))
        if run.kind != "reboot" or store.reboot_run_info(run.id) is None:
            c.fail(f"run {run.id} is a {run.kind} run, not a reboot run")
        if run.status == "completed":
            c.out.print(f"reboot run {run.id} is complete: nothing to resume")
            raise typer.Exit(c.EXIT_OK)
        return run
    if fresh:
        return None
    return store.last_unfinished_reboot_run()


def _resume_setup(store: Any, run: Any, inventory: Optional[Path], playbook: Optional[Path],
                  templates: Optional[Path], timeout: int, ca_bundle: Optional[str], delay: Optional[int],
                  timeout_down: Optional[float], timeout_up: Optional[float], threshold: Optional[float],
                  now: bool, wait: bool, poll_max: Optional[float], output: Any, check: bool, yes: bool) -> tuple:
    from portfleet.reboot.executor import Target, controller_alive, controller_identity
    from portfleet.reboot.prepare import groups_for
    from portfleet.state import REBOOT_FINAL, REBOOT_IN_FLIGHT

    info = store.reboot_run_info(run.id)
    if run.status == "running" and controller_alive(info.controller_pid, info.controller_host):
        c.fail(f"reboot run {run.id} is still being driven by process {info.controller_pid} on this machine; "
               "stop it first (Ctrl-C) or wait for it")
    inv_path = inventory or (Path(run.inventory) if run.inventory else None)
    book_path = playbook or (Path(run.playbook) if run.playbook else None)
    inv_path = _need(inv_path, "-i/--inventory", f"run {run.id} does not record its inventory")
    book_path = _need(book_path, "-p/--playbook", f"run {run.id} does not record its playbook")
    inv, book, plans, _ = _scope(inv_path, book_path, None)
    rows = store.reboot_hosts(run.id)
    names = {r.host for r in rows}
    plans = [p for p in plans if p.name in names]
    windows, plays = _windows_or_exit(inv, book, plans)
    targets = {p.name: Target(p, windows[p.name].schedule, groups_for(p.host, plays[p.name])) for p in plans}
    opts = _options(delay, timeout_down, timeout_up, max_fail=threshold, ignore_windows=now, wait=wait,
                    stored=info.options, poll_max=poll_max)
    left = [r for r in rows if r.state not in REBOOT_FINAL]
    flying = [r.host for r in left if r.state in REBOOT_IN_FLIGHT]
    message = (f"resuming reboot run {run.id} (started {run.started_at[:19]}Z, {run.status}): {len(left)} of "
               f"{len(rows)} host(s) left" + (f"; shutdown already sent to {', '.join(flying)}: their boot time is "
                                               "checked, no second shutdown" if flying else "")
               + " (use --fresh to start a new run instead)")
    if check:
        c.out.print(f"Check mode: nothing was changed. {message}")
        for r in left:
            c.out.print(f"  {r.host}: {r.state}" + (f" (boot before {r.boot_before.isoformat()})" if r.boot_before else ""))
        raise typer.Exit(c.EXIT_DRIFT if left else c.EXIT_OK)
    if not _fmt_json(output):
        c.err.print(message, soft_wrap=True)
    c.confirm_changes(len([r for r in left if r.state == "planned"]), "reboot", yes)
    pid, host = controller_identity()
    store.reboot_run_claim(run.id, pid, host)
    return opts, targets, run.id, str(inv_path), str(book_path), []


def _fresh_setup(store: Any, inventory: Optional[Path], playbook: Optional[Path], limit: Optional[str],
                 all_hosts: bool, forks: int, templates: Optional[Path], timeout: int, ca_bundle: Optional[str],
                 max_parallel: Optional[int], batch: Optional[str], max_unavailable: Optional[str],
                 delay: Optional[int], timeout_down: Optional[float], timeout_up: Optional[float],
                 threshold: Optional[float], now: bool, wait: bool, poll_max: Optional[float], output: Any,
                 check: bool, yes: bool) -> tuple:
    from portfleet.reboot.executor import controller_identity
    from portfleet.reboot.prepare import make_plan, shutdown_commands
    from portfleet.report.reboot_json import plan_json
    from portfleet.cli.render.reboot_tables import plan_tables
    from portfleet.report.json_out import write_json

    prepared, renderer, _ = _prepare(inventory, playbook, limit, all_hosts, forks, store, templates, timeout,
                                     ca_bundle, max_parallel, batch, max_unavailable, not _fmt_json(output))
    opts = _options(delay, timeout_down, timeout_up, max_fail=threshold, ignore_windows=now, wait=wait,
                    policy=prepared.policy, poll_max=poll_max)
    plan = make_plan(list(prepared.targets.values()), datetime.now(timezone.utc), opts)
    commands = shutdown_commands(prepared, renderer, opts.delay)
    if check:
        if _fmt_json(output):
            doc = plan_json(prepared, plan, opts, commands, inventory=str(inventory), playbook=str(playbook))
            write_json(doc)
        else:
            _warn(prepared.warnings)
            c.out.print("[bold]Check mode: nothing was changed. A run would reboot:[/bold]")
            _print(*plan_tables(prepared, plan, commands))
            c.out.print(_plan_summary(prepared, plan))
        raise typer.Exit(_plan_exit(prepared, plan))
    if not prepared.targets:
        if _fmt_json(output):
            write_json(plan_json(prepared, plan, opts, commands, inventory=str(inventory), playbook=str(playbook)))
        else:
            _warn(prepared.warnings)
            _print(*plan_tables(prepared, plan, commands, show_commands=False))
            c.out.print("nothing needs a reboot")
        bad = any(n.status in ("unreachable", "auth_failed", "error") for n in prepared.needs)
        raise typer.Exit(c.EXIT_FAILED if bad else c.EXIT_OK)
    unread = [f"{n.name} could not be read ({n.status}: {n.detail}): not rebooted" for n in prepared.needs
              if n.status in ("unreachable", "auth_failed", "error")]
    if not _fmt_json(output):
        _warn(prepared.warnings + unread)
    c.confirm_changes(len(prepared.targets), "reboot", yes)
    run_id = store.start_run("reboot", inventory=str(inventory), playbook=str(playbook), limit_pattern=limit)
    pid, host = controller_identity()
    store.reboot_run_create(run_id, opts.to_json(), pid, host)
    order = list(plan.hosts) + sorted(u.name for u in plan.unschedulable)
    store.reboot_hosts_add(run_id, [(n, prepared.need(n).reasons, prepared.need(n).status == "forced") for n in order])
    if not _fmt_json(output):
        c.err.print(f"reboot run {run_id}: {len(order)} host(s), first batch "
                    f"{_first_batch(plan)}", soft_wrap=True)
    return opts, prepared.targets, run_id, str(inventory), str(playbook), unread


def _first_batch(plan: Any) -> str:
    if not plan.batches:
        return "(none schedulable)"
    b = plan.batches[0]
    return f"at {b.start.strftime('%Y-%m-%d %H:%M')}Z: {', '.join(b.hosts)}"


def _execute(store: Any, run_id: str, targets: dict, opts: Any, templates: Optional[Path], timeout: int,
             ca_bundle: Optional[str], progress: Any, output: Any, forks: int) -> Any:
    from portfleet.reboot.executor import RebootExecutor

    from portfleet.engine import NoProgress

    stop = threading.Event()
    quiet = _fmt_json(output)

    def event(text: str) -> None:
        if quiet:
            return
        if isinstance(progress, NoProgress):
            c.err.print(text, markup=False, soft_wrap=True)
        else:
            progress.message(text)

    def on_sigint(signum: int, frame: Any) -> None:
        # First Ctrl-C: stop starting anything, let in-flight hosts record where they are.
        stop.set()
        signal.signal(signal.SIGINT, previous)
        if not quiet:
            c.err.print("[yellow]Interrupted: no new shutdowns; recording where each host is "
                        "(Ctrl-C again to abandon)[/yellow]")

    previous = signal.getsignal(signal.SIGINT)
    installed = threading.current_thread() is threading.main_thread()
    if installed:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        executor = RebootExecutor(
            store=store, run_id=run_id, targets=targets, open_session=_connect(timeout, ca_bundle),
            open_poll_session=_connect(timeout, ca_bundle, poll=True), renderer=c.renderer(templates), options=opts,
            progress=progress, on_event=event, stop=stop, forks=forks,
        )
        return executor.run()
    finally:
        if installed:
            signal.signal(signal.SIGINT, previous)


# -- schedule ----------------------------------------------------------------------------------------


@app.command("schedule")
def schedule_cmd(
    inventory: Optional[Path] = InventoryOpt,
    playbook: Optional[Path] = PlaybookOpt,
    limit: Optional[str] = LimitOpt,
    all_hosts: bool = AllOpt,
    check: bool = typer.Option(False, "--check", "--dry-run", "-C", help="Show the tasks and commands; create "
                               "nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before scheduling more than one host."),
    max_parallel: Optional[int] = MaxParallelOpt,
    batch: Optional[str] = BatchOpt,
    max_unavailable: Optional[str] = MaxUnavailableOpt,
    delay: Optional[int] = DelayOpt,
    timeout_down: Optional[float] = TimeoutDownOpt,
    timeout_up: Optional[float] = TimeoutUpOpt,
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table, or json (schema "
                                         "portfleet.reboot-schedule/1)."),
    forks: int = c.ForksOpt,
    state: Optional[Path] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
) -> None:
    """Leave a one-time scheduled task on each host that reboots it in its window, staggered per the plan.

    `schtasks /create /tn portfleet-reboot /sc once /sd DATE /st HH:MM /tr "shutdown /r /t 300 /c ..." /ru
    SYSTEM /f`, at the host's batch start in the host's own clock time (/sd in its locale's date format).
    The reboots then happen without the controller; `reboot status` shows them, `reboot cancel` removes them.

    Exit: 0 tasks created (or nothing to schedule), 3 tasks would be created (--check), 4 a host failed.
    """
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.reboot.tasks import create_tasks, plan_tasks
    from portfleet.reboot.prepare import make_plan, shutdown_commands
    from portfleet.report.reboot_json import plan_json, schedule_json
    from portfleet.cli.render.reboot_tables import schedule_table
    from portfleet.report.json_out import write_json

    with _open_store(state) as store:
        prepared, renderer, open_session = _prepare(inventory, playbook, limit, all_hosts, forks, store, templates,
                                                    timeout, ca_bundle, max_parallel, batch, max_unavailable,
                                                    not _fmt_json(output))
        opts = _options(delay, timeout_down, timeout_up, policy=prepared.policy, default_delay=SCHEDULE_DELAY)
        plan = make_plan(list(prepared.targets.values()), datetime.now(timezone.utc), opts)
        try:
            items = plan_tasks(prepared, plan, renderer, opts.delay)
        except ValueError as exc:
            c.fail(str(exc))
        if not check and items:
            c.confirm_changes(len(items), "schedule a reboot", yes)
            run_id = store.start_run("reboot-schedule", inventory=str(inventory), playbook=str(playbook),
                                     limit_pattern=limit)
            items = create_tasks(items, prepared, open_session=open_session, renderer=renderer, store=store,
                                 run_id=run_id, forks=forks,
                                 progress=progress_for_terminal(not _fmt_json(output)))
            store.finish_run(run_id, "completed", {"hosts": len(items),
                                                   "created": sum(1 for i in items if i.state == "created"),
                                                   "failed": sum(1 for i in items if i.state == "failed")})
    commands = shutdown_commands(prepared, renderer, opts.delay)
    if _fmt_json(output):
        doc = plan_json(prepared, plan, opts, commands, inventory=str(inventory), playbook=str(playbook))
        write_json(schedule_json(items, doc, check))
    else:
        from portfleet.cli.render.reboot_tables import plan_tables

        _warn(prepared.warnings)
        _print(*plan_tables(prepared, plan, commands, show_commands=False))
        if items:
            c.out.print(schedule_table(items, check))
        c.out.print(_plan_summary(prepared, plan))
    failed = any(i.state == "failed" for i in items) or any(
        n.status in ("unreachable", "auth_failed", "error") for n in prepared.needs)
    if failed:
        raise typer.Exit(c.EXIT_FAILED)
    if check and (items or plan.unschedulable):
        raise typer.Exit(c.EXIT_DRIFT)
    raise typer.Exit(c.EXIT_DRIFT if plan.unschedulable else c.EXIT_OK)


# -- status ------------------------------------------------------------------------------------------


@app.command("status")
def status_cmd(
    inventory: Optional[Path] = InventoryOpt,
    playbook: Optional[Path] = PlaybookOpt,
    limit: Optional[str] = typer.Option(None, "-l", "--limit", help="Ansible host pattern."),
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table, or json (schema "
                                         "portfleet.reboot-status/1)."),
    forks: int = c.ForksOpt,
    state: Optional[Path] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
) -> None:
    """Per host: the portfleet-reboot task (schtasks /query), the last boot, what still waits for a reboot.

    Without -p every Windows host of the inventory (and --limit) is shown.
    Exit: 0 nothing pending, 3 reboots still pending (scheduled or not), 4 a host could not be read.
    """
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.reboot.tasks import query_status
    from portfleet.report.reboot_json import status_json
    from portfleet.cli.render.reboot_tables import status_table
    from portfleet.report.json_out import write_json

    inv_path = _need(inventory, "-i/--inventory", "the inventory")
    _, _, plans, warnings = _scope(inv_path, playbook, limit)
    with _open_store(state) as store:
        rows = query_status(plans, open_session=_connect(timeout, ca_bundle), renderer=c.renderer(templates),
                            store=store, forks=forks, progress=progress_for_terminal(not _fmt_json(output)))
    if _fmt_json(output):
        write_json(status_json(rows))
    else:
        _warn(warnings)
        c.out.print(status_table(rows))
    if any(r.state in ("unreachable", "auth_failed", "error") for r in rows):
        raise typer.Exit(c.EXIT_FAILED)
    raise typer.Exit(c.EXIT_DRIFT if any(r.state != "ok" for r in rows) else c.EXIT_OK)


# -- cancel ------------------------------------------------------------------------------------------


@app.command("cancel")
def cancel_cmd(
    inventory: Optional[Path] = InventoryOpt,
    playbook: Optional[Path] = PlaybookOpt,
    limit: Optional[str] = typer.Option(None, "-l", "--limit", help="Ansible host pattern."),
    check: bool = typer.Option(False, "--check", "--dry-run", "-C", help="Show the commands; run nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before changing more than one host."),
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table, or json (schema "
                                         "portfleet.reboot-cancel/1)."),
    forks: int = c.ForksOpt,
    state: Optional[Path] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
) -> None:
    """Remove the portfleet-reboot tasks (schtasks /delete) and abort pending shutdowns (shutdown /a).

    `shutdown /a` answering 1116 means nothing was pending. Without -p every Windows host of the
    inventory (and --limit). Exit: 0 done, 3 commands would run (--check), 4 a host failed.
    """
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.reboot.tasks import CancelResult, cancel_commands, cancel_tasks
    from portfleet.report.reboot_json import cancel_json
    from portfleet.cli.render.reboot_tables import cancel_table
    from portfleet.report.json_out import write_json

    inv_path = _need(inventory, "-i/--inventory", "the inventory")
    _, _, plans, warnings = _scope(inv_path, playbook, limit)
    renderer = c.renderer(templates)
    if check:
        results = [CancelResult(p.name, cancel_commands(renderer, p.host.vars)) for p in plans]
    else:
        c.confirm_changes(len(plans), "cancel scheduled reboots", yes)
        with _open_store(state) as store:
            results = cancel_tasks(plans, open_session=_connect(timeout, ca_bundle), renderer=renderer, store=store,
                                   forks=forks, progress=progress_for_terminal(not _fmt_json(output)))
    if _fmt_json(output):
        write_json(cancel_json(results, check))
    else:
        _warn(warnings)
        c.out.print(cancel_table(results, check))
    if any(r.failed for r in results):
        raise typer.Exit(c.EXIT_FAILED)
    raise typer.Exit(c.EXIT_DRIFT if check else c.EXIT_OK)
