"""Lab process lifecycle over the wire: reboots, restarts from the state directory, clean signal shutdown."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import time

import pytest
import winrm

EVENT_6005 = 'wevtutil qe System /q:"*[System[(EventID=6005)]]" /c:1 /rd:true /f:text'
TCPIP = r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"


def session(running, name):
    return winrm.Session(running.url(name), auth=(running.username, running.password), transport="ntlm")


def accepts(address, port=5985):
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(predicate, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def test_reboot_cycle_seen_over_the_wire(lab):
    # time scale 20: "shutdown /t 5" fires after 0.25 s; the restart keeps the host down for a few seconds
    running = lab(hosts=2, time_scale=20)
    host = running.hosts[0]
    s = session(running, host["name"])
    boot_before = running.control().host(host["name"])["boot_time"]
    last_start_before = s.run_cmd(EVENT_6005).std_out
    result = s.run_cmd('shutdown /r /t 5 /c "portfleet lab test"')
    assert result.status_code == 0, result.std_err
    assert wait_for(lambda: not accepts(host["address"]), timeout=10), "host never went down"
    with pytest.raises(Exception) as excinfo:
        session(running, host["name"]).run_cmd("hostname")
    assert "refused" in str(excinfo.value).lower()
    assert accepts(running.hosts[1]["address"])  # only the rebooted host is down
    assert wait_for(lambda: accepts(host["address"]), timeout=20), "host never came back"
    s = session(running, host["name"])
    assert s.run_cmd("hostname").std_out == host["name"].encode() + b"\r\n"
    assert running.control().host(host["name"])["boot_time"] > boot_before
    assert s.run_cmd(EVENT_6005).std_out != last_start_before  # a new "Event log service was started"


def test_state_survives_a_lab_restart(lab, tmp_path):
    first = lab(hosts=2, workdir=tmp_path / "one")
    name = first.hosts[1]["name"]
    s = session(first, name)
    result = s.run_cmd(f'reg add "{TCPIP}" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f')
    assert result.status_code == 0, result.std_err
    first.control().set_faults(first.hosts[0]["name"], wrong_password=True)
    first.stop()
    assert not (first.state_dir / "control.json").exists()

    second = lab(hosts=2, workdir=tmp_path / "two", state_dir=first.state_dir)
    assert (second.username, second.password) == (first.username, first.password)
    assert second.hosts == first.hosts
    query = session(second, name).run_cmd(f'reg query "{TCPIP}" /v TcpTimedWaitDelay')
    assert query.status_code == 0
    # hosts[1] of a 2-host mixed lab is the Server 2003 one: reg.exe 3.0 separates the fields with TABs
    assert re.search(rb"TcpTimedWaitDelay(    |\t)REG_DWORD(    |\t)0x1e\r\n", query.std_out)
    summary = {h["name"]: h for h in second.control().hosts()}
    assert summary[first.hosts[0]["name"]]["faults"]["wrong_password"] is True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_lab_cleanly(lab, sig):
    running = lab(hosts=2)
    address = running.hosts[0]["address"]
    assert accepts(address)
    running.stop(sig)  # asserts exit code 0
    assert not accepts(address)
    assert not (running.state_dir / "control.json").exists()
    assert (running.state_dir / "fleet.json").is_file()


def test_lab_prints_hosts_and_ready_but_no_secret(lab):
    running = lab(hosts=3)
    lines = [line for line in running.output if line.strip()]
    assert lines[-1].startswith("ready")
    assert [line.split()[0] for line in lines[:-1]] == [h["name"] for h in running.hosts]
    assert len({h["address"] for h in running.hosts}) == 3
    running.stop()
    assert running.password not in "\n".join(running.output + running.errors)


def test_latency_option_delays_every_response(lab):
    running = lab(hosts=1, latency=0.15)
    started = time.monotonic()
    session(running, running.hosts[0]["name"]).run_cmd("hostname")  # 8 HTTP exchanges
    assert time.monotonic() - started >= 8 * 0.15


def test_replay_host_answers_from_its_capture(lab, tmp_path):
    netstat = "\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n"
    capture = {
        "format": "portfleet-capture/1",
        "metadata": {"hostname": "SRV-APP-07", "os_version": "10.0.17763.6414", "codepage": 437},
        "commands": [
            {"command": "ver", "stdout": "\r\nMicrosoft Windows [Version 10.0.17763.6414]\r\n", "stderr": "", "exit_code": 0},
            {"command": "netstat -anoq", "stdout_b64": base64.b64encode(netstat.encode()).decode(), "stderr": "",
             "exit_code": 0},
        ],
    }
    path = tmp_path / "srv-app-07.json"
    path.write_text(json.dumps(capture), encoding="utf-8")
    running = lab(hosts=2, replay={"field-01": path})
    assert "field-01" in [h["name"] for h in running.hosts]
    s = session(running, "field-01")
    assert s.run_cmd("ver").std_out == b"\r\nMicrosoft Windows [Version 10.0.17763.6414]\r\n"
    assert s.run_cmd("netstat", ["-anoq"]).std_out == netstat.encode()
    unknown = s.run_cmd("hostname")
    assert unknown.status_code == 9009 and b"is not recognized" in unknown.std_err
