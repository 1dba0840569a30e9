"""Rolling-reboot planning: windows, zones, DST, group limits, batch sizes, latest safe start."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from portfleet.reboot.planner import PolicyError, RebootHost, RebootPlan, RebootPolicy, plan_reboots
from portfleet.reboot.maintenance import parse_windows

UTC = timezone.utc
MIN = timedelta(minutes=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hosts(prefix: str, n: int, groups: list[str], windows: list[str], tz: str, minutes: int = 30, freeze=()) -> list[RebootHost]:
    sched = parse_windows(windows, tz, freeze)
    return [RebootHost(f"{prefix}-{i:02d}", groups, sched, timedelta(minutes=minutes)) for i in range(1, n + 1)]


def table(plan: RebootPlan) -> list[tuple[datetime, tuple[str, ...]]]:
    return [(b.start, b.hosts) for b in plan.batches]


def assert_plan_is_safe(plan: RebootPlan, policy: RebootPolicy, limits: dict[str, int], cap: int) -> None:
    """What must hold for every plan, whatever the input."""
    previous_end = None
    for b in plan.batches:
        assert len(b.hosts) <= cap
        if previous_end is not None:
            assert b.start >= previous_end + policy.pause  # batches run one after another
        previous_end = b.estimated_end
        assert b.start <= b.latest_safe_start
        assert b.window.start <= b.start < b.window.end
        for m in b.members:
            assert m.window.start <= b.start and b.start + m.duration <= m.window.end
        for group, limit in limits.items():
            assert sum(group in m.groups for m in b.members) <= limit


# -- the fleet of the issue: 20 hosts, two windows, two zones, a DST change --------------------------


def test_twenty_hosts_two_zones_across_berlin_spring_forward() -> None:
    # now: Friday 2027-03-26. Berlin springs forward on Sunday 2027-03-28 (02:00 CET -> 03:00 CEST);
    # New York is already on EDT, so the two zones are 5h apart now and 6h apart after Sunday.
    web = hosts("web", 10, ["web"], ["Sun 02:00-05:00"], "Europe/Berlin")
    # New York's freeze date 2027-04-03 (a Saturday, local) removes the window that starts that evening.
    sql = hosts("sql", 10, ["sql"], ["Sat 22:00-Sun 01:00"], "America/New_York", freeze=["2027-04-03"])
    policy = RebootPolicy(batch_size="20%", max_unavailable={"sql": 1, "web": "30%"})
    fleet = web + sql
    plan = plan_reboots(fleet, utc(2027, 3, 26, 12), policy)

    # Berlin's window on the DST Sunday opens at the first valid instant, 03:00 CEST = 01:00Z, and
    # closes at 05:00 CEST = 03:00Z: two real hours. New York's is 02:00Z-05:00Z.
    assert table(plan) == [
        (utc(2027, 3, 28, 1, 0), ("web-01", "web-02", "web-03")),  # 30% of 10 web = 3
        (utc(2027, 3, 28, 1, 30), ("web-04", "web-05", "web-06")),
        (utc(2027, 3, 28, 2, 0), ("sql-01", "web-07", "web-08", "web-09")),  # 20% of 20 = 4; 1 sql
        (utc(2027, 3, 28, 2, 30), ("sql-02", "web-10")),
        (utc(2027, 3, 28, 3, 0), ("sql-03",)),
        (utc(2027, 3, 28, 3, 30), ("sql-04",)),
        (utc(2027, 3, 28, 4, 0), ("sql-05",)),
        (utc(2027, 3, 28, 4, 30), ("sql-06",)),
        # Saturday 2027-04-03 is frozen in New York: the next window is Sat 04-10 22:00 EDT
        (utc(2027, 4, 11, 2, 0), ("sql-07",)),
        (utc(2027, 4, 11, 2, 30), ("sql-08",)),
        (utc(2027, 4, 11, 3, 0), ("sql-09",)),
        (utc(2027, 4, 11, 3, 30), ("sql-10",)),
    ]
    assert plan.unschedulable == ()
    assert [b.number for b in plan.batches] == list(range(1, 13)) and {b.total for b in plan.batches} == {12}

    first = plan.batches[0]
    assert first.members[0].window.local_start.isoformat() == "2027-03-28T03:00:00+02:00"
    assert (first.window.start, first.window.end) == (utc(2027, 3, 28, 1), utc(2027, 3, 28, 3))
    assert first.latest_safe_start == utc(2027, 3, 28, 2, 30)

    # Mixed batches fit in both zones' windows: their common window is 02:00Z-03:00Z.
    mixed = plan.batches[3]
    assert (mixed.window.start, mixed.window.end) == (utc(2027, 3, 28, 2), utc(2027, 3, 28, 3))
    assert mixed.window.spec == "Sat 22:00-Sun 01:00 (America/New_York) & Sun 02:00-05:00 (Europe/Berlin)"
    assert mixed.latest_safe_start == mixed.start == utc(2027, 3, 28, 2, 30)  # web-10 just fits
    sql_window = plan.batches[-1].members[0].window
    assert sql_window.local_start.isoformat() == "2027-04-10T22:00:00-04:00"

    assert_plan_is_safe(plan, policy, {"sql": 1, "web": 3}, cap=4)


def test_berlin_window_lost_to_the_gap_moves_host_to_the_next_week() -> None:
    # "Sun 02:00-03:00" lies wholly inside the spring-forward gap of 2027-03-28: no window that day.
    pair = hosts("app", 2, ["app"], ["Sun 02:00-03:00"], "Europe/Berlin", minutes=40)
    plan = plan_reboots(pair, utc(2027, 3, 19), RebootPolicy(max_unavailable={"app": 1}))
    assert table(plan) == [
        (utc(2027, 3, 21, 1), ("app-01",)),  # 02:00 CET
        (utc(2027, 4, 4, 0), ("app-02",)),  # 02:00 CEST; 03-21 has no room left, 03-28 no window
    ]


def test_plan_is_the_same_whatever_the_input_order() -> None:
    fleet = hosts("web", 6, ["web"], ["daily 01:00-03:00"], "Europe/Berlin") + hosts(
        "db", 6, ["db"], ["daily 20:00-23:00"], "America/New_York"
    )
    policy = RebootPolicy(batch_size=3, max_unavailable={"db": 2})
    expected = plan_reboots(fleet, utc(2027, 3, 26), policy)
    shuffled = fleet[:]
    random.Random(4).shuffle(shuffled)
    assert plan_reboots(shuffled, utc(2027, 3, 26), policy) == expected


# -- limits ---------------------------------------------------------------------------------------


def test_batch_size_in_percent_rounds_down() -> None:
    fleet = hosts("web", 10, ["web"], ["daily 01:00-05:00"], "UTC", minutes=20)
    plan = plan_reboots(fleet, utc(2026, 11, 21), RebootPolicy(batch_size="25%"))  # 2.5 -> 2
    assert [len(b.hosts) for b in plan.batches] == [2, 2, 2, 2, 2]
    assert [b.start for b in plan.batches] == [utc(2026, 11, 21, 1) + 20 * MIN * i for i in range(5)]


def test_small_percentages_still_reboot_one_host() -> None:
    fleet = hosts("web", 10, ["web"], ["daily 01:00-05:00"], "UTC", minutes=20)
    plan = plan_reboots(fleet, utc(2026, 11, 21), RebootPolicy(batch_size="5%"))
    assert [len(b.hosts) for b in plan.batches] == [1] * 10


def test_max_parallel_caps_the_batch_size() -> None:
    fleet = hosts("web", 10, ["web"], ["daily 01:00-05:00"], "UTC", minutes=20)
    plan = plan_reboots(fleet, utc(2026, 11, 21), RebootPolicy(batch_size=5, max_parallel=3))
    assert [len(b.hosts) for b in plan.batches] == [3, 3, 3, 1]


def test_group_percentage_uses_the_inventory_group_size() -> None:
    fleet = hosts("web", 4, ["web"], ["daily 01:00-05:00"], "UTC", minutes=20)
    alone = plan_reboots(fleet, utc(2026, 11, 21), RebootPolicy(max_unavailable={"web": "50%"}))
    assert [len(b.hosts) for b in alone.batches] == [2, 2]  # 50% of the 4 hosts given
    whole = plan_reboots(fleet, utc(2026, 11, 21), RebootPolicy(max_unavailable={"web": "50%"}), group_sizes={"web": 20})
    assert [len(b.hosts) for b in whole.batches] == [4]  # 50% of the 20 web servers in the inventory


def test_host_in_two_groups_counts_for_both() -> None:
    sched = parse_windows(["daily 01:00-05:00"], "UTC")
    fleet = [
        RebootHost("web-01", ["web", "dmz"], sched, 30 * MIN),
        RebootHost("web-02", ["web", "dmz"], sched, 30 * MIN),
        RebootHost("web-03", ["web"], sched, 30 * MIN),
        RebootHost("proxy-01", ["dmz"], sched, 30 * MIN),
    ]
    policy = RebootPolicy(max_unavailable={"dmz": 1}, default_max_unavailable=2)
    plan = plan_reboots(fleet, utc(2026, 11, 21), policy)
    assert table(plan) == [
        (utc(2026, 11, 21, 1), ("proxy-01", "web-03")),
        (utc(2026, 11, 21, 1, 30), ("web-01",)),
        (utc(2026, 11, 21, 2), ("web-02",)),
    ]
    assert_plan_is_safe(plan, policy, {"dmz": 1, "web": 2}, cap=4)


def test_default_max_unavailable_applies_to_every_group() -> None:
    fleet = hosts("a", 3, ["a"], ["daily 01:00-05:00"], "UTC") + hosts("b", 3, ["b"], ["daily 01:00-05:00"], "UTC")
    plan = plan_reboots(fleet, utc(2026, 11, 21), RebootPolicy(default_max_unavailable=1))
    assert table(plan) == [
        (utc(2026, 11, 21, 1), ("a-01", "b-01")),
        (utc(2026, 11, 21, 1, 30), ("a-02", "b-02")),
        (utc(2026, 11, 21, 2), ("a-03", "b-03")),
    ]


def test_pause_between_batches() -> None:
    fleet = hosts("web", 2, ["web"], ["daily 01:00-05:00"], "UTC", minutes=20)
    plan = plan_reboots(fleet, utc(2026, 11, 21), RebootPolicy(batch_size=1, pause=10 * MIN))
    assert [b.start for b in plan.batches] == [utc(2026, 11, 21, 1), utc(2026, 11, 21, 1, 30)]


# -- the window rules ----------------------------------------------------------------------------------


def test_latest_safe_start_never_lets_a_batch_overrun_its_window() -> None:
    # 70-minute reboots in a two-hour window, one host at a time: the second would end at 04:20.
    fleet = hosts("sql", 2, ["sql"], ["Sat 02:00-04:00"], "UTC", minutes=70)
    plan = plan_reboots(fleet, utc(2026, 11, 20), RebootPolicy(max_unavailable={"sql": 1}))
    assert table(plan) == [(utc(2026, 11, 21, 2), ("sql-01",)), (utc(2026, 11, 28, 2), ("sql-02",))]
    assert plan.batches[0].latest_safe_start == utc(2026, 11, 21, 2, 50)
    assert plan.batches[0].estimated_end == utc(2026, 11, 21, 3, 10)


def test_latest_safe_start_is_the_tightest_member() -> None:
    a = RebootHost("a", [], parse_windows(["daily 01:00-04:00"], "UTC"), 60 * MIN)
    b = RebootHost("b", [], parse_windows(["daily 00:00-03:00"], "UTC"), 20 * MIN)
    (batch,) = plan_reboots([a, b], utc(2026, 11, 21, 1), RebootPolicy()).batches
    assert batch.hosts == ("a", "b")
    assert batch.latest_safe_start == utc(2026, 11, 21, 2, 40)  # b must be back by 03:00
    assert batch.estimated_end == utc(2026, 11, 21, 2)  # a takes longest
    assert (batch.window.start, batch.window.end) == (utc(2026, 11, 21, 1), utc(2026, 11, 21, 3))


def test_hosts_of_two_zones_share_a_batch_only_inside_both_windows() -> None:
    berlin = RebootHost("fra-01", ["app"], parse_windows(["Sat 02:00-04:00"], "Europe/Berlin"), 45 * MIN)
    new_york = RebootHost("nyc-01", ["app"], parse_windows(["Fri 21:00-23:00"], "America/New_York"), 45 * MIN)
    # Sat 2026-11-21: Berlin 01:00Z-03:00Z, New York (Fri 20th, EST) 02:00Z-04:00Z; overlap 02:00-03:00
    both = plan_reboots([berlin, new_york], utc(2026, 11, 20, 12), RebootPolicy())
    assert table(both) == [(utc(2026, 11, 21, 1), ("fra-01",)), (utc(2026, 11, 21, 2), ("nyc-01",))]
    # A Berlin host whose window is 02:00Z-03:00Z overlaps New York's: one batch, bound by both ends.
    late = RebootHost("fra-02", ["app"], parse_windows(["Sat 03:00-04:00"], "Europe/Berlin"), 45 * MIN)
    shared = plan_reboots([late, new_york], utc(2026, 11, 20, 12), RebootPolicy())
    assert table(shared) == [(utc(2026, 11, 21, 2), ("fra-02", "nyc-01"))]
    assert shared.batches[0].latest_safe_start == utc(2026, 11, 21, 2, 15)


def test_now_inside_a_window_starts_at_now_rounded_to_the_minute() -> None:
    fleet = hosts("web", 1, ["web"], ["daily 01:00-05:00"], "UTC")
    plan = plan_reboots(fleet, datetime(2026, 11, 21, 2, 10, 30, tzinfo=UTC), RebootPolicy())
    assert plan.now == utc(2026, 11, 21, 2, 11)
    assert plan.batches[0].start == utc(2026, 11, 21, 2, 11)


def test_freeze_dates_push_hosts_past_the_freeze() -> None:
    fleet = hosts("web", 2, ["web"], ["daily 01:00-03:00"], "Europe/Berlin", freeze=["2026-12-20..2027-01-03"])
    plan = plan_reboots(fleet, utc(2026, 12, 19, 6), RebootPolicy(batch_size=1))
    assert [b.members[0].window.local_start.date().isoformat() for b in plan.batches] == ["2027-01-04", "2027-01-04"]


# -- unschedulable hosts -------------------------------------------------------------------------------


def test_unschedulable_hosts_carry_the_reason() -> None:
    now = utc(2026, 11, 21)
    fleet = [
        RebootHost("no-window", ["x"], parse_windows([], "UTC"), 30 * MIN),
        RebootHost("too-short", ["x"], parse_windows(["daily 01:00-01:20"], "UTC"), 30 * MIN),
        RebootHost("frozen", ["x"], parse_windows(["Sat 02:00-04:00"], "UTC", ["2026-11-01..2027-02-28"]), 30 * MIN),
        RebootHost("ok", ["x"], parse_windows(["Sat 02:00-04:00"], "UTC"), 30 * MIN),
    ]
    plan = plan_reboots(fleet, now, RebootPolicy())
    assert plan.hosts == ("ok",)
    reasons = {u.name: u.reason for u in plan.unschedulable}
    assert [u.name for u in plan.unschedulable] == ["frozen", "no-window", "too-short"]
    assert reasons["no-window"] == "no maintenance window is set for this host"
    assert reasons["too-short"] == (
        "no maintenance window in the next 60 days is long enough for the estimated 30m reboot (longest: 20m)"
    )
    assert reasons["frozen"] == (
        "no maintenance window in the next 60 days (freeze dates); the next one is "
        "Sat 2027-03-06 02:00 UTC - 04:00 UTC (UTC 'Sat 02:00-04:00')"
    )


def test_hosts_crowded_out_of_the_horizon_are_reported() -> None:
    fleet = hosts("sql", 3, ["sql"], ["Sat 02:00-03:00"], "UTC", minutes=50)
    plan = plan_reboots(fleet, utc(2026, 11, 20), RebootPolicy(max_unavailable={"sql": 1}, horizon=timedelta(days=10)))
    assert plan.hosts == ("sql-01", "sql-02")
    (crowded,) = plan.unschedulable
    assert crowded.name == "sql-03"
    assert crowded.reason.startswith("its maintenance windows in the next 10 days are taken by earlier batches")


# -- input checks and output -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": "0%"}, "batch_size: '0%' is out of range (a share is above 0% and at most 100%)"),
        ({"batch_size": "ten"}, "batch_size: 'ten' is not a count or a percentage (write e.g. 2 or '25%')"),
        ({"max_parallel": "50%"}, "max_parallel: '50%' is not a count (write e.g. 2)"),
        ({"max_unavailable": {"sql": 0}}, "max_unavailable for group 'sql': must be at least 1, got 0 (to keep hosts from rebooting, leave them out)"),
        ({"default_max_unavailable": True}, "default max_unavailable: True is not a count (write e.g. 2 or '25%')"),
    ],
)
def test_bad_policy_values(kwargs: dict, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        RebootPolicy(**kwargs)
    assert str(err.value) == message


def test_duplicate_hosts_and_naive_now_are_refused() -> None:
    fleet = hosts("web", 1, ["web"], ["daily 01:00-05:00"], "UTC")
    with pytest.raises(ValueError, match="listed twice"):
        plan_reboots(fleet + fleet, utc(2026, 11, 21))
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_reboots(fleet, datetime(2026, 11, 21))


def test_plan_as_json() -> None:
    fleet = hosts("web", 3, ["web"], ["Sun 02:00-05:00"], "Europe/Berlin") + [
        RebootHost("lonely", ["x"], parse_windows([], "UTC"), 30 * MIN)
    ]
    plan = plan_reboots(fleet, utc(2027, 3, 26, 12), RebootPolicy(batch_size=2))
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["summary"] == {"hosts": 4, "planned": 3, "unschedulable": 1, "batches": 2}
    first = data["batches"][0]
    assert (first["batch"], first["of"], first["start"]) == (1, 2, "2027-03-28T01:00:00Z")
    assert first["latest_safe_start"] == "2027-03-28T02:30:00Z"
    assert first["hosts"][0] == {
        "name": "web-01",
        "groups": ["web"],
        "tz": "Europe/Berlin",
        "window": {
            "start": "2027-03-28T01:00:00Z",
            "end": "2027-03-28T03:00:00Z",
            "local_start": "2027-03-28T03:00:00+02:00",
            "local_end": "2027-03-28T05:00:00+02:00",
            "spec": "Sun 02:00-05:00",
        },
        "duration_s": 1800,
    }
    assert data["unschedulable"] == [{"name": "lonely", "reason": "no maintenance window is set for this host"}]
