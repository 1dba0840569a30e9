"""Host facts from the batched read's facts sections (recorded outputs where they exist)."""

from datetime import datetime, timezone
from pathlib import Path

from portfleet.facts import HostFacts, parse_facts

DATA = Path(__file__).parent / "data" / "windows"
NOT_RECOGNIZED = ("'wevtutil' is not recognized as an internal or external command,\r\n"
                  "operable program or batch file.\r\n")
ABSENT = "ERROR: The system was unable to find the specified registry key or value.\r\n"


def sample(name: str) -> str:
    return open(DATA / name, encoding="utf-8", newline="").read()


def reg_value(key: str, name: str, reg_type: str, data: str) -> str:
    return f"\r\n{key}\r\n    {name}    {reg_type}    {data}\r\n\r\n"


def test_modern_host_boot_time_from_the_boot_event_in_utc():
    facts = parse_facts({
        "facts.ver": "\r\nMicrosoft Windows [Version 10.0.20348.2340]\r\n",
        "facts.boot": sample("wevtutil-kernel-general-12-de-DE.txt"),
        "facts.boot_net": sample("net-statistics-workstation-en-US.txt"),
        "facts.reboot_cbs": ABSENT, "facts.reboot_wu": ABSENT, "facts.reboot_pfro": ABSENT,
    })
    assert (facts.major, facts.minor, facts.build, facts.revision) == (10, 0, 20348, 2340)
    assert facts.os_label == "Windows Server 2022"
    assert not facts.is_legacy and facts.supports_dynamicport and facts.supports_netstat_q
    assert facts.boot_time == datetime(2024, 8, 24, 19, 15, 58, 500000, tzinfo=timezone.utc)
    assert facts.boot_time_source == "wevtutil"
    assert facts.windows_reboot_pending == []


def test_2003_host_falls_back_to_net_statistics_in_its_own_date_format_and_zone():
    facts = parse_facts({
        "facts.ver": sample("ver-en-US-2003.txt"),
        "facts.boot": NOT_RECOGNIZED,
        "facts.boot_net": sample("net-statistics-workstation-de-regional.txt"),
        # UTC+3 (the source's wmic showed +180): ActiveTimeBias = -180 minutes as a REG_DWORD
        "facts.tzbias": reg_value(r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\TimeZoneInformation",
                                  "ActiveTimeBias", "REG_DWORD", "0xffffff4c"),
        "facts.intl": reg_value(r"HKEY_CURRENT_USER\Control Panel\International", "sShortDate", "REG_SZ", "dd.MM.yyyy"),
    })
    assert facts.is_legacy and not facts.supports_dynamicport and not facts.supports_netstat_q
    assert facts.os_label == "Windows Server 2003 / XP x64"
    assert facts.tz_bias_minutes == -180 and facts.date_order == "DMY"
    assert facts.boot_time == datetime(2017, 5, 22, 11, 47, 53, tzinfo=timezone.utc)
    assert facts.boot_time_source == "net statistics"


def test_unknown_zone_is_noted_not_guessed_silently():
    facts = parse_facts({"facts.ver": sample("ver-en-US-win7.txt"),
                         "facts.boot_net": sample("net-statistics-workstation-el-GR.txt")})
    assert facts.boot_time == datetime(2018, 1, 31, 12, 46, 10, tzinfo=timezone.utc)
    assert any("time zone bias is unknown" in n for n in facts.notes)


def test_windows_reboot_flags():
    facts = parse_facts({
        "facts.ver": "Microsoft Windows [Version 10.0.17763.5458]",
        "facts.reboot_cbs": "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending\r\n"
                            "    {5b5e4e8c-6f1a-4e25-9a3b-0c6a4b7d2f11}    REG_DWORD    0x1\r\n\r\n",
        "facts.reboot_wu": ABSENT,
        "facts.reboot_pfro": reg_value(r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Session Manager",
                                       "PendingFileRenameOperations", "REG_MULTI_SZ", r"\??\C:\Windows\Temp\x.tmp\0\0"),
    })
    assert facts.windows_reboot_pending == ["CBS RebootPending", "PendingFileRenameOperations"]
    assert facts.os_label == "Windows 10 1809 / Server 2019"


def test_empty_pending_rename_list_is_not_a_pending_reboot():
    facts = parse_facts({"facts.reboot_pfro": reg_value(r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Session Manager",
                                                        "PendingFileRenameOperations", "REG_MULTI_SZ", "")})
    assert facts.windows_reboot_pending == []


def test_nothing_readable_leaves_facts_unknown_with_notes():
    facts = parse_facts({})
    assert facts.os_version is None and facts.boot_time is None
    assert not facts.is_legacy and facts.supports_dynamicport  # unknown: try, let netsh's answer tell
    assert facts.os_label == "unknown Windows version"
    assert len(facts.notes) == 2


def test_netstat_q_support_by_build():
    assert HostFacts(major=10, minor=0, build=10240).supports_netstat_q
    assert not HostFacts(major=6, minor=3, build=9600).supports_netstat_q  # needs KB 3123245, invisible to ver
    assert not HostFacts().supports_netstat_q
