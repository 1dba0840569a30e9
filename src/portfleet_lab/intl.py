"""The connecting user's regional formats: HKCU\\Control Panel\\International, and the date/time pictures
that net.exe, schtasks.exe and cmd.exe render with it.

Windows keeps the user's formats as REG_SZ values under HKCU\\Control Panel\\International (one set per
locale; the values and their order as Windows writes them are the ones scripted in public regional-settings
resets: Epi-Info Community Edition Region/en-US.bat and Region/fr-FR.bat, and a de-DE Default-user script,
Interface007/AzureHelper configure-regional-settings.ps1). LocaleName exists from Vista on (LOCALE_SNAME) and
sShortTime from Windows 7 on (https://learn.microsoft.com/windows/win32/intl/locale-sshorttime), so a Server
2003 profile has neither.

Programs read the values, not the locale: GetDateFormat(DATE_SHORTDATE) uses sShortDate and GetTimeFormat uses
sTimeFormat/s1159/s2359, which is why `net statistics` prints "1/1/2021 6:08:25 PM" on en-US, "22.05.2017
14:47:53" with German regional settings and "31/1/2018 12:46:10 μμ" on el-GR (captures in
tests/data/windows/net-statistics-workstation-*.txt). Pictures follow
https://learn.microsoft.com/windows/win32/intl/day--month--year--and-era-format-pictures and
https://learn.microsoft.com/windows/win32/intl/hour--minute--and-second-format-pictures.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from .model import RegValue

if TYPE_CHECKING:
    from .model import HostState

INTERNATIONAL = r"HKEY_CURRENT_USER\Control Panel\International"

# (name, data) in the order Windows writes them for a new profile.
_VALUES: dict[str, list[tuple[str, str]]] = {
    "en-US": [
        ("Locale", "00000409"), ("LocaleName", "en-US"), ("s1159", "AM"), ("s2359", "PM"),
        ("sCountry", "United States"), ("sCurrency", "$"), ("sDate", "/"), ("sDecimal", "."), ("sGrouping", "3;0"),
        ("sLanguage", "ENU"), ("sList", ","), ("sLongDate", "dddd, MMMM d, yyyy"), ("sMonDecimalSep", "."),
        ("sMonGrouping", "3;0"), ("sMonThousandSep", ","), ("sNativeDigits", "0123456789"), ("sNegativeSign", "-"),
        ("sPositiveSign", ""), ("sShortDate", "M/d/yyyy"), ("sThousand", ","), ("sTime", ":"),
        ("sTimeFormat", "h:mm:ss tt"), ("sShortTime", "h:mm tt"), ("sYearMonth", "MMMM yyyy"),
        ("iCalendarType", "1"), ("iCountry", "1"), ("iCurrDigits", "2"), ("iCurrency", "0"), ("iDate", "0"),
        ("iDigits", "2"), ("NumShape", "1"), ("iFirstDayOfWeek", "6"), ("iFirstWeekOfYear", "0"), ("iLZero", "1"),
        ("iMeasure", "1"), ("iNegCurr", "0"), ("iNegNumber", "1"), ("iPaperSize", "1"), ("iTime", "0"),
        ("iTimePrefix", "0"), ("iTLZero", "0"),
    ],
    "de-DE": [
        ("Locale", "00000407"), ("LocaleName", "de-DE"), ("s1159", ""), ("s2359", ""), ("sCountry", "Germany"),
        ("sCurrency", "\u20ac"), ("sDate", "."), ("sDecimal", ","), ("sGrouping", "3;0"), ("sLanguage", "DEU"),
        ("sList", ";"), ("sLongDate", "dddd, d. MMMM yyyy"), ("sMonDecimalSep", ","), ("sMonGrouping", "3;0"),
        ("sMonThousandSep", "."), ("sNativeDigits", "0123456789"), ("sNegativeSign", "-"), ("sPositiveSign", ""),
        ("sShortDate", "dd.MM.yyyy"), ("sThousand", "."), ("sTime", ":"), ("sTimeFormat", "HH:mm:ss"),
        ("sShortTime", "HH:mm"), ("sYearMonth", "MMMM yyyy"), ("iCalendarType", "1"), ("iCountry", "49"),
        ("iCurrDigits", "2"), ("iCurrency", "3"), ("iDate", "1"), ("iDigits", "2"), ("NumShape", "1"),
        ("iFirstDayOfWeek", "0"), ("iFirstWeekOfYear", "2"), ("iLZero", "1"), ("iMeasure", "0"), ("iNegCurr", "8"),
        ("iNegNumber", "1"), ("iPaperSize", "9"), ("iTime", "1"), ("iTimePrefix", "0"), ("iTLZero", "1"),
    ],
    "fr-FR": [
        ("Locale", "0000040C"), ("LocaleName", "fr-FR"), ("s1159", ""), ("s2359", ""), ("sCountry", "France"),
        ("sCurrency", "\u20ac"), ("sDate", "/"), ("sDecimal", ","), ("sGrouping", "3;0"), ("sLanguage", "FRA"),
        ("sList", ";"), ("sLongDate", "dddd d MMMM yyyy"), ("sMonDecimalSep", ","), ("sMonGrouping", "3;0"),
        ("sMonThousandSep", "\u00a0"), ("sNativeDigits", "0123456789"), ("sNegativeSign", "-"),
        ("sPositiveSign", ""), ("sShortDate", "dd/MM/yyyy"), ("sThousand", "\u00a0"), ("sTime", ":"),
        ("sTimeFormat", "HH:mm:ss"), ("sShortTime", "HH:mm"), ("sYearMonth", "MMMM yyyy"), ("iCalendarType", "1"),
        ("iCountry", "33"), ("iCurrDigits", "2"), ("iCurrency", "3"), ("iDate", "1"), ("iDigits", "2"),
        ("NumShape", "1"), ("iFirstDayOfWeek", "0"), ("iFirstWeekOfYear", "2"), ("iLZero", "1"), ("iMeasure", "0"),
        ("iNegCurr", "8"), ("iNegNumber", "1"), ("iPaperSize", "9"), ("iTime", "1"), ("iTimePrefix", "0"),
        ("iTLZero", "1"),
    ],
}
# GEOID of the user's location (HKCU\Control Panel\International\Geo, "Nation"): Table of Geographical
# Locations, https://learn.microsoft.com/windows/win32/intl/table-of-geographical-locations
_NATION = {"en-US": "244", "de-DE": "94", "fr-FR": "84"}

# Names GetDateFormat substitutes for ddd/dddd/MMM/MMMM (LOCALE_SABBREVDAYNAME1.. etc.), Monday first.
_DAYS = {
    "en": (("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
           ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")),
    "de": (("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"),
           ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")),
    "fr": (("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
           ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")),
}
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "de": ("Januar", "Februar", "M\u00e4rz", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "fr": ("janvier", "f\u00e9vrier", "mars", "avril", "mai", "juin", "juillet", "ao\u00fbt", "septembre",
           "octobre", "novembre", "d\u00e9cembre"),
}
_MONTHS_ABBR = {
    "en": tuple(m[:3] for m in _MONTHS["en"]),
    "de": ("Jan", "Feb", "M\u00e4r", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez"),
    "fr": ("janv.", "f\u00e9vr.", "mars", "avr.", "mai", "juin", "juil.", "ao\u00fbt", "sept.", "oct.", "nov.",
           "d\u00e9c."),
}


def _lang(locale: str) -> str:
    lang = locale.split("-")[0].lower()
    return lang if lang in _DAYS else "en"


def defaults(locale: str, *, legacy: bool) -> list[tuple[str, str]]:
    """The International values of a new profile of this locale (en-US for unknown locales)."""
    values = _VALUES.get(locale, _VALUES["en-US"])
    if legacy:
        values = [(n, v) for n, v in values if n not in ("LocaleName", "sShortTime")]
    return list(values)


def install(state: "HostState") -> None:
    """Write the profile's International key (at build time, or for a host saved before the key existed)."""
    reg = state.registry
    for name, data in defaults(state.locale, legacy=state.is_legacy):
        reg.set(INTERNATIONAL, name, RegValue("REG_SZ", data))
    reg.set(INTERNATIONAL + r"\Geo", "Nation", RegValue("REG_SZ", _NATION.get(state.locale, "244")))


def ensure(state: "HostState") -> bool:
    """Install the key on a host that lacks it; True if it was added."""
    if state.registry.find_key(INTERNATIONAL) is not None:
        return False
    install(state)
    return True


def user_value(state: "HostState", name: str) -> str:
    """The user's current value (what a reg add changed included), else the locale's default."""
    got = state.registry.get(INTERNATIONAL, name)
    if got is not None and got[1].type in ("REG_SZ", "REG_EXPAND_SZ") and isinstance(got[1].data, str):
        return got[1].data
    return dict(_VALUES.get(state.locale, _VALUES["en-US"])).get(name, "")


# ------------------------------------------------------------------ format pictures

_TOKEN = re.compile(r"'[^']*'|d+|M+|y+|g+|h+|H+|m+|s+|t+|.", re.S)


def format_picture(dt: datetime, picture: str, locale: str, am: str = "AM", pm: str = "PM") -> str:
    """Render a Windows date or time picture (d dd ddd dddd M MM MMM MMMM y yy yyyy h hh H HH m mm s ss t tt,
    'quoted' literals)."""
    lang = _lang(locale)
    out: list[str] = []
    for tok in _TOKEN.findall(picture):
        c, n = tok[0], len(tok)
        if c == "'":
            out.append(tok[1:-1] if len(tok) > 1 else "")
        elif c == "d":
            if n <= 2:
                out.append(f"{dt.day:0{n}d}")
            else:
                out.append(_DAYS[lang][0 if n == 3 else 1][dt.weekday()])
        elif c == "M":
            if n <= 2:
                out.append(f"{dt.month:0{n}d}")
            else:
                out.append((_MONTHS_ABBR if n == 3 else _MONTHS)[lang][dt.month - 1])
        elif c == "y":
            out.append(str(dt.year % 10) if n == 1 else f"{dt.year % 100:02d}" if n == 2 else f"{dt.year:04d}")
        elif c == "g":
            out.append("A.D." if lang == "en" else "n. Chr." if lang == "de" else "ap. J.-C.")
        elif c in "hH":
            hour = dt.hour if c == "H" else (dt.hour % 12 or 12)
            out.append(f"{hour:0{min(n, 2)}d}")
        elif c == "m":
            out.append(f"{dt.minute:0{min(n, 2)}d}")
        elif c == "s":
            out.append(f"{dt.second:0{min(n, 2)}d}")
        elif c == "t":
            marker = am if dt.hour < 12 else pm
            out.append(marker[:1] if n == 1 else marker)
        else:
            out.append(tok)
    return "".join(out)


def short_date(state: "HostState", dt: datetime) -> str:
    """GetDateFormat(LOCALE_USER_DEFAULT, DATE_SHORTDATE): the user's sShortDate."""
    return format_picture(dt, user_value(state, "sShortDate"), state.locale)


def long_time(state: "HostState", dt: datetime) -> str:
    """GetTimeFormat(LOCALE_USER_DEFAULT, 0): the user's sTimeFormat with s1159/s2359 as AM/PM markers
    (a locale with empty markers, de-DE or fr-FR, prints no trailing blank)."""
    text = format_picture(dt, user_value(state, "sTimeFormat"), state.locale, user_value(state, "s1159"),
                          user_value(state, "s2359"))
    return text.strip()


def short_datetime(state: "HostState", dt: datetime) -> str:
    """Short date, one space, long time: "11/28/2026 2:00:00 AM", "28.11.2026 02:00:00"."""
    return f"{short_date(state, dt)} {long_time(state, dt)}"


def cmd_date(state: "HostState", dt: datetime) -> str:
    """%DATE% (and `date /t`): cmd.exe renders the user's sShortDate but always with two-digit day and month,
    and when the day is a single "d" it also prints the abbreviated weekday, left of the date on Western code
    pages ("Wed 02/07/2024" with en-US M/d/yyyy, captured in a Windows 11 PE session; "21.11.2026" with de-DE
    dd.MM.yyyy). Behaviour described at https://kurasaba.hatenablog.com/entry/20060131/p1 ("date コマンドと短い
    形式の日付": d and M print two digits, a single d adds the weekday)."""
    picture = user_value(state, "sShortDate")
    single_d = any(tok == "d" for tok in _TOKEN.findall(picture))
    padded = "".join("dd" if tok == "d" else "MM" if tok == "M" else tok for tok in _TOKEN.findall(picture))
    text = format_picture(dt, padded, state.locale)
    if single_d:
        text = f"{_DAYS[_lang(state.locale)][0][dt.weekday()]} {text}"
    return text


def date_order(state: "HostState") -> str:
    """"MDY", "DMY" or "YMD" from the user's sShortDate (schtasks /sd reads dates in this order)."""
    order = ""
    for tok in _TOKEN.findall(user_value(state, "sShortDate")):
        letter = {"d": "D", "M": "M", "y": "Y"}.get(tok[0])
        if letter and letter not in order and not (letter == "D" and len(tok) > 2):
            order += letter
    return order if sorted(order) == ["D", "M", "Y"] else "MDY"


def date_separator(state: "HostState") -> str:
    """The separator of the short date picture (the first character that is not a picture letter)."""
    for tok in _TOKEN.findall(user_value(state, "sShortDate")):
        if tok[0] not in "dMyg'":
            return tok[0]
    return user_value(state, "sDate") or "/"
