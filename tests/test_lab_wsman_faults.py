"""Faults injected into a running lab (control channel and `portfleet lab fault`), as a WinRM client sees them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WinRMTransportError

from portfleet_lab.control import LabControlError


@pytest.fixture(scope="module")
def running(module_lab):
    return module_lab(hosts=4)


def session(running, name, **kwargs):
    return winrm.Session(running.url(name), auth=(running.username, running.password), transport="ntlm", **kwargs)


def hostname_ok(running, name):
    return session(running, name).run_cmd("hostname").std_out == name.encode() + b"\r\n"


def cli(running, *args):
    return subprocess.run(
        [sys.executable, "-m", "portfleet", "lab", *args, "--state-dir", str(running.state_dir)],
        capture_output=True, text=True, timeout=60,
    )


def connect_refused(address, port=5985):
    try:
        socket.create_connection((address, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_unreachable_refuses_connections_and_comes_back(running):
    host = running.hosts[0]
    faults = running.control().set_faults(host["name"], unreachable=True)
    assert faults["unreachable"] is True
    try:
        assert connect_refused(host["address"])
        with pytest.raises(requests.exceptions.ConnectionError):
            session(running, host["name"]).run_cmd("hostname")
        assert running.control().endpoint(host["name"])["listening"] is False
        assert hostname_ok(running, running.hosts[1]["name"])  # the others are unaffected
    finally:
        running.control().set_faults(host["name"], unreachable=False)
    assert hostname_ok(running, host["name"])


def test_unreachable_aborts_open_connections(running):
    host = running.hosts[0]
    p = winrm.Protocol(running.url(host["name"]), transport="ntlm", username=running.username, password=running.password)
    shell_id = p.open_shell()
    running.control().set_faults(host["name"], unreachable=True)
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            p.run_command(shell_id, "ver")
    finally:
        running.control().set_faults(host["name"], unreachable=False)


def test_wrong_password_fault_through_the_cli(running):
    name = running.hosts[1]["name"]
    result = cli(running, "fault", name, "wrong-password")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["faults"]["wrong_password"] is True
    try:
        with pytest.raises(InvalidCredentialsError):
            session(running, name).run_cmd("hostname")
        assert hostname_ok(running, running.hosts[2]["name"])
    finally:
        result = cli(running, "fault", name, "wrong-password", "--off")
        assert result.returncode == 0, result.stderr
    assert hostname_ok(running, name)


def test_slow_host_is_waited_for_through_operation_timeouts(running):
    name = running.hosts[2]["name"]
    assert cli(running, "fault", name, "slow=2.5").returncode == 0
    try:
        p = winrm.Protocol(
            running.url(name), transport="ntlm", username=running.username, password=running.password,
            operation_timeout_sec=1, read_timeout_sec=4,
        )
        shell_id = p.open_shell()
        started = time.monotonic()
        command_id = p.run_command(shell_id, "hostname")
        with pytest.raises(WinRMOperationTimeoutError):
            p.get_command_output_raw(shell_id, command_id)
        stdout, _, code = p.get_command_output(shell_id, command_id)
        assert time.monotonic() - started >= 2.4
        assert (stdout, code) == (name.encode() + b"\r\n", 0)
        p.cleanup_command(shell_id, command_id)
        p.close_shell(shell_id)
    finally:
        assert cli(running, "fault", name, "slow", "--off").returncode == 0
    assert running.control().hosts()[2]["faults"]["slow_seconds"] == 0


def test_reset_mid_command_aborts_the_connection_after_the_command_ran(running):
    name = running.hosts[3]["name"]
    assert cli(running, "fault", name, "reset").returncode == 0
    try:
        p = winrm.Protocol(running.url(name), transport="ntlm", username=running.username, password=running.password)
        shell_id = p.open_shell()  # Create and Command still work: the reset hits while output is received
        command_id = p.run_command(shell_id, "ver")
        with pytest.raises(requests.exceptions.ConnectionError) as excinfo:
            p.get_command_output(shell_id, command_id)
        assert isinstance(excinfo.value.args[0].args[1], ConnectionResetError)
    finally:
        assert cli(running, "fault", name, "reset", "--off").returncode == 0
    assert hostname_ok(running, name)


def test_http_500_fault(running):
    name = running.hosts[3]["name"]
    running.control().set_faults(name, http_500=True)
    try:
        with pytest.raises(WinRMTransportError) as excinfo:
            session(running, name).run_cmd("hostname")
        assert excinfo.value.code == 500
    finally:
        running.control().set_faults(name, http_500=False)
    assert hostname_ok(running, name)


def test_fault_cli_rejects_bad_input(running):
    result = cli(running, "fault", running.hosts[0]["name"], "meltdown")
    assert result.returncode == 2 and "unknown fault" in result.stderr
    result = cli(running, "fault", "no-such-host", "reset")
    assert result.returncode == 1 and "no host" in result.stderr
    with pytest.raises(LabControlError):
        running.control().set_faults(running.hosts[0]["name"], slow_seconds=-1)


def test_show_prints_the_host_model(running):
    name = running.hosts[0]["name"]
    result = cli(running, "show", name)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["name"] == name and data["address"] == running.hosts[0]["address"]
    assert running.password not in result.stdout
