"""Maintenance windows: parsing, errors that say what is right, midnight, DST and freeze dates."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from portfleet.reboot.maintenance import Window, WindowError, parse_windows

UTC = timezone.utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def spans(windows: list[Window]) -> list[tuple[datetime, datetime]]:
    return [(w.start, w.end) for w in windows]


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ("daily 01:00-03:00", {0, 1, 2, 3, 4, 5, 6}),
        ("weekdays 01:00-03:00", {0, 1, 2, 3, 4}),
        ("weekends 01:00-03:00", {5, 6}),
        ("Sat 01:00-03:00", {5}),
        ("saturday 01:00-03:00", {5}),
        ("SUN 01:00-03:00", {6}),
        ("Mon-Fri 01:00-03:00", {0, 1, 2, 3, 4}),
        ("Fri-Mon 01:00-03:00", {4, 5, 6, 0}),  # a range may wrap the week
        ("Sat,Sun 01:00-03:00", {5, 6}),
        ("Mon, Wed-Thu 01:00-03:00", {0, 2, 3}),
    ],
)
def test_day_forms(spec: str, days: set[int]) -> None:
    (parsed,) = parse_windows([spec], "UTC").specs
    assert parsed.days == frozenset(days)
    assert parsed.text == spec


def test_single_digit_hour_and_spaces_around_dash_are_accepted() -> None:
    (a,) = parse_windows("Sat 2:00-4:00", "UTC").specs
    (b,) = parse_windows("Sat 02:00 - 04:00", "UTC").specs
    assert (a.start_min, a.end_min) == (b.start_min, b.end_min) == (120, 240)


def test_a_string_may_hold_several_specs() -> None:
    sched = parse_windows("Sat 02:00-04:00; Sun 02:00-04:00\nWed 01:00-02:00;", "UTC")
    assert [s.text for s in sched.specs] == ["Sat 02:00-04:00", "Sun 02:00-04:00", "Wed 01:00-02:00"]


def test_weekly_window_in_utc() -> None:
    sched = parse_windows(["Sat 02:00-04:00"], "UTC")
    w = sched.next_window(utc(2026, 11, 21, 12))  # a Saturday afternoon: next is a week later
    assert (w.start, w.end) == (utc(2026, 11, 28, 2), utc(2026, 11, 28, 4))
    assert w.spec == "Sat 02:00-04:00" and w.tz == "UTC" and w.duration == timedelta(hours=2)


def test_local_zone_is_converted_to_utc() -> None:
    sched = parse_windows(["Sat 02:00-04:00"], "America/New_York")
    w = sched.next_window(utc(2026, 11, 21, 12))
    assert (w.start, w.end) == (utc(2026, 11, 28, 7), utc(2026, 11, 28, 9))  # EST = UTC-5
    assert w.local_start.strftime("%a %H:%M %Z") == "Sat 02:00 EST"
    assert w.describe() == "Sat 2026-11-28 02:00 EST - 04:00 EST (America/New_York 'Sat 02:00-04:00')"


def test_next_window_inside_a_window_returns_that_window() -> None:
    sched = parse_windows(["daily 01:00-03:00"], "UTC")
    assert spans([sched.next_window(utc(2026, 11, 21, 2, 30))]) == [(utc(2026, 11, 21, 1), utc(2026, 11, 21, 3))]
    # the end is exclusive: at 03:00 the next day's window is next
    assert sched.next_window(utc(2026, 11, 21, 3)).start == utc(2026, 11, 22, 1)


def test_window_crossing_midnight_on_weekdays() -> None:
    sched = parse_windows(["Mon-Fri 22:00-02:00"], "UTC")
    week = sched.windows_between(utc(2026, 11, 23), utc(2026, 11, 30))  # Mon 23 .. Mon 30
    assert spans(week) == [(utc(2026, 11, d, 22), utc(2026, 11, d + 1, 2)) for d in range(23, 28)]
    assert sched.contains(utc(2026, 11, 28, 1, 59))  # Saturday early: Friday's window
    assert not sched.contains(utc(2026, 11, 28, 2))  # end is exclusive
    assert not sched.contains(utc(2026, 11, 28, 23))  # no window starts on Saturday
    assert not sched.contains(utc(2026, 11, 30, 1))  # ... nor on Sunday, so Monday 01:00 is outside


def test_sunday_night_window_ends_monday() -> None:
    sched = parse_windows(["Sun 23:00-01:30"], "Europe/Berlin")
    w = sched.next_window(utc(2026, 11, 21))
    assert w.local_start.isoformat() == "2026-11-22T23:00:00+01:00"
    assert w.local_end.isoformat() == "2026-11-23T01:30:00+01:00"


def test_explicit_end_day_and_full_day_windows() -> None:
    sched = parse_windows(["Sat 22:00-Sun 06:00"], "UTC")
    assert sched.next_window(utc(2026, 11, 21)).end == utc(2026, 11, 22, 6)
    full = parse_windows(["Sat 00:00-24:00"], "UTC").next_window(utc(2026, 11, 20))
    assert (full.start, full.end) == (utc(2026, 11, 21), utc(2026, 11, 22))
    exact_day = parse_windows(["Sat 06:00-Sun 06:00"], "UTC").next_window(utc(2026, 11, 20))
    assert exact_day.duration == timedelta(hours=24)


def test_overlapping_and_touching_windows_merge() -> None:
    sched = parse_windows(["daily 01:00-03:00", "Sat 02:00-05:00", "Sun 03:00-04:00"], "UTC")
    got = sched.windows_between(utc(2026, 11, 20), utc(2026, 11, 23))  # Fri .. Sun
    assert spans(got) == [
        (utc(2026, 11, 20, 1), utc(2026, 11, 20, 3)),
        (utc(2026, 11, 21, 1), utc(2026, 11, 21, 5)),  # overlap
        (utc(2026, 11, 22, 1), utc(2026, 11, 22, 4)),  # touching at 03:00
    ]
    assert got[1].spec == "daily 01:00-03:00 + Sat 02:00-05:00"


def test_windows_between_is_half_open_and_unclipped() -> None:
    sched = parse_windows(["daily 01:00-03:00"], "UTC")
    got = sched.windows_between(utc(2026, 11, 21, 2), utc(2026, 11, 22, 1))
    assert spans(got) == [(utc(2026, 11, 21, 1), utc(2026, 11, 21, 3))]
    assert sched.windows_between(utc(2026, 11, 21, 5), utc(2026, 11, 21, 5)) == []


def test_naive_datetimes_are_refused() -> None:
    sched = parse_windows(["daily 01:00-03:00"], "UTC")
    with pytest.raises(ValueError, match="timezone-aware"):
        sched.next_window(datetime(2026, 11, 21))


def test_no_windows_means_no_next_window() -> None:
    assert parse_windows([], "UTC").next_window(utc(2026, 11, 21)) is None


# -- daylight saving time ------------------------------------------------------------------------


def test_berlin_spring_forward_start_moves_to_first_valid_instant() -> None:
    # 2027-03-28: clocks go 02:00 CET -> 03:00 CEST; 02:00-03:00 does not exist.
    sched = parse_windows(["Sun 02:00-04:00"], "Europe/Berlin")
    w = sched.next_window(utc(2027, 3, 27))
    assert (w.start, w.end) == (utc(2027, 3, 28, 1), utc(2027, 3, 28, 2))
    assert w.local_start.isoformat() == "2027-03-28T03:00:00+02:00"
    assert w.duration == timedelta(hours=1)  # wall clock 02:00-04:00, one real hour
    # the Sunday before and after are normal two-hour windows at the right offsets
    assert sched.next_window(utc(2027, 3, 20)).start == utc(2027, 3, 21, 1)  # CET
    assert sched.next_window(utc(2027, 3, 29)).start == utc(2027, 4, 4, 0)  # CEST


def test_berlin_fall_back_ambiguous_start_is_first_occurrence() -> None:
    # 2027-10-31: clocks go 03:00 CEST -> 02:00 CET; 02:00-03:00 happens twice.
    sched = parse_windows(["Sun 02:00-04:00"], "Europe/Berlin")
    w = sched.next_window(utc(2027, 10, 30))
    assert (w.start, w.end) == (utc(2027, 10, 31, 0), utc(2027, 10, 31, 3))
    assert w.local_start.isoformat() == "2027-10-31T02:00:00+02:00"
    assert w.local_end.isoformat() == "2027-10-31T04:00:00+01:00"
    assert w.duration == timedelta(hours=3)


def test_window_wholly_inside_the_gap_does_not_occur() -> None:
    sched = parse_windows(["Sun 02:15-02:45"], "Europe/Berlin")
    w = sched.next_window(utc(2027, 3, 27))
    assert w.local_start.isoformat() == "2027-04-04T02:15:00+02:00"  # 2027-03-28 is skipped


def test_ambiguous_end_is_first_occurrence_too() -> None:
    sched = parse_windows(["Sun 02:30-02:50"], "Europe/Berlin")
    w = sched.next_window(utc(2027, 10, 30))
    assert (w.start, w.end) == (utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 0, 50))


def test_new_york_spring_forward() -> None:
    # 2027-03-14: 02:00 EST -> 03:00 EDT
    sched = parse_windows(["Sun 02:00-04:00"], "America/New_York")
    w = sched.next_window(utc(2027, 3, 13))
    assert (w.start, w.end) == (utc(2027, 3, 14, 7), utc(2027, 3, 14, 8))
    assert w.local_start.isoformat() == "2027-03-14T03:00:00-04:00"


def test_new_york_fall_back() -> None:
    # 2027-11-07: 02:00 EDT -> 01:00 EST; 01:00-02:00 happens twice.
    ambiguous_start = parse_windows(["Sun 01:30-03:00"], "America/New_York").next_window(utc(2027, 11, 6))
    assert (ambiguous_start.start, ambiguous_start.end) == (utc(2027, 11, 7, 5, 30), utc(2027, 11, 7, 8))
    assert ambiguous_start.duration == timedelta(hours=2, minutes=30)
    ambiguous_end = parse_windows(["Sun 00:30-01:30"], "America/New_York").next_window(utc(2027, 11, 6))
    assert (ambiguous_end.start, ambiguous_end.end) == (utc(2027, 11, 7, 4, 30), utc(2027, 11, 7, 5, 30))
    after_fold = parse_windows(["Sun 02:00-04:00"], "America/New_York").next_window(utc(2027, 11, 6))
    assert (after_fold.start, after_fold.end) == (utc(2027, 11, 7, 7), utc(2027, 11, 7, 9))


def test_half_hour_dst_gap() -> None:
    # Lord Howe Island moves its clocks by 30 minutes: 2026-10-04 02:00 -> 02:30 (+10:30 -> +11)
    w = parse_windows(["Sun 02:00-03:00"], "Australia/Lord_Howe").next_window(utc(2026, 10, 3))
    assert w.local_start.isoformat() == "2026-10-04T02:30:00+11:00"
    assert w.duration == timedelta(minutes=30)


def test_skipped_calendar_day() -> None:
    # Samoa skipped Friday 2011-12-30 entirely when it crossed the date line.
    sched = parse_windows(["daily 10:00-12:00"], "Pacific/Apia")
    local_days = [w.local_start.date() for w in sched.windows_between(utc(2011, 12, 28), utc(2012, 1, 1))]
    assert date(2011, 12, 30) not in local_days
    assert date(2011, 12, 29) in local_days and date(2011, 12, 31) in local_days


# -- freeze dates --------------------------------------------------------------------------------


def test_freeze_range_removes_windows_starting_on_those_local_dates() -> None:
    sched = parse_windows(["daily 01:00-03:00"], "Europe/Berlin", ["2026-12-20..2027-01-03"])
    days = [w.local_start.date() for w in sched.windows_between(utc(2026, 12, 18), utc(2027, 1, 6))]
    assert days == [date(2026, 12, 18), date(2026, 12, 19), date(2027, 1, 4), date(2027, 1, 5)]
    assert sched.is_frozen(date(2026, 12, 20)) and sched.is_frozen(date(2027, 1, 3))
    assert not sched.is_frozen(date(2027, 1, 4))


def test_freeze_is_in_the_hosts_zone() -> None:
    # Sat 2026-12-26 00:30 in Tokyo is still Friday the 25th in UTC: the local date counts.
    sched = parse_windows(["daily 00:30-01:00"], "Asia/Tokyo", ["2026-12-26"])
    starts = [w.start for w in sched.windows_between(utc(2026, 12, 24), utc(2026, 12, 27))]
    assert utc(2026, 12, 25, 15, 30) not in starts
    assert starts == [utc(2026, 12, 24, 15, 30), utc(2026, 12, 26, 15, 30)]


def test_window_running_into_a_frozen_date_is_cut_at_midnight() -> None:
    sched = parse_windows(["daily 22:00-02:00"], "UTC", "2026-12-25")
    got = sched.windows_between(utc(2026, 12, 24), utc(2026, 12, 27))
    assert spans(got) == [
        (utc(2026, 12, 23, 22), utc(2026, 12, 24, 2)),
        (utc(2026, 12, 24, 22), utc(2026, 12, 25, 0)),  # cut: the 25th has no reboots
        (utc(2026, 12, 26, 22), utc(2026, 12, 27, 2)),
    ]


def test_freeze_accepts_yaml_dates_and_a_comma_list() -> None:
    a = parse_windows(["daily 01:00-02:00"], "UTC", [date(2026, 12, 25), "2026-12-31"])
    b = parse_windows(["daily 01:00-02:00"], "UTC", "2026-12-25, 2026-12-31")
    assert a.freeze == b.freeze == ((date(2026, 12, 25), date(2026, 12, 25)), (date(2026, 12, 31), date(2026, 12, 31)))


def test_everything_frozen_means_no_window_within_search() -> None:
    sched = parse_windows(["Sat 02:00-04:00"], "UTC", ["2026-11-01..2028-01-01"])
    assert sched.next_window(utc(2026, 11, 21)) is None
    assert sched.next_window(utc(2026, 11, 21), within=timedelta(days=800)).start == utc(2028, 1, 8, 2)


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Sat 2:00-4:00x", "'Sat 2:00-4:00x': bad end time '4:00x' (write HH:MM, e.g. 04:00)"),
        ("Sat 0200-04:00", "'Sat 0200-04:00': bad start time '0200' (write HH:MM, e.g. 02:00)"),
        ("Sat 25:00-04:00", "'Sat 25:00-04:00': bad start time '25:00': no such time of day (write HH:MM from 00:00 to 23:59)"),
        ("Sat 02:00-24:30", "'Sat 02:00-24:30': bad end time '24:30': no such time of day (write HH:MM from 00:00 to 23:59, or 24:00 for the end of the day)"),
        ("Sta 02:00-04:00", "'Sta 02:00-04:00': unknown day 'Sta' (did you mean 'Sat'? use Mon Tue Wed Thu Fri Sat Sun, a range such as Mon-Fri, or daily)"),
        ("dialy 01:00-02:00", "'dialy 01:00-02:00': unknown day 'dialy' (did you mean 'daily'? use Mon Tue Wed Thu Fri Sat Sun, a range such as Mon-Fri, or daily)"),
        ("02:00-04:00", "'02:00-04:00': missing day (write e.g. 'daily 02:00-04:00' or 'Sat 02:00-04:00')"),
        ("Sat", "'Sat': missing times (write e.g. 'Sat 02:00-04:00')"),
        ("Sat 02:00", "'Sat 02:00': missing end time (write START-END, e.g. 'Sat 02:00-04:00')"),
        ("Sat 02:00-02:00", "'Sat 02:00-02:00': start and end are both 02:00 (a window needs a length; a whole day is 'Sat 00:00-24:00')"),
        ("Sat 22:00-Sun 23:00", "'Sat 22:00-Sun 23:00': window is 25h00m long, longer than 24 hours (split it into several windows)"),
        ("Sat 23:00-Sat 22:00", "'Sat 23:00-Sat 22:00': window is 167h00m long, longer than 24 hours (split it into several windows)"),
        ("Mon-Fri 22:00-Tue 02:00", "'Mon-Fri 22:00-Tue 02:00': an end day needs a single start day (for a window that ends the next morning write 'Mon-Fri 22:00-02:00')"),
    ],
)
def test_bad_specs_say_what_is_wrong_and_what_is_right(spec: str, message: str) -> None:
    with pytest.raises(WindowError) as err:
        parse_windows([spec], "UTC", source="inventory/prod.yml", line=12)
    assert err.value.message == message
    assert str(err.value) == f"inventory/prod.yml:12: {message}"
    assert (err.value.source, err.value.line) == ("inventory/prod.yml", 12)


def test_error_names_the_line_of_the_bad_item() -> None:
    with pytest.raises(WindowError) as err:
        parse_windows(["Sat 02:00-04:00", "Sun 02:00-04:0"], "UTC", source="pb.yml", line=7, lines=[8, 9])
    assert str(err.value) == "pb.yml:9: 'Sun 02:00-04:0': bad end time '04:0' (write HH:MM, e.g. 04:00)"


def test_error_without_a_line() -> None:
    with pytest.raises(WindowError) as err:
        parse_windows(["Sat 02:00-02:00"], "UTC")
    assert str(err.value).startswith("<input>: 'Sat 02:00-02:00': start and end")


def test_non_text_window_is_refused() -> None:
    # YAML 1.1 reads an unquoted 2:00 as the integer 120
    with pytest.raises(WindowError, match=r"window 120 is not text \(write e.g. 'Sat 02:00-04:00'; quote it in YAML\)"):
        parse_windows([120], "UTC")  # type: ignore[list-item]


def test_unknown_time_zone_suggests_close_names() -> None:
    with pytest.raises(WindowError) as err:
        parse_windows(["Sat 02:00-04:00"], "Europe/Berln", source="inv.ini", line=4)
    assert str(err.value).startswith("inv.ini:4: unknown time zone 'Europe/Berln' (did you mean Europe/Berlin")
    with pytest.raises(WindowError, match=r"unknown time zone 'Mars/Base' \(use an IANA name such as Europe/Berlin"):
        parse_windows(["Sat 02:00-04:00"], "Mars/Base")


@pytest.mark.parametrize(
    ("freeze", "message"),
    [
        ("2027-01-03..2026-12-20", "freeze range '2027-01-03..2026-12-20' ends before it starts (write 2026-12-20..2027-01-03)"),
        ("2026-02-30", "bad freeze date '2026-02-30': no such day (write YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD, e.g. 2026-12-20..2027-01-03)"),
        ("20261220", "bad freeze date '20261220' (write YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD, e.g. 2026-12-20..2027-01-03)"),
        ("2026-12-20..", "bad freeze date '' in '2026-12-20..' (write YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD, e.g. 2026-12-20..2027-01-03)"),
    ],
)
def test_bad_freeze_dates(freeze: str, message: str) -> None:
    with pytest.raises(WindowError) as err:
        parse_windows(["Sat 02:00-04:00"], "UTC", [freeze], source="pb.yml", freeze_lines=[21])
    assert str(err.value) == f"pb.yml:21: {message}"
