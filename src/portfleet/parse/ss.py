"""`ss -tanp` (iproute2) output -> connections and owning processes, by structure.

    State     Recv-Q Send-Q  Local Address:Port   Peer Address:Port Process
    LISTEN    0      128           0.0.0.0:22          0.0.0.0:*     users:(("sshd",pid=612,fd=3))
    ESTAB     0      0            10.0.0.5:22         10.0.0.9:51234 users:(("sshd",pid=901,fd=4),("sshd",pid=903,fd=4))
    TIME-WAIT 0      0           127.0.0.1:40000     127.0.0.1:8080
    LISTEN    0      4096             [::]:22             [::]:*     users:(("sshd",pid=612,fd=4))

- The header may be glued together ("Peer Address:PortProcess") and is absent with -H: rows are found
  by shape (a known state word, two queue numbers, two endpoints), never by the header.
- Endpoints: "addr:port", IPv6 in brackets on iproute2 >= 4.x ("[::ffff:10.0.0.1]:443"), bare on older
  ones (":::22"); "*" as address or port means any; "127.0.0.53%lo:53" names the interface.
- The Process column (-p) lists every process holding the socket: users:(("name",pid=N,fd=M),...).
  A process name may hold spaces ("Web Content"). Sockets without an owner (TIME-WAIT, or sockets of
  other users when ss does not run as root) have no Process column.
- States are mapped to the names Windows' netstat prints, so the diagnose analysis is shared:
  ESTAB -> ESTABLISHED, TIME-WAIT -> TIME_WAIT, CLOSE-WAIT -> CLOSE_WAIT, LISTEN -> LISTENING, ...
"""

from __future__ import annotations

import re

from portfleet.parse.netstat import CLOSE_WAIT, ESTABLISHED, LISTENING, TIME_WAIT, Conn
from portfleet.parse.numbers import ascii_int, is_ascii_digits
from portfleet.parse.tasklist import Process

STATES = {
    "ESTAB": ESTABLISHED,
    "SYN-SENT": "SYN_SENT",
    "SYN-RECV": "SYN_RECEIVED",
    "FIN-WAIT-1": "FIN_WAIT_1",
    "FIN-WAIT-2": "FIN_WAIT_2",
    "TIME-WAIT": TIME_WAIT,
    "UNCONN": "CLOSED",
    "CLOSE-WAIT": CLOSE_WAIT,
    "LAST-ACK": "LAST_ACK",
    "LISTEN": LISTENING,
    "CLOSING": "CLOSING",
}
# One owner: ("name",pid=N,fd=M). Starts only at '("'; the name's two alternatives never match the
# same character, so a failed start costs the distance to the next quote: linear in the field.
_USER = re.compile(r'\("(?P<name>(?:[^"\\]|\\.)*)",pid=(?P<pid>[0-9]+)(?:,fd=[0-9]+)?\)')
PID_DIGITS = 10  # Linux pid_t: at most 4194304 (PID_MAX_LIMIT); ten digits bound the conversion


def _endpoint(text: str) -> tuple[str, int | None] | None:
    """'10.0.0.5:22' / '[::1]:631' / ':::22' / '*:*' / '127.0.0.53%lo:53' -> (address, port)."""
    colon = text.rfind(":")
    if colon == -1:
        return None
    addr, port = text[:colon], text[colon + 1:]
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    if "%" in addr and ":" not in addr:
        addr = addr.split("%", 1)[0]  # an IPv4 address bound to an interface
    if not addr:
        return None
    if port == "*":
        return addr, None
    if len(port) <= 5 and port.isdigit() and port.isascii():  # parse.numbers.ascii_int, inlined (hot)
        number = int(port)
        if number <= 65535:
            return addr, number
    return None


def owners(process_field: str) -> list[tuple[str, int]]:
    """'users:(("nginx",pid=12,fd=6),("nginx",pid=13,fd=6))' -> [("nginx", 12), ("nginx", 13)]."""
    found = []
    for m in _USER.finditer(process_field):
        pid = ascii_int(m["pid"], PID_DIGITS)
        if pid is not None:
            found.append((m["name"].replace('\\"', '"'), pid))
    return found


def parse_ss(text: str | None) -> tuple[list[Conn], dict[int, Process]]:
    """TCP rows (the first owning process as pid; TIME-WAIT rows pid 0, as Windows shows them) and
    every owning process seen, by pid."""
    conns: list[Conn] = []
    processes: dict[int, Process] = {}
    for line in (text or "").splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        state = STATES.get(parts[0].upper())
        if state is None or not is_ascii_digits(parts[1]) or not is_ascii_digits(parts[2]):
            continue
        local, remote = _endpoint(parts[3]), _endpoint(parts[4])
        if local is None or remote is None or local[1] is None:
            continue
        users = owners(parts[5]) if len(parts) > 5 else []
        for name, pid in users:
            processes.setdefault(pid, Process(name=name, pid=pid, session="", mem_kb=None))
        if users:
            pid: int | None = users[0][1]
        else:
            # TIME_WAIT sockets outlived their process; others' owners were not visible to ss.
            pid = 0 if state == TIME_WAIT else None
        conns.append(Conn("TCP", local[0], local[1], remote[0], remote[1], state, pid))
    return conns, processes


def looks_like_ss(text: str | None) -> bool:
    return bool(parse_ss(text)[0])
