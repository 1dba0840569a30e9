"""What portfleet needs to know about a Windows host, from the facts sections of the batched read.

The facts templates (templates/windows/facts/*.cmd.j2) each print one section; FACT_SECTIONS names
them in the order the read command runs them. Everything here is pure: text in, HostFacts out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Mapping

from portfleet.parse.dates import MAX_BIAS, SAFE_MAX
from portfleet.parse.net_statistics import date_order_from_short_date, parse_statistics_since
from portfleet.parse.numbers import ascii_int
from portfleet.parse.reg import find_value, key_lines, parse_reg_query
from portfleet.parse.ver import parse_ver, version_tuple
from portfleet.parse.wevtutil import iso_time_text, parse_events_text, parse_iso_time

# section name -> facts template (templates/windows/facts/<name>.cmd.j2), in run order
FACT_SECTIONS: tuple[str, ...] = (
    "facts.ver",  # ver
    "facts.boot",  # wevtutil: newest Kernel-General event 12 ("The operating system started at ...")
    "facts.boot_net",  # net statistics workstation (fallback for hosts without wevtutil)
    "facts.tzbias",  # TimeZoneInformation\ActiveTimeBias: local -> UTC for local-time fallbacks
    "facts.intl",  # HKCU\Control Panel\International\sShortDate: date order of the fallback
    "facts.reboot_cbs",
    "facts.reboot_wu",
    "facts.reboot_pfro",
)

# Linux: section name -> templates/linux/facts/<name>.sh.j2, in run order.
LINUX_FACT_SECTIONS: tuple[str, ...] = (
    "facts.uname",  # uname -sr: "Linux 6.1.0-27-amd64"
    "facts.btime",  # the btime line of /proc/stat: boot time in seconds since the epoch (proc(5))
    "facts.os_release",  # PRETTY_NAME of /etc/os-release (os-release(5))
)

# The flags other tools (and Windows Update) use to say "a reboot is pending". Writes to
# Tcpip\Parameters set none of them: portfleet tracks its own changes against the boot time.
REBOOT_FLAGS = {
    "facts.reboot_cbs": "CBS RebootPending",
    "facts.reboot_wu": "WindowsUpdate RebootRequired",
    "facts.reboot_pfro": "PendingFileRenameOperations",
}

# build -> name, for people reading reports (client and server share a kernel version).
_NT10_BUILDS = [
    (26100, "Windows 11 24H2 / Server 2025"),
    (22000, "Windows 11"),
    (20348, "Windows Server 2022"),
    (19041, "Windows 10 2004+"),
    (17763, "Windows 10 1809 / Server 2019"),
    (14393, "Windows 10 1607 / Server 2016"),
    (10240, "Windows 10"),
]
# "6.1.0-27-amd64" -> (6, 1). ASCII digits, bounded: uname is host text (a 5,000-digit "version"
# made int() raise), and no kernel version part has more than a few digits.
_KERNEL_VERSION = re.compile(r"([0-9]{1,6})\.([0-9]{1,6})(?![0-9])")
# ActiveTimeBias is a REG_DWORD holding minutes, signed: UTC = local + bias. Every Windows zone lies
# within UTC-12 .. UTC+14 (DST included), so a bias beyond a day is no zone at all (parse.dates).
MAX_BIAS_MINUTES = int(MAX_BIAS.total_seconds() // 60)
# /proc/stat btime: seconds since the epoch. Bounded to dates that convert (parse.dates).
_MAX_BTIME = int((SAFE_MAX - datetime(1970, 1, 1)).total_seconds())
_NT6_NAMES = {
    (5, 0): "Windows 2000",
    (5, 1): "Windows XP",
    (5, 2): "Windows Server 2003 / XP x64",
    (6, 0): "Windows Vista / Server 2008",
    (6, 1): "Windows 7 / Server 2008 R2",
    (6, 2): "Windows 8 / Server 2012",
    (6, 3): "Windows 8.1 / Server 2012 R2",
}


@dataclass
class HostFacts:
    os_version: str | None = None  # as `ver` prints it: "10.0.20348.2340"
    major: int | None = None
    minor: int | None = None
    build: int | None = None
    revision: int | None = None
    boot_time: datetime | None = None  # aware, UTC
    boot_time_source: str | None = None  # "wevtutil" | "net statistics"
    windows_reboot_pending: list[str] = field(default_factory=list)
    tz_bias_minutes: int | None = None  # UTC = local + bias (Windows' ActiveTimeBias)
    date_order: str | None = None  # "MDY" | "DMY" | "YMD" from the user's sShortDate
    notes: list[str] = field(default_factory=list)  # what could not be read, for the report
    platform: str = "windows"  # "windows" | "linux"
    kernel_release: str | None = None  # Linux: `uname -r`, e.g. "6.1.0-27-amd64"
    distribution: str | None = None  # Linux: PRETTY_NAME of /etc/os-release

    @property
    def version_known(self) -> bool:
        return self.major is not None

    @property
    def is_legacy(self) -> bool:
        """Pre-Vista (NT 5.x): MaxUserPort is the knob, there is no netsh dynamic range."""
        return self.major is not None and self.major < 6

    @property
    def supports_dynamicport(self) -> bool:
        """`netsh int ipv4|ipv6 ... dynamicport` exists from Vista / Server 2008 (KB 929851).

        Unknown versions are tried: the netsh answer itself then tells (parse.netsh)."""
        return self.major is None or self.major >= 6

    @property
    def supports_short_timed_wait(self) -> bool:
        """TcpTimedWaitDelay below 30 s is honoured from Windows 8.1 / Server 2012 R2 (6.3) on."""
        return self.major is not None and (self.major, self.minor or 0) >= (6, 3)

    @property
    def supports_netstat_q(self) -> bool:
        """`netstat -q` (BOUND rows): built into Windows 10 / Server 2016 (build 10240+).

        Windows 8.1 / 2012 R2 get it only with the KB 3123245 update, which `ver` cannot reveal,
        so 6.3 counts as unsupported: the caller may still try -q there and fall back.
        Source: learn.microsoft.com/troubleshoot/windows-client/networking/tcp-ip-port-exhaustion-troubleshooting
        """
        return self.major is not None and self.major >= 10 and (self.build or 0) >= 10240

    @property
    def kernel_version(self) -> tuple[int, int] | None:
        """Linux: (major, minor) of the kernel release, None when unknown."""
        m = _KERNEL_VERSION.match(self.kernel_release or "")
        return (int(m.group(1)), int(m.group(2))) if m else None

    @property
    def os_label(self) -> str:
        if self.platform == "linux":
            kernel = f"Linux {self.kernel_release}" if self.kernel_release else "Linux (kernel unknown)"
            return f"{self.distribution} ({kernel})" if self.distribution else kernel
        if self.major is None:
            return "unknown Windows version"
        if self.major >= 10:
            for build, name in _NT10_BUILDS:
                if (self.build or 0) >= build:
                    return name
            return f"Windows NT {self.major}.{self.minor}"
        return _NT6_NAMES.get((self.major, self.minor or 0), f"Windows NT {self.major}.{self.minor}")


def _signed32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def _boot_from_events(text: str, facts: HostFacts) -> datetime | None:
    # The message carries the kernel's own UTC boot instant ("... at system time
    # 2026-11-21T05:00:00.500000000Z."); the event's Date is when it was logged, a moment later.
    for event in parse_events_text(text):
        if event.id != 12:
            continue
        when = parse_iso_time(event.message)
        if when is not None and when.tzinfo is not None:
            return when
        if event.date is None:
            printed = iso_time_text(event.message)
            if printed is not None:
                # e.g. "9999-12-31T23:59:59-23:59": no instant a host booted at (parse.dates).
                facts.notes.append(f"the boot event's time {printed!r} is not a usable date: ignored")
        return event.date
    return None


def local_to_utc(local: datetime, bias: int | None, facts: HostFacts, what: str) -> datetime:
    """A parsed host date in UTC. Parsers return only zone-safe dates (parse.dates) and parse_facts
    keeps tz_bias_minutes within a day, so neither step can overflow; a larger bias is not applied."""
    if local.tzinfo is not None:
        return local.astimezone(timezone.utc)
    if bias is not None and abs(bias) > MAX_BIAS_MINUTES:
        bias = None
    if bias is None:
        facts.notes.append(f"{what} is local time and the host's time zone bias is unknown: read as UTC")
        return local.replace(tzinfo=timezone.utc)
    return (local + timedelta(minutes=bias)).replace(tzinfo=timezone.utc)


def _tz_bias(value: object, facts: HostFacts) -> int | None:
    """ActiveTimeBias (REG_DWORD, minutes, two's complement) -> signed minutes, or None (noted)."""
    if not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        facts.notes.append("ActiveTimeBias is not a REG_DWORD: the host's time zone is unknown")
        return None
    bias = _signed32(value)
    if abs(bias) > MAX_BIAS_MINUTES:
        facts.notes.append(f"ActiveTimeBias {bias} minutes is more than a day: no time zone; ignored")
        return None
    return bias


def parse_facts(sections: Mapping[str, str]) -> HostFacts:
    """HostFacts from split_sections' result (missing sections leave their facts unknown)."""
    facts = HostFacts()

    facts.os_version = parse_ver(sections.get("facts.ver"))
    parts = version_tuple(facts.os_version)
    if parts:
        facts.major, facts.minor, facts.build, facts.revision = parts
    else:
        facts.notes.append("`ver` gave no version number")

    tz = find_value(parse_reg_query(sections.get("facts.tzbias")), "ActiveTimeBias")
    if tz is not None:
        facts.tz_bias_minutes = _tz_bias(tz.value, facts)
    intl = find_value(parse_reg_query(sections.get("facts.intl")), "sShortDate")
    if intl is not None and isinstance(intl.value, str):
        facts.date_order = date_order_from_short_date(intl.value)

    boot = _boot_from_events(sections.get("facts.boot") or "", facts)
    if boot is not None:
        facts.boot_time = local_to_utc(boot, facts.tz_bias_minutes, facts, "the boot event's date")
        facts.boot_time_source = "wevtutil"
    else:
        since = parse_statistics_since(sections.get("facts.boot_net"), facts.date_order)
        if since is not None:
            facts.boot_time = local_to_utc(since, facts.tz_bias_minutes, facts, "`net statistics` time")
            facts.boot_time_source = "net statistics"
        else:
            facts.notes.append("boot time unknown: neither wevtutil nor `net statistics` gave one")

    for section, flag in REBOOT_FLAGS.items():
        text = sections.get(section)
        if section == "facts.reboot_pfro":
            value = find_value(parse_reg_query(text), "PendingFileRenameOperations")
            # An emptied multi-string means nothing is queued.
            if value is not None and value.value not in ("", [], None):
                facts.windows_reboot_pending.append(flag)
        elif key_lines(text):
            facts.windows_reboot_pending.append(flag)
    return facts


def _btime(text: str | None) -> int | None:
    """The number of the first "btime N" line, if it is a plausible epoch second (see _MAX_BTIME)."""
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "btime":
            seconds = ascii_int(words[1], 12)
            if seconds is not None and seconds <= _MAX_BTIME:
                return seconds
    return None


def parse_linux_facts(sections: Mapping[str, str]) -> HostFacts:
    """HostFacts of a Linux host from the Linux read's facts sections (LINUX_FACT_SECTIONS).

    The Windows fields stay unknown (major None), so no Windows version rule applies to Linux hosts.
    """
    facts = HostFacts(platform="linux")
    words = (sections.get("facts.uname") or "").split()
    if len(words) >= 2 and words[0] == "Linux":
        facts.kernel_release = words[1]
        facts.os_version = words[1]
    else:
        facts.notes.append("`uname -sr` gave no Linux kernel release")
    # proc(5): "btime 1269061424  boot time, in seconds since the Epoch, 1970-01-01 00:00:00 +0000 (UTC)".
    btime = _btime(sections.get("facts.btime"))
    if btime is not None:
        facts.boot_time = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=btime)
        facts.boot_time_source = "/proc/stat btime"
    else:
        facts.notes.append("boot time unknown: /proc/stat had no usable btime line")
    for line in (sections.get("facts.os_release") or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == "PRETTY_NAME":
            facts.distribution = value.strip().strip("\"'") or None
    return facts
