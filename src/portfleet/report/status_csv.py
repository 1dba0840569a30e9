"""`portfleet status --format csv`: one row per host and setting (a host with no values: one row)."""

from __future__ import annotations

import csv
import sys
from typing import IO, Any

from portfleet.status import FleetStatus

COLUMNS = ["host", "status", "seen_at", "run_id", "run_kind", "job", "shard", "setting", "desired", "actual",
           "effective", "setting_status", "awaits_reboot", "detail"]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return f"{value['start']}-{value['end']} ({value['num']})"
    return str(value)


def write_status_csv(status: FleetStatus, out: IO[str] | None = None) -> None:
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow(COLUMNS)
    for h in status.hosts:
        seen = h.seen
        head = [h.name, h.status, seen.at if seen else "", seen.run_id if seen else "", seen.kind if seen else "",
                (seen.job or "") if seen else "", (seen.shard or "") if seen else ""]
        tail = ["yes" if h.awaits_reboot else "no", h.detail]
        if not h.settings:
            writer.writerow(head + ["", "", "", "", ""] + tail)
        for s in h.settings:
            writer.writerow(head + [s.key, _text(s.desired), _text(s.actual), _text(s.effective), s.status] + tail)
