"""`netstat -ano` / `netstat -anoq` output -> connections, by structure.

Windows prints one row per socket: protocol, local "addr:port", foreign "addr:port", the state
(TCP only), then the owning PID when -o was given. What varies and how it is handled:

- The headers are translated ("Active Connections" / "Aktive Verbindungen" / "Connexions actives"
  / "活动连接"), so rows are found by their shape (TCP|UDP, two endpoints), never by a header.
- The STATE column is translated on some locales and not on others. German Windows prints
  ABHÖREN, HERGESTELLT, WARTEND, SCHLIESSEN_WARTEN, FIN_WARTEN_2 (a public de-DE capture, and
  systeminformation's lib/network.js maps the same words); French and Chinese Windows keep the
  English words under translated headers (public fr-FR / zh-CN captures). A translated state can
  be two words ("IN ASCOLTO"), so the state is everything between the foreign endpoint and the
  PID. Known translations map to the English names; an unknown word is kept upper-cased, and
  `is_listening` falls back to the shape (TCP, foreign port 0).
- German umlauts arrive mangled when the OEM code page is misread (ABHÖREN printed as
  "ABH™REN" in a cp850-as-cp1252 capture), so non-ASCII letters are folded before lookup.
- IPv6 endpoints are bracketed, with a zone on link-local ones: "[fe80::1%9]:1900"; the
  brackets are dropped in `Conn.local_addr`. UDP rows have no state and "*:*" as foreign endpoint.
- `-q` (Windows 10 / Server 2016, and 2012 R2 with KB 3123245) adds BOUND rows: ports bound but
  not connected, foreign "0.0.0.0:0" like a listener.
- `-b` adds "[name.exe]" / service / "Can not obtain ownership information" lines under a row:
  they are not rows and are skipped. Windows Server 2003 prints the same table (no IPv6 rows).
"""

from __future__ import annotations

import re
from typing import NamedTuple

PID_DIGITS = 10  # a PID is a DWORD (at most 4294967295)

# The English state names netstat prints (MIB_TCP_STATE, plus BOUND from -q).
LISTENING = "LISTENING"
ESTABLISHED = "ESTABLISHED"
TIME_WAIT = "TIME_WAIT"
CLOSE_WAIT = "CLOSE_WAIT"
BOUND = "BOUND"
STATES = (
    "CLOSED", LISTENING, "SYN_SENT", "SYN_RECEIVED", ESTABLISHED, "FIN_WAIT_1", "FIN_WAIT_2",
    CLOSE_WAIT, "CLOSING", "LAST_ACK", TIME_WAIT, "DELETE_TCB", BOUND,
)

# Translated or variant spellings -> English name. Keys are folded by `_fold` (upper case,
# non-ASCII letters as "?"). Seen in a real de-DE capture: ABHÖREN, HERGESTELLT, WARTEND,
# SCHLIESSEN_WARTEN, FIN_WARTEN_2. From other tools' alias tables (systeminformation
# lib/network.js, Checkmk's Windows agent regex, public parsers' test data), not seen by us in a
# capture: SYN_GESENDET, SYN_EMPFANGEN, FIN_WARTEN_1, SCHLIESSEND, GESCHLOSSEN, LETZTES_ACK,
# GEBUNDEN, and es-ES ESCUCHANDO / ESTABLECIDO. A wrong guess here only mislabels a state;
# the port is still counted as in use.
_ALIASES = {
    "ABH?REN": LISTENING,
    "HERGESTELLT": ESTABLISHED,
    "WARTEND": TIME_WAIT,
    "SCHLIESSEN_WARTEN": CLOSE_WAIT,
    "SYN_GESENDET": "SYN_SENT",
    "SYN_EMPFANGEN": "SYN_RECEIVED",
    "FIN_WARTEN_1": "FIN_WAIT_1",
    "FIN_WARTEN_2": "FIN_WAIT_2",
    "SCHLIESSEND": "CLOSING",
    "GESCHLOSSEN": "CLOSED",
    "LETZTES_ACK": "LAST_ACK",
    "GEBUNDEN": BOUND,
    "ESCUCHANDO": LISTENING,
    "ESTABLECIDO": ESTABLISHED,
    # Older docs and builds: SYN_SEND, FIN_WAIT1, LISTEN.
    "SYN_SEND": "SYN_SENT",
    "FIN_WAIT1": "FIN_WAIT_1",
    "FIN_WAIT2": "FIN_WAIT_2",
    "LISTEN": LISTENING,
}
_ALIASES.update({s: s for s in STATES})

_PROTOS = {"TCP": "TCP", "UDP": "UDP", "TCPV6": "TCP", "UDPV6": "UDP"}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


class Conn(NamedTuple):
    proto: str  # "TCP" | "UDP"
    local_addr: str  # brackets of IPv6 dropped: "::", "fe80::1%9", "0.0.0.0"
    local_port: int
    remote_addr: str  # "*" for UDP's "*:*"
    remote_port: int | None  # None for "*"
    state: str  # English name, an unknown translated word upper-cased, "" for UDP
    pid: int | None  # None without -o

    @property
    def is_listening(self) -> bool:
        if self.state == LISTENING:
            return True
        # A translated word we do not know: a TCP listener is the row whose foreign port is 0.
        return (
            self.proto == "TCP"
            and self.state not in _KNOWN
            and self.remote_port == 0
            and self.remote_addr in ("0.0.0.0", "::", "*")
        )


_KNOWN = frozenset(STATES)


def _fold(word: str) -> str:
    return _NON_ASCII.sub("?", " ".join(word.upper().split()))


_state_cache: dict[str, str] = {}


def normalize_state(word: str) -> str:
    """English state name for a (possibly translated or mangled) netstat state word."""
    cached = _state_cache.get(word)
    if cached is not None:
        return cached
    folded = _fold(word)
    state = _ALIASES.get(folded)
    if state is None:
        # "ABH™REN" (mangled Ö) folds to "ABH?REN" already; other mangles keep the shape ABH..REN.
        state = LISTENING if folded.startswith("ABH") and folded.endswith("REN") else " ".join(word.upper().split())
    if len(_state_cache) < 256 and len(word) <= 32:  # real state words are short; garbage is not kept
        _state_cache[word] = state
    return state


def _endpoint(text: str) -> tuple[str, int | None] | None:
    """"10.0.0.5:51802" / "[fe80::1%9]:1900" / "*:*" -> (address, port); None if not an endpoint."""
    colon = text.rfind(":")
    if colon <= 0:
        return None
    port = text[colon + 1 :]
    addr = text[:colon]
    if addr[0] == "[" and addr[-1] == "]":
        addr = addr[1:-1]
    if port == "*":
        return addr, None
    # ASCII digits only, at most 5 (parse.numbers; inlined: this runs twice per row of 50,000).
    if len(port) <= 5 and port.isdigit() and port.isascii():
        number = int(port)
        if number <= 65535:
            return addr, number
    return None


def parse_netstat(text: str | None) -> list[Conn]:
    """Every TCP/UDP row in the order printed; anything else (headers, -b lines) is skipped.

    Split-based rather than one regex: about twice as fast on 50,000-row tables (bench/).
    """
    out: list[Conn] = []
    append = out.append
    protos = _PROTOS
    states = _state_cache
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        proto = protos.get(parts[0]) or protos.get(parts[0].upper())
        if proto is None:
            continue
        local = _endpoint(parts[1])
        remote = _endpoint(parts[2])
        if local is None or remote is None or local[1] is None:
            continue
        pid: int | None = None
        state = ""
        n = len(parts)
        if n > 3:
            last = parts[-1]
            if len(last) <= PID_DIGITS and last.isdigit() and last.isascii():  # parse.numbers.ascii_int, inlined
                pid = int(last)
                n -= 1
            if n > 3:
                word = parts[3] if n == 4 else " ".join(parts[3:n])
                state = states.get(word) or normalize_state(word)
        append(Conn(proto, local[0], local[1], remote[0], remote[1], state, pid))
    return out


def looks_like_netstat(text: str | None) -> bool:
    """True when the text holds at least one netstat row (a usage text or an error holds none)."""
    return bool(parse_netstat(text))
