"""reg query / add / delete as Windows prints them (DESIGN.md "Output shapes")."""

from __future__ import annotations

import pytest

from portfleet_lab.fleet import Fleet

PARAMS = r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
FULL = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
NOT_FOUND = "ERROR: The system was unable to find the specified registry key or value.\r\n"


@pytest.fixture()
def fleet(tmp_path):
    return Fleet.open(tmp_path, hosts=8, seed=3)


@pytest.fixture()
def default_host(fleet):
    return next(h for h in fleet.hosts
                if not h.state.is_legacy and h.state.registry.get(FULL, "TcpTimedWaitDelay") is None
                and h.state.registry.get(FULL, "MaxUserPort") is None)


def test_query_missing_value(default_host):
    r = default_host.execute(f'reg query "{PARAMS}" /v MaxUserPort')
    assert (r.stdout, r.stderr, r.exit_code) == ("", NOT_FOUND, 1)


def test_add_then_query_dword_printed_as_hex(default_host):
    r = default_host.execute(f'reg add "{PARAMS}" /v MaxUserPort /t REG_DWORD /d 65534 /f')
    assert (r.stdout, r.stderr, r.exit_code) == ("The operation completed successfully.\r\n", "", 0)
    r = default_host.execute(f'reg query "{PARAMS}" /v MaxUserPort')
    assert r.stdout == f"\r\n{FULL}\r\n    MaxUserPort    REG_DWORD    0xfffe\r\n\r\n"
    assert r.exit_code == 0


def test_add_accepts_hex_data_and_value_names_are_case_insensitive(default_host):
    default_host.execute(f'reg add "{PARAMS}" /v TcpTimedWaitDelay /t REG_DWORD /d 0x1e /f')
    r = default_host.execute(f"reg query {PARAMS.lower()} /v tcptimedwaitdelay")
    # the key is echoed as typed (root spelled out), the value name as stored
    assert r.stdout == ("\r\nHKEY_LOCAL_MACHINE\\system\\currentcontrolset\\services\\tcpip\\parameters\r\n"
                        "    TcpTimedWaitDelay    REG_DWORD    0x1e\r\n\r\n")


def test_existing_value_without_f_prompts_and_waits(default_host):
    default_host.execute(f'reg add "{PARAMS}" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f')
    r = default_host.execute(f'reg add "{PARAMS}" /v TcpTimedWaitDelay /t REG_DWORD /d 60')
    assert r.stdout == "Value TcpTimedWaitDelay exists, overwrite(Yes/No)? "
    assert r.waiting_for_input
    # nothing changed
    assert "0x1e" in default_host.execute(f'reg query "{PARAMS}" /v TcpTimedWaitDelay').stdout
    r = default_host.execute(f'echo n| reg add "{PARAMS}" /v TcpTimedWaitDelay /t REG_DWORD /d 60')
    assert r.stdout.endswith("The operation was canceled by the user.\r\n") and not r.waiting_for_input


def test_invalid_syntax_and_data(default_host):
    r = default_host.execute(f'reg add "{PARAMS}" /v X /t REG_DWORD /d notanumber /f')
    assert r.stderr == 'ERROR: Invalid syntax.\r\nType "REG ADD /?" for usage.\r\n'
    assert r.exit_code == 1
    r = default_host.execute("reg query")
    assert r.stderr == 'ERROR: Invalid syntax.\r\nType "REG QUERY /?" for usage.\r\n'
    r = default_host.execute(f'reg query "{PARAMS}" /v')
    assert r.exit_code == 1 and r.stderr.startswith("ERROR: Invalid syntax.")
    r = default_host.execute(r"reg query HKXX\Software")
    assert r.stderr == 'ERROR: Invalid key name.\r\nType "REG QUERY /?" for usage.\r\n'


def test_query_key_lists_values_then_subkeys(default_host):
    r = default_host.execute(f'reg query "{PARAMS}"')
    lines = r.stdout.split("\r\n")
    assert lines[0] == "" and lines[1] == FULL
    assert "    Hostname    REG_SZ    " + default_host.name in lines
    assert "    NameServer    REG_SZ    " in lines  # empty string data keeps the separator
    blank = lines.index("", 2)
    assert all(line.startswith("    ") for line in lines[2:blank])
    assert lines[blank + 1] == FULL + r"\Adapters"
    assert r.stdout.endswith(FULL + "\\Winsock\r\n")


def test_delete_value(default_host):
    default_host.execute(f'reg add "{PARAMS}" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f')
    r = default_host.execute(f'reg delete "{PARAMS}" /v TcpTimedWaitDelay /f')
    assert r.stdout == "The operation completed successfully.\r\n"
    r = default_host.execute(f'reg delete "{PARAMS}" /v TcpTimedWaitDelay /f')
    assert (r.stderr, r.exit_code) == (NOT_FOUND, 1)


def test_reboot_pending_keys(fleet):
    pending = [h for h in fleet.hosts
               if h.execute(r'reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing'
                            r'\RebootPending"').exit_code == 0]
    assert len(pending) == 1
    host = pending[0]
    r = host.execute(r'reg query "HKLM\SYSTEM\CurrentControlSet\Control\Session Manager" /v PendingFileRenameOperations')
    assert "PendingFileRenameOperations    REG_MULTI_SZ    \\??\\C:\\" in r.stdout
    assert "\\0" in r.stdout  # REG_MULTI_SZ items joined by a literal \0
    other = next(h for h in fleet.hosts if h is not host)
    r = other.execute(r'reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired"')
    assert (r.stderr, r.exit_code) == (NOT_FOUND, 1)


def test_german_host_translates_messages_not_data(fleet):
    de = next(h for h in fleet.hosts if h.state.locale == "de-DE")
    r = de.execute(f'reg query "{PARAMS}" /v NoSuchValue')
    assert r.stderr == "FEHLER: Der angegebene Registrierungsschl\u00fcssel bzw. Wert wurde nicht gefunden.\r\n"
    r = de.execute(f'reg add "{PARAMS}" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f')
    assert r.stdout == "Der Vorgang wurde erfolgreich beendet.\r\n"
    assert "    TcpTimedWaitDelay    REG_DWORD    0x1e\r\n" in de.execute(f'reg query "{PARAMS}" /v TcpTimedWaitDelay').stdout


def test_changes_persist(tmp_path, default_host):
    default_host.execute(f'reg add "{PARAMS}" /v TcpTimedWaitDelay /t REG_DWORD /d 45 /f')
    again = Fleet.open(tmp_path, hosts=8, seed=3).host(default_host.name)
    assert "0x2d" in again.execute(f'reg query "{PARAMS}" /v TcpTimedWaitDelay').stdout
