"""CSV: one row per host and setting, for spreadsheets and change tickets."""

from __future__ import annotations

import csv
import sys
from typing import IO

from portfleet.models import RunReport
from portfleet.values import to_text

COLUMNS = ["host", "address", "host_status", "setting", "desired", "actual", "effective", "setting_status", "detail"]


def write_csv(report: RunReport, out: IO[str] | None = None) -> None:
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow(COLUMNS)
    for h in report.hosts:
        if not h.settings:
            writer.writerow([h.name, h.address, h.status, "", "", "", "", "", h.detail])
            continue
        for s in h.settings:
            writer.writerow(
                [
                    h.name,
                    h.address,
                    h.status,
                    s.key,
                    to_text(s.desired, absent=""),
                    to_text(s.actual, absent=""),
                    to_text(s.effective, absent=""),
                    s.status,
                    s.detail,
                ]
            )
