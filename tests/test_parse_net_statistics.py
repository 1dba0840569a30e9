"""net statistics workstation: the "since" date in the host's own date format, by structure."""

from datetime import datetime
from pathlib import Path

import pytest

from portfleet.parse.net_statistics import date_order_from_short_date, parse_statistics_since

DATA = Path(__file__).parent / "data" / "windows"


@pytest.mark.parametrize("name,since", [
    ("net-statistics-workstation-en-US.txt", datetime(2021, 1, 1, 18, 8, 25)),
    ("net-statistics-workstation-de-regional.txt", datetime(2017, 5, 22, 14, 47, 53)),
    # Greek PM marker arrived as two U+FFFD: an unknown marker leaves the clock as printed (12:46 is noon).
    ("net-statistics-workstation-el-GR.txt", datetime(2018, 1, 31, 12, 46, 10)),
])
def test_recorded_outputs(name, since):
    assert parse_statistics_since(open(DATA / name, encoding="utf-8", newline="").read()) == since


def test_translated_label_is_irrelevant():
    text = "Arbeitsstationsstatistik für \\\\HOST\r\n\r\n\r\nStatistik seit 21.11.2026 05:00:12\r\n"
    assert parse_statistics_since(text) == datetime(2026, 11, 21, 5, 0, 12)


def test_ambiguous_dates_follow_the_hosts_short_date_format():
    text = "Statistics since 3/4/2026 5:00:12 PM\r\n"
    assert parse_statistics_since(text, "MDY") == datetime(2026, 3, 4, 17, 0, 12)
    assert parse_statistics_since(text, "DMY") == datetime(2026, 4, 3, 17, 0, 12)
    assert parse_statistics_since(text) == datetime(2026, 3, 4, 17, 0, 12)  # slashes + AM/PM: en-US


def test_a_hint_that_does_not_fit_the_numbers_is_dropped():
    assert parse_statistics_since("Statistics since 22.05.2017 14:47:53", "MDY") == datetime(2017, 5, 22, 14, 47, 53)


def test_midnight_and_noon_with_am_pm():
    assert parse_statistics_since("Statistics since 11/21/2026 12:05:00 AM") == datetime(2026, 11, 21, 0, 5)
    assert parse_statistics_since("Statistics since 11/21/2026 12:05:00 PM") == datetime(2026, 11, 21, 12, 5)


def test_iso_like_order():
    assert parse_statistics_since("Statistiken seit 2026-11-21 05:00:12") == datetime(2026, 11, 21, 5, 0, 12)


@pytest.mark.parametrize("fmt,order", [("M/d/yyyy", "MDY"), ("dd.MM.yyyy", "DMY"), ("yyyy-MM-dd", "YMD"),
                                       ("d/M/yyyy", "DMY"), ("dd-MMM-yy", "DMY"), ("", None), ("nonsense", None)])
def test_short_date_formats(fmt, order):
    assert date_order_from_short_date(fmt) == order


@pytest.mark.parametrize("garbage", ["", "System error 1060 has occurred.", "Statistics since yesterday"])
def test_garbage(garbage):
    assert parse_statistics_since(garbage) is None
