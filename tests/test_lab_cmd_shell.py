"""cmd.exe /c semantics of a lab host: parsing, expansion, chaining, redirection, exit codes."""

from __future__ import annotations

import pytest

from portfleet_lab.fleet import Fleet

NOT_RECOGNIZED = "'{}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    return Fleet.open(tmp_path_factory.mktemp("lab"), hosts=8, seed=7)


@pytest.fixture(scope="module")
def web(fleet):
    return next(h for h in fleet.hosts if h.groups == ["web"] and h.state.locale == "en-US")


def test_ver_prints_blank_line_then_version(fleet):
    for host in fleet.hosts:
        r = host.execute("ver")
        assert r.stdout == f"\r\nMicrosoft Windows [Version {host.os_version}]\r\n"
        assert (r.stderr, r.exit_code) == ("", 0)


def test_hostname_and_echo_chain(web):
    r = web.execute("echo hello& hostname")
    assert r.stdout == f"hello\r\n{web.name}\r\n"
    # cmd keeps the space before "&" as part of echo's text
    assert web.execute("echo hello & hostname").stdout.startswith("hello \r\n")


def test_unknown_command_is_9009_on_stderr(web):
    r = web.execute("frobnicate /x")
    assert r.stdout == ""
    assert r.stderr == NOT_RECOGNIZED.format("frobnicate")
    assert r.exit_code == 9009


def test_unknown_command_localized_on_german_host(fleet):
    de = next(h for h in fleet.hosts if h.state.locale == "de-DE")
    r = de.execute("frobnicate")
    assert r.stderr == 'Der Befehl "frobnicate" ist entweder falsch geschrieben oder\r\nkonnte nicht gefunden werden.\r\n'
    assert r.exit_code == 9009


def test_and_or_operators(web):
    assert web.execute("echo a&& echo b|| echo c").stdout == "a\r\nb\r\n"
    r = web.execute("nope && echo never")
    assert r.stdout == "" and r.exit_code == 9009
    r = web.execute("nope || echo fallback")
    assert r.stdout == "fallback\r\n"
    assert r.exit_code == 9009  # echo does not reset ERRORLEVEL; cmd /c returns it


def test_errorlevel_is_expanded_before_the_line_runs(web):
    r = web.execute("nope & echo %ERRORLEVEL%")
    assert r.stdout == "0\r\n"
    r = web.execute('cmd /c "nope & echo %ERRORLEVEL%"')
    assert r.stdout == "0\r\n" and r.exit_code == 9009


def test_variables(web):
    r = web.execute("echo %COMPUTERNAME%-%OS%-%UNDEFINED_VAR%")
    assert r.stdout == f"{web.name.upper()}-Windows_NT-%UNDEFINED_VAR%\r\n"
    date = web.execute("echo %DATE%").stdout.strip()
    assert date[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun") and date[3] == " "


def test_redirections(web):
    assert web.execute("nope 2>nul").stderr == ""
    r = web.execute("nope 2>&1")
    assert r.stdout == NOT_RECOGNIZED.format("nope") and r.stderr == ""
    r = web.execute("echo moved 1>&2")
    assert r.stdout == "" and r.stderr == "moved \r\n"
    r = web.execute("hostname >nul 2>&1")
    assert (r.stdout, r.stderr, r.exit_code) == ("", "", 0)
    r = web.execute("(echo a & nope) >nul 2>&1")
    assert (r.stdout, r.stderr, r.exit_code) == ("", "", 9009)


def test_quotes_protect_operators(web):
    assert web.execute('echo "a & b"').stdout == '"a & b"\r\n'
    assert web.execute("echo a ^& b").stdout == "a & b\r\n"


def test_syntax_error(web):
    r = web.execute("& echo x")
    assert r.stderr == "& was unexpected at this time.\r\n"
    assert r.exit_code == 255


def test_echo_forms(web):
    assert web.execute("echo.").stdout == "\r\n"
    assert web.execute("echo").stdout == "ECHO is on.\r\n"


def test_program_paths_and_extensions(web):
    r = web.execute(r"C:\Windows\System32\HOSTNAME.EXE")
    assert r.stdout == f"{web.name}\r\n"


def test_pipe_feeds_stdin(web):
    # answering reg's overwrite prompt through a pipe, as `echo y| reg add ...` does
    key = r'"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"'
    web.execute(f"reg add {key} /v LabPipe /t REG_DWORD /d 1 /f")
    r = web.execute(f"echo y| reg add {key} /v LabPipe /t REG_DWORD /d 2")
    assert r.stdout == "Value LabPipe exists, overwrite(Yes/No)? The operation completed successfully.\r\n"
    assert "0x2" in web.execute(f"reg query {key} /v LabPipe").stdout
    web.execute(f"reg delete {key} /v LabPipe /f")


def test_a_pipe_to_an_unknown_program_fails_like_cmd(web):
    r = web.execute("echo %OS%|Windows_NT")
    assert r.stdout == "" and r.exit_code == 9009
    assert r.stderr == NOT_RECOGNIZED.format("Windows_NT")
