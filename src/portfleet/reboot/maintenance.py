"""Maintenance windows: when a host may be rebooted.

A window spec is ``DAYS START-END`` in the host's local time zone:

    Sat 02:00-04:00            one weekday
    daily 01:00-03:00          every day (also: weekdays = Mon-Fri, weekends = Sat,Sun)
    Mon-Fri 22:00-02:00        a day range; END <= START means the window ends the next day
    Sat,Sun 02:00-05:00        a list of days or ranges (a range may wrap: Fri-Mon)
    Sat 22:00-Sun 06:00        an explicit end day (START must then be a single day)
    Sat 00:00-24:00            24:00 is allowed as an end: midnight ending the day

Days are Mon..Sun (or full names, any case); times are H:MM or HH:MM. A window must last more
than zero and at most 24 hours. The DAYS part names the local date on which a window *starts*.

Time zone rules (IANA names through zoneinfo; wall-clock semantics, as cron and the Windows Task
Scheduler use for local triggers):

* A local time that does not exist (the spring-forward gap) moves to the first instant that
  exists, i.e. the transition itself: "Sun 02:00-04:00" in Europe/Berlin on 2027-03-28 opens at
  03:00 CEST (01:00Z). A window wholly inside a gap does not occur that day.
* A local time that happens twice (the fall-back fold) means its first occurrence (fold=0), for
  the start and for the end alike.
* The end follows the wall clock too, so a window's real length changes on transition days:
  "Sun 02:00-04:00" lasts 1h of real time on Berlin's spring-forward Sunday and 3h on the
  fall-back Sunday (02:00 CEST to 04:00 CET).

Freeze dates (``2026-12-20..2027-01-03`` inclusive, or ``2026-12-25``) are local dates with no
reboots: windows that start on a frozen date are removed, and a window that starts the day before
and runs past midnight into a frozen date is cut at that midnight.

Occurrences that overlap or touch are merged into one `Window`: a host is in maintenance when it
is inside any of its windows. All datetimes in and out are timezone-aware; results are in UTC.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = [
    "MaintenanceSchedule",
    "Window",
    "WindowError",
    "WindowSpec",
    "parse_windows",
    "parse_timezone",
]

UTC = timezone.utc
_DAY = 24 * 60  # minutes
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_INDEX = {
    **{n.lower(): i for i, n in enumerate(_DAY_NAMES)},
    **{n: i for i, n in enumerate(_FULL_NAMES)},
}
_DAY_ALIASES = {
    "daily": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DEFAULT_SEARCH = timedelta(days=366)


class WindowError(ValueError):
    """An invalid window, time zone or freeze date; says what is wrong and what would be right."""

    def __init__(self, message: str, source: str = "<input>", line: int | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        super().__init__(message, source, line)

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class WindowSpec:
    """One parsed spec. Minutes count from local midnight of the start day; end may pass 1440."""

    text: str
    days: frozenset[int]  # 0 = Monday, as date.weekday()
    start_min: int
    end_min: int

    @property
    def length(self) -> timedelta:
        """Nominal (wall-clock) length; real length differs on DST transition days."""
        return timedelta(minutes=self.end_min - self.start_min)


@dataclass(frozen=True, order=True)
class Window:
    """One occurrence of a maintenance window: [start, end) as aware UTC datetimes."""

    start: datetime
    end: datetime
    spec: str  # the local spec(s) it comes from, as written; merged windows join them with " + "
    tz: str = "UTC"

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(ZoneInfo(self.tz))

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(ZoneInfo(self.tz))

    def contains(self, t: datetime) -> bool:
        return self.start <= t < self.end

    def fits(self, start: datetime, duration: timedelta) -> bool:
        """True when work starting at `start` and lasting `duration` lies inside the window."""
        return self.start <= start and start + duration <= self.end

    def describe(self) -> str:
        """Local-time form, e.g. "Sun 2027-03-28 03:00 CEST - 05:00 CEST (Europe/Berlin 'Sun 02:00-05:00')"."""
        ls, le = self.local_start, self.local_end
        end_fmt = "%H:%M %Z" if le.date() == ls.date() else "%a %Y-%m-%d %H:%M %Z"
        return f"{ls:%a %Y-%m-%d %H:%M %Z} - {le.strftime(end_fmt)} ({self.tz} {self.spec!r})"


@dataclass(frozen=True)
class MaintenanceSchedule:
    """The maintenance windows of one host (or group): specs, a time zone, freeze dates."""

    tz: str
    specs: tuple[WindowSpec, ...]
    freeze: tuple[tuple[date, date], ...] = ()
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.tz))

    # -- queries -------------------------------------------------------------------------

    def is_frozen(self, day: date) -> bool:
        return any(first <= day <= last for first, last in self.freeze)

    def next_window(self, after: datetime, *, within: timedelta = _DEFAULT_SEARCH) -> Window | None:
        """The first window that is open at `after` or opens later (its start may precede `after`
        when `after` is inside it), or None when none starts before `after + within`."""
        after = _as_utc(after, "after")
        limit = after + within
        first, last = self._local_date(after) - timedelta(days=2), self._local_date(limit) + timedelta(days=1)
        for w in self._merged(first, last):
            if w.start >= limit:
                return None
            if w.end > after:
                return w
        return None

    def windows_between(self, a: datetime, b: datetime) -> list[Window]:
        """Windows overlapping [a, b), unclipped (the first may start before `a`, the last end after `b`)."""
        a, b = _as_utc(a, "a"), _as_utc(b, "b")
        out: list[Window] = []
        if b <= a:
            return out
        for w in self._merged(self._local_date(a) - timedelta(days=2), self._local_date(b) + timedelta(days=1)):
            if w.start >= b:
                break
            if w.end > a:
                out.append(w)
        return out

    def contains(self, t: datetime) -> bool:
        t = _as_utc(t, "t")
        return any(w.contains(t) for w in self.windows_between(t, t + timedelta(microseconds=1)))

    # -- generation ----------------------------------------------------------------------

    def _local_date(self, t: datetime) -> date:
        return t.astimezone(self.zone).date()

    def _occurrences_on(self, day: date) -> list[Window]:
        """Occurrences that start on local date `day`, after freeze rules, sorted."""
        if self.is_frozen(day):
            return []
        midnight = datetime.combine(day, time())
        out = []
        for spec in self.specs:
            if day.weekday() not in spec.days:
                continue
            start = _wall_to_utc(midnight + timedelta(minutes=spec.start_min), self.zone)
            end = _wall_to_utc(midnight + timedelta(minutes=spec.end_min), self.zone)
            # A window that runs past midnight into a frozen date stops at that midnight.
            for k in range(1, (spec.end_min - 1) // _DAY + 1):
                if self.is_frozen(day + timedelta(days=k)):
                    end = min(end, _wall_to_utc(midnight + timedelta(days=k), self.zone))
                    break
            if end > start:  # a window swallowed by a DST gap or cut to nothing does not occur
                out.append(Window(start, end, spec.text, self.tz))
        out.sort()
        return out

    def _merged(self, first: date, last: date) -> Iterator[Window]:
        """Merged windows from occurrences starting on local dates first..last, in start order.

        Days are visited in order and local->UTC is monotonic, so starts never go backwards."""
        cur: Window | None = None
        day = first
        while day <= last:
            for w in self._occurrences_on(day):
                if cur is None:
                    cur = w
                elif w.start <= cur.end:
                    spec = cur.spec if w.spec in cur.spec.split(" + ") else f"{cur.spec} + {w.spec}"
                    cur = Window(cur.start, max(cur.end, w.end), spec, self.tz)
                else:
                    yield cur
                    cur = w
            day += timedelta(days=1)
        if cur is not None:
            yield cur


# -- parsing ---------------------------------------------------------------------------------


def parse_windows(
    specs: Sequence[str] | str,
    tz: str,
    freeze: Sequence[str | date] | str = (),
    source: str = "<input>",
    *,
    line: int | None = None,
    lines: Sequence[int | None] | None = None,
    freeze_lines: Sequence[int | None] | None = None,
) -> MaintenanceSchedule:
    """Parse window specs, a time zone and freeze dates into a schedule.

    `specs` is a list, or one string holding one spec or several separated by ';' or newlines.
    `freeze` items are 'YYYY-MM-DD', 'YYYY-MM-DD..YYYY-MM-DD' or `date`s (YAML gives those).
    Errors name `source` and a line: `lines[i]` / `freeze_lines[i]` for item i, else `line`.
    """
    zone_name = parse_timezone(tz, source, line)
    items = [s for s in re.split(r"[;\n]", specs)] if isinstance(specs, str) else list(specs)
    parsed = []
    for i, item in enumerate(items):
        where = _line_of(lines, i, line)
        if not isinstance(item, str):
            raise WindowError(
                f"window {item!r} is not text (write e.g. 'Sat 02:00-04:00'; quote it in YAML)", source, where
            )
        if isinstance(specs, str) and not item.strip():
            continue  # blank line or trailing ';' inside one string
        parsed.append(_parse_spec(item, source, where))
    if isinstance(freeze, (str, date)):
        freeze = [freeze] if isinstance(freeze, date) else [p for p in re.split(r"[,;\s]+", freeze) if p]
    ranges = tuple(_parse_freeze(f, source, _line_of(freeze_lines, i, line)) for i, f in enumerate(freeze))
    return MaintenanceSchedule(zone_name, tuple(parsed), ranges)


def parse_timezone(tz: str, source: str = "<input>", line: int | None = None) -> str:
    """Validate an IANA zone name; the error suggests the closest real names."""
    if not isinstance(tz, str) or not tz.strip():
        hint = "use an IANA name such as Europe/Berlin or UTC"
        raise WindowError(f"time zone {tz!r} is not a zone name ({hint})", source, line)
    name = tz.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tzdata directory, a 256-byte name
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=3, cutoff=0.6) if len(name) <= 64 else []
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else "use an IANA name such as Europe/Berlin, America/New_York or UTC"
        )
        raise WindowError(f"unknown time zone {name!r} ({hint})", source, line) from None
    return name


def _line_of(lines: Sequence[int | None] | None, i: int, default: int | None) -> int | None:
    if lines is not None and i < len(lines) and lines[i] is not None:
        return lines[i]
    return default


def _parse_spec(text: str, source: str, line: int | None) -> WindowSpec:
    raw = text.strip()

    def fail(msg: str) -> WindowError:
        return WindowError(f"{raw!r}: {msg}", source, line)

    if not raw:
        raise WindowError("empty window (write e.g. 'Sat 02:00-04:00' or 'daily 01:00-03:00')", source, line)
    norm = re.sub(r"\s*,\s*", ",", raw)
    head, _, rest = norm.partition(" ")
    rest = rest.strip()
    if head[:1].isdigit():
        raise fail(f"missing day (write e.g. 'daily {raw}' or 'Sat {raw}')")
    if not rest:
        raise fail("missing times (write e.g. 'Sat 02:00-04:00')")
    days = _parse_days(head, fail)
    m = re.fullmatch(r"(\S+?)\s*-\s*(.+)", rest)
    if m is None:
        raise fail(f"missing end time (write START-END, e.g. '{head} 02:00-04:00')")
    start_tok, end_part = m.group(1), m.group(2).strip()
    end_day: int | None = None
    m_end = re.fullmatch(r"([A-Za-z]+)\s+(\S+)", end_part)
    if m_end is not None:
        end_day = _parse_one_day(m_end.group(1), fail)
        end_tok = m_end.group(2)
    else:
        end_tok = end_part
    start = _parse_time(start_tok, "start", fail)
    end = _parse_time(end_tok, "end", fail)

    if end_day is not None:
        if len(days) != 1:
            raise fail(
                f"an end day needs a single start day (for a window that ends the next morning write "
                f"'{head} {start_tok}-{end_tok}')"
            )
        (start_day,) = days
        end_min = ((end_day - start_day) % 7) * _DAY + end
        if end_min <= start:
            end_min += 7 * _DAY
    elif end == start:
        raise fail(
            f"start and end are both {start_tok} (a window needs a length; a whole day is '{head} 00:00-24:00')"
        )
    else:
        end_min = end if end > start else end + _DAY  # END <= START: ends the next day
    length = end_min - start
    if length > _DAY:
        raise fail(f"window is {_fmt_minutes(length)} long, longer than 24 hours (split it into several windows)")
    return WindowSpec(raw, days, start, end_min)


def _parse_days(token: str, fail) -> frozenset[int]:
    if token.lower() in _DAY_ALIASES:
        return _DAY_ALIASES[token.lower()]
    days: set[int] = set()
    for part in token.split(","):
        if not part:
            raise fail(f"empty day in {token!r} (write e.g. Sat,Sun)")
        first, dash, last = part.partition("-")
        a = _parse_one_day(first, fail)
        if not dash:
            days.add(a)
            continue
        b = _parse_one_day(last, fail)
        days.update((a + k) % 7 for k in range((b - a) % 7 + 1))  # ranges may wrap: Fri-Mon
    return frozenset(days)


def _parse_one_day(token: str, fail) -> int:
    low = token.lower()
    if low in _DAY_INDEX:
        return _DAY_INDEX[low]
    display = {**{n.lower(): n for n in _DAY_NAMES}, **{n: n.capitalize() for n in _FULL_NAMES}}
    display.update({a: a for a in _DAY_ALIASES})
    close = difflib.get_close_matches(low, list(display), n=1, cutoff=0.5)
    guess = f"did you mean {display[close[0]]!r}? " if close else ""
    raise fail(f"unknown day {token!r} ({guess}use {' '.join(_DAY_NAMES)}, a range such as Mon-Fri, or daily)")


def _parse_time(token: str, which: str, fail) -> int:
    m = _TIME_RE.fullmatch(token)
    if m is None:
        raise fail(f"bad {which} time {token!r} (write HH:MM, e.g. {_time_example(token, which)})")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if which == "end" and hours == 24 and minutes == 0:
        return _DAY
    if hours > 23 or minutes > 59:
        extra = ", or 24:00 for the end of the day" if which == "end" else ""
        raise fail(f"bad {which} time {token!r}: no such time of day (write HH:MM from 00:00 to 23:59{extra})")
    return hours * 60 + minutes


def _time_example(token: str, which: str) -> str:
    """Guess what the user meant, for the hint: '4:00x' -> 04:00, '0400' -> 04:00."""
    m = re.match(r"(\d{1,2})(?:[:.h]?(\d{2}))?", token)
    if m is not None:
        h, mi = int(m.group(1)), int(m.group(2) or 0)
        if h <= 23 and mi <= 59:
            return f"{h:02d}:{mi:02d}"
    return "02:00" if which == "start" else "04:00"


def _parse_freeze(item: str | date, source: str, line: int | None) -> tuple[date, date]:
    if isinstance(item, datetime):
        raise WindowError(f"freeze date {item!r} has a time of day (write a date: YYYY-MM-DD)", source, line)
    if isinstance(item, date):
        return item, item
    hint = "write YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD, e.g. 2026-12-20..2027-01-03"
    if not isinstance(item, str):
        raise WindowError(f"bad freeze date {item!r} ({hint})", source, line)
    text = item.strip()
    first_s, dots, last_s = text.partition("..")
    if not dots:
        last_s = first_s
    first, last = _parse_date(first_s, text, hint, source, line), _parse_date(last_s, text, hint, source, line)
    if last < first:
        raise WindowError(
            f"freeze range {text!r} ends before it starts (write {last.isoformat()}..{first.isoformat()})",
            source,
            line,
        )
    return first, last


def _parse_date(token: str, whole: str, hint: str, source: str, line: int | None) -> date:
    token = token.strip()
    where = f" in {whole!r}" if whole != token else ""
    if _DATE_RE.fullmatch(token):
        try:
            return date.fromisoformat(token)
        except ValueError:
            raise WindowError(f"bad freeze date {token!r}{where}: no such day ({hint})", source, line) from None
    raise WindowError(f"bad freeze date {token!r}{where} ({hint})", source, line)


# -- time arithmetic --------------------------------------------------------------------------


def _as_utc(t: datetime, name: str) -> datetime:
    if not isinstance(t, datetime) or t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {t!r}")
    return t.astimezone(UTC)


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """Local wall time -> UTC: ambiguous means the first occurrence (fold=0); nonexistent means
    the first instant that exists after it (the transition)."""
    later = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if later.astimezone(zone).replace(tzinfo=None) == wall:
        return later
    # In a gap, PEP 495 maps fold=0 past the transition and fold=1 before it: bisect between the
    # two for the transition instant (whole seconds in tzdata), which works for any gap size.
    earlier = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(earlier, later), max(earlier, later)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi


def _fmt_minutes(total: int) -> str:
    h, m = divmod(total, 60)
    return f"{h}h{m:02d}m"
