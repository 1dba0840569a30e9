"""The fleet: diagnose every host (bounded concurrency, one session each), rank them, and --watch."""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence

from portfleet.diagnose.analysis import analyse
from portfleet.diagnose.collect import collect, resample
from portfleet.diagnose.model import Collected, DiagnoseReport, HostDiagnosis
from portfleet.diagnose.trend import apply_trend, trend_of
from portfleet.engine import Interrupted, Progress, fan_out
from portfleet.render import Renderer
from portfleet.transport.base import Session, TransportError
from portfleet.worker_processes import WorkerProcesses


def rank(hosts: Iterable[HostDiagnosis]) -> list[HostDiagnosis]:
    return sorted(hosts, key=lambda h: (-h.risk, h.name))


def failure(host: Any, error: Exception) -> HostDiagnosis:
    if isinstance(error, TransportError):
        status, detail = error.host_status, str(error)
    else:
        status, detail = "error", f"{type(error).__name__}: {error}"
    d = HostDiagnosis(name=host.name, address=getattr(host, "address", ""), status=status, detail=detail)
    d.evidence.append(f"not diagnosed: {detail}")
    return d


def diagnose_host(
    host: Any, open_session: Callable[[Any], Session], renderer: Renderer, *, days: int,
    desired: Mapping[str, Any] | None = None,
) -> tuple[HostDiagnosis, Collected | None]:
    """One host, one session; transport failures become a report, never an exception."""
    try:
        with open_session(host) as session:
            got = collect(session, renderer, host, days=days)
        return analyse(host.name, host.address, got, desired=desired, renderer=renderer, host_vars=host.vars,
                       days=days), got
    except Exception as exc:  # noqa: BLE001 - one host's failure (or an output we choke on) is its report
        return failure(host, exc), None


def run_diagnose(
    hosts: Sequence[Any],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    days: int = 7,
    forks: int = 50,
    desired: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Progress | None = None,
    inventory: str | None = None,
    playbook: str | None = None,
    warnings: Sequence[str] = (),
    procs: int = 1,
) -> tuple[DiagnoseReport, dict[str, Collected]]:
    """Diagnose every host (bounded concurrency; `procs` forked processes, engine.py); ranked by risk, worst first."""
    desired = desired or {}

    def one(h: Any) -> tuple[HostDiagnosis, Collected | None]:
        return diagnose_host(h, open_session, renderer, days=days, desired=desired.get(h.name))

    workers = WorkerProcesses(hosts, one, procs=procs, forks=forks,  # forked before the progress bar's thread
                              on_lost=lambda h, why: (failure(h, RuntimeError(why)), None))
    started = procs > 1 and workers.start()
    if progress is not None:
        progress.start(len(hosts), "diagnose")
    try:
        done = fan_out(
            hosts,
            one,
            forks=forks,
            name=lambda h: h.name,
            status=lambda r: r[0].status if r[0].failed else r[0].verdict,
            progress=progress,
            workers=workers if started else None,
        )
    finally:
        if progress is not None:
            progress.stop()
        if started:
            workers.close()
    collected = {host.name: got for host, (_, got) in done if got is not None}
    report = DiagnoseReport(
        hosts=rank(d for _, (d, _) in done),
        days=days,
        generated_at=datetime.now(timezone.utc),
        inventory=inventory,
        playbook=playbook,
        warnings=list(warnings),
    )
    return report, collected


def watch(
    hosts: Sequence[Any],
    report: DiagnoseReport,
    collected: dict[str, Collected],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    interval: float,
    count: int | None,
    forks: int = 50,
    desired: Mapping[str, Mapping[str, Any]] | None = None,
    on_round: Callable[[DiagnoseReport], None] | None = None,
    stop: threading.Event | None = None,
) -> DiagnoseReport:
    """--watch: sample every `interval` s (`count` rounds in all, None: until `stop`/Ctrl-C).

    A round re-reads only the TCP table and process names, analyses the host again against the
    ranges and events of the first round, and fits the trend of ports in use over all rounds.
    Hosts that failed are tried again with a full read. Returns the last round's report.
    """
    desired = desired or {}
    stop = stop or threading.Event()
    by_name = {h.name: h for h in hosts}
    points: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for d in report.hosts:
        if d.main is not None and d.sampled_at is not None:
            points[d.name].append((d.sampled_at, d.main.in_use))
    current = {d.name: d for d in report.hosts}

    def one(host: Any) -> tuple[HostDiagnosis, Collected | None]:
        first = collected.get(host.name)
        if first is None:
            return diagnose_host(host, open_session, renderer, days=report.days, desired=desired.get(host.name))
        try:
            with open_session(host) as session:
                s = resample(session, renderer, first)
            got = dataclasses.replace(first, at=s.at, conns=s.conns, processes=s.processes)
            return analyse(host.name, host.address, got, desired=desired.get(host.name), renderer=renderer, days=report.days,
                           host_vars=host.vars), None
        except Exception as exc:  # noqa: BLE001 - as in diagnose_host
            return failure(host, exc), None

    rounds = 1
    try:
        while (count is None or rounds < count) and not stop.wait(interval):
            results = fan_out(hosts, one, forks=forks, name=lambda h: h.name)
            rounds += 1
            for host, (d, got) in results:
                if got is not None:
                    collected[host.name] = got
                if d.main is not None and d.sampled_at is not None:
                    points[d.name].append((d.sampled_at, d.main.in_use))
                    apply_trend(d, trend_of(points[d.name], d.main.capacity))
                current[host.name] = d
            report = dataclasses.replace(report, hosts=rank(current[h] for h in by_name if h in current),
                                         rounds=rounds, interval_s=interval, generated_at=datetime.now(timezone.utc))
            if on_round is not None:
                on_round(report)
    except (KeyboardInterrupt, Interrupted):
        # Ctrl-C is how an open-ended watch ends: the last complete round is the answer.
        report = dataclasses.replace(report, interrupted=True)
    return report
