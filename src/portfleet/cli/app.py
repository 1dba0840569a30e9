"""Root of the `portfleet` command: composes the command groups."""

from __future__ import annotations

import typer

from portfleet import __version__

from portfleet.cli.help_format import HELP_OPTIONS
from portfleet.cli.signals import exit_code_for, interrupting
from portfleet.exit_codes import EXIT_CODE_TABLE, EXIT_UNEXPECTED

from portfleet.cli.commands import inventory as inventory_cmd
from portfleet.cli.commands import lab as lab_cmd
from portfleet.cli.commands import reboot as reboot_cmd
from portfleet.cli.commands import runs as runs_cmd
from portfleet.cli.commands.apply import apply
from portfleet.cli.commands.audit import audit
from portfleet.cli.commands.capture import capture
from portfleet.cli.commands.demo import demo
from portfleet.cli.commands.diagnose import diagnose
from portfleet.cli.commands.rollback import rollback
from portfleet.cli.commands.status import status

app = typer.Typer(
    name="portfleet",
    help=(
        "Keep a Windows (and Linux) fleet tuned against ephemeral TCP port exhaustion.\n\n"
        "Reads an Ansible inventory, compares hosts with a desired-state playbook, and pushes "
        "registry/netsh changes over WinRM or SSH with dry-run, verify and rollback.\n\n"
        "Start with `portfleet demo`: it runs the whole tour against a simulated lab fleet.\n\n"
        "Exit codes: " + ", ".join(f"{code} {meaning}" for code, meaning in EXIT_CODE_TABLE) + "."
    ),
    no_args_is_help=True,
    add_completion=False,
    context_settings=HELP_OPTIONS,
    rich_markup_mode=None,
    # A traceback must never print locals: one of them may hold a password.
    pretty_exceptions_show_locals=False,
)

def _version(value: bool) -> None:
    if value:
        typer.echo(f"portfleet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Show portfleet's version and exit."),
) -> None:
    """Keep a Windows (and Linux) fleet tuned against ephemeral TCP port exhaustion."""


app.command()(demo)
app.command()(audit)
app.command()(apply)
app.command()(rollback)
app.command()(diagnose)
app.command()(status)
app.command()(capture)
app.add_typer(inventory_cmd.app, name="inventory")
app.add_typer(runs_cmd.app, name="runs")
app.add_typer(reboot_cmd.app, name="reboot")
app.add_typer(lab_cmd.app, name="lab")


def main() -> None:
    with interrupting() as seen:
        try:
            app()
        except SystemExit as done:
            # click turns a KeyboardInterrupt that no run handled (one outside a fan-out, such as
            # during loading) into "Aborted!" and exit 1; the exit code must still name the signal.
            if done.code == EXIT_UNEXPECTED and seen.signum is not None:
                raise SystemExit(exit_code_for(seen.signum)) from None
            raise
