"""Server 2003 answers as Server 2003 does, not as the newer builds the controller was written against:
reg.exe 3.0's banner, TABs and error text; tasklist's "Console" session 0 (no session 0 isolation)."""

from __future__ import annotations

import pytest

from portfleet_lab.fleet import Fleet

PARAMS = r'"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"'


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    return Fleet.open(tmp_path_factory.mktemp("lab"), hosts=3, seed=4)


def test_reg_exe_3_query_layout(fleet):
    legacy = fleet.host("legacy-01")
    assert legacy.execute(f"reg add {PARAMS} /v MaxUserPort /t REG_DWORD /d 65534 /f").exit_code == 0
    r = legacy.execute(f"reg query {PARAMS} /v MaxUserPort")
    assert (r.stdout, r.stderr, r.exit_code) == (
        "! REG.EXE VERSION 3.0\r\n\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\r\n"
        "    MaxUserPort\tREG_DWORD\t0xfffe\r\n\r\n", "", 0)
    r = legacy.execute(f"reg query {PARAMS} /v TcpTimedWaitDelay")
    assert (r.stdout, r.stderr, r.exit_code) == (
        "", "Error:  The system was unable to find the specified registry key or value\r\n", 1)


def _modern_en_us(fleet):
    return next(h for h in fleet.hosts if not h.state.is_legacy and h.state.locale == "en-US")


def test_reg_query_on_a_modern_host_is_unchanged(fleet):
    modern = _modern_en_us(fleet)
    modern.execute(f"reg add {PARAMS} /v MaxUserPort /t REG_DWORD /d 65534 /f")
    r = modern.execute(f"reg query {PARAMS} /v MaxUserPort")
    assert r.stdout.endswith("\r\n    MaxUserPort    REG_DWORD    0xfffe\r\n\r\n") and r.stdout.startswith("\r\nHKEY_")
    r = modern.execute(f"reg query {PARAMS} /v NoSuchValue")
    assert r.stderr == "ERROR: The system was unable to find the specified registry key or value.\r\n"


def test_tasklist_session_zero_is_console_before_vista(fleet):
    rows = fleet.host("legacy-01").execute("tasklist /fo csv /nh").stdout.split("\r\n")
    assert rows[0] == '"System Idle Process","0","Console","0","8 K"'
    assert all('","Services","' not in row for row in rows)
    modern = _modern_en_us(fleet).execute("tasklist /fo csv /nh").stdout.split("\r\n")
    assert modern[0] == '"System Idle Process","0","Services","0","8 K"'


def test_schtasks_create_as_system_on_server_2003(fleet):
    r = fleet.host("legacy-01").execute(
        'schtasks /create /tn portfleet-reboot /sc once /sd 12/24/2030 /st 02:00:00 /tr "shutdown /r /t 300" /ru SYSTEM')
    assert (r.stdout, r.exit_code) == (
        'INFO: The task will be created under user name ("NT AUTHORITY\\SYSTEM").\r\n'
        'SUCCESS: The Scheduled task "portfleet-reboot" has successfully been created.\r\n', 0)
    r = _modern_en_us(fleet).execute(
        'schtasks /create /tn portfleet-reboot /sc once /sd 12/24/2030 /st 02:00 /tr "shutdown /r /t 300" /ru SYSTEM /f')
    assert r.stdout == 'SUCCESS: The scheduled task "portfleet-reboot" has successfully been created.\r\n'
