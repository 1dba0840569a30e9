"""HKLM\\SYSTEM\\CurrentControlSet\\Control\\TimeZoneInformation, derived from the host's IANA time zone.

What Windows keeps there (TIME_ZONE_INFORMATION / DYNAMIC_TIME_ZONE_INFORMATION,
https://learn.microsoft.com/windows/win32/api/timezoneapi/ns-timezoneapi-dynamic_time_zone_information):
- Bias: minutes to add to local standard time to get UTC (UTC-5 -> 300, UTC+1 -> -60, stored as the DWORD
  0xffffffc4); StandardBias 0; DaylightBias -60 for zones with daylight saving time.
- StandardStart / DaylightStart: a SYSTEMTIME (wYear, wMonth, wDayOfWeek, wDay, wHour, wMinute, wSecond,
  wMilliseconds, little-endian WORDs); wYear 0 means "relative": wDay 1-5 is the occurrence of wDayOfWeek in
  wMonth (5 = the last), wHour the local time of the change. All zero for a zone without DST.
- ActiveTimeBias: the bias in effect now (Bias + DaylightBias during DST): Windows rewrites it at every
  transition, so it reads 300 in a New York winter and 240 in its summer. The NIST "Data Leakage Case" hive
  shows Eastern Standard Time with Bias 300 and ActiveTimeBias 240 in March; plaso's parser test shows
  W. Europe Standard Time with -60.
- Vista and later: StandardName/DaylightName are MUI references "@tzres.dll,-112" / "-111" (ids from the
  Eastern/Central/Pacific/GMT/UTC, Romance and W. Europe captures indexed by plaso's and dfvfs' zone maps),
  plus TimeZoneKeyName and DynamicDaylightTimeDisabled; Server 2003 stores the display names themselves and has
  neither newer value.
Value order as `reg query` lists it on Windows 10 (a captured listing quoted in pmmp/PocketMine-MP
src/utils/Timezone.php): Bias, DaylightBias, DaylightName, DaylightStart, StandardBias, StandardName,
StandardStart, TimeZoneKeyName, DynamicDaylightTimeDisabled, ActiveTimeBias.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .model import RegValue

if TYPE_CHECKING:
    from .model import HostState

TIME_ZONE_INFORMATION = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\TimeZoneInformation"


@dataclass(frozen=True)
class WindowsZone:
    key_name: str  # TimeZoneKeyName (a subkey of HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Time Zones)
    mui: int  # tzres.dll resource base: DaylightName "@tzres.dll,-(mui+1)", StandardName "-(mui+2)"
    standard: str  # display names Server 2003 stores
    daylight: str


# IANA -> Windows (the CLDR windowsZones mapping for the zones lab profiles use).
ZONES: dict[str, WindowsZone] = {
    "America/New_York": WindowsZone("Eastern Standard Time", 110, "Eastern Standard Time", "Eastern Daylight Time"),
    "America/Chicago": WindowsZone("Central Standard Time", 160, "Central Standard Time", "Central Daylight Time"),
    "America/Denver": WindowsZone("Mountain Standard Time", 190, "Mountain Standard Time", "Mountain Daylight Time"),
    "America/Los_Angeles": WindowsZone("Pacific Standard Time", 210, "Pacific Standard Time",
                                       "Pacific Daylight Time"),
    "Europe/London": WindowsZone("GMT Standard Time", 260, "GMT Standard Time", "GMT Daylight Time"),
    "Europe/Paris": WindowsZone("Romance Standard Time", 300, "Romance Standard Time", "Romance Daylight Time"),
    "Europe/Berlin": WindowsZone("W. Europe Standard Time", 320, "W. Europe Standard Time",
                                 "W. Europe Daylight Time"),
    "UTC": WindowsZone("UTC", 930, "Coordinated Universal Time", "Coordinated Universal Time"),
}


def windows_zone(iana: str) -> WindowsZone:
    try:
        return ZONES[iana]
    except KeyError:
        raise ValueError(f"no Windows time zone known for {iana!r} (known: {', '.join(sorted(ZONES))})") from None


def _dword(minutes: int) -> RegValue:
    return RegValue("REG_DWORD", minutes & 0xFFFFFFFF)


def active_bias(iana: str, now: float) -> int:
    """Minutes to add to local time to get UTC at the instant `now` (Windows' ActiveTimeBias)."""
    offset = datetime.fromtimestamp(now, tz=timezone.utc).astimezone(ZoneInfo(iana)).utcoffset()
    return -int((offset or timedelta(0)).total_seconds() // 60)


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC instant, offset before, offset after) of each offset change in the year."""
    out = []
    start = datetime(year, 1, 1, tzinfo=timezone.utc)
    prev = start.astimezone(zone).utcoffset()
    for day in range(1, 367):
        t = start + timedelta(days=day)
        off = t.astimezone(zone).utcoffset()
        if off != prev:
            lo, hi = t - timedelta(days=1), t
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, prev, off))
            prev = off
        if t.year > year:
            break
    return out


def _relative_systemtime(instant: datetime, before: timedelta) -> str:
    """The transition as a relative SYSTEMTIME, hex as reg prints REG_BINARY: month, weekday (0 = Sunday),
    occurrence (5 = last in the month) and the local wall time before the change."""
    local = (instant + before).replace(tzinfo=None)
    occurrence = (local.day - 1) // 7 + 1
    if (local + timedelta(days=7)).month != local.month:
        occurrence = 5
    words = (0, local.month, (local.weekday() + 1) % 7, occurrence, local.hour, local.minute, 0, 0)
    return "".join(f"{w & 0xFF:02X}{w >> 8:02X}" for w in words)


@lru_cache(maxsize=64)
def _rules(iana: str, year: int) -> tuple[int, int, str, str]:
    """(Bias, DaylightBias, DaylightStart, StandardStart) of the zone's rules in that year."""
    zone = ZoneInfo(iana)
    changes = _transitions(zone, year)
    zero = "00" * 16
    daylight_start = standard_start = zero
    std_offset = datetime(year, 1, 1, tzinfo=timezone.utc).astimezone(zone).utcoffset() or timedelta(0)
    if len(changes) == 2:
        for instant, before, after in changes:
            if after > before:
                daylight_start = _relative_systemtime(instant, before)
                std_offset = before
            else:
                standard_start = _relative_systemtime(instant, before)
                std_offset = after
    return -int(std_offset.total_seconds() // 60), (-60 if changes else 0), daylight_start, standard_start


def zone_values(iana: str, now: float, *, legacy: bool) -> list[tuple[str, RegValue]]:
    """TimeZoneInformation's values as Windows writes them for the zone, in `reg query` order."""
    win = windows_zone(iana)
    bias, daylight_bias, daylight_start, standard_start = _rules(
        iana, datetime.fromtimestamp(now, tz=timezone.utc).year)
    sz = lambda text: RegValue("REG_SZ", text)  # noqa: E731
    if legacy:
        return [
            ("ActiveTimeBias", _dword(active_bias(iana, now))), ("Bias", _dword(bias)),
            ("DaylightBias", _dword(daylight_bias)), ("DaylightName", sz(win.daylight)),
            ("DaylightStart", RegValue("REG_BINARY", daylight_start)), ("StandardBias", _dword(0)),
            ("StandardName", sz(win.standard)), ("StandardStart", RegValue("REG_BINARY", standard_start)),
        ]
    return [
        ("Bias", _dword(bias)), ("DaylightBias", _dword(daylight_bias)),
        ("DaylightName", sz(f"@tzres.dll,-{win.mui + 1}")), ("DaylightStart", RegValue("REG_BINARY", daylight_start)),
        ("StandardBias", _dword(0)), ("StandardName", sz(f"@tzres.dll,-{win.mui + 2}")),
        ("StandardStart", RegValue("REG_BINARY", standard_start)), ("TimeZoneKeyName", sz(win.key_name)),
        ("DynamicDaylightTimeDisabled", _dword(0)), ("ActiveTimeBias", _dword(active_bias(iana, now))),
    ]


def install(state: "HostState", now: float) -> None:
    for name, value in zone_values(state.timezone, now, legacy=state.is_legacy):
        state.registry.set(TIME_ZONE_INFORMATION, name, value)


def refresh(state: "HostState", now: float) -> bool:
    """Keep the key as Windows keeps it: installed, and ActiveTimeBias following DST at `now`.
    True when something changed (the host should be saved)."""
    reg = state.registry
    if state.timezone not in ZONES:
        return False  # a zone the lab cannot describe: the key stays as it is (absent)
    if reg.find_key(TIME_ZONE_INFORMATION) is None:
        install(state, now)
        return True
    wanted = active_bias(state.timezone, now) & 0xFFFFFFFF
    if reg.dword(TIME_ZONE_INFORMATION, "ActiveTimeBias") == wanted:
        return False
    reg.set(TIME_ZONE_INFORMATION, "ActiveTimeBias", RegValue("REG_DWORD", wanted))
    return True
