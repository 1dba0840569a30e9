"""--help as an operator reads it at an 80-column terminal: every command's help fits, flags show no
value placeholder, -h works like --help, --version answers, and the exit codes are listed."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from portfleet import __version__
from portfleet.cli.app import app


def _commands() -> list[list[str]]:
    """Every command path of the app, found from its click tree (new commands are covered too)."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, path + [name])
        elif path:
            paths.append(path)

    walk(root, [])
    return paths


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p))
def test_every_help_fits_80_columns_without_bool_placeholders(path: list[str]) -> None:
    text = _help([*path, "-h"])
    assert "Usage:" in text
    wide = [line for line in text.splitlines() if len(line) > 80]
    assert not wide, f"{' '.join(path)} --help has lines past 80 columns: {wide[:3]}"
    assert "<bool>" not in text and "<path>" not in text and "range>" not in text  # values named, not typed


def test_root_help_lists_every_exit_code() -> None:
    text = " ".join(_help(["--help"]).split())
    for code in ("0 success", "2 bad usage", "3 drift", "4 hosts unreachable", "130 Ctrl-C", "143 SIGTERM",
                 "129 SIGHUP"):
        assert code in text


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"portfleet {__version__}"
