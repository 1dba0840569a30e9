"""What makes an inventory value a template, and Ansible's ``!unsafe`` opt-out. No Jinja imported here:
the loader asks these questions of every value and must stay cheap."""

from __future__ import annotations

from typing import Any

# Ansible's is_possibly_template: a variable, block or comment start anywhere in a string.
TEMPLATE_STARTS = ("{{", "{%", "{#")


class UnsafeText(str):
    """A ``!unsafe`` string: Ansible never templates it; portfleet neither."""

    __slots__ = ()


def holds_template_marks(value: Any) -> bool:
    """True for text that still holds '{{' (or '{%', '{#'), templated or not: never an address or password."""
    # '{' first: it rejects nearly every value with one scan (this runs for every var of every host).
    return isinstance(value, str) and "{" in value and ("{{" in value or "{%" in value or "{#" in value)


def is_template(value: Any) -> bool:
    """True for a string Ansible would template (not ``!unsafe``)."""
    return holds_template_marks(value) and not isinstance(value, UnsafeText)


def mark_unsafe(value: Any) -> Any:
    """``value`` with every string in it (at any depth) made UnsafeText."""
    if isinstance(value, str):
        return UnsafeText(value)
    if isinstance(value, list):
        return [mark_unsafe(v) for v in value]
    if isinstance(value, dict):
        return {k: mark_unsafe(v) for k, v in value.items()}
    return value
