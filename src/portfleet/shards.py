"""`--shard K/N`: one controller's slice of the selected hosts, as AWX job slicing splits them.

The hosts that the inventory, the play patterns and --limit select are sorted by name, and shard K of N
takes every N-th starting at the K-th (`hosts[K-1::N]`), so N controllers started with 1/N .. N/N by
any scheduler (a Kubernetes Indexed Job, AWX slicing, xargs -P) cover every host exactly once, and the
split depends only on the names, not on the order of the inventory files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

_SHARD = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")


class ShardError(ValueError):
    pass


@dataclass(frozen=True)
class Shard:
    index: int  # K, 1-based
    count: int  # N

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, items: Sequence[T], name: Callable[[T], str]) -> list[T]:
        ordered = sorted(items, key=name)
        return ordered[self.index - 1 :: self.count]


def parse_shard(text: str) -> Shard:
    """'K/N' with 1 <= K <= N; ShardError says what would be right."""
    m = _SHARD.fullmatch(text.strip())
    if m is None:
        raise ShardError(f"--shard {text!r}: write K/N, e.g. 2/3 for the second of three shards")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ShardError(f"--shard {text!r}: K must be from 1 to N (N >= 1), e.g. 1/{max(count, 1)}")
    return Shard(index, count)
