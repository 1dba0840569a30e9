"""WinRM message encryption over HTTP: MS-WSMV 2.2.9.1.1 "Encrypted Message Types" (SPNEGO/NTLM).

A sealed SOAP message travels as a two-part multipart/encrypted body:

    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/HTTP-SPNEGO-session-encrypted\\r\\n
    \\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<plaintext length>\\r\\n
    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/octet-stream\\r\\n
    <uint32 LE signature length><signature><sealed bytes>--Encrypted Boundary--\\r\\n

https://learn.microsoft.com/openspecs/windows_protocols/ms-wsmv/b79bcdd9-125c-49e0-8a4f-bac4ce878592
The security context does the cryptography (pyspnego's wrap_winrm/unwrap_winrm); this module only frames.
"""

from __future__ import annotations

import re
import struct
from typing import Callable, Protocol

PROTOCOL_SPNEGO = b"application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
CONTENT_TYPE = 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"'
_OCTET_STREAM = b"Content-Type: application/octet-stream\r\n"
_LENGTH = re.compile(rb"Length=(\d+)")


class EncryptionError(ValueError):
    """The body is not a well-formed encrypted message, or its signature/length does not verify."""


class WinRMSealer(Protocol):
    def wrap_winrm(self, data: bytes): ...  # -> spnego WinRMWrapResult(header, data, padding_length)

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes: ...


def is_encrypted(content_type: str) -> bool:
    ct = content_type.lower()
    return ct.startswith(("multipart/encrypted", "multipart/x-multi-encrypted")) and "http-spnego-session-encrypted" in ct


def unwrap_message(body: bytes, unwrap: Callable[[bytes, bytes], bytes]) -> bytes:
    """Decrypt every encrypted part of `body` with `unwrap(signature, sealed)` and join the plaintexts.

    The sealed part is read by length (4-byte signature length + OriginalContent Length for NTLM's RC4
    stream cipher) rather than by searching for the closing boundary, because ciphertext is arbitrary bytes.
    """
    out: list[bytes] = []
    pos = 0
    marker = BOUNDARY + b"\r\n"
    while True:
        start = body.find(marker, pos)
        if start < 0:
            break
        header_start = start + len(marker)
        header_end = body.find(marker, header_start)
        if header_end < 0:
            raise EncryptionError("encrypted message has no data part")
        header = body[header_start:header_end]
        if PROTOCOL_SPNEGO.lower() not in header.lower():
            raise EncryptionError("encrypted part is not HTTP-SPNEGO-session-encrypted")
        length_match = _LENGTH.search(header)
        if not length_match:
            raise EncryptionError("encrypted part has no OriginalContent Length")
        length = int(length_match.group(1))
        octet = body.find(_OCTET_STREAM, header_end)
        if octet < 0:
            raise EncryptionError("encrypted part has no application/octet-stream payload")
        data_start = octet + len(_OCTET_STREAM)
        if len(body) < data_start + 4:
            raise EncryptionError("truncated encrypted payload")
        (sig_len,) = struct.unpack("<I", body[data_start : data_start + 4])
        sig_end = data_start + 4 + sig_len
        sealed_end = sig_end + length
        if sig_len > 1024 or len(body) < sealed_end:
            raise EncryptionError("truncated encrypted payload")
        try:
            plain = unwrap(body[data_start + 4 : sig_end], body[sig_end:sealed_end])
        except Exception as exc:  # pyspnego raises its own error types for a bad signature
            raise EncryptionError(f"cannot unwrap encrypted payload: {type(exc).__name__}") from exc
        if len(plain) != length:
            raise EncryptionError("decrypted length does not match OriginalContent Length")
        out.append(plain)
        pos = sealed_end
    if not out:
        raise EncryptionError("no encrypted part found")
    return b"".join(out)


def wrap_message(plaintext: bytes, sealer: WinRMSealer) -> bytes:
    """Seal `plaintext` and frame it as one multipart/encrypted body (Content-Type: CONTENT_TYPE)."""
    wrapped = sealer.wrap_winrm(plaintext)
    return b"".join(
        [
            BOUNDARY,
            b"\r\n\tContent-Type: ",
            PROTOCOL_SPNEGO,
            b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=",
            str(len(plaintext)).encode("ascii"),
            b"\r\n",
            BOUNDARY,
            b"\r\n\t",
            _OCTET_STREAM,
            struct.pack("<I", len(wrapped.header)),
            wrapped.header,
            wrapped.data,
            BOUNDARY,
            b"--\r\n",
        ]
    )
