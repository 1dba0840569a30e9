"""A file written by `portfleet capture` is what docs/capture-format.md says, field by field.

The schema is read from the document's own tables (field, type, "portfleet writes"), so the writer, the
document and this test cannot drift apart silently: a field the writer adds without documenting it, a
documented field it stops writing, or a type it changes, fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portfleet_lab.replay import Capture
from test_fleet_apply_e2e import portfleet

DOC = Path(__file__).resolve().parents[1] / "docs" / "capture-format.md"
TABLES = {"top": "### Top level", "metadata": "### `metadata`", "command": "### `commands[]`"}


def doc_tables() -> dict[str, dict[str, dict[str, str]]]:
    """{table: {field: {"type": ..., "reader": ..., "writes": ...}}} from the document's markdown tables."""
    text = DOC.read_text(encoding="utf-8")
    tables: dict[str, dict[str, dict[str, str]]] = {}
    for key, heading in TABLES.items():
        assert heading in text, f"{DOC.name} lost its {heading!r} table"
        section = text.split(heading, 1)[1].split("\n#", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        header = [cell.strip().lower() for cell in section.split("\n| field", 1)[1].split("\n", 1)[0].split("|")]
        columns = ["field"] + header[1:-1]
        tables[key] = {}
        for row in rows:
            cells = dict(zip(columns, (cell.strip() for cell in row.strip().strip("|").split("|"))))
            tables[key][cells["field"].strip("`")] = {
                "type": cells["type"], "reader": cells["reader"], "writes": cells["portfleet writes"]
            }
    return tables


def type_ok(value: object, documented: str) -> bool:
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array of objects": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
        "null": lambda v: v is None,
    }
    alternatives = [t.strip() for t in documented.split(" or ")]
    assert all(t in checks for t in alternatives), f"{DOC.name}: unknown type {documented!r}"
    return any(checks[t](value) for t in alternatives)


def violations(obj: dict, table: dict[str, dict[str, str]], where: str) -> list[str]:
    """What in `obj` contradicts the documented table, as readable lines (empty: conforms)."""
    found = []
    for name, value in obj.items():
        if name not in table:
            found.append(f"{where}{name}: written but not documented")
        elif not type_ok(value, table[name]["type"]):
            found.append(f"{where}{name}: {value!r:.60} is not {table[name]['type']}")
    for name, spec in table.items():
        if spec["writes"].startswith("always") and name not in obj:
            found.append(f"{where}{name}: documented as always written, missing")
        if spec["writes"] == "never" and name in obj:
            found.append(f"{where}{name}: documented as never written by portfleet, present")
    return found


def test_the_document_tables_parse_into_the_schema():
    tables = doc_tables()
    assert set(tables["top"]) == {"format", "metadata", "commands"}
    assert {"hostname", "os_version", "codepage", "locale"} <= set(tables["metadata"])
    assert {"command", "stdout", "stdout_b64", "stderr", "stderr_b64", "exit_code"} == set(tables["command"])
    assert tables["command"]["exit_code"] == {"type": "integer", "reader": "required", "writes": "always"}
    assert tables["metadata"]["os_version"]["type"] == "string or null"
    # and the checker rejects what it must
    bad = {"command": "ver", "stdout": b"x", "exit_code": True, "extra": 1}
    assert violations(bad, tables["command"], "c.") == [
        "c.stdout: b'x' is not string", "c.exit_code: True is not integer", "c.extra: written but not documented",
        "c.stderr: documented as always written, missing",
    ]


def test_a_capture_of_each_lab_host_kind_is_what_the_document_says(lab, tmp_path):
    source = lab(hosts=6, profile="mixed", seed=7)  # modern, tuned, German, Server 2003, exhausted hosts
    tables = doc_tables()
    version = re.search(r"^# Capture files: `(portfleet-capture/\d+)`", DOC.read_text(encoding="utf-8"), re.M)
    assert version, "the document names its version in its title"
    for host in source.hosts:
        path = tmp_path / f"{host['name']}.json"
        proc = portfleet("capture", "-i", str(source.inventory), "-l", host["name"], "-o", str(path),
                         state=tmp_path / "s.db")
        if proc.returncode != 0:
            pytest.fail(f"capture of {host['name']} exited {proc.returncode}: {proc.stderr}")
        data = json.loads(path.read_text(encoding="utf-8"))
        problems = violations(data, tables["top"], "")
        problems += violations(data.get("metadata", {}), tables["metadata"], "metadata.")
        for i, entry in enumerate(data.get("commands", [])):
            problems += violations(entry, tables["command"], f"commands[{i}].")
        assert not problems, f"{host['name']}:\n" + "\n".join(problems)
        assert data["format"] == version.group(1)
        assert data["metadata"]["hostname"] == data["metadata"]["inventory_name"] == host["name"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["metadata"]["captured_at"])
        assert re.fullmatch(r"\d+\.\d+\.\d+(\.\d+)?", data["metadata"]["os_version"])
        assert len(data["commands"]) >= 3 and data["commands"][0]["command"] == "hostname"
        # and the lab's reader, with its own code, takes the file
        capture = Capture.load(path)
        assert capture.answer("hostname") == (host["name"] + "\r\n", "", 0)
