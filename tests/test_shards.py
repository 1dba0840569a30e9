"""--shard K/N takes AWX job slicing's split: name-sorted hosts, every N-th from the K-th."""

from __future__ import annotations

import pytest

from portfleet.shards import ShardError, parse_shard


def test_shards_cover_every_host_exactly_once_whatever_the_input_order() -> None:
    names = [f"web-{i:03d}" for i in range(47)][::-1] + ["app-1", "db-9"]
    shards = [parse_shard(f"{k}/5").select(names, str) for k in range(1, 6)]
    seen = [n for shard in shards for n in shard]
    assert sorted(seen) == sorted(names) and len(seen) == len(set(seen))
    assert shards[0][:3] == sorted(names)[0:15:5]  # hosts[K-1::N] of the sorted names


def test_a_shard_past_the_host_count_is_empty() -> None:
    assert parse_shard("4/4").select(["a", "b"], str) == []


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "x", "1/²", "2", "-1/3", "1/3/4"])
def test_bad_shards_say_what_is_right(text: str) -> None:
    with pytest.raises(ShardError, match="K/N|from 1 to N"):
        parse_shard(text)


def test_take_refuses_an_empty_shard_saying_how_many_hosts_there_were() -> None:
    from portfleet.shards import EmptyShard

    assert parse_shard("2/3").take(["c", "a", "b"], str) == ["b"]
    with pytest.raises(EmptyShard, match=r"shard 3/3 selects no host: the selection has 2 host\(s\)"):
        parse_shard("3/3").take(["a", "b"], str)


@pytest.mark.parametrize("name", ["nightly-2026-12-01", "awx-1234", "portfleet-audit:7", "a", "x" * 100])
def test_job_names_a_scheduler_gives_are_taken(name: str) -> None:
    from portfleet.shards import parse_job

    assert parse_job(name) == name


@pytest.mark.parametrize("name", ["", "-x", "x" * 101, "two words", "tab\tname", "new\nline", "ümlaut", "a/b"])
def test_other_job_names_are_refused_without_echoing_control_characters(name: str) -> None:
    from portfleet.shards import parse_job

    with pytest.raises(ShardError, match="--job") as caught:
        parse_job(name)
    assert "\n" not in str(caught.value) and "\t" not in str(caught.value)
