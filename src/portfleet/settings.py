"""THE catalogue: every knob once, with its valid range, default, reboot need, templates and parser.

Windows facts (DESIGN "Windows facts"):
- MaxUserPort (Tcpip\\Parameters, REG_DWORD): 5000-65534, default 5000 on 2003 and earlier,
  read at boot (KB 196271). On Vista/2008+ the dynamic range is the mechanism; a MaxUserPort value
  is still applied at boot as start=1024, num=MaxUserPort-1023, overriding netsh.
- TcpTimedWaitDelay (same key, REG_DWORD, seconds): 30-300, and 2-300 on Windows 8.1 / Server
  2012 R2 (6.3) and later; absent means 120 s on 2003 and later, 240 s on Windows 2000
  (TechNet cc757512, cc938217), read at boot.
- Dynamic port range per ipv4/ipv6 x tcp/udp (`netsh int ipvX set dynamicport P start=N num=M`):
  start >= 1025, num >= 255, start+num-1 <= 65535; default 49152 / 16384 on Vista+; applied at
  once and persistent (KB 929851; learn.microsoft.com tcp-ip-port-exhaustion-troubleshooting).
Linux facts (docs.kernel.org/networking/ip-sysctl.html, net/ipv4/sysctl_net_ipv4.c), set with
`sysctl -w` (at once, no reboot) and kept in /etc/sysctl.d/90-portfleet.conf: see the Linux section.
Pure: no I/O. Parsers live in portfleet.parse; templates under templates/windows/ and templates/linux/.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Mapping

from portfleet.parse import reg as reg_parse
from portfleet.parse import sysctl as sysctl_parse
from portfleet.parse.netsh import PortRange, command_not_found, parse_dynamicport

if TYPE_CHECKING:
    from portfleet.facts import HostFacts

__all__ = [
    "CATALOGUE", "PortRange", "ReadStatus", "Reading", "Setting", "SettingError", "Value",
    "get_setting", "parse_readings", "TCPIP_PARAMETERS", "SYSCTL_FILE",
]

Value = int | PortRange | None  # None: value absent (the Windows default applies)

TCPIP_PARAMETERS = r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
ABSENT_WORDS = ("absent",)  # what a playbook may write instead of null
SHOWN_CHARS = 120  # host text quoted in a Reading's detail, at most


class ReadStatus(str, Enum):
    VALUE = "value"
    ABSENT = "absent"
    UNSUPPORTED = "unsupported"
    UNPARSABLE = "unparsable"


@dataclass(frozen=True)
class Reading:
    status: ReadStatus
    value: Value
    effective: Value  # value, or the documented default when ABSENT (None: "not used")
    detail: str = ""


class SettingError(ValueError):
    """Says what is wrong and what would be right."""


def _as_int(raw: object, what: str, expect: str) -> int:
    if isinstance(raw, bool):
        raise SettingError(f"{what} must be a whole number (valid: {expect}), not {str(raw).lower()}")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int):
        if raw.bit_length() > 64:  # past any port or DWORD (and str() of it may pass Python's digit limit)
            raise SettingError(f"{what} is far out of range (valid: {expect})")
        return raw
    # ASCII digits only: str.isdigit() also takes "²" and other digits int() refuses; and no more
    # than 20 digits (64 bits), so int() never meets Python's 4,300-digit limit.
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit() and len(raw.strip()) <= 20:
        return int(raw.strip())
    raise SettingError(f"{what} must be a whole number (valid: {expect}), not {_quoted_value(raw)}")


def _quoted_value(raw: object) -> str:
    """A wrong value as a message quotes it: containers by type, the rest cut to 80 characters."""
    if isinstance(raw, (dict, list)):
        return type(raw).__name__
    text = repr(raw)
    return text if len(text) <= 80 else text[:80] + "..."


def _is_absent(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip().lower() in ABSENT_WORDS)


@dataclass(frozen=True)
class Setting:
    key: str
    platform: str
    title: str
    doc: str
    needs_reboot: bool
    read_template: str  # paths relative to the templates dir (templates/ or the user's)
    write_template: str
    unset_template: str | None  # None: the setting cannot be absent
    kind: str  # "registry" | "dynamicport"
    minimum: int = 0
    maximum: int = 0
    valid: str = ""  # the valid range, as people read it
    reg_name: str | None = None  # registry settings: value name under TCPIP_PARAMETERS
    family: str | None = None  # dynamicport: ipv4 | ipv6
    protocol: str | None = None  # dynamicport: tcp | udp
    default_value: Value = None  # Linux: the kernel's documented default (shown in docs and advice)

    @property
    def can_be_absent(self) -> bool:
        return self.unset_template is not None

    # ---- validation -------------------------------------------------------------------------
    def validate(self, raw: object, facts: "HostFacts | None" = None) -> Value:
        """The value a playbook (or CLI) gave, checked; raises SettingError naming the valid range."""
        if _is_absent(raw):
            if not self.can_be_absent:
                raise SettingError(
                    f"{self.key} cannot be absent: Windows always has a dynamic range; "
                    f"give {{start: N, num: M}} ({self.valid}), e.g. the default {{start: 49152, num: 16384}}"
                )
            return None
        if self.kind == "dynamicport":
            return self._validate_range(raw, facts)
        if self.kind == "sysctl_range":
            return _validate_sysctl_range(self, raw)
        value = _as_int(raw, self.key, self.valid)
        if not self.minimum <= value <= self.maximum:
            raise SettingError(f"{self.key} {value} is out of range: valid is {self.valid}")
        if facts is not None:
            self._check_host(value, facts)
        return value

    def _check_host(self, value: int, facts: "HostFacts") -> None:
        if self.platform == "linux":
            _check_linux_host(self, value, facts)
            return
        if self.key == "TcpTimedWaitDelay" and value < 30 and facts.version_known and not facts.supports_short_timed_wait:
            raise SettingError(
                f"TcpTimedWaitDelay {value} needs Windows 8.1 / Server 2012 R2 (6.3) or later; "
                f"this host runs {facts.os_version} ({facts.os_label}), where the valid range is 30-300"
            )

    def _validate_range(self, raw: object, facts: "HostFacts | None") -> PortRange:
        if isinstance(raw, PortRange):
            start, num = raw.start, raw.num
        elif isinstance(raw, Mapping):
            keys = set(raw)
            if keys == {"start", "num"}:
                start = _as_int(raw["start"], f"{self.key} start", "1025-65281")
                num = _as_int(raw["num"], f"{self.key} num", "255-64511")
            elif keys == {"start", "end"}:
                start = _as_int(raw["start"], f"{self.key} start", "1025-65281")
                end = _as_int(raw["end"], f"{self.key} end", "1279-65535")
                num = end - start + 1
            else:
                raise SettingError(
                    f"{self.key} needs exactly {{start, num}} (or {{start, end}}), got keys {sorted(map(str, keys))}"
                )
        else:
            raise SettingError(f"{self.key} must be a mapping {{start: N, num: M}} ({self.valid}), not {_quoted_value(raw)}")
        problems = []
        if start < 1025:
            problems.append(f"start {start} is below 1025")
        if num < 255:
            problems.append(f"num {num} is below 255")
        if start + num - 1 > 65535:
            problems.append(f"the range ends at {start + num - 1}, past 65535 (num may be at most {max(65536 - start, 0)})")
        if problems:
            raise SettingError(f"{self.key}: {'; '.join(problems)}; valid is {self.valid}")
        if facts is not None and facts.version_known and not facts.supports_dynamicport:
            raise SettingError(
                f"{self.key} needs Windows Vista / Server 2008 or later; this host runs {facts.os_version} "
                f"({facts.os_label}): use MaxUserPort there (KB 196271)"
            )
        return PortRange(start=start, num=num)

    # ---- reading ----------------------------------------------------------------------------
    def default(self, facts: "HostFacts") -> Value:
        """What Windows uses when the value is absent (None: the knob is not used at all)."""
        if self.key == "MaxUserPort":
            # Vista+: the dynamic range applies instead (KB 929851); 2003 and earlier: 5000.
            return 5000 if facts.is_legacy else None
        if self.key == "TcpTimedWaitDelay":
            return 240 if (facts.major, facts.minor) == (5, 0) else 120
        return None

    def parse(self, section: str | None, facts: "HostFacts") -> Reading:
        """The output of this setting's read command (stdout+stderr merged) -> Reading. Never raises."""
        try:
            if self.kind == "dynamicport":
                return self._parse_dynamicport(section or "", facts)
            if self.kind in SYSCTL_KINDS:
                return _parse_sysctl(self, section or "")
            return self._parse_registry(section or "", facts)
        except Exception as exc:  # a parser bug must not take the host down; say what happened
            return Reading(ReadStatus.UNPARSABLE, None, None, f"could not parse {self.key}: {_shown(str(exc))}")

    def _parse_registry(self, text: str, facts: "HostFacts") -> Reading:
        assert self.reg_name is not None
        found = reg_parse.find_value(reg_parse.parse_reg_query(text), self.reg_name)
        if found is not None:
            if found.type != "REG_DWORD" or not isinstance(found.value, int):
                return Reading(
                    ReadStatus.UNPARSABLE, None, None,
                    f"{self.reg_name} is {found.type} {_shown(repr(found.value))}; Windows reads only a REG_DWORD here",
                )
            detail = ""
            if not self.minimum <= found.value <= self.maximum:
                detail = f"{found.value} is outside the valid range {self.valid}"
            return Reading(ReadStatus.VALUE, found.value, found.value, detail)
        if reg_parse.only_errors(text) or reg_parse.key_lines(text):
            # reg.exe said "unable to find the specified registry key or value" (in any language).
            errors = reg_parse.error_lines(text)
            effective = self.default(facts)
            shown = "not used (the dynamic port range applies)" if effective is None else f"Windows default {effective}"
            detail = f"not set: {shown}"
            if errors:
                detail += f" [{_shown(errors[0])}]"
            return Reading(ReadStatus.ABSENT, None, effective, detail)
        return Reading(ReadStatus.UNPARSABLE, None, None, _unparsable(text))

    def _parse_dynamicport(self, text: str, facts: "HostFacts") -> Reading:
        if not facts.supports_dynamicport:
            return Reading(ReadStatus.UNSUPPORTED, None, None,
                           f"{facts.os_label} has no netsh dynamic port range; MaxUserPort applies")
        found = parse_dynamicport(text)
        if found is not None:
            return Reading(ReadStatus.VALUE, found, found)
        if command_not_found(text):
            return Reading(ReadStatus.UNSUPPORTED, None, None, "netsh on this host has no dynamicport command")
        return Reading(ReadStatus.UNPARSABLE, None, None, _unparsable(text))

    # ---- comparing --------------------------------------------------------------------------
    def matches(self, desired: Value, reading: Reading) -> bool:
        """Integer comparison of effective values; absent is wanted only as absent."""
        if reading.status in (ReadStatus.UNSUPPORTED, ReadStatus.UNPARSABLE):
            return False
        if desired is None:
            return reading.status == ReadStatus.ABSENT
        if self.kind in SYSCTL_KINDS and not _same(desired, reading.value):
            return False  # the kernel may run it, but it is not kept for the next boot
        actual = reading.effective
        if isinstance(desired, PortRange):
            return isinstance(actual, PortRange) and (desired.start, desired.num) == (actual.start, actual.num)
        return isinstance(actual, int) and not isinstance(actual, PortRange) and int(desired) == int(actual)

    @property
    def section(self) -> str:
        """Name of this setting's section in the batched read's output."""
        return self.key

    def advice(self, value: Value) -> list[str]:
        """Warnings (not errors) about a valid value, for playbook checks."""
        if self.key == "net.ipv4.ip_local_port_range" and isinstance(value, PortRange):
            if (value.start - value.end) % 2 == 0:
                # set_local_port_range(): "ip_local_port_range: prefer different parity for
                # start/end values." (Linux 4.6+ splits the range by parity between connect()
                # and bind(); ip-sysctl.rst: "it is better these numbers have different parity").
                return [f"{self.key} {value.start} {value.end}: both ends are {'even' if value.start % 2 == 0 else 'odd'}; "
                        "the kernel prefers different parity (e.g. "
                        f"{value.start} {value.end - 1 if value.end == 65535 else value.end + 1})"]
        return []


def _shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """Host text quoted in a detail, cut to `limit` characters: details go to reports and the state
    database, and a host may print a line of any length."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unparsable(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        return "the read command printed nothing"
    return f"unexpected output: {first[:SHOWN_CHARS]}"


def _registry(key: str, title: str, doc: str, minimum: int, maximum: int, valid: str) -> Setting:
    return Setting(
        key=key, platform="windows", title=title, doc=doc, needs_reboot=True,
        read_template=f"windows/read/{key}.cmd.j2", write_template=f"windows/write/{key}.cmd.j2",
        unset_template=f"windows/unset/{key}.cmd.j2",
        kind="registry", minimum=minimum, maximum=maximum, valid=valid, reg_name=key,
    )


def _dynamicport(family: str, protocol: str) -> Setting:
    return Setting(
        key=f"dynamicport.{family}.{protocol}", platform="windows",
        title=f"Dynamic (ephemeral) port range, {family} {protocol}",
        doc=("The ports Windows picks for outgoing connections. netsh applies a change at once and keeps it "
             "across reboots. KB 929851; learn.microsoft.com/troubleshoot/windows-client/networking/"
             "tcp-ip-port-exhaustion-troubleshooting"),
        needs_reboot=False, read_template="windows/read/dynamicport.cmd.j2",
        write_template="windows/write/dynamicport.cmd.j2",
        unset_template=None, kind="dynamicport", minimum=1025, maximum=65535,
        valid="start >= 1025, num >= 255, start+num-1 <= 65535", family=family, protocol=protocol,
    )


CATALOGUE: dict[str, Setting] = {
    s.key: s
    for s in (
        _registry(
            "MaxUserPort", "Highest ephemeral port (Windows Server 2003 and earlier)",
            "Upper end of the ephemeral range 1025..N on 2003 and earlier, read at boot; on Vista/2008+ a value "
            "overrides the netsh range at boot as start=1024, num=N-1023. KB 196271.",
            5000, 65534, "5000-65534",
        ),
        _registry(
            "TcpTimedWaitDelay", "Seconds a closed connection stays in TIME_WAIT",
            "How long a closed socket pair is held before reuse, read at boot. Default 120 s (2003+). "
            "KB 196271; TechNet cc757512 (TCP/IP parameters).",
            2, 300, "30-300 seconds (2-300 on Windows 8.1 / Server 2012 R2 and later)",
        ),
        *(_dynamicport(f, p) for f in ("ipv4", "ipv6") for p in ("tcp", "udp")),
    )
}


# ==== Linux (sysctl) ===============================================================================
# Each knob is a net.ipv4 sysctl: read with `sysctl -n`, written with `sysctl -w` (in force at once,
# per network namespace, no reboot) and kept for the next boot in ONE file of portfleet's own,
# SYSCTL_FILE, which `sysctl --system` / systemd-sysctl apply at boot. A reading's `value` is what
# that file sets (None: the file does not set the key = "absent"), its `effective` what the kernel
# runs. A setting matches only when both equal the desired value.
# Source of the valid values: the kernel's ip-sysctl.rst (docs.kernel.org/networking/ip-sysctl.html)
# and its handlers in net/ipv4/sysctl_net_ipv4.c.

SYSCTL_FILE = "/etc/sysctl.d/90-portfleet.conf"
SYSCTL_KINDS = ("sysctl", "sysctl_range")
# ip_unprivileged_port_start's default: ipv4_local_port_range() refuses a range starting below it
# (-EINVAL), and one with high < low. portfleet also refuses low == high (a one-port range).
UNPRIVILEGED_PORT_START = 1024


def _same(desired: Value, actual: Value) -> bool:
    if isinstance(desired, PortRange) or isinstance(actual, PortRange):
        return (isinstance(desired, PortRange) and isinstance(actual, PortRange)
                and (desired.start, desired.num) == (actual.start, actual.num))
    return desired is not None and actual is not None and int(desired) == int(actual)


def _validate_sysctl_range(setting: Setting, raw: object) -> PortRange:
    """"low high" (as sysctl prints it), "low-high", [low, high], {start, end} or {start, num}."""
    what = setting.key
    if isinstance(raw, PortRange):
        low, high = raw.start, raw.end
    elif isinstance(raw, Mapping):
        keys = set(raw)
        if keys == {"start", "end"}:
            low = _as_int(raw["start"], f"{what} start", setting.valid)
            high = _as_int(raw["end"], f"{what} end", setting.valid)
        elif keys == {"start", "num"}:
            low = _as_int(raw["start"], f"{what} start", setting.valid)
            high = low + _as_int(raw["num"], f"{what} num", setting.valid) - 1
        else:
            raise SettingError(f"{what} needs {{start, end}} (or {{start, num}}), got keys {sorted(map(str, keys))}")
    elif isinstance(raw, (list, tuple)) and len(raw) == 2:
        low, high = (_as_int(v, what, setting.valid) for v in raw)
    elif isinstance(raw, str) and len(raw.replace("-", " ").split()) == 2:
        low, high = (_as_int(v, what, setting.valid) for v in raw.replace("-", " ").split())
    else:
        shown = _quoted_value(raw)
        raise SettingError(f"{what} must be two ports \"low high\" (e.g. \"10000 65000\", {setting.valid}), not {shown}")
    problems = []
    if low < UNPRIVILEGED_PORT_START:
        problems.append(f"low {low} is below {UNPRIVILEGED_PORT_START} (ip_unprivileged_port_start)")
    if high > 65535:
        problems.append(f"high {high} is past 65535")
    if high <= low:
        problems.append(f"high {high} must be above low {low}")
    if problems:
        raise SettingError(f"{what}: {'; '.join(problems)}; valid is {setting.valid}")
    return PortRange(start=low, num=high - low + 1)


def _kernel_at_least(facts: "HostFacts", version: tuple[int, int]) -> bool | None:
    found = getattr(facts, "kernel_version", None)
    return None if found is None else found >= version


def _check_linux_host(setting: Setting, value: int, facts: "HostFacts") -> None:
    if setting.key == "net.ipv4.tcp_tw_reuse" and value == 2 and _kernel_at_least(facts, (4, 20)) is False:
        # Value 2 (loopback only) came with commit 79e9fed46038 "tcp: Add TCP tw_reuse for loopback
        # only" (Linux 4.20); older kernels know 0 and 1.
        raise SettingError(f"{setting.key} 2 (loopback only) needs Linux 4.20 or later; this host runs "
                           f"{getattr(facts, 'kernel_release', None)}: use 0 or 1")


def _linux_value(setting: Setting, numbers: list[int] | None) -> Value:
    if numbers is None:
        return None
    if setting.kind == "sysctl_range":
        # The kernel holds each end within 1..65535 (ip_local_port_range_min/max, sysctl_net_ipv4.c):
        # other numbers are not a range it printed, and a file setting them is not a valid value.
        if len(numbers) != 2 or not 1 <= numbers[0] <= numbers[1] <= 65535:
            return None
        return PortRange(numbers[0], numbers[1] - numbers[0] + 1)
    return numbers[0] if len(numbers) == 1 else None


def _show(value: Value) -> str:
    if isinstance(value, PortRange):
        return f"{value.start} {value.end}"
    return str(value)


def _parse_sysctl(setting: Setting, text: str) -> Reading:
    read = sysctl_parse.parse_sysctl_read(text, setting.key)
    if read.missing:
        return Reading(ReadStatus.UNSUPPORTED, None, None, f"this kernel has no {setting.key}")
    runtime = _linux_value(setting, read.runtime)
    if runtime is None:
        return Reading(ReadStatus.UNPARSABLE, None, None, _unparsable(read.runtime_text))
    notes = []
    ours = read.in_file(SYSCTL_FILE)
    configured: Value = None
    if ours is not None:
        configured = _linux_value(setting, sysctl_parse.parse_sysctl_value(ours.value))
        if configured is None:
            return Reading(ReadStatus.UNPARSABLE, None, runtime,
                           f"{SYSCTL_FILE} sets {setting.key} to {_shown(repr(ours.value))}, which is not a valid value")
        if not _same(configured, runtime):
            notes.append(f"{SYSCTL_FILE} sets {_show(configured)}, the kernel runs {_show(runtime)}")
    else:
        notes.append(f"not kept in {SYSCTL_FILE}; the kernel runs {_show(runtime)}")
    # A file applied after ours at boot decides the value after the next reboot.
    mine = sysctl_parse.boot_order(SYSCTL_FILE)
    later = [h for h in read.hits if h.path != SYSCTL_FILE and sysctl_parse.boot_order(h.path) > mine]
    if later:
        last = later[-1]
        notes.append(f"{_shown(last.path)} sets {_shown(last.value)} and is applied after {SYSCTL_FILE} at boot")
    status = ReadStatus.ABSENT if ours is None else ReadStatus.VALUE
    return Reading(status, configured, runtime, "; ".join(notes))


def _sysctl(key: str, title: str, doc: str, *, kind: str, minimum: int, maximum: int, valid: str,
            default: Value) -> Setting:
    return Setting(
        key=key, platform="linux", title=title, doc=doc, needs_reboot=False,
        read_template="linux/read/sysctl.sh.j2", write_template="linux/write/sysctl.sh.j2",
        unset_template="linux/unset/sysctl.sh.j2", kind=kind, minimum=minimum, maximum=maximum,
        valid=valid, default_value=default,
    )


CATALOGUE.update({
    s.key: s
    for s in (
        _sysctl(
            "net.ipv4.ip_local_port_range", "Local (ephemeral) port range, TCP and UDP, IPv4 and IPv6",
            "The ports the kernel picks for outgoing connections (connect() or bind() to port 0), for both "
            "address families. ip-sysctl.rst: two integers, 'The first number is the first, the second the "
            "last local port number ... it is better these numbers have different parity ... Must be greater "
            "than or equal to ip_unprivileged_port_start. The default values are 32768 and 60999'.",
            kind="sysctl_range", minimum=UNPRIVILEGED_PORT_START, maximum=65535,
            valid="low >= 1024, low < high <= 65535 (different parity preferred)",
            default=PortRange(32768, 60999 - 32768 + 1),
        ),
        _sysctl(
            "net.ipv4.tcp_tw_reuse", "Reuse TIME-WAIT sockets for new outgoing connections",
            "ip-sysctl.rst: 'Enable reuse of TIME-WAIT sockets for new connections when it is safe from "
            "protocol viewpoint. 0 - disable, 1 - global enable, 2 - enable for loopback traffic only ... "
            "Default: 2' (2 since Linux 4.20; 0 before). Needs TCP timestamps on both ends; it helps the "
            "side that opens the connections (clients, proxies), not a server's accepted ones.",
            kind="sysctl", minimum=0, maximum=2, valid="0 (off), 1 (on), 2 (loopback only)", default=2,
        ),
        _sysctl(
            "net.ipv4.tcp_fin_timeout", "Seconds an orphaned connection may stay in FIN-WAIT-2",
            "ip-sysctl.rst: 'The length of time an orphaned (no longer referenced by any application) "
            "connection will remain in the FIN_WAIT_2 state before it is aborted at the local end ... "
            "Default: 60 seconds'. It does not shorten TIME-WAIT, which Linux keeps for a fixed 60 s "
            "(TCP_TIMEWAIT_LEN). The kernel takes any number (proc_dointvec_jiffies); portfleet accepts "
            "1-300 s: 0 or less makes no sense, and more than 5 minutes only holds orphans longer.",
            kind="sysctl", minimum=1, maximum=300, valid="1-300 seconds", default=60,
        ),
    )
})


def get_setting(key: str) -> Setting:
    found = CATALOGUE.get(key)
    if found is not None:
        return found
    lowered = {k.lower(): k for k in CATALOGUE}
    if str(key).lower() in lowered:
        hint = lowered[str(key).lower()]
    else:
        close = difflib.get_close_matches(str(key), list(CATALOGUE), n=1, cutoff=0.5)
        close = close or [lowered[m] for m in difflib.get_close_matches(str(key).lower(), list(lowered), n=1, cutoff=0.5)]
        hint = close[0] if close else None
    known = ", ".join(CATALOGUE)
    suggestion = f"; did you mean {hint}?" if hint else ""
    raise SettingError(f"unknown setting {key!r}{suggestion} (known: {known})")


def parse_readings(sections: Mapping[str, str], settings: "list[Setting] | tuple[Setting, ...]",
                   facts: "HostFacts") -> dict[str, Reading]:
    """Each setting's Reading from split_sections' result; a missing section is UNPARSABLE."""
    out: dict[str, Reading] = {}
    for setting in settings:
        text = sections.get(setting.section)
        if text is None:
            out[setting.key] = Reading(ReadStatus.UNPARSABLE, None, None,
                                       "no output for this setting (the read was cut short?)")
        else:
            out[setting.key] = setting.parse(text, facts)
    return out
