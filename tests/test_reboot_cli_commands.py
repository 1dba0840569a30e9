"""The command lines `portfleet reboot` renders from templates/windows/reboot/*.cmd.j2."""

from __future__ import annotations

from datetime import datetime

import pytest

from portfleet.reboot.commands import (
    abort_command,
    date_pattern_from_error,
    safe_comment,
    schtasks_date,
    shutdown_command,
    task_create_command,
    task_delete_command,
    task_query_command,
)
from portfleet.render import Renderer


@pytest.fixture(scope="module")
def renderer():
    return Renderer()


def test_shutdown_and_abort(renderer):
    assert shutdown_command(renderer, {}, 60, "portfleet: reboot to apply TcpTimedWaitDelay") == (
        'shutdown /r /t 60 /c "portfleet: reboot to apply TcpTimedWaitDelay"'
    )
    assert abort_command(renderer, {}) == "shutdown /a"
    with pytest.raises(ValueError):
        shutdown_command(renderer, {}, 315360001, "x")


def test_comment_keeps_cmd_exe_metacharacters_out():
    assert safe_comment('a & b | "c" ^ %PATH% <x> (y)') == "a b c PATH x y"
    assert len(safe_comment("x" * 600)) == 120


def test_schtasks_lines(renderer):
    run = shutdown_command(renderer, {}, 300, "portfleet: maintenance reboot")
    assert task_create_command(renderer, {}, start_date="11/28/2026", start_time="02:00", run=run) == (
        'schtasks /create /tn portfleet-reboot /sc once /sd 11/28/2026 /st 02:00 '
        '/tr "shutdown /r /t 300 /c \\"portfleet: maintenance reboot\\"" /ru SYSTEM /f'
    )
    legacy = task_create_command(renderer, {}, start_date="11/28/2026", start_time="02:00", run=run, legacy=True)
    assert legacy.startswith("schtasks /delete /tn portfleet-reboot /f >nul 2>&1 & schtasks /create ")
    assert "/st 02:00:00 " in legacy and legacy.endswith("/ru SYSTEM")
    assert task_query_command(renderer, {}) == "schtasks /query /tn portfleet-reboot /fo csv /nh"
    assert task_delete_command(renderer, {}) == "schtasks /delete /tn portfleet-reboot /f"


def test_user_templates_win(tmp_path):
    (tmp_path / "windows" / "reboot").mkdir(parents=True)
    (tmp_path / "windows" / "reboot" / "shutdown.cmd.j2").write_text(
        'shutdown /r /t {{ delay }} /d p:2:17 /c "{{ comment }}"\n'
    )
    assert shutdown_command(Renderer(tmp_path), {}, 60, "x") == 'shutdown /r /t 60 /d p:2:17 /c "x"'


@pytest.mark.parametrize(
    "pattern, expected",
    [("M/d/yyyy", "01/08/2027"), ("dd.MM.yyyy", "08.01.2027"), ("dd/MM/yyyy", "08/01/2027"),
     ("yyyy-MM-dd", "2027-01-08"), (None, "01/08/2027")],
)
def test_start_date_follows_the_users_short_date_format(pattern, expected):
    assert schtasks_date(datetime(2027, 1, 8, 2, 0), pattern) == expected


def test_start_date_format_read_from_schtasks_refusal():
    assert date_pattern_from_error('ERROR: Invalid Start Date (Date should be in "dd.mm.yyyy" format).') == "dd.MM.yyyy"
    assert date_pattern_from_error('FEHLER: Ungültiges Startdatum (Datum muss im Format "TT.MM.JJJJ" sein).') == "dd.MM.yyyy"
    assert date_pattern_from_error('ERROR: Invalid Start Time.') is None
