"""The runs of sliced jobs (`--shard K/N --job NAME`), as `runs list` shows them: grouped, and one
overview per job saying which shards ran and what they found together.

A job's shards are separate runs, started at about the same time by a scheduler; a shard may have
run more than once (a Kubernetes pod restarted after a crash, an AWX relaunch of a failed slice).
The overview counts, per kind of run, the shards seen and those missing (of N, from the K/N labels),
and sums the summaries of the newest run of each shard: what the job as a whole found last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from portfleet.shards import ShardError, parse_shard
from portfleet.state import Run


UNNUMBERED = (1 << 30, 0)  # no shard (or a label that is not K/N): after the numbered ones


def shard_key(label: str | None) -> tuple[int, int]:
    """(K, N) of a "K/N" label, for ordering; UNNUMBERED for anything else."""
    try:
        shard = parse_shard(label or "")
    except ShardError:
        return UNNUMBERED
    return (shard.index, shard.count)


def grouped(runs: Sequence[Run]) -> list[Run]:
    """`runs` (newest first) with the runs of each job together, where the job's newest run stands,
    ordered by shard, then by start."""
    by_job: dict[str, list[Run]] = {}
    for run in runs:
        if run.job is not None:
            by_job.setdefault(run.job, []).append(run)
    shown: list[Run] = []
    placed: set[str] = set()
    for run in runs:
        if run.job is None:
            shown.append(run)
        elif run.job not in placed:
            placed.add(run.job)
            shown.extend(sorted(by_job[run.job], key=lambda r: (r.kind, shard_key(r.shard), r.started_at)))
    return shown


@dataclass
class KindOverview:
    kind: str
    runs: int = 0
    shard_count: int | None = None  # N of the K/N labels (None: unsharded, or labels disagree)
    shards: list[str] = field(default_factory=list)  # K/N seen, in order
    missing: list[str] = field(default_factory=list)  # K/N of N without any run
    statuses: dict[str, int] = field(default_factory=dict)  # of the newest run of each shard
    summary: dict[str, int] = field(default_factory=dict)  # summed, newest run of each shard

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "runs": self.runs, "shard_count": self.shard_count, "shards": self.shards,
                "missing": self.missing, "statuses": self.statuses, "summary": self.summary}


def overview(runs: Sequence[Run]) -> list[KindOverview]:
    """Per kind of run (apply, audit, ...), the job's shards and their summed summaries."""
    kinds: dict[str, list[Run]] = {}
    for run in runs:
        kinds.setdefault(run.kind + (" --check" if run.check_mode else ""), []).append(run)
    found = []
    for kind, members in sorted(kinds.items()):
        newest: dict[str, Run] = {}
        for run in sorted(members, key=lambda r: r.started_at):
            newest[run.shard or f"run {run.id}"] = run  # unsharded runs each count
        item = KindOverview(kind, runs=len(members))
        labels = sorted({r.shard for r in members if r.shard}, key=shard_key)
        item.shards = labels
        counts = {shard_key(label)[1] for label in labels}
        if len(counts) == 1 and UNNUMBERED not in {shard_key(label) for label in labels}:
            (n,) = counts
            item.shard_count = n
            item.missing = [f"{k}/{n}" for k in range(1, n + 1) if f"{k}/{n}" not in labels]
        for run in newest.values():
            item.statuses[run.status] = item.statuses.get(run.status, 0) + 1
            for key, value in (run.summary or {}).items():
                if isinstance(value, int) and not isinstance(value, bool):
                    item.summary[key] = item.summary.get(key, 0) + value
        found.append(item)
    return found

