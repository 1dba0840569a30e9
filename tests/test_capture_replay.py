"""portfleet capture records a host; a lab host replaying that file answers audit and diagnose alike."""

from __future__ import annotations

import json

from test_fleet_apply_e2e import PLAYBOOK, as_json, by_name, portfleet


def test_capture_then_replay_reproduces_audit_and_diagnosis(lab, tmp_path):
    source = lab(hosts=6, profile="mixed", seed=7)
    capture = tmp_path / "app-01.json"
    proc = portfleet("capture", "-i", str(source.inventory), "-l", "app-01", "-o", str(capture), state=tmp_path / "s.db")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(capture.read_text())
    assert data["format"] == "portfleet-capture/1"
    assert data["metadata"]["hostname"] == "app-01"
    assert all({"command", "stdout", "stderr", "exit_code"} <= set(c) for c in data["commands"])
    assert source.password not in capture.read_text()

    original_audit = by_name(as_json(portfleet(
        "audit", "-i", str(source.inventory), "-p", str(PLAYBOOK), "-l", "app-01", "--format", "json", state=tmp_path / "a.db")))
    original_diag = as_json(portfleet("diagnose", "-i", str(source.inventory), "-l", "app-01", "--format", "json", state=tmp_path / "a.db"))
    source.stop()

    replay = lab(hosts=1, profile="defaults", seed=1, replay={"field-07": capture})
    assert "field-07" in [h["name"] for h in replay.hosts]
    audit = by_name(as_json(portfleet(
        "audit", "-i", str(replay.inventory), "-p", str(PLAYBOOK), "-l", "field-07", "--format", "json", state=tmp_path / "b.db")))
    assert audit["field-07"]["status"] == original_audit["app-01"]["status"]
    assert [(s["key"], s["actual"], s["status"]) for s in audit["field-07"]["settings"]] == [
        (s["key"], s["actual"], s["status"]) for s in original_audit["app-01"]["settings"]
    ]
    diag = as_json(portfleet("diagnose", "-i", str(replay.inventory), "-l", "field-07", "--format", "json", state=tmp_path / "b.db"))
    (was,), (now,) = original_diag["hosts"], diag["hosts"]
    assert now["verdict"] == was["verdict"] == "exhausted"
    assert now["culprit"] == was["culprit"]
    assert "LeakyApp.exe" in json.dumps(now["culprit"])

    # Anything the capture does not hold gets cmd.exe's 9009, never a made-up answer: a write fails.
    applied = as_json(portfleet("apply", "-i", str(replay.inventory), "-p", str(PLAYBOOK), "-l", "field-07", "--yes",
                                "--format", "json", state=tmp_path / "b.db"))
    host = by_name(applied)["field-07"]
    assert host["status"] == "error" and "exit 9009" in host["changes"][0]["detail"]
