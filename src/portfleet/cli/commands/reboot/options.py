"""What the `portfleet reboot` commands share: their typer options, flag parsing, the wiring to hosts
and state, and the exit-2 path for bad input (a RequestError of the session)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

from portfleet.cli import common as c
from portfleet.reboot.scope import RequestError
from portfleet.shards import EmptyShard
from portfleet.shares import Share, ShareError, parse_percentage, parse_share

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
PatternOpt = typer.Option(None, "-l", "--limit", help="Ansible host pattern.")
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


def format_option(schema: str) -> Any:
    return typer.Option(c.TableOrJson.table, "--format", help=f"table, or json (schema portfleet.{schema}/1).")


def is_json(output: Any) -> bool:
    return output == c.TableOrJson.json


@contextmanager
def bad_input_exits() -> Iterator[None]:
    """A RequestError (missing option, bad file, bad window with file:line) ends the command: exit 2;
    a --shard that selects no host ends it with exit 0, saying so."""
    from portfleet.cli.shard_options import say_empty

    try:
        yield
    except RequestError as exc:
        c.fail(str(exc))
    except EmptyShard as exc:
        say_empty(exc)


# `--now` means the same in `reboot plan` and `reboot run`: do not wait for maintenance windows (its
# other name, --ignore-windows, too). `reboot plan --at TIME` plans as if it were TIME; `plan --now
# TIME`, its old spelling, still works and says so (a flag cannot also take a value).
IgnoreWindowsOpt = typer.Option(False, "--ignore-windows", help="Do not wait for maintenance windows: at once, "
                                "batch limits only (`reboot run --now`).")


def plan_time(at: Optional[str], old_now: Optional[str]) -> datetime:
    """`reboot plan`'s planning instant: --at TIME, or the deprecated --now TIME, else now."""
    if at is not None and old_now is not None:
        c.fail("--at and --now TIME are the same option; give --at only")
    if old_now is not None:
        c.err.print("[yellow]warning:[/yellow] `reboot plan --now TIME` is deprecated: use --at TIME "
                    "(--now and --ignore-windows mean \"do not wait for windows\" in reboot run and plan)",
                    soft_wrap=True, markup=True)
        return parse_now(old_now, "--now")
    return parse_now(at, "--at")


def parse_now(text: Optional[str], flag: str = "--at") -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        c.fail(f"{flag} {text!r}: write an ISO 8601 time such as 2027-03-27T12:00:00Z or 2027-03-27T13:00+01:00")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # documented: a time without offset is UTC
    return value


def percent(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    try:
        return parse_percentage(text)
    except ShareError:
        c.fail(f"--max-fail {text!r}: write a percentage from 0% to 100%, such as 10% or 0")


def share(text: Optional[str], flag: str) -> Optional[Share]:
    if text is None:
        return None
    try:
        return parse_share(text)
    except ShareError:
        c.fail(f"{flag} {text!r}: write a host count (e.g. 2) or a share (e.g. 25%)")


def connect(timeout: int, ca_bundle: Optional[str], *, poll: bool = False) -> Any:
    from portfleet.transport.factory import ConnectOptions, session_factory

    c.check_ca_bundle_or_exit(ca_bundle)
    if poll:
        # While waiting for a reboot each attempt is one quick connect: the backoff is the executor's.
        return session_factory(ConnectOptions(connect_timeout=5.0, operation_timeout=timeout, connect_retries=0,
                                              ca_bundle=ca_bundle))
    return session_factory(ConnectOptions(operation_timeout=timeout, ca_bundle=ca_bundle))


def open_store(state: Optional[str]) -> Any:
    from portfleet.state import RebootStore, StateError

    try:
        return RebootStore(c.state_path(state))
    except StateError as exc:
        c.fail(str(exc))


def wiring(store: Any, templates: Optional[Path], timeout: int, ca_bundle: Optional[str], show_progress: bool) -> Any:
    """The session's way to the hosts: templates, WinRM/SSH sessions, a progress bar on terminals."""
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.reboot.session import Wiring

    return Wiring(store=store, renderer=c.renderer(templates), open_session=connect(timeout, ca_bundle),
                  open_poll_session=connect(timeout, ca_bundle, poll=True),
                  progress=lambda: progress_for_terminal(show_progress))
