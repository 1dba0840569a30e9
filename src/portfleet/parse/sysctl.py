"""Linux sysctl output and sysctl.d files -> values, by structure.

What the Linux read (templates/linux/read/sysctl.sh.j2) prints for one key:

    32768	60999                                                    <- `sysctl -n KEY`: the kernel's value
    /etc/sysctl.d/90-portfleet.conf:net.ipv4.ip_local_port_range = 10000 65000   <- `grep -H` hits of
    /etc/sysctl.conf:net.ipv4.ip_local_port_range=1024 65535                        the key in sysctl files

- `sysctl -n` prints the numbers of a vector value separated by a TAB (procps), one line.
- A key the kernel does not have: "sysctl: cannot stat /proc/sys/net/ipv4/KEY: No such file or
  directory" on stderr (merged into the section); procps' messages are translated, the path is not.
- sysctl.d(5) syntax: "key = value" or "key=value", whitespace around both trimmed; comments start
  with '#' or ';'; a leading '-' means "ignore a failure to set"; the key may use '/' instead of '.'
  as separator (net/ipv4/tcp_fin_timeout). The later assignment of a key wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from portfleet.parse.numbers import ascii_int

# A sysctl number is a C int or long (proc_dointvec, proc_doulongvec_minmax): 20 digits at most.
VALUE_DIGITS = 20


def parse_sysctl_value(text: str | None) -> list[int] | None:
    """'32768\\t60999' -> [32768, 60999]; '60' -> [60]; anything else -> None.

    One line of ASCII integers separated by spaces or TABs, as procps prints a vector value."""
    line = (text or "").strip()
    if not line:
        return None
    numbers = []
    for part in line.replace("\t", " ").split(" "):
        if not part:
            continue  # a run of separators
        number = ascii_int(part, VALUE_DIGITS, signed=True)
        if number is None:
            return None
        numbers.append(number)
    return numbers


def normalize_key(key: str) -> str:
    """sysctl.d allows '/' as separator: when the first separator is '/', '/' and '.' swap (sysctl.d(5))."""
    key = key.strip()
    slash, dot = key.find("/"), key.find(".")
    if slash != -1 and (dot == -1 or slash < dot):
        return key.translate(str.maketrans("/.", "./"))
    return key


def parse_conf_line(line: str) -> tuple[str, str] | None:
    """One sysctl.d line -> (key, value), or None for blanks, comments and anything else."""
    text = line.strip()
    if not text or text[0] in "#;":
        return None
    if text.startswith("-"):
        text = text[1:].lstrip()
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        return None
    return normalize_key(key), value.strip()


def parse_conf(text: str | None) -> dict[str, str]:
    """A sysctl.d file -> {key: value}, the later assignment of a key winning."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        found = parse_conf_line(line)
        if found is not None:
            out[found[0]] = found[1]
    return out


@dataclass(frozen=True)
class ConfHit:
    """One assignment of the key in a sysctl configuration file (a `grep -H` line)."""

    path: str
    value: str

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class SysctlRead:
    runtime: list[int] | None  # the kernel's value, None if not numbers
    runtime_text: str  # what sysctl printed (an error message when runtime is None)
    hits: tuple[ConfHit, ...]  # every file assignment of the key, in the order printed

    @property
    def missing(self) -> bool:
        """The kernel has no such key: sysctl could not find it under /proc/sys."""
        return self.runtime is None and "/proc/sys/" in self.runtime_text

    def in_file(self, path: str) -> ConfHit | None:
        """The winning (last) assignment in one file."""
        found = [h for h in self.hits if h.path == path]
        return found[-1] if found else None


def parse_sysctl_read(text: str | None, key: str) -> SysctlRead:
    """A section of the Linux read for `key` -> the kernel's value and the files that set the key."""
    runtime_lines: list[str] = []
    hits: list[ConfHit] = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("/"):
            path, sep, rest = line.partition(":")
            found = parse_conf_line(rest) if sep else None
            if found is not None and found[0] == key:
                hits.append(ConfHit(path, found[1]))
                continue
        runtime_lines.append(line)
    first = runtime_lines[0] if runtime_lines else ""
    return SysctlRead(parse_sysctl_value(first), "\n".join(runtime_lines), tuple(hits))


def boot_order(path: str) -> tuple[int, str]:
    """Where a file sorts when `sysctl --system` / systemd-sysctl apply them at boot.

    Files of all sysctl.d directories are applied in the lexical order of their names (a name in
    /etc/sysctl.d hides the same name in /usr/lib/sysctl.d); /etc/sysctl.conf comes last (procps
    sysctl(8) --system; systemd reads it as /etc/sysctl.d/99-sysctl.conf on most distributions).
    """
    if path == "/etc/sysctl.conf":
        return (1, "")
    return (0, PurePosixPath(path).name)
