"""Diagnose runs in the state store: each run is recorded, and each host's trend is fitted over the
samples earlier runs recorded of it, whichever shard, job or controller took them.

A sliced diagnose (`--shard K/N --job NAME`, one process per shard, run every hour by a scheduler)
thus gets a per-host trend and a time-to-exhaustion without --watch: a host's history follows the
host, not the shard (adding hosts moves hosts between shards; their history stays theirs). The
shards of one job are listed together by `runs list --job NAME`, their verdict counts summed.

Per host, the run keeps its verdict (the result's status; a failure's status for a host not
diagnosed), its first evidence line, and {sampled_at, in_use, capacity} of its fullest TCP range.
Stored values are read back as untrusted input: a sample that is not a number, or of a range of
another size (the range was changed since: the old fill says nothing now), is left out.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from portfleet.diagnose.model import DiagnoseReport, HostDiagnosis
from portfleet.diagnose.trend import apply_trend, trend_of
from portfleet.state import HostResult, Store
from portfleet.times import iso, parse_iso

KIND = "diagnose"
MAX_SAMPLES = 200  # per host: the newest ones (a trend over more says nothing more)
MIN_WINDOW_DAYS = 1  # --days 0 skips the event log, not the history


def host_row(d: HostDiagnosis) -> tuple[str, str | None, dict[str, Any] | None]:
    """(status, detail, facts) of one host's result row."""
    status = d.status if d.failed else d.verdict
    detail = d.detail if d.failed else (d.evidence[0] if d.evidence else None)
    main = d.main
    if d.failed or main is None or d.sampled_at is None:
        return status, detail, None
    facts: dict[str, Any] = {"sampled_at": iso(d.sampled_at), "in_use": main.in_use, "capacity": main.capacity,
                             "family": main.family, "risk": round(d.risk, 4)}
    if d.trend is not None and d.trend.slope_per_min is not None:
        facts["slope_per_min"] = round(d.trend.slope_per_min, 2)
        facts["exhaustion_in_s"] = None if d.trend.exhaustion_in_s is None else round(d.trend.exhaustion_in_s)
    return status, detail, facts


def record(store: Store, report: DiagnoseReport, *, inventory: str | None, playbook: str | None,
           limit: str | None) -> str:
    """The report as a `diagnose` run (labelled with the store's job and shard); its id."""
    run_id = store.start_run(KIND, inventory=inventory, playbook=playbook, limit_pattern=limit)
    try:
        for d in report.hosts:
            status, detail, facts = host_row(d)
            store.record_host(run_id, d.name, status, detail, facts, [])
    except BaseException as exc:
        store.finish_run(run_id, "failed", {"error": f"{type(exc).__name__}: {exc}"[:500]})
        raise
    store.finish_run(run_id, "interrupted" if report.interrupted else "completed", report.summary())
    return run_id


def _sample(result: HostResult) -> tuple[datetime, int, int] | None:
    facts = result.facts
    if not isinstance(facts, Mapping):
        return None
    in_use, capacity, at = facts.get("in_use"), facts.get("capacity"), facts.get("sampled_at")
    if not (isinstance(in_use, int) and isinstance(capacity, int) and isinstance(at, str)):
        return None
    if isinstance(in_use, bool) or in_use < 0 or capacity <= 0:
        return None
    try:
        when = parse_iso(at)
    except (ValueError, TypeError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when, in_use, capacity


def earlier_samples(store: Store, names: Iterable[str], now: datetime, days: int) -> dict[str, list[tuple[datetime, int, int]]]:
    """Per host, (sampled_at, in_use, capacity) of earlier diagnose runs of the last `days` days."""
    wanted = set(names)
    since = now - timedelta(days=max(days, MIN_WINDOW_DAYS))
    found: dict[str, list[tuple[datetime, int, int]]] = {}
    for result in store.results_since(KIND, since):
        if result.host not in wanted:
            continue
        sample = _sample(result)
        if sample is not None:
            found.setdefault(result.host, []).append(sample)
    return {host: samples[-MAX_SAMPLES:] for host, samples in found.items()}


def apply_history(report: DiagnoseReport, history: Mapping[str, list[tuple[datetime, int, int]]]) -> int:
    """Fit each host's trend over its earlier samples and this one; the number of hosts given a trend."""
    fitted = 0
    for d in report.hosts:
        main = d.main
        if d.failed or main is None or d.sampled_at is None:
            continue
        points = sorted({(at, n) for at, n, capacity in history.get(d.name, ())
                         if capacity == main.capacity and at < d.sampled_at})
        if not points:
            continue
        apply_trend(d, trend_of([*points, (d.sampled_at, main.in_use)], main.capacity))
        fitted += 1
    return fitted
