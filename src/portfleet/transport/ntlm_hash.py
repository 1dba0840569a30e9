"""The NTLM one-way hashes of a password, computed once per credential per process instead of once per connection.

pywinrm hands ansible_password to requests_ntlm (HttpNtlmAuth(username, password)), which builds a new
`spnego.client(username, password, protocol="ntlm")` for every connection's handshake; pyspnego's
_NTLMCredential then computes LMOWFv1 (two DES blocks in pure Python) and NTOWFv1 (MD4, pure Python too: OpenSSL 3
has no MD4) every time: about a tenth of the controller's CPU per host. pyspnego also accepts the password in the
form "<LM hash hex>:<NT hash hex>" (spnego/_ntlm_raw/crypto.py, _NTLM_HASH_PATTERN `^[a-fA-F0-9]{32}:[a-fA-F0-9]{32}$`:
lmowfv1() and ntowfv1() then return the two halves, b16-decoded, and compute nothing). So the hashes are computed
here, once, with pyspnego's own functions (the very values it would compute), and that form is what pywinrm is given.

The hash form is as secret as the password (NTLM accepts it in the password's place): it lives where the password
lived (WinRMTarget.password, never in repr) and is never logged. Only the NTLM transport gets it: Basic and CredSSP
send the password itself, Kerberos and certificates use none.
"""

from __future__ import annotations

import hashlib
import threading

_lock = threading.Lock()
_cache: dict[bytes, str] = {}


def _hashes(password: str) -> str | None:
    try:
        from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1  # pyspnego's own LMOWFv1/NTOWFv1
    except ImportError:  # another pyspnego layout: let it hash the password itself, per connection, as before
        return None
    return f"{lmowfv1(password).hex()}:{ntowfv1(password).hex()}"


def ntlm_password(password: str) -> str:
    """What to hand pywinrm as the NTLM password: the LM:NT hash form, or the password itself when pyspnego's
    functions are not where this version expects them. An empty password stays empty: requests_ntlm then lets
    pyspnego use the platform's cached credentials, as it always did."""
    if not password:
        return password
    # Keyed by a digest, so the cache holds no second copy of the password itself.
    key = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
    with _lock:
        found = _cache.get(key)
    if found is not None:
        return found
    value = _hashes(password) or password
    with _lock:
        _cache[key] = value
    return value
