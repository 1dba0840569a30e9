"""`portfleet status` as a table that fits the terminal (DESIGN "Style": host and status never cut).

Columns: host, status, seen (UTC), one per setting, by (the run's kind, job and shard), run, detail.
When the whole table is wider than the terminal, drift cells fold onto two lines and the columns
are taken in that order of importance while they fit (seen, the settings, by, run); a detail
column narrower than a sliver goes under the table, one line per host. `--wide` shows all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from portfleet.cli.render.run_tables import SHORT, STYLE
from portfleet.status import NEVER_SEEN, FleetStatus, HostState, SettingState

_PER_COLUMN = 3  # a border and a space of padding either side, as in run_tables
MIN_DETAIL = 24
STATUS_STYLE = {**STYLE, NEVER_SEEN: "dim"}


def short(value: Any) -> str:
    """A stored value for a cell: ranges as first-last, absent as '-'."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return f"{value['start']}-{value['end']}"
    return str(value)


def setting_cell(s: SettingState | None) -> Text:
    if s is None:
        return Text("")
    if s.status == "drift":
        return Text(f"{short(s.actual)} → {short(s.desired)}", style=STYLE["drift"])
    if s.status == "pending_reboot":
        return Text(f"{short(s.actual)} ⟳", style=STYLE["pending_reboot"])
    if s.status == "unsupported":
        return Text("n/a", style=STYLE["unsupported"])
    return Text(short(s.actual), style=STYLE.get(s.status, ""))


def by_text(h: HostState) -> str:
    if h.seen is None:
        return ""
    kind = h.seen.kind + (" --check" if h.seen.check_mode else "")
    return " ".join(x for x in (kind, h.seen.job, h.seen.shard) if x)


def detail_text(h: HostState) -> str:
    parts = [h.detail] if h.detail else []
    if h.read is not None and h.seen is not None and h.read.run_id != h.seen.run_id:
        parts.append(f"values as read by run {h.read.run_id} at {h.read.at[:16].replace('T', ' ')}")
    if h.pending:
        since = min(p.applied_at for p in h.pending).strftime("%Y-%m-%d %H:%M")
        parts.append(f"awaits a reboot: {', '.join(p.setting for p in h.pending)} written {since}")
    if h.lease is not None and h.lease.live:
        parts.append(f"being worked on: {h.lease.holder()}")
    return "; ".join(parts)


@dataclass(eq=False)  # `column in shown` asks for this very column, not an equal one
class _Column:
    header: str
    cells: list[Text]
    narrow_header: str | None = None  # a header that may wrap at its spaces

    def natural(self) -> int:
        return max([len(self.header)] + [len(line) for c in self.cells for line in c.plain.split("\n")])

    def folded(self) -> int:
        header = max(len(w) for w in (self.narrow_header or self.header).split())
        return max([header] + [len(line) for c in self.cells for line in _fold(c.plain).split("\n")])


def _fold(text: str) -> str:
    return text.replace(" → ", "\n→ ")


def status_table(status: FleetStatus, *, width: int | None = None, wide: bool = False) -> tuple[Table, list[str]]:
    """The table fitted to `width`, and the lines to print under it."""
    hosts = status.hosts
    keys: list[str] = []
    for h in hosts:
        for s in h.settings:
            if s.key not in keys:
                keys.append(s.key)
    names, statuses = [h.name for h in hosts], [h.status for h in hosts]
    seen = _Column("seen (UTC)", [Text(h.seen.at[:16].replace("T", " ") if h.seen else "") for h in hosts], "seen (UTC)")
    settings = [_Column(SHORT.get(k, k), [setting_cell(next((s for s in h.settings if s.key == k), None)) for h in hosts])
                for k in keys]
    by = _Column("by", [Text(by_text(h)) for h in hosts])
    run = _Column("run", [Text(h.seen.run_id if h.seen else "") for h in hosts])
    optional = [seen, *settings, by, run]
    details = [detail_text(h) for h in hosts]
    budget = None if wide or width is None else width - 1
    used = 1 + _PER_COLUMN * 2 + max([4] + [len(n) for n in names]) + max([6] + [len(s) for s in statuses])
    fold = False
    shown = list(optional)
    if budget is not None and used + sum(c.natural() + _PER_COLUMN for c in optional) > budget:
        fold, shown = True, []
        for column in optional:
            if used + column.folded() + _PER_COLUMN <= budget:
                shown.append(column)
                used += column.folded() + _PER_COLUMN
    elif budget is not None:
        used += sum(c.natural() + _PER_COLUMN for c in optional)
    detail_column = any(details) and (budget is None or budget - used - _PER_COLUMN >= MIN_DETAIL)

    table = Table(header_style="bold", caption_justify="left")
    table.add_column("host", no_wrap=True, min_width=max([0] + [len(n) for n in names]))
    table.add_column("status", no_wrap=True, min_width=max([0] + [len(s) for s in statuses]))
    for column in optional:
        if column in shown:
            header = (column.narrow_header or column.header) if fold else column.header
            table.add_column(header, overflow="fold", width=column.folded() if fold else None,
                             no_wrap=column is run)
    if detail_column:
        table.add_column("detail", overflow="fold", ratio=1)
    for i, h in enumerate(hosts):
        row: list[Any] = [h.name, Text(statuses[i], style=STATUS_STYLE.get(statuses[i], ""))]
        for column in optional:
            if column in shown:
                cell = column.cells[i]
                row.append(Text(_fold(cell.plain), style=cell.style) if fold else cell)
        if detail_column:
            row.append(details[i])
        table.add_row(*row)
    table.caption = "as last recorded, no host contacted;  a → b: drift, a is set, b is wanted;  ⟳ awaits a reboot"
    notes: list[str] = []
    hidden = [c.header for c in optional if c not in shown]
    if hidden:
        notes.append(f"not shown at this width: {', '.join(hidden)} (use --wide, or --format json)")
    if not detail_column:
        notes.extend(f"{h.name}: {d}" for h, d in zip(hosts, details) if d)
    return table, notes


def summary_text(status: FleetStatus) -> str:
    counts = status.summary()
    parts = [f"{counts['hosts']} host(s)"]
    parts += [f"{n} {s}" for s, n in sorted(counts.items()) if s not in ("hosts", "awaiting_reboot") and n]
    if counts["awaiting_reboot"]:
        parts.append(f"{counts['awaiting_reboot']} awaiting a reboot")
    return ", ".join(parts) + f"   (state {status.state})"
