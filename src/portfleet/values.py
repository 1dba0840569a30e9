"""Setting values to and from JSON (state rows, --format json) and to text (tables)."""

from __future__ import annotations

from typing import Any

from portfleet.settings import PortRange, Value


def to_json(value: Value) -> Any:
    if isinstance(value, PortRange):
        return {"start": value.start, "num": value.num, "end": value.end}
    return value


def from_json(data: Any) -> Value:
    if isinstance(data, dict):
        return PortRange(start=int(data["start"]), num=int(data["num"]))
    if data is None:
        return None
    return int(data)


def to_text(value: Value, *, absent: str = "(absent)") -> str:
    if value is None:
        return absent
    if isinstance(value, PortRange):
        return f"{value.start}-{value.end} ({value.num})"
    return str(value)
