"""When the ticket-granting ticket in an MIT FILE credential cache expires, read from the file itself.

klist prints times in the locale's format (and MIT changed its choice of format between releases), so the
cache file is read instead: the FILE ccache format (MIT krb5 docs, "ccache file format"; versions 3 and 4,
big-endian) is a header, the default principal, then credentials until the end of the file, each holding
its client and server principals, a keyblock, four 32-bit times (authtime, starttime, endtime, renew_till)
and then flags, addresses, authdata and the two tickets. The TGT is the credential whose server is
krbtgt/REALM@REALM; configuration entries (realm X-CACHECONF:) are skipped.

The reader is total: a short, damaged or unknown file gives None (the expiry is then not known and the
ticket is not renewed ahead of time), never an exception, and it reads at most MAX_CREDENTIALS entries.
"""

from __future__ import annotations

import struct
from pathlib import Path

MAX_CCACHE_BYTES = 4 << 20
MAX_CREDENTIALS = 1000
MAX_COUNT = 1000  # components, addresses, authdata entries of one credential


class _Short(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes, version: int) -> None:
        self.data, self.pos, self.version = data, 0, version

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _Short
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def octets(self) -> bytes:
        return self.take(self.u32())

    def count(self) -> int:
        n = self.u32()
        if n > MAX_COUNT:
            raise _Short
        return n

    def principal(self) -> tuple[str, list[str]]:
        self.u32()  # name type
        components = self.count()
        realm = self.octets().decode("utf-8", "replace")
        return realm, [self.octets().decode("utf-8", "replace") for _ in range(components)]


def tgt_expiry(path: Path) -> float | None:
    """The end time (seconds since the epoch, the KDC's clock) of the cache's earliest TGT, else None."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CCACHE_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_CCACHE_BYTES or data[:1] != b"\x05" or data[1:2] not in (b"\x03", b"\x04"):
        return None
    reader = _Reader(data, data[1])
    try:
        reader.take(2)
        if reader.version == 4:
            reader.take(reader.u16())  # header tags (DeltaTime)
        reader.principal()  # the default principal
        ends: list[int] = []
        for _ in range(MAX_CREDENTIALS):
            if reader.pos == len(data):
                break
            reader.principal()  # client
            realm, components = reader.principal()  # server
            reader.u16()  # enctype
            if reader.version == 3:
                reader.u16()  # version 3 repeats the enctype
            reader.octets()  # key
            _authtime, _starttime, endtime, _renew_till = (reader.u32() for _ in range(4))
            reader.take(1 + 4)  # is_skey, ticket flags
            for _ in range(reader.count()):  # addresses
                reader.u16()
                reader.octets()
            for _ in range(reader.count()):  # authdata
                reader.u16()
                reader.octets()
            reader.octets()  # ticket
            reader.octets()  # second ticket
            if realm != "X-CACHECONF:" and components[:1] == ["krbtgt"]:
                ends.append(endtime)
    except _Short:
        return None
    return float(min(ends)) if ends else None
