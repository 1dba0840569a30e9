"""`--shard K/N`: one controller's slice of the selected hosts, as AWX job slicing splits them.

The hosts that the inventory, the play patterns and --limit select are sorted by name, and shard K of N
takes every N-th starting at the K-th (`hosts[K-1::N]`), so N controllers started with 1/N .. N/N by
any scheduler (a Kubernetes Indexed Job, AWX slicing, xargs -P) cover every host exactly once, and the
split depends only on the names, not on the order of the inventory files.

`--job NAME` (or $PORTFLEET_JOB) names the sliced job the shards belong to: every run a shard
records carries the job and its "K/N", so the shards are listed, rolled back and resumed together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

_SHARD = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")
# A scheduler's name for a run: a Kubernetes Job name, "awx-1234", a date. Printable and short, as
# it is shown in tables and stored in every run row.
_JOB = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,99}")


class ShardError(ValueError):
    pass


class EmptyShard(Exception):
    """The shard selects no host: said, and the command ends with exit 0 (there is nothing to do)."""

    def __init__(self, shard: "Shard", total: int) -> None:
        super().__init__(f"shard {shard} selects no host: the selection has {total} host(s), "
                         f"fewer than the {shard.count} shards; nothing to do")
        self.shard, self.total = shard, total


@dataclass(frozen=True)
class Shard:
    index: int  # K, 1-based
    count: int  # N

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, items: Sequence[T], name: Callable[[T], str]) -> list[T]:
        ordered = sorted(items, key=name)
        return ordered[self.index - 1 :: self.count]

    def take(self, items: Sequence[T], name: Callable[[T], str]) -> list[T]:
        """select(), or EmptyShard when it selects nothing."""
        chosen = self.select(items, name)
        if not chosen:
            raise EmptyShard(self, len(items))
        return chosen


def parse_shard(text: str) -> Shard:
    """'K/N' with 1 <= K <= N; ShardError says what would be right."""
    m = _SHARD.fullmatch(text.strip())
    if m is None:
        raise ShardError(f"--shard {text!r}: write K/N, e.g. 2/3 for the second of three shards")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ShardError(f"--shard {text!r}: K must be from 1 to N (N >= 1), e.g. 1/{max(count, 1)}")
    return Shard(index, count)


def parse_job(text: str) -> str:
    """A --job name: letters, digits and . _ : @ + = - (starting with a letter or digit), at most 100."""
    if _JOB.fullmatch(text) is None:
        shown = text[:40].encode("unicode_escape").decode("ascii")
        raise ShardError(f"--job {shown!r}: use letters, digits and . _ : @ + = - (at most 100, starting "
                         "with a letter or digit), e.g. the scheduler's job name")
    return text
