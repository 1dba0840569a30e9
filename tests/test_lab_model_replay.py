"""Hosts answering from a capture file (portfleet-capture/1)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

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


def test_an_unknown_version_is_refused_naming_both_versions(tmp_path):
    cap = write_capture(tmp_path / "v2.json")
    data = json.loads(cap.read_text())
    data["format"] = "portfleet-capture/2"
    cap.write_text(json.dumps(data))
    with pytest.raises(CaptureError) as err:
        Capture.load(cap)
    assert str(err.value) == (
        f"{cap}: capture format version '2' is not one this lab reads (it reads portfleet-capture/1); "
        "replay it with the portfleet release that wrote it (docs/capture-format.md)"
    )
    for fmt in (None, "other", "portfleet-capture", 1):
        data["format"] = fmt
        with pytest.raises(CaptureError, match='not a capture file: "format" must be "portfleet-capture/N"'):
            Capture.from_dict(data, "x.json")


def test_unknown_fields_are_ignored(tmp_path):
    """docs/capture-format.md "Versions": additive changes keep the version; readers ignore what they do not know."""
    cap = write_capture(tmp_path / "more.json", future_field={"a": 1})
    data = json.loads(cap.read_text())
    data["signature"] = "..."
    data["commands"][0]["duration_ms"] = 12
    capture = Capture.from_dict(data)
    assert capture.answer("ver") == ("\r\nMicrosoft Windows [Version 10.0.17763.5329]\r\n", "", 0)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(metadata=[]), "x.json: metadata must be an object"),
    (lambda d: d["metadata"].update(codepage="850"), "x.json: metadata.codepage must be an integer, got '850'"),
    (lambda d: d["metadata"].update(codepage=True), "x.json: metadata.codepage must be an integer, got True"),
    (lambda d: d["metadata"].update(codepage=12345), "x.json: metadata.codepage 12345 is not a code page this lab knows"),
    (lambda d: d["metadata"].update(os_version=10), "x.json: metadata.os_version must be a string, got 10"),
    (lambda d: d["metadata"].update(locale=["de"]), "x.json: metadata.locale must be a string, got ['de']"),
    (lambda d: d.pop("commands"), "x.json: commands must be an array (of command entries)"),
    (lambda d: d.update(commands={"ver": {}}), "x.json: commands must be an array (of command entries)"),
    (lambda d: d["commands"].append("ver"), "x.json: commands[5] must be an object"),
    (lambda d: d["commands"][1].pop("command"), "x.json: commands[1].command is missing"),
    (lambda d: d["commands"][1].update(command=["netstat"]), "x.json: commands[1].command must be a string"),
    (lambda d: d["commands"][2].pop("exit_code"), "x.json: commands[2].exit_code is missing"),
    (lambda d: d["commands"][2].update(exit_code="1116"), "x.json: commands[2].exit_code must be an integer"),
    (lambda d: d["commands"][2].update(exit_code=1.5), "x.json: commands[2].exit_code must be an integer"),
    (lambda d: d["commands"][0].update(stdout=None, stderr=7), "x.json: commands[0].stderr must be a string, got 7"),
    (lambda d: d["commands"][1].update(stdout_b64="not base64!"), "x.json: commands[1].stdout_b64 is not valid base64"),
    (lambda d: d["commands"][1].update(stdout_b64=42), "x.json: commands[1].stdout_b64 must be a string"),
])
def test_a_file_that_breaks_the_schema_is_refused_naming_the_field(tmp_path, change, message):
    data = json.loads(write_capture(tmp_path / "c.json").read_text())
    change(data)
    with pytest.raises(CaptureError) as err:
        Capture.from_dict(data, "x.json")
    assert str(err.value).startswith(message)


def test_unreadable_files_are_refused_not_crashed_on(tmp_path):
    bad = tmp_path / "bad.json"
    for content in (b"\xff\xfe not utf-8", b"{", b"[" * 100_000, b'{"format": 1' + b"9" * 5000 + b"}", b"[]"):
        bad.write_bytes(content)
        with pytest.raises(CaptureError, match=f"^{bad}: "):
            Capture.load(bad)
    with pytest.raises(CaptureError, match="cannot read capture file"):
        Capture.load(tmp_path / "missing.json")


def test_lab_serve_refuses_an_unknown_version_with_exit_2(tmp_path):
    cap = write_capture(tmp_path / "v9.json")
    cap.write_text(cap.read_text().replace("portfleet-capture/1", "portfleet-capture/9"))
    proc = subprocess.run(
        [sys.executable, "-m", "portfleet", "lab", "serve", "--hosts", "1", "--inventory-out", str(tmp_path / "inv.yml"),
         "--state-dir", str(tmp_path / "state"), "--replay", f"field-07={cap}"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"portfleet lab serve: {cap.resolve()}: capture format version '9' is not one this lab "
                           "reads (it reads portfleet-capture/1); replay it with the portfleet release that wrote it "
                           "(docs/capture-format.md)\n")
    assert proc.stdout == "" and not (tmp_path / "inv.yml").exists()
