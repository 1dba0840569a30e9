"""The body of a sealed WinRM message over HTTP (MS-WSMV 2.2.9.1.1, SPNEGO/NTLM): framing only, no I/O, no crypto.

    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/HTTP-SPNEGO-session-encrypted\\r\\n
    \\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<plaintext bytes>\\r\\n
    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/octet-stream\\r\\n
    <uint32 LE signature length><signature><sealed bytes>--Encrypted Boundary--\\r\\n

https://learn.microsoft.com/openspecs/windows_protocols/ms-wsmv/b79bcdd9-125c-49e0-8a4f-bac4ce878592
This is the body Windows sends and expects, byte for byte what pywinrm's winrm.encryption builds. The host's answer
is untrusted: `open_body` reads it in one pass by lengths (NTLM seals with RC4, a stream cipher, so the sealed bytes
are exactly OriginalContent's Length long, and ciphertext may contain the boundary's bytes by chance), bounds every
length it is given, and raises SealedBodyError, never IndexError or ValueError, for anything else.
"""

from __future__ import annotations

import struct
from typing import Callable

PROTOCOL = b"application/HTTP-SPNEGO-session-encrypted"
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL.decode()}";boundary="Encrypted Boundary"'
_BOUNDARY = b"--Encrypted Boundary"
_PART = _BOUNDARY + b"\r\n"
_END = _BOUNDARY + b"--"
_ORIGINAL = b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
_OCTETS = b"\tContent-Type: application/octet-stream\r\n"
_MAX_SIGNATURE = 256  # NTLM's is 16 bytes, Kerberos' wrap token header 60 at most; more is not a signature


class SealedBodyError(ValueError):
    """The host's answer is not a well-formed sealed message (or its plaintext does not verify)."""


def is_sealed(content_type: str) -> bool:
    """Whether a response's Content-Type says the body is sealed (HTTP-SPNEGO-session-encrypted)."""
    value = content_type.lower()
    return value.startswith("multipart/encrypted") and PROTOCOL.decode().lower() in value


def seal_body(plaintext: bytes, signature: bytes, sealed: bytes) -> bytes:
    """Frame a sealed message: `signature` and `sealed` are what the security context's wrap made of `plaintext`."""
    return b"".join((
        _PART, b"\tContent-Type: ", PROTOCOL, b"\r\n", _ORIGINAL, str(len(plaintext)).encode("ascii"), b"\r\n",
        _PART, _OCTETS, struct.pack("<I", len(signature)), signature, sealed, _END, b"\r\n",
    ))


def open_body(body: bytes, unwrap: Callable[[bytes, bytes], bytes]) -> bytes:
    """The plaintext of a sealed answer: every part's (signature, sealed bytes) through `unwrap`, in order, joined.

    `unwrap` verifies the signature (and NTLM's sequence number) and decrypts; whatever it raises becomes a
    SealedBodyError. A plaintext whose length differs from the part's OriginalContent Length is refused, as
    pywinrm refuses it ("message has been tampered with")."""
    plain: list[bytes] = []
    pos = _expect(body, 0, _PART, "sealed message does not start with the encrypted boundary")
    while True:
        header_end = body.find(_PART, pos)
        if header_end < 0:
            raise SealedBodyError("sealed message has no data part")
        length = _original_length(body[pos:header_end])
        pos = _expect(body, header_end + len(_PART), _OCTETS,
                      "sealed message's data part is not application/octet-stream")
        if len(body) < pos + 4:
            raise SealedBodyError("sealed message is truncated")
        (signature_length,) = struct.unpack_from("<I", body, pos)
        if signature_length > _MAX_SIGNATURE:
            raise SealedBodyError(f"sealed message's signature length {signature_length} is not plausible")
        start = pos + 4 + signature_length
        end = start + length
        if len(body) < end:
            raise SealedBodyError("sealed message is shorter than its OriginalContent Length")
        try:
            text = unwrap(body[pos + 4:start], body[start:end])
        except Exception as exc:  # noqa: BLE001 - pyspnego's own error types: a wrong signature or sequence
            raise SealedBodyError(f"sealed message failed its integrity check ({type(exc).__name__})") from None
        if len(text) != length:
            raise SealedBodyError("sealed message's plaintext length differs from its OriginalContent Length")
        plain.append(text)
        if body.startswith(_END, end):
            return b"".join(plain)
        pos = _expect(body, end, _PART, "sealed message does not end with the closing boundary")


def _expect(body: bytes, pos: int, what: bytes, problem: str) -> int:
    if not body.startswith(what, pos):
        raise SealedBodyError(problem)
    return pos + len(what)


def _original_length(header: bytes) -> int:
    """OriginalContent's Length in one part's header lines (the SPNEGO protocol must be named there too)."""
    if PROTOCOL.lower() not in header.lower():
        raise SealedBodyError("sealed message's part is not HTTP-SPNEGO-session-encrypted")
    at = header.find(b"Length=")
    if at < 0:
        raise SealedBodyError("sealed message's part has no OriginalContent Length")
    digits = header[at + 7:].split(b"\r\n", 1)[0].strip()
    if not digits.isdigit() or len(digits) > 9:
        raise SealedBodyError("sealed message's OriginalContent Length is not a number")
    return int(digits)
