"""The lab's capture reader over hostile files (docs/capture-format.md): any bytes, any JSON, any
mutation of a valid capture load or are a CaptureError naming the file, never another exception."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfleet_lab.replay import Capture, CaptureError

FUZZ = settings(max_examples=200, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

VALID = {
    "format": "portfleet-capture/1",
    "metadata": {"hostname": "web-01", "os_version": "10.0.17763", "codepage": 437, "locale": "en-US"},
    "commands": [{"command": "ver", "exit_code": 0, "stdout": "\r\nMicrosoft Windows [Version 10.0.17763.1]\r\n",
                  "stderr": ""}],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


def _load(path: Path) -> None:
    try:
        capture = Capture.load(path)
    except CaptureError as exc:
        assert str(path) in str(exc)
        return
    assert isinstance(capture.answers, dict)
    for entries in capture.answers.values():
        for out, err, code in entries:
            assert isinstance(out, str) and isinstance(err, str) and isinstance(code, int)


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("cap") / "c.json"
    path.write_bytes(data)
    _load(path)


@FUZZ
@given(json_values)
def test_any_json(tmp_path_factory, data) -> None:
    path = tmp_path_factory.mktemp("cap") / "c.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    _load(path)


@FUZZ
@given(st.sampled_from(["format", "metadata", "commands"]), json_values,
       st.sampled_from(["command", "exit_code", "stdout", "stderr", "stdout_b64", "encoding"]), json_values)
def test_one_field_of_a_valid_capture_replaced(tmp_path_factory, top, top_value, field, field_value) -> None:
    for data in (dict(VALID, **{top: top_value}),
                 dict(VALID, commands=[dict(VALID["commands"][0], **{field: field_value})])):
        path = tmp_path_factory.mktemp("cap") / "c.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        _load(path)


def test_the_valid_capture_loads(tmp_path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(VALID), encoding="utf-8")
    assert Capture.load(path).answer("ver")[2] == 0
