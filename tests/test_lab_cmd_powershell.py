"""powershell -encodedcommand as pywinrm's Session.run_ps sends it."""

from __future__ import annotations

from base64 import b64encode

import pytest
import winrm

from portfleet_lab.fleet import Fleet


def encoded(script: str) -> str:
    return "powershell -encodedcommand " + b64encode(script.encode("utf_16_le")).decode("ascii")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    fleet = Fleet.open(tmp_path_factory.mktemp("lab"), hosts=4, profile="defaults")
    return fleet.hosts[0]


def test_native_lines(host):
    r = host.execute(encoded("hostname\nnetsh int ipv4 show dynamicport tcp"))
    assert r.stdout.startswith(f"{host.name}\r\n\r\nProtocol tcp Dynamic Port Range\r\n")
    assert (r.stderr, r.exit_code) == ("", 0)


def test_semicolons_and_exit_lastexitcode(host):
    r = host.execute(encoded(r"reg query HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters /v MaxUserPort; "
                             r"exit $LASTEXITCODE"))
    assert r.stderr == "ERROR: The system was unable to find the specified registry key or value.\r\n"
    assert r.exit_code == 1


def test_unknown_cmdlet_is_clixml_error_that_pywinrm_decodes(host):
    r = host.execute(encoded("Get-NetTCPConnection -State Bound"))
    assert r.stderr.startswith("#< CLIXML\r\n<Objs Version=\"1.1.0.1\"")
    assert r.exit_code == 1
    text = winrm.Session("unused", auth=("u", "p"))._clean_error_msg(r.stderr.encode()).decode()
    first = text.split("\nAt line:")[0].replace(" \n", " ")
    assert first == ("Get-NetTCPConnection : The term 'Get-NetTCPConnection' is not recognized as the name of a "
                     "cmdlet, function, script file, or operable program. Check the spelling of the name, or if a "
                     "path was included, verify that the path is correct and try again.")
    assert "At line:1 char:1\n+ Get-NetTCPConnection -State Bound\n+ ~~~~~~~~~~~~~~~~~~~~\n" in text
    assert text.endswith("+ FullyQualifiedErrorId : CommandNotFoundException")


def test_pywinrm_reference_capture_wrapping(host):
    # the same wrapping as the real capture in pywinrm's tests ("... operable program. Check " / "the spelling")
    r = host.execute(encoded("fake cmdlet"))
    assert '<S S="Error">fake : The term \'fake\' is not recognized as the name of a cmdlet, function, script file, ' \
           'or operable program. Check _x000D__x000A_</S><S S="Error">the spelling of the name' in r.stderr


def test_parameter_spellings(host):
    script = b64encode("hostname".encode("utf_16_le")).decode()
    for line in (f"powershell.exe -NoProfile -NonInteractive -EncodedCommand {script}",
                 f"powershell -enc {script}", f"PowerShell -ec {script}"):
        assert host.execute(line).stdout == f"{host.name}\r\n"
    assert host.execute('powershell -Command "Write-Output hello"').stdout == "hello\r\n"
