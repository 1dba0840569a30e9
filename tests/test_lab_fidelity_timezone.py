"""HKLM\\...\\TimeZoneInformation as Windows keeps it: consistent with the host's IANA zone, ActiveTimeBias
following daylight saving time, Server 2003's older layout, and the local-time fallbacks it is read for."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from portfleet_lab.clock import LabClock
from portfleet_lab.cmd import shell
from portfleet_lab.cmd.base import Ctx
from portfleet_lab.fleet import Fleet
from portfleet_lab.profiles import Plan, build_host

TZI = r'"HKLM\SYSTEM\CurrentControlSet\Control\TimeZoneInformation"'
WINTER = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc).timestamp()
SUMMER = datetime(2026, 7, 15, 12, 0, tzinfo=timezone.utc).timestamp()


def host_in(zone: str, build: str = "2022", now: float = WINTER):
    return build_host(Plan("web-01", "web", build, "default", timezone=zone), 0, "127.0.0.1", 7, now)


def run(state, line: str, now: float) -> str:
    out = shell.run_line(Ctx(host=state, clock=LabClock(), now=now), line)
    assert out.code == 0, out.stderr
    return out.stdout


def values(text: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in text.split("\r\n"):
        m = re.fullmatch(r"    (\S+)(?:    |\t)(REG_\w+)(?:    |\t)(.*)", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def signed(hex_dword: str) -> int:
    v = int(hex_dword, 16)
    return v - (1 << 32) if v >= 1 << 31 else v


def test_new_york_key_as_windows_writes_it():
    state = host_in("America/New_York")
    text = run(state, f"reg query {TZI}", WINTER)
    assert text.startswith("\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\TimeZoneInformation\r\n")
    rows = values(text)
    # order of a real Windows 10 listing (PocketMine-MP Timezone.php): Bias ... ActiveTimeBias last
    assert list(rows) == ["Bias", "DaylightBias", "DaylightName", "DaylightStart", "StandardBias", "StandardName",
                          "StandardStart", "TimeZoneKeyName", "DynamicDaylightTimeDisabled", "ActiveTimeBias"]
    assert rows["Bias"] == ("REG_DWORD", "0x12c")  # 300 minutes: UTC = local + 5 h
    assert rows["DaylightBias"] == ("REG_DWORD", "0xffffffc4")  # -60
    assert rows["StandardName"] == ("REG_SZ", "@tzres.dll,-112")
    assert rows["DaylightName"] == ("REG_SZ", "@tzres.dll,-111")
    assert rows["TimeZoneKeyName"] == ("REG_SZ", "Eastern Standard Time")
    # relative SYSTEMTIMEs: March, Sunday, 2nd, 02:00 / November, Sunday, 1st, 02:00
    assert rows["DaylightStart"] == ("REG_BINARY", "00000300000002000200000000000000")
    assert rows["StandardStart"] == ("REG_BINARY", "00000B00000001000200000000000000")
    assert rows["ActiveTimeBias"] == ("REG_DWORD", "0x12c")


@pytest.mark.parametrize("zone, winter, summer", [
    ("America/New_York", 300, 240),
    ("America/Chicago", 360, 300),
    ("America/Los_Angeles", 480, 420),
    ("Europe/London", 0, -60),
    ("Europe/Berlin", -60, -120),
    ("UTC", 0, 0),
])
def test_active_time_bias_follows_dst(zone, winter, summer):
    state = host_in(zone)
    query = f"reg query {TZI} /v ActiveTimeBias"
    for now, minutes in ((WINTER, winter), (SUMMER, summer), (WINTER + 366 * 86400, winter)):
        got = signed(values(run(state, query, now))["ActiveTimeBias"][1])
        assert got == minutes
        # and it is what the IANA zone says at that instant: UTC = local + bias
        local = datetime.fromtimestamp(now, tz=ZoneInfo(zone)).replace(tzinfo=None)
        assert local + timedelta(minutes=got) == datetime.fromtimestamp(now, tz=timezone.utc).replace(tzinfo=None)
    assert signed(values(run(state, f"reg query {TZI} /v Bias", SUMMER))["Bias"][1]) == winter


def test_berlin_rules_are_the_eu_ones():
    rows = values(run(host_in("Europe/Berlin"), f"reg query {TZI}", WINTER))
    assert rows["TimeZoneKeyName"] == ("REG_SZ", "W. Europe Standard Time")
    assert rows["StandardName"] == ("REG_SZ", "@tzres.dll,-322")
    assert rows["DaylightStart"] == ("REG_BINARY", "00000300000005000200000000000000")  # last Sunday of March 02:00
    assert rows["StandardStart"] == ("REG_BINARY", "00000A00000005000300000000000000")  # last Sunday of Oct 03:00


def test_server_2003_layout():
    state = host_in("America/Chicago", build="2003")
    text = run(state, f"reg query {TZI}", SUMMER)
    assert text.startswith("! REG.EXE VERSION 3.0\r\n\r\nHKEY_LOCAL_MACHINE\\")  # reg.exe 3.0, TAB-separated
    rows = values(text)
    assert "TimeZoneKeyName" not in rows and "DynamicDaylightTimeDisabled" not in rows  # Vista additions
    assert rows["StandardName"] == ("REG_SZ", "Central Standard Time")
    assert rows["DaylightName"] == ("REG_SZ", "Central Daylight Time")
    assert rows["ActiveTimeBias"] == ("REG_DWORD", "0x12c")  # CDT: 300


def test_legacy_boot_time_from_net_statistics_and_the_bias(tmp_path):
    """What a controller does on Server 2003 (no wevtutil): the local "Statistics since" time plus
    ActiveTimeBias is the real UTC instant the Workstation service started."""
    fleet = Fleet.open(tmp_path, hosts=4, seed=3)
    legacy = fleet.host("legacy-01")
    since = re.search(r"Statistics since (\d+)/(\d+)/(\d{4}) (\d+):(\d\d):(\d\d) (AM|PM)",
                      legacy.execute("net statistics workstation").stdout)
    month, day, year, hour, minute, second = (int(g) for g in since.groups()[:6])
    hour = hour % 12 + (12 if since.group(7) == "PM" else 0)
    bias = signed(values(legacy.execute(f"reg query {TZI} /v ActiveTimeBias").stdout)["ActiveTimeBias"][1])
    utc = datetime(year, month, day, hour, minute, second) + timedelta(minutes=bias)
    started = legacy.state.boot_time + 21.0  # the Workstation service starts shortly after the kernel
    # net.exe converts with the bias in effect now (FileTimeToLocalFileTime), so this is exact whatever
    # DST changes lie between the boot and now
    assert abs(utc.replace(tzinfo=timezone.utc).timestamp() - started) < 1
    assert bias in (300, 360)  # Central time, not the 0 a missing value made the controller assume


def test_key_is_added_to_hosts_saved_before_it_existed(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=2, seed=1)
    host = fleet.hosts[0]
    host.state.registry.delete_key(r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\TimeZoneInformation")
    host.save()
    reopened = Fleet.open(tmp_path, hosts=2, seed=1).hosts[0]
    r = reopened.execute(f"reg query {TZI} /v TimeZoneKeyName")
    assert r.exit_code == 0 and "TimeZoneKeyName" in r.stdout
