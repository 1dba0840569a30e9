"""How `apply`, `audit` and `rollback` show a run: warnings, changes, the host table, the summary."""

from __future__ import annotations

from typing import Any, NoReturn

import typer

from portfleet.cli import common as c
from portfleet.cli.signals import exit_code_for


def print_run(report: Any, *, title: str | None = None, changes: bool = False, check: bool = False,
              diff: bool = False, wide: bool = False) -> None:
    """The table view of a run: its warnings (stderr), the changes if asked, the host table (fitted to
    the terminal unless `wide`), the summary."""
    from portfleet.cli.render.run_tables import audit_table, print_warnings, summary_line

    print_warnings(c.err, report)
    if changes:
        print_changes(report, check, diff)
    table, notes = audit_table(report, title=title, width=c.out.width, wide=wide)
    c.wide_console(table).print(table) if wide else c.out.print(table)
    for line in notes:
        c.out.print(line, markup=False, highlight=False)
    c.out.print(summary_line(report))


def print_changes(report: Any, check: bool, diff: bool) -> None:
    """--check: the exact commands per host (and with --diff each value before and after);
    otherwise the table of the writes made, when there were any."""
    from rich.markup import escape

    from portfleet.cli.render.run_tables import changes_table

    if check:
        c.out.print("[bold]Check mode: nothing was changed. These commands would run:[/bold]")
        for h in report.hosts:
            if not h.changes:
                continue
            c.out.print(f"[bold]{escape(h.name)}[/bold] ({escape(h.address)})")
            for ch in h.changes:
                if diff:
                    from portfleet.values import to_text

                    c.out.print(f"  [red]- {ch.key}: {to_text(ch.before)}[/red]")
                    c.out.print(f"  [green]+ {ch.key}: {to_text(ch.after)}[/green]")
                c.out.print(f"  {ch.command}", markup=False)
        return
    if any(h.changes for h in report.hosts):
        c.out.print(changes_table(report, diff))


def exit_for_run(report: Any) -> NoReturn:
    """130/143/129 for a run a signal cut short, else the report's own code (0 / 3 / 4)."""
    if report.interrupted_by is not None:
        raise typer.Exit(exit_code_for(report.interrupted_by))
    raise typer.Exit(report.exit_code())
