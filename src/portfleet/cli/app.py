"""Root of the `portfleet` command: composes the command groups."""

from __future__ import annotations

import importlib
import sys
from typing import Iterable

import typer

from portfleet import __version__, gc_phases

from portfleet.cli.help_format import HELP_OPTIONS
from portfleet.cli.signals import exit_code_for, interrupting
from portfleet.exit_codes import EXIT_CODE_TABLE, EXIT_UNEXPECTED

# name -> (module, attribute, a group of subcommands?), in the order `--help` lists them. A command's
# module (and what it imports: the inventory loader, jinja2, the reboot planner...) is imported only
# when that command runs or when the whole list is needed (root help, a mistyped name): start-up is
# controller CPU every run pays, so a run imports its own command only.
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "demo": ("portfleet.cli.commands.demo", "demo", False),
    "audit": ("portfleet.cli.commands.audit", "audit", False),
    "apply": ("portfleet.cli.commands.apply", "apply", False),
    "rollback": ("portfleet.cli.commands.rollback", "rollback", False),
    "diagnose": ("portfleet.cli.commands.diagnose", "diagnose", False),
    "status": ("portfleet.cli.commands.status", "status", False),
    "capture": ("portfleet.cli.commands.capture", "capture", False),
    "inventory": ("portfleet.cli.commands.inventory", "app", True),
    "runs": ("portfleet.cli.commands.runs", "app", True),
    "reboot": ("portfleet.cli.commands.reboot", "app", True),
    "lab": ("portfleet.cli.commands.lab", "app", True),
}

ROOT_HELP = (
    "Keep a Windows (and Linux) fleet tuned against ephemeral TCP port exhaustion.\n\n"
    "Reads an Ansible inventory, compares hosts with a desired-state playbook, and pushes "
    "registry/netsh changes over WinRM or SSH with dry-run, verify and rollback.\n\n"
    "Start with `portfleet demo`: it runs the whole tour against a simulated lab fleet.\n\n"
    "Exit codes: " + ", ".join(f"{code} {meaning}" for code, meaning in EXIT_CODE_TABLE) + "."
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"portfleet {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Show portfleet's version and exit."),
) -> None:
    """Keep a Windows (and Linux) fleet tuned against ephemeral TCP port exhaustion."""


def build(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The root command with the named commands (all of them by default) registered."""
    wanted = set(names)
    root = typer.Typer(
        name="portfleet",
        help=ROOT_HELP,
        no_args_is_help=True,
        add_completion=False,
        context_settings=HELP_OPTIONS,
        rich_markup_mode=None,
        # A traceback must never print locals: one of them may hold a password.
        pretty_exceptions_show_locals=False,
    )
    root.callback()(_root)
    for name, (module, attribute, group) in COMMANDS.items():
        if name not in wanted:
            continue
        target = getattr(importlib.import_module(module), attribute)
        if group:
            root.add_typer(target, name=name)
        else:
            root.command(name=name)(target)
    return root


def __getattr__(name: str) -> typer.Typer:
    """`app`: the root with every command, for tests and tools that drive the CLI in-process."""
    if name == "app":
        full = globals()["app"] = build()
        return full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def invoked(argv: list[str]) -> list[str]:
    """The commands a command line needs registered: the one it names, or all of them when it names
    none that exists (root options, root help, a mistyped name that wants suggestions)."""
    if argv and argv[0] in COMMANDS:
        return [argv[0]]
    return list(COMMANDS)


# Commands that end once their work is done; `lab serve` and `demo` (which serves a lab) run as long as they are
# left to and keep the collector's default settings (gc_phases).
_SHORT_LIVED = frozenset(COMMANDS) - {"lab", "demo"}


def main() -> None:
    names = invoked(sys.argv[1:])
    if len(names) == 1 and names[0] in _SHORT_LIVED:
        gc_phases.starting()
    with interrupting() as seen:
        try:
            build(names)()
        except SystemExit as done:
            # click turns a KeyboardInterrupt that no run handled (one outside a fan-out, such as
            # during loading) into "Aborted!" and exit 1; the exit code must still name the signal.
            if done.code == EXIT_UNEXPECTED and seen.signum is not None:
                raise SystemExit(exit_code_for(seen.signum)) from None
            raise
