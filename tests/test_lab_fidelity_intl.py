"""HKCU\\Control Panel\\International per host locale, and the programs that print dates with it:
net statistics, schtasks and %DATE% all follow the user's sShortDate (and change when it changes)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from portfleet_lab.clock import LabClock
from portfleet_lab.cmd import shell
from portfleet_lab.cmd.base import Ctx
from portfleet_lab.profiles import Plan, build_host

INTL = r'"HKCU\Control Panel\International"'
NOW = datetime(2026, 2, 7, 14, 5, 9, tzinfo=timezone.utc).timestamp()  # Saturday 7 February 2026
LOCALES = {  # locale: (zone, sShortDate, sTimeFormat, %DATE% on NOW)
    "en-US": ("America/New_York", "M/d/yyyy", "h:mm:ss tt", "Sat 02/07/2026"),
    "de-DE": ("Europe/Berlin", "dd.MM.yyyy", "HH:mm:ss", "07.02.2026"),
    "fr-FR": ("Europe/Paris", "dd/MM/yyyy", "HH:mm:ss", "07/02/2026"),
}


def host(locale: str, build: str = "2022"):
    zone = LOCALES[locale][0]
    return build_host(Plan("app-01", "app", build, "default", locale=locale, timezone=zone), 0, "127.0.0.1", 5, NOW)


def run(state, line: str, now: float = NOW):
    return shell.run_line(Ctx(host=state, clock=LabClock(), now=now), line)


def reg_value(state, name: str) -> str:
    out = run(state, f"reg query {INTL} /v {name}")
    assert out.code == 0, out.stderr
    return re.search(rf"^    {name}(?:    |\t)REG_SZ(?:    |\t)([^\r\n]*)", out.stdout, re.M).group(1)


@pytest.mark.parametrize("locale", sorted(LOCALES))
def test_international_values_per_locale(locale):
    state = host(locale)
    _zone, short, long_time, _date = LOCALES[locale]
    assert reg_value(state, "sShortDate") == short
    assert reg_value(state, "sTimeFormat") == long_time
    assert reg_value(state, "LocaleName") == locale
    assert reg_value(state, "sDate") == short.strip("dMy")[0]
    listing = run(state, f"reg query {INTL}").stdout.split("\r\n")
    # Locale and LocaleName first, iTLZero last, the Geo subkey after a blank line (as Windows lists them)
    assert listing[2].startswith("    Locale    REG_SZ    0000") and listing[3] == f"    LocaleName    REG_SZ    {locale}"
    assert listing[-4].startswith("    iTLZero    REG_SZ    ")
    assert listing[-2] == "HKEY_CURRENT_USER\\Control Panel\\International\\Geo"


def test_server_2003_profile_predates_localename_and_sshorttime():
    state = host("en-US", build="2003")
    assert reg_value(state, "sShortDate") == "M/d/yyyy"
    for name in ("LocaleName", "sShortTime"):
        out = run(state, f"reg query {INTL} /v {name}")
        assert out.code == 1 and out.stdout == ""


@pytest.mark.parametrize("locale", sorted(LOCALES))
def test_percent_date(locale):
    """cmd's %DATE%: sShortDate with two-digit day and month, weekday first when the day is a single d."""
    assert run(host(locale), "echo %DATE%").stdout == LOCALES[locale][3] + "\r\n"


def _since(text: str) -> str:
    return re.search(r"^Stat\w+ s\w+ ([^\r\n]+)", text, re.M).group(1)


@pytest.mark.parametrize("locale, pattern", [
    ("en-US", r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d\d:\d\d [AP]M"),
    ("de-DE", r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d"),
    ("fr-FR", r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d"),
])
def test_net_statistics_uses_short_date_and_long_time(locale, pattern):
    state = host(locale)
    since = _since(run(state, "net statistics workstation").stdout)
    assert re.fullmatch(pattern, since), since
    # the same instant the boot time gives, read back with the user's own pictures
    fmt = {"en-US": "%m/%d/%Y %I:%M:%S %p", "de-DE": "%d.%m.%Y %H:%M:%S", "fr-FR": "%d/%m/%Y %H:%M:%S"}[locale]
    parsed = datetime.strptime(since, fmt)
    bias = {"America/New_York": 300, "Europe/Berlin": -60, "Europe/Paris": -60}[LOCALES[locale][0]]  # February
    utc = (parsed + timedelta(minutes=bias)).replace(tzinfo=timezone.utc).timestamp()
    assert abs(utc - (state.boot_time + 21.0)) < 1


def test_changing_sshortdate_changes_what_programs_print():
    state = host("en-US")
    assert run(state, f'reg add {INTL} /v sShortDate /t REG_SZ /d yyyy-MM-dd /f').code == 0
    assert run(state, "echo %DATE%").stdout == "2026-02-07\r\n"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d{1,2}:\d\d:\d\d [AP]M", _since(run(state, "net statistics workstation").stdout))
    # schtasks now wants /sd year first, with the picture's separator
    bad = run(state, 'schtasks /create /tn t /sc once /sd 12/24/2030 /st 23:30 /tr "shutdown /r" /ru SYSTEM /f')
    assert bad.stderr == 'ERROR: Invalid Start Date (Date should be in "yyyy-mm-dd" format).\r\n'
    ok = run(state, 'schtasks /create /tn t /sc once /sd 2030-12-24 /st 23:30 /tr "shutdown /r" /ru SYSTEM /f')
    assert ok.code == 0, ok.stderr
    assert run(state, "schtasks /query /tn t /fo csv /nh").stdout == '"\\t","2030-12-24 11:30:00 PM","Ready"\r\n'


@pytest.mark.parametrize("locale, sd, shown, start_time", [
    ("en-US", "12/24/2030", "12/24/2030 11:30:00 PM", "11:30:00 PM"),
    ("de-DE", "24.12.2030", "24.12.2030 23:30:00", "23:30:00"),
    ("fr-FR", "24/12/2030", "24/12/2030 23:30:00", "23:30:00"),
])
def test_schtasks_dates_follow_the_locale(locale, sd, shown, start_time):
    state = host(locale)
    r = run(state, f'schtasks /create /tn portfleet-reboot /sc once /sd {sd} /st 23:30 /tr "shutdown /r /t 300" '
                   "/ru SYSTEM /f")
    assert r.code == 0, r.stderr
    assert run(state, "schtasks /query /tn portfleet-reboot /fo csv /nh").stdout == \
        f'"\\portfleet-reboot","{shown}","Ready"\r\n'
    listing = run(state, "schtasks /query /tn portfleet-reboot /fo list /v").stdout
    assert f"Start Date:                           {shown.split()[0]}\r\n" in listing
    assert f"Start Time:                           {start_time}\r\n" in listing
    never = {"en-US": "11/30/1999 12:00:00 AM", "de-DE": "30.11.1999 00:00:00", "fr-FR": "30/11/1999 00:00:00"}
    assert f"Last Run Time:                        {never[locale]}\r\n" in listing
    # a date in another locale's order is refused with the shape this user's format asks for
    other = "24.12.2030" if locale == "en-US" else "12/24/2030"
    r = run(state, f'schtasks /create /tn x /sc once /sd {other} /st 23:30 /tr "shutdown /r" /ru SYSTEM /f')
    shape = {"en-US": "mm/dd/yyyy", "de-DE": "dd.mm.yyyy", "fr-FR": "dd/mm/yyyy"}[locale]
    assert (r.code, r.stderr) == (1, f'ERROR: Invalid Start Date (Date should be in "{shape}" format).\r\n')
