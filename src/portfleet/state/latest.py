"""What the store last saw of every host (`portfleet status`), without contacting any.

Two questions, one windowed query each (ROW_NUMBER() OVER (PARTITION BY host ORDER BY finished_at
DESC), on SQLite and PostgreSQL alike, served by the host_results_host index of revision 0003):

- the newest sighting: the last result any run recorded for the host, whatever it was (a host
  found unreachable is news), except `locked`: another run held the host, so it was not looked at;
- the newest reading: the last result holding values read from the host (compliant, drift,
  pending_reboot), so a host unreachable today still shows what it had when last read.

Only runs that compare settings count (audit, apply and its --check, rollback, and the re-audit a
reboot run makes after each boot); a diagnose run's verdicts are not setting states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import func, literal, select
from sqlalchemy.engine import Connection

from portfleet.state.records import HostResult, host_result_from
from portfleet.state.schema import host_results, runs

SETTING_KINDS = ("audit", "apply", "rollback", "reboot")
READ_STATUSES = ("compliant", "drift", "pending_reboot")  # a result of these holds the host's values
NOT_LOOKED_AT = ("locked",)


@dataclass(frozen=True)
class Sighting:
    """One host's result and the run that recorded it."""

    result: HostResult
    run_id: str
    kind: str
    check_mode: bool
    job: str | None
    shard: str | None


def _run_column(name: str, present: set[str]) -> Any:
    # A store from before revision 0003, read as it is, has no job/shard: null for all its runs.
    return runs.c[name] if name in present else literal(None).label(name)


def newest(conn: Connection, run_columns: set[str], *, reads_only: bool, job: str | None = None,
           shard: str | None = None) -> dict[str, Sighting]:
    """Per host, its newest result of a setting run (only of runs of `job`, of `shard`, when given)."""
    if (job is not None or shard is not None) and "job" not in run_columns:
        return {}
    rank = func.row_number().over(partition_by=host_results.c.host,
                                  order_by=(host_results.c.finished_at.desc(), host_results.c.run_id.desc()))
    statuses = READ_STATUSES if reads_only else None
    inner = (
        select(*host_results.c, runs.c.kind.label("run_kind"), runs.c.check_mode.label("run_check_mode"),
               _run_column("job", run_columns).label("run_job"), _run_column("shard", run_columns).label("run_shard"),
               rank.label("rank"))
        .join(runs, runs.c.id == host_results.c.run_id)
        .where(runs.c.kind.in_(SETTING_KINDS), host_results.c.status.not_in(NOT_LOOKED_AT))
    )
    if statuses is not None:
        inner = inner.where(host_results.c.status.in_(statuses))
    if job is not None:
        inner = inner.where(runs.c.job == job)
    if shard is not None:
        inner = inner.where(runs.c.shard == shard)
    ranked = inner.subquery()
    statement = select(ranked).where(ranked.c.rank == 1).order_by(ranked.c.host)
    return {row["host"]: _sighting(row) for row in conn.execute(statement).mappings()}


def _sighting(row: Mapping[str, Any]) -> Sighting:
    return Sighting(host_result_from(row), row["run_id"], row["run_kind"], bool(row["run_check_mode"]),
                    row["run_job"], row["run_shard"])


def results_since(conn: Connection, kind: str, since: str) -> list[HostResult]:
    """Every result of the runs of `kind` recorded at or after `since` (UTC ISO), oldest first per host:
    the history a diagnose run fits its trend to, whichever shard or job recorded it."""
    statement = (
        select(*host_results.c).join(runs, runs.c.id == host_results.c.run_id)
        .where(runs.c.kind == kind, runs.c.check_mode == 0, host_results.c.finished_at >= since)
        .order_by(host_results.c.host, host_results.c.finished_at)
    )
    return [host_result_from(row) for row in conn.execute(statement).mappings()]
