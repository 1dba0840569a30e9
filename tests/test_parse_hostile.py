"""Odd and hostile host answers that once raised or took seconds (issue 12, "host output is untrusted
input"): each case here failed before its fix. The broad search is tests/test_fuzz_parsers.py."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from portfleet.diagnose.linux import parse_reserved
from portfleet.facts import HostFacts, local_to_utc, parse_facts, parse_linux_facts
from portfleet.parse.net_statistics import parse_statistics_since
from portfleet.parse.netsh import parse_dynamicport, parse_excludedportrange
from portfleet.parse.netstat import parse_netstat
from portfleet.parse.numbers import ascii_hex, ascii_int
from portfleet.parse.reg import error_lines, parse_reg_query
from portfleet.parse.sections import split_sections
from portfleet.parse.ss import parse_ss
from portfleet.parse.sysctl import parse_sysctl_read, parse_sysctl_value
from portfleet.parse.tasklist import parse_tasklist_csv
from portfleet.parse.ver import parse_ver, version_tuple
from portfleet.parse.wevtutil import parse_events_text, parse_iso_time
from portfleet.settings import ReadStatus, get_setting
from test_fleet_apply_e2e import PLAYBOOK, as_json, by_name, portfleet
from test_fuzz_parsers import assert_linear

DATA = Path(__file__).parent / "data" / "windows"
HUGE = "9" * 4400  # past Python's 4,300-digit int() limit
BOOT_EVENT = (DATA / "wevtutil-kernel-general-12-en-US.txt").read_text(encoding="utf-8")
MODERN_VER = "\r\nMicrosoft Windows [Version 10.0.20348.2340]\r\n"


# ---- numbers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["²", "٤٩١٥٢", "１", "1_000", " 1", "1 ", "+1", "", "-", HUGE, "0x10"])
def test_only_plain_bounded_ascii_integers_are_numbers(text):
    assert ascii_int(text) is None


def test_ascii_numbers():
    assert ascii_int("49152") == 49152 and ascii_int("-180", signed=True) == -180 and ascii_int("-180") is None
    assert ascii_int("123456", max_digits=5) is None
    assert ascii_hex("0xfffe") == 65534 and ascii_hex("0xffff_fffe") is None and ascii_hex("0x" + "f" * 17) is None


# ---- wevtutil dates that overflowed (OverflowError aborted the whole audit) -----------------------------
@pytest.mark.parametrize("text", [
    "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.9999999Z", "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00", "9999-12-31T23:00:00", "2026-11-21T05:00:00+99:99", "2026-02-30T00:00:00Z",
])
def test_odd_event_dates_are_unknown_not_an_exception(text):
    assert parse_iso_time(text) is None


def test_an_ordinary_offset_still_converts():
    assert parse_iso_time("2026-11-21T06:00:00+01:00") == datetime(2026, 11, 21, 5, tzinfo=timezone.utc)
    assert parse_iso_time("2026-11-21T04:00:00-01:00") == datetime(2026, 11, 21, 5, tzinfo=timezone.utc)


def test_boot_event_with_an_odd_date_leaves_the_boot_time_to_the_fallback_with_a_note():
    odd = BOOT_EVENT.replace("\u200e", "")
    for when in ("2024-08-24T19:16:00.1520000Z", "2024-08-24T19:15:58.500000000Z"):  # Date, and the message's
        odd = odd.replace(when, "9999-12-31T23:59:59-23:59")
    (event,) = parse_events_text(odd)
    assert event.id == 12 and event.date is None
    facts = parse_facts({"facts.ver": MODERN_VER, "facts.boot": odd,
                         "facts.boot_net": (DATA / "net-statistics-workstation-en-US.txt").read_text(encoding="utf-8")})
    assert facts.boot_time_source == "net statistics" and facts.boot_time is not None
    assert any("'9999-12-31T23:59:59-23:59' is not a usable date" in n for n in facts.notes), facts.notes
    alone = parse_facts({"facts.ver": MODERN_VER, "facts.boot": odd})
    assert alone.boot_time is None and any("boot time unknown" in n for n in alone.notes)


def test_local_dates_at_the_calendar_edge_and_absurd_zone_biases():
    # net statistics in year 9999, and an ActiveTimeBias of a whole REG_DWORD's worth of minutes.
    assert parse_statistics_since("Statistics since 12/31/9999 11:59:59 PM") is None
    bias = "\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\TimeZoneInformation\r\n" \
           "    ActiveTimeBias    REG_DWORD    0x7fffffff\r\n"
    facts = parse_facts({"facts.ver": MODERN_VER, "facts.tzbias": bias,
                         "facts.boot_net": "Statistics since 12/30/9999 11:00:00 PM"})
    assert facts.tz_bias_minutes is None and any("more than a day" in n for n in facts.notes)
    assert facts.boot_time == datetime(9999, 12, 30, 23, tzinfo=timezone.utc)
    # local_to_utc never applies a bias beyond a day (no Windows zone has one).
    assert local_to_utc(datetime(9999, 12, 30, 23), 2**31 - 1, HostFacts(), "x").year == 9999


def test_linux_btime_past_the_calendar_is_unknown():
    facts = parse_linux_facts({"facts.btime": "btime 99999999999999999999999999999999"})
    assert facts.boot_time is None and any("btime" in n for n in facts.notes)
    assert parse_linux_facts({"facts.btime": "btime 1795238734"}).boot_time is not None


# ---- Unicode digits and numbers past int()'s limit ----------------------------------------------------
def test_netstat_unicode_digits_and_huge_numbers():
    text = ("  TCP    10.0.0.5:²              10.0.0.9:443           ESTABLISHED     4\r\n"
            "  TCP    10.0.0.5:51802          10.0.0.9:443           ESTABLISHED     ²\r\n"
            f"  TCP    10.0.0.5:{HUGE}          10.0.0.9:443           ESTABLISHED     4\r\n"
            "  TCP    10.0.0.5:٥١٨٠٣          10.0.0.9:443           ESTABLISHED     4\r\n"
            f"  TCP    10.0.0.5:51804          10.0.0.9:443           ESTABLISHED     {HUGE}\r\n"
            "  TCP    10.0.0.5:51805          10.0.0.9:443           TIME_WAIT       0\r\n")
    conns = parse_netstat(text)
    assert [(c.local_port, c.pid) for c in conns] == [(51802, None), (51804, None), (51805, 0)]


def test_tasklist_unicode_digits_and_huge_numbers():
    text = ('"a.exe","²","Services","0","8 K"\r\n"b.exe","8","Services","²","8 K"\r\n'
            f'"c.exe","{HUGE}","Services","0","8 K"\r\n"d.exe","9","Console","1","{"9" * 40} K"\r\n'
            '"e.exe","10","Console","1","1\u00a0052 Ko"\r\n'
            f'"f.exe","11","Console","1","{HUGE} K"\r\n')  # longer than any tasklist row: skipped
    found = parse_tasklist_csv(text)
    assert sorted(found) == [8, 9, 10]
    assert found[8].session_id is None and found[9].mem_kb is None and found[10].mem_kb == 1052


def test_tasklist_row_past_the_csv_field_limit_is_skipped():
    # csv.reader raises "field larger than field limit (131072)" on such a row.
    text = '"' + "a" * 200_000 + '","1","Services","0","8 K"\r\n"ok.exe","2","Services","0","8 K"\r\n'
    assert list(parse_tasklist_csv(text)) == [2]


def test_ss_unicode_digits_and_huge_numbers():
    text = ("ESTAB 0 0 10.0.0.5:² 10.0.0.9:443\n"
            f'ESTAB 0 0 10.0.0.5:22 10.0.0.9:443 users:(("sshd",pid={HUGE},fd=4))\n'
            'ESTAB 0 0 10.0.0.5:23 10.0.0.9:443 users:(("sshd",pid=٣,fd=4))\n'
            "ESTAB ² 0 10.0.0.5:24 10.0.0.9:443\n")
    conns, processes = parse_ss(text)
    assert [(c.local_port, c.pid) for c in conns] == [(22, None), (23, None)] and processes == {}


def test_sysctl_netsh_ver_reg_huge_numbers():
    assert parse_sysctl_value(HUGE) is None and parse_sysctl_value("32768\t" + HUGE) is None
    assert parse_sysctl_value("٣٢٧٦٨\t60999") is None
    assert parse_sysctl_read(f"{HUGE}\n", "net.ipv4.tcp_fin_timeout").runtime is None
    assert parse_dynamicport(f"Start Port      : {HUGE}\r\nNumber of Ports : 16384\r\n") is None
    assert parse_dynamicport("Start Port      : ٤٩١٥٢\r\nNumber of Ports : 16384\r\n") is None
    assert parse_excludedportrange(f"  {HUGE}  80\r\n        80          80\r\n") == [(80, 80, False)]
    assert parse_ver(f"Microsoft Windows [Version 10.0.{HUGE}]") is None
    assert version_tuple(f"10.0.{HUGE}") is None and version_tuple("10.0.²") is None
    assert parse_reg_query(f"    MaxUserPort    REG_DWORD    {HUGE}\r\n")["MaxUserPort"].value == HUGE
    facts = parse_facts({"facts.ver": f"Microsoft Windows [Version 10.0.{HUGE}]"})
    assert not facts.version_known
    assert parse_linux_facts({"facts.uname": f"Linux {HUGE}.1"}).kernel_version is None
    assert parse_reserved("²") is None and parse_reserved(f"{HUGE}") is None and parse_reserved("80-70") is None


def test_settings_read_huge_values_as_unparsable_with_a_short_detail():
    reading = get_setting("MaxUserPort").parse(f"\r\nHKEY_LOCAL_MACHINE\\X\r\n    MaxUserPort    REG_DWORD    {HUGE}\r\n",
                                               parse_facts({"facts.ver": MODERN_VER}))
    assert reading.status == ReadStatus.UNPARSABLE and len(reading.detail) < 250
    fin = get_setting("net.ipv4.tcp_fin_timeout").parse(f"60\n/etc/sysctl.d/90-portfleet.conf:net.ipv4.tcp_fin_timeout = {HUGE}\n",
                                                       None)
    assert fin.status == ReadStatus.UNPARSABLE and len(fin.detail) < 300


# ---- quadratic regexes: a 20,000-space line took 6-15 s -------------------------------------------------
@pytest.mark.parametrize("name,fn,make,n", [
    ("reg.error_lines", error_lines, lambda n: "ERROR: x" + " " * n + "x", 50_000),
    ("reg.error_lines value-shaped", error_lines, lambda n: "  x" + " " * n + "x", 50_000),
    ("parse_reg_query", parse_reg_query, lambda n: "  x" + " " * n + "x", 50_000),
    ("parse_dynamicport", parse_dynamicport, lambda n: "a " * (n // 2), 50_000),
    ("parse_excludedportrange", parse_excludedportrange, lambda n: "1 1" + " " * n + "x", 50_000),
    ("parse_events_text label", parse_events_text, lambda n: "Event[0]:\n  a" + " " * n + "x", 50_000),
    ("parse_events_text value", parse_events_text, lambda n: "Event[0]:\n  a: x" + " " * n + "x", 50_000),
    ("parse_ver", parse_ver, lambda n: "[" * n, 50_000),
    # Each marker searched the rest of its line for the line end: fast C, so a longer line is needed.
    ("split_sections", split_sections, lambda n: "PORTFLEET:BEGIN:a " * (n // 18), 400_000),
])
def test_reported_quadratic_inputs_are_linear(name, fn, make, n):
    assert_linear(fn, make, n)


def test_the_real_layouts_still_parse_after_the_rewrite():
    # Names with spaces, TAB-separated reg 3.0 fields, data with spaces, trailing blanks.
    text = ("\r\nHKEY_LOCAL_MACHINE\\X\r\n    (par défaut)    REG_SZ    a  b \r\n"
            "\tDevicePath\tREG_EXPAND_SZ\t%SystemRoot%\\inf\r\n    Empty    REG_SZ\r\n"
            "    REG_SZ    REG_SZ    x\r\n    NotAValue    REG_dword    1\r\n")
    values = parse_reg_query(text)
    assert values["(par défaut)"].value == "a  b" and values["DevicePath"].value == "%SystemRoot%\\inf"
    assert values["Empty"].value == "" and values["REG_SZ"].value == "x" and "NotAValue" not in values
    assert error_lines("Erreur : le système n’a pas trouvé la clé.\r\nERROR:    \r\n") == ["le système n’a pas trouvé la clé."]
    assert parse_excludedportrange("     50000       50059     *\r\n     50060       50060*\r\n") == [
        (50000, 50059, True), (50060, 50060, True)]
    (event,) = parse_events_text("Event[0]:\r\n  Log Name: System\r\n  Source: X\r\n  Date:  2012-03-13T10:13:27.000\r\n"
                                 "  Event ID: 6005\r\n")
    assert (event.id, event.date) == (6005, datetime(2012, 3, 13, 10, 13, 27))
    assert split_sections("PORTFLEET:BEGIN:a x\nPORTFLEET:BEGIN:b \nB\nPORTFLEET:END \n") == {"a": "", "b": "B", "__end__": ""}


# ---- end to end: a host's garbage costs no other host its result ----------------------------------------
def _poison(capture: Path, out: Path, edits: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of a capture whose answers (chosen by a word of the command line) have text replaced."""
    data = json.loads(capture.read_text(encoding="utf-8"))
    for entry in data["commands"]:
        for word, replacements in edits.items():
            if word in entry["command"]:
                for old, new in replacements:
                    assert old in entry["stdout"], (old, entry["command"][:80])
                    entry["stdout"] = entry["stdout"].replace(old, new, 1)
    out.write_text(json.dumps(data), encoding="utf-8")
    return out


def test_hosts_answering_garbage_get_their_own_results_and_cost_the_others_nothing(lab, tmp_path):
    source = lab(hosts=1, profile="defaults", seed=3)
    name = source.hosts[0]["name"]
    capture = tmp_path / "real.json"
    proc = portfleet("capture", "-i", str(source.inventory), "-l", name, "-o", str(capture), state=tmp_path / "c.db")
    assert proc.returncode == 0, proc.stderr
    source.stop()
    date = re.search(r"Date: (\S+Z)", capture.read_text(encoding="utf-8")).group(1)
    odd = _poison(capture, tmp_path / "odd.json", {"PORTFLEET:BEGIN:facts.ver": [
        # The boot event at the end of the calendar (OverflowError), a 40,000-space reg error line
        # (26 s of regex backtracking per host before), a Unicode digit where netsh prints a number.
        (f"Date: {date}", "Date: 9999-12-31T23:59:59-23:59"),
        ("PORTFLEET:BEGIN:MaxUserPort \r\n", "PORTFLEET:BEGIN:MaxUserPort \r\nERROR: x" + " " * 40_000 + "x\r\n"),
        ("Start Port      : 49152", "Start Port      : ²"),
    ]})
    huge = _poison(capture, tmp_path / "huge.json", {
        "PORTFLEET:BEGIN:facts.ver": [("[Version 10.0.20348.", f"[Version 10.0.{HUGE}.")],
        "PORTFLEET:BEGIN:diag.excluded": [("LISTENING       4\r\n", "LISTENING       ²\r\n"),
                                          ('"System","4"', '"System","²"')],
    })
    fleet = lab(hosts=1, profile="defaults", seed=3, replay={"odd-01": odd, "huge-01": huge})
    state = tmp_path / "s.db"
    audit = portfleet("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--format", "json", state=state)
    # Exit 4: odd-01 has an unreadable setting, which is that host's failure and no one else's.
    assert audit.returncode == 4 and "Traceback" not in audit.stderr, audit.stderr
    hosts = by_name(as_json(audit))
    real = fleet.hosts[0]["name"]
    assert set(hosts) == {real, "odd-01", "huge-01"}
    settings = {h: {s["key"]: (s["status"], s["actual"]) for s in report["settings"]} for h, report in hosts.items()}
    assert hosts[real]["status"] == hosts["huge-01"]["status"] == "drift"
    assert settings["huge-01"] == settings[real]  # an unknown version changes no reading here
    assert hosts["odd-01"]["status"] == "error" and "dynamicport.ipv4.tcp: unreadable" in hosts["odd-01"]["detail"]
    assert settings["odd-01"]["dynamicport.ipv4.tcp"] == ("unreadable", None)
    assert {k: v for k, v in settings["odd-01"].items() if k != "dynamicport.ipv4.tcp"} == \
        {k: v for k, v in settings[real].items() if k != "dynamicport.ipv4.tcp"}

    diagnose = portfleet("diagnose", "-i", str(fleet.inventory), "--format", "json", state=state)
    assert diagnose.returncode != 1, diagnose.stderr
    verdicts = {h["name"]: h for h in as_json(diagnose)["hosts"]}
    assert set(verdicts) == set(hosts) and all(h.get("verdict") for h in verdicts.values())
