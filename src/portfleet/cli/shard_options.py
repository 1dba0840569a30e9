"""--shard K/N and --job NAME, declared once for the fleet commands (audit, apply, diagnose, reboot
plan|run|schedule, rollback, runs list, status), and the two things a command does with them:

    plans.hosts = sharding.narrow(plans.hosts, shard)   # after inventory, plays and --limit selected
    sharding.label(store, shard, job)                   # the runs this process records carry both

(common.fleet_plans_or_exit does the first for audit and apply; common.run_store the second for audit,
apply and diagnose.)

(typer hands the command a Shard for --shard: the parameters stay annotated `Optional[str]`, the
type typer parses, and the callback turns the text into the value.)

A shard that selects no host says so on stderr and ends the command with exit 0: a scheduler that
starts more shards than there are hosts gets success from the empty ones, and nothing on stdout.
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn, Optional, Sequence, TypeVar

import typer

from portfleet.cli.console import err
from portfleet.exit_codes import EXIT_OK
from portfleet.shards import EmptyShard, Shard, ShardError, parse_job, parse_shard

T = TypeVar("T")


def _shard(value: Optional[str]) -> Optional[Shard]:
    if value is None:
        return None
    try:
        return parse_shard(value)
    except ShardError as exc:
        raise typer.BadParameter(str(exc)) from None


def _job(value: Optional[str]) -> Optional[str]:
    if value is None or value == "":
        return None  # PORTFLEET_JOB= (set but empty) means no job
    try:
        return parse_job(value)
    except ShardError as exc:
        raise typer.BadParameter(str(exc)) from None


ShardOpt = typer.Option(
    None, "--shard", metavar="K/N", callback=_shard, show_default=False,
    help="Work on shard K of N only: the selected hosts sorted by name, every N-th from the K-th (AWX job "
    "slicing's split). Run N of these at once, one per K, sharing a PostgreSQL --state.",
)
JobOpt = typer.Option(
    None, "--job", metavar="NAME", envvar="PORTFLEET_JOB", callback=_job, show_default=False,
    help="Label the runs of this process as part of the sliced job NAME (also $PORTFLEET_JOB), so that "
    "`runs list --job NAME` groups its shards and `rollback --job NAME` undoes them all.",
)
# The commands that look at what jobs recorded (runs list, status, rollback) take --job NAME as a
# filter of their own, without $PORTFLEET_JOB (a shard's environment must not narrow what one sees).
check_job = _job
check_shard = _shard


def narrow(items: Sequence[T], shard: Optional[Shard], name: Callable[[T], str] = lambda item: item.name) -> list[T]:
    """The shard's items (all of them without --shard); an empty shard ends the command, exit 0."""
    if shard is None:
        return list(items)
    try:
        chosen = shard.take(items, name)
    except EmptyShard as exc:
        say_empty(exc)
    err.print(f"shard {shard}: {len(chosen)} of {len(items)} selected host(s)", style="dim", markup=False)
    return chosen


def say_empty(exc: EmptyShard) -> NoReturn:
    err.print(f"{exc}", markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_OK)


def label(store: Any, shard: Optional[Shard], job: Optional[str]) -> None:
    """Every run this process records is shard `shard` of `job` (either may be None)."""
    store.label_runs(job, str(shard) if shard is not None else None)
