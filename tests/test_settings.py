"""The settings catalogue: valid ranges, per-host rules, readings from recorded outputs, comparison."""

from pathlib import Path

import pytest

from portfleet.facts import HostFacts
from portfleet.settings import (
    CATALOGUE, PortRange, Reading, ReadStatus, SettingError, get_setting, parse_readings,
)

DATA = Path(__file__).parent / "data" / "windows"
WS2003 = HostFacts(os_version="5.2.3790", major=5, minor=2, build=3790, revision=0)
WS2008 = HostFacts(os_version="6.0.6002", major=6, minor=0, build=6002, revision=0)
WS2008R2 = HostFacts(os_version="6.1.7601", major=6, minor=1, build=7601, revision=0)
WS2012R2 = HostFacts(os_version="6.3.9600", major=6, minor=3, build=9600, revision=0)
WS2022 = HostFacts(os_version="10.0.20348.2340", major=10, minor=0, build=20348, revision=2340)
UNKNOWN = HostFacts()


def sample(name: str) -> str:
    return open(DATA / name, encoding="utf-8", newline="").read()


def reg_out(name: str, data: str, reg_type: str = "REG_DWORD") -> str:
    # The Vista+ shape in DESIGN.md ("Output shapes"), as reg.exe prints it.
    return ("\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\r\n"
            f"    {name}    {reg_type}    {data}\r\n\r\n")


def test_catalogue_keys_and_reboot_needs():
    windows = [k for k, s in CATALOGUE.items() if s.platform == "windows"]  # Linux: tests/test_ssh_settings.py
    assert windows == ["MaxUserPort", "TcpTimedWaitDelay", "dynamicport.ipv4.tcp", "dynamicport.ipv4.udp",
                       "dynamicport.ipv6.tcp", "dynamicport.ipv6.udp"]
    assert CATALOGUE["MaxUserPort"].needs_reboot and CATALOGUE["TcpTimedWaitDelay"].needs_reboot
    assert not any(CATALOGUE[k].needs_reboot for k in CATALOGUE if k.startswith("dynamicport."))
    assert all("KB" in CATALOGUE[k].doc for k in windows)
    assert CATALOGUE["dynamicport.ipv6.udp"].unset_template is None


# ---- validation bounds ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", [5000, 65534, "65534"])
def test_maxuserport_accepts_5000_to_65534(value):
    assert get_setting("MaxUserPort").validate(value) == int(value)


@pytest.mark.parametrize("value", [4999, 65535, 0, -1])
def test_maxuserport_refuses_outside_range_and_says_the_range(value):
    with pytest.raises(SettingError, match=r"MaxUserPort .* out of range: valid is 5000-65534"):
        get_setting("MaxUserPort").validate(value)


@pytest.mark.parametrize("value", [2, 29, 30, 300])
def test_timed_wait_delay_accepts_2_to_300_without_host_facts(value):
    assert get_setting("TcpTimedWaitDelay").validate(value) == value


@pytest.mark.parametrize("value", [1, 301])
def test_timed_wait_delay_refuses_outside_2_to_300(value):
    with pytest.raises(SettingError, match=r"valid is 30-300 seconds \(2-300 on Windows 8.1 / Server 2012 R2"):
        get_setting("TcpTimedWaitDelay").validate(value)


def test_timed_wait_delay_below_30_only_on_2012r2_and_later():
    s = get_setting("TcpTimedWaitDelay")
    for old in (WS2003, WS2008, WS2008R2):
        with pytest.raises(SettingError, match=r"needs Windows 8.1 / Server 2012 R2 \(6.3\) or later.*30-300"):
            s.validate(10, old)
        assert s.validate(30, old) == 30
    assert s.validate(10, WS2012R2) == 10
    assert s.validate(2, WS2022) == 2
    assert s.validate(10, UNKNOWN) == 10  # unknown version: not refused on a guess


@pytest.mark.parametrize("raw,expected", [
    ({"start": 1025, "num": 255}, PortRange(1025, 255)),
    ({"start": 10000, "num": 55536}, PortRange(10000, 55536)),
    ({"start": 49152, "end": 65535}, PortRange(49152, 16384)),
    (PortRange(1025, 64511), PortRange(1025, 64511)),
])
def test_dynamic_range_bounds_accepted(raw, expected):
    assert get_setting("dynamicport.ipv4.tcp").validate(raw) == expected


@pytest.mark.parametrize("raw,message", [
    ({"start": 1024, "num": 1000}, "start 1024 is below 1025"),
    ({"start": 10000, "num": 254}, "num 254 is below 255"),
    ({"start": 10000, "num": 55537}, "ends at 65536, past 65535 (num may be at most 55536)"),
    ({"start": 10000}, "needs exactly {start, num}"),
    ({"start": 10000, "num": 100, "end": 10099}, "needs exactly {start, num}"),
    ({"start": "ten", "num": 100}, "start must be a whole number"),
    (10000, "must be a mapping"),
    (None, "cannot be absent"),
])
def test_dynamic_range_refusals_say_what_is_valid(raw, message):
    with pytest.raises(SettingError) as info:
        get_setting("dynamicport.ipv6.udp").validate(raw)
    assert message in str(info.value)


def test_dynamic_range_refused_on_pre_vista_host():
    with pytest.raises(SettingError, match="needs Windows Vista / Server 2008 or later.*use MaxUserPort"):
        get_setting("dynamicport.ipv4.tcp").validate({"start": 10000, "num": 55536}, WS2003)


@pytest.mark.parametrize("raw", [True, "thirty", [30], {"x": 1}, 30.5])
def test_wrong_types_are_refused(raw):
    with pytest.raises(SettingError, match="must be a whole number"):
        get_setting("TcpTimedWaitDelay").validate(raw)


def test_absent_is_allowed_for_registry_values():
    assert get_setting("MaxUserPort").validate(None) is None
    assert get_setting("TcpTimedWaitDelay").validate("absent") is None


def test_unknown_setting_names_the_closest_and_the_known():
    with pytest.raises(SettingError) as info:
        get_setting("TcpTimeWaitDelay")
    assert "did you mean TcpTimedWaitDelay?" in str(info.value)
    assert "dynamicport.ipv6.udp" in str(info.value)


# ---- readings --------------------------------------------------------------------------------------
def test_registry_value_is_read_as_integer():
    r = get_setting("MaxUserPort").parse(reg_out("MaxUserPort", "0xfffe"), WS2003)
    assert r == Reading(ReadStatus.VALUE, 65534, 65534, "")
    r = get_setting("TcpTimedWaitDelay").parse(reg_out("TcpTimedWaitDelay", "0x1e"), WS2022)
    assert (r.status, r.value, r.effective) == (ReadStatus.VALUE, 30, 30)


@pytest.mark.parametrize("name", ["reg-query-absent-en-US.txt", "reg-query-absent-fr-FR.txt"])
def test_absent_value_in_any_language_gets_the_documented_default(name):
    text = sample(name)
    on_2003 = get_setting("MaxUserPort").parse(text, WS2003)
    assert (on_2003.status, on_2003.value, on_2003.effective) == (ReadStatus.ABSENT, None, 5000)
    on_2022 = get_setting("MaxUserPort").parse(text, WS2022)
    assert (on_2022.status, on_2022.effective) == (ReadStatus.ABSENT, None)
    assert "not used" in on_2022.detail
    delay = get_setting("TcpTimedWaitDelay").parse(text, WS2022)
    assert (delay.status, delay.effective) == (ReadStatus.ABSENT, 120)


def test_german_absent_message_alone_is_absent_too():
    german = sample("reg-query-absent-then-value-de-DE.txt").split("HKEY_")[0]
    r = get_setting("TcpTimedWaitDelay").parse(german, WS2022)
    assert r.status == ReadStatus.ABSENT
    assert "nicht gefunden" in r.detail


def test_wrong_registry_type_is_unparsable_with_reason():
    r = get_setting("MaxUserPort").parse(reg_out("MaxUserPort", "65534", "REG_SZ"), WS2003)
    assert r.status == ReadStatus.UNPARSABLE
    assert "REG_SZ" in r.detail and "REG_DWORD" in r.detail


@pytest.mark.parametrize("garbage,detail", [
    ("", "printed nothing"),
    ("'reg' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
     "unexpected output: 'reg' is not recognized"),
    ("\x00\xff\xfe garbage", "unexpected output"),
])
def test_garbage_is_unparsable_never_a_crash(garbage, detail):
    for setting in CATALOGUE.values():
        r = setting.parse(garbage, WS2022)
        assert r.status == ReadStatus.UNPARSABLE
        assert detail in r.detail


@pytest.mark.parametrize("name,expected", [
    ("netsh-dynamicport-en-US.txt", PortRange(49152, 16384)),
    ("netsh-dynamicport-fr-FR.txt", PortRange(49152, 16384)),
    ("netsh-dynamicport-de-DE.txt", PortRange(49152, 16384)),
    ("netsh-dynamicport-en-US-vsimage.txt", PortRange(1024, 64511)),
])
def test_dynamic_range_readings(name, expected):
    r = get_setting("dynamicport.ipv4.tcp").parse(sample(name), WS2022)
    assert (r.status, r.value, r.effective) == (ReadStatus.VALUE, expected, expected)


def test_dynamic_range_unsupported_on_2003_and_when_netsh_lacks_it():
    r = get_setting("dynamicport.ipv4.tcp").parse(sample("netsh-dynamicport-notfound-en-US.txt"), WS2003)
    assert r.status == ReadStatus.UNSUPPORTED and "MaxUserPort" in r.detail
    r = get_setting("dynamicport.ipv4.tcp").parse(sample("netsh-dynamicport-notfound-en-US.txt"), UNKNOWN)
    assert r.status == ReadStatus.UNSUPPORTED


def test_parse_readings_marks_missing_sections():
    readings = parse_readings({"MaxUserPort": reg_out("MaxUserPort", "0x1388")},
                              [CATALOGUE["MaxUserPort"], CATALOGUE["TcpTimedWaitDelay"]], WS2003)
    assert readings["MaxUserPort"].value == 5000
    assert readings["TcpTimedWaitDelay"].status == ReadStatus.UNPARSABLE
    assert "cut short" in readings["TcpTimedWaitDelay"].detail


# ---- comparison -------------------------------------------------------------------------------------
def test_matches_compares_effective_integers():
    s = get_setting("MaxUserPort")
    assert s.matches(65534, Reading(ReadStatus.VALUE, 65534, 65534))
    assert not s.matches(65534, Reading(ReadStatus.VALUE, 5000, 5000))
    # absent on 2003 means 5000: desiring 5000 is already true
    assert s.matches(5000, Reading(ReadStatus.ABSENT, None, 5000))
    # desiring "absent" is met only by absence, not by an explicit default
    assert s.matches(None, Reading(ReadStatus.ABSENT, None, 5000))
    assert not s.matches(None, Reading(ReadStatus.VALUE, 5000, 5000))
    assert not s.matches(5000, Reading(ReadStatus.UNPARSABLE, None, None, "x"))


def test_matches_compares_ranges_by_start_and_count():
    s = get_setting("dynamicport.ipv4.tcp")
    here = PortRange(10000, 55536)
    assert s.matches(PortRange(10000, 55536), Reading(ReadStatus.VALUE, here, here))
    assert not s.matches(PortRange(49152, 16384), Reading(ReadStatus.VALUE, here, here))
    assert not s.matches(here, Reading(ReadStatus.UNSUPPORTED, None, None))
