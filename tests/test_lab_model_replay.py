"""Hosts answering from a capture file (portfleet-capture/1)."""

from __future__ import annotations

import base64
import json

import pytest

from portfleet_lab.fleet import Fleet
from portfleet_lab.replay import Capture, CaptureError

NETSTAT_CP850 = "\r\nAktive Verbindungen\r\n\r\n  TCP    0.0.0.0:135            0.0.0.0:0              ABHÖREN          964\r\n"


def write_capture(path, **meta):
    data = {
        "format": "portfleet-capture/1",
        "metadata": {"hostname": "FIELD-07", "os_version": "10.0.17763.5329", "captured_at": "2026-11-20T09:14:03Z",
                     "tool_version": "portfleet 0.1.0", "codepage": 850, **meta},
        "commands": [
            {"command": "ver", "stdout": "\r\nMicrosoft Windows [Version 10.0.17763.5329]\r\n", "stderr": "",
             "exit_code": 0},
            {"command": "netstat -ano", "stdout_b64": base64.b64encode(NETSTAT_CP850.encode("cp850")).decode(),
             "stderr": "", "exit_code": 0},
            {"command": "shutdown /a", "stdout": "", "exit_code": 1116,
             "stderr": "Unable to abort the system shutdown because no shutdown was in progress.(1116)\r\n"},
            {"command": "hostname", "stdout": "FIELD-07\r\n", "stderr": "", "exit_code": 0},
            {"command": "hostname", "stdout": "FIELD-07-renamed\r\n", "stderr": "", "exit_code": 0},
        ],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_replayed_host_answers_exactly(tmp_path):
    cap = write_capture(tmp_path / "field.json")
    fleet = Fleet.open(tmp_path / "lab", hosts=3, profile="defaults", replay={"field-07": cap})
    host = fleet.host("field-07")
    assert host.groups == ["replay"] and host.os_version == "10.0.17763.5329" and host.oem_codepage == 850
    assert host.address == "127.0.10.4"
    r = host.execute("  ver ")
    assert (r.stdout, r.stderr, r.exit_code) == ("\r\nMicrosoft Windows [Version 10.0.17763.5329]\r\n", "", 0)
    r = host.execute("netstat -ano")
    assert r.stdout == NETSTAT_CP850 and r.stdout.encode("cp850") == NETSTAT_CP850.encode("cp850")
    r = host.execute("shutdown /a")
    assert r.exit_code == 1116 and r.stderr.endswith("(1116)\r\n")
    # repeated captures answer in order, the last one repeats
    assert [host.execute("hostname").stdout for _ in range(3)] == ["FIELD-07\r\n", "FIELD-07-renamed\r\n",
                                                                  "FIELD-07-renamed\r\n"]
    r = host.execute("VER")  # not the identical command line
    assert r.exit_code == 9009 and r.stderr.startswith("'VER' is not recognized")


def test_replay_replaces_an_existing_host_and_survives_reopen(tmp_path):
    cap = write_capture(tmp_path / "field.json")
    fleet = Fleet.open(tmp_path / "lab", hosts=3, profile="defaults")
    name = fleet.hosts[0].name
    Fleet.open(tmp_path / "lab", hosts=3, replay={name: cap})
    again = Fleet.open(tmp_path / "lab", hosts=3)
    assert again.host(name).execute("ver").stdout.endswith("[Version 10.0.17763.5329]\r\n")
    assert again.host(name).capture is not None and len(again.hosts) == 3


def test_bad_capture_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    with pytest.raises(CaptureError):
        Capture.load(bad)
    bad.write_text('{"format": "portfleet-capture/1", "commands": [{"command": "ver"}]}')
    with pytest.raises(CaptureError):
        Capture.load(bad)
