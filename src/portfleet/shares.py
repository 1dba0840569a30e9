""""A count or N%": rollout batches, reboot batches, max_unavailable, all parsed here.

Ansible's `serial` semantics: a host count (>= 1), or a percentage above 0 and at most 100 of some
total, rounded down and at least 1. Callers word their own error messages (a flag, a playbook line);
ShareError says only what is wrong with the value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
_COUNT = re.compile(r"[0-9]{1,9}")
_PERCENT = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,6})?)[ \t]*%")


class ShareError(ValueError):
    """Not a count or a share; the text says why (without a caller's context).

    `reason`: "malformed" (not a count/share at all), "too_small" (a count below 1), "out_of_range"."""

    def __init__(self, text: str, reason: str = "malformed") -> None:
        super().__init__(text)
        self.reason = reason


@dataclass(frozen=True)
class Share:
    count: int | None = None  # exactly one of count / percent is set
    percent: float | None = None

    def resolve(self, total: int) -> int:
        """The number of hosts out of `total`: the count, or the share rounded down, at least 1."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        return max(1, math.floor(total * self.percent / 100 + 1e-9))

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent:g}%"

    def to_json(self) -> int | str:
        return self.count if self.count is not None else str(self)


def parse_share(value: object, *, allow_percent: bool = True) -> Share:
    """A count (int, or ASCII digits) >= 1, or with allow_percent a text "N%" with 0 < N <= 100."""
    if isinstance(value, Share):
        return value
    if isinstance(value, bool):
        raise ShareError(f"{value!r} is not a count")
    if isinstance(value, int):
        if value < 1:
            raise ShareError(f"must be at least 1, got {value}", "too_small")
        return Share(count=value)
    if not isinstance(value, str):
        raise ShareError(f"{value!r} is not a count or a percentage")
    text = value.strip()
    if _COUNT.fullmatch(text):
        count = int(text)
        if count < 1:
            raise ShareError(f"must be at least 1, got {count}", "too_small")
        return Share(count=count)
    m = _PERCENT.fullmatch(text) if allow_percent else None
    if m is None:
        raise ShareError(f"{value!r} is not a {'count or a percentage' if allow_percent else 'count'}")
    pct = float(m.group(1))
    if not 0 < pct <= 100:
        raise ShareError(f"{value!r} is out of range (a share is above 0% and at most 100%)", "out_of_range")
    return Share(percent=pct)


def parse_percentage(value: object) -> float:
    """A threshold such as max_fail_percentage: a number or "N%", from 0 to 100 inclusive."""
    if isinstance(value, bool):
        raise ShareError(f"{value!r} is not a percentage")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        text = text[:-1].rstrip() if text.endswith("%") else text
        if not re.fullmatch(r"[0-9]{1,3}(?:\.[0-9]{1,6})?", text):
            raise ShareError(f"{value!r} is not a percentage")
        number = float(text)
    else:
        raise ShareError(f"{value!r} is not a percentage")
    if not 0 <= number <= 100:
        raise ShareError(f"{value!r} is out of range (0 to 100)", "out_of_range")
    return number
