"""Keeping passwords out of output: a Secret wrapper and masking of sensitive vars.

A value read from a sensitive key (``ansible_password``, ``api_token`` ...) is wrapped in
:class:`Secret` as soon as vars are merged, so ``repr()``, ``str()``, f-strings, logging,
jinja2 rendering and exception messages all show ``***``; ``json.dumps`` refuses it outright
(fail closed). Only ``.reveal()`` gives the value, at the one place that needs it (the transport).
"""

from __future__ import annotations

import functools
import hmac
import re
from typing import Any

MASK = "***"

# What makes a var name sensitive: pass/secret/token/credential anywhere (ansible_ssh_pass,
# ansible_become_password, client_secret, api_token), or "key" as a word of the name (api_key,
# vault_key, private_key) but not inside another word (keyboard, monkey).
_SENSITIVE = re.compile(r"pass|secret|token|credential|apikey|(?:^|[_.-])keys?(?:$|[_.-])")
# ...unless the name says the value is a reference, not the secret itself: a key *file* path
# (ansible_ssh_private_key_file), the name of an environment variable (portfleet_password_env),
# a PEM path (ansible_winrm_cert_key_pem) or a switch (ansible_ssh_host_key_checking).
_REFERENCE_SUFFIXES = ("_file", "_path", "_env", "_pem", "_dir", "_checking")


class Secret:
    """A value that never shows itself: repr/str/format give '***'; ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def reveal(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # constant-time compare: equality of secrets should not leak through timing
        return hmac.compare_digest(str(self._value).encode(), str(other._value).encode())

    def __hash__(self) -> int:
        return hash((Secret, str(self._value)))


def is_sensitive(key: object) -> bool:
    """True for var names whose value must be masked (see _SENSITIVE_WORDS / _REFERENCE_SUFFIXES)."""
    if not isinstance(key, str):
        return False
    return _sensitive_name(key)


@functools.lru_cache(maxsize=4096)  # the same few var names, for every host of an inventory
def _sensitive_name(key: str) -> bool:
    k = key.lower()
    if k.endswith(_REFERENCE_SUFFIXES):
        return False
    return _SENSITIVE.search(k) is not None


def protect(value: Any, key: object = None) -> Any:
    """``value`` with every value under a sensitive key (at any depth) wrapped in Secret: a copy where
    something is wrapped, ``value`` itself where nothing is (don't mutate the result)."""
    if isinstance(value, Secret):
        return value
    if is_sensitive(key) and value is not None:
        return Secret(value)
    if isinstance(value, dict):
        # Nearly every dict of an inventory (a host's own vars) has nothing to wrap: keep it as is.
        if not any(is_sensitive(k) or isinstance(v, (dict, list)) for k, v in value.items()):
            return value
        return {k: protect(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [protect(v) for v in value]
    return value


def masked(value: Any) -> Any:
    """JSON-safe copy of ``value`` with every Secret replaced by '***'."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {str(k): masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


# "ansible_password=x", "password: x", '"api_token": "x"' in free text (a program's stderr): the
# value after a sensitive name (is_sensitive) is masked. Linear: a name starts only where a word
# starts and is matched possessively, so no position is scanned twice.
_NAME_AND_SEPARATOR = re.compile(r"""(?<![\w.-])([\w.-]++)["']?\s*+[:=]\s*+""")
_VALUE = re.compile(r"""(["']?)([^\s"',;}]++)""")


def redact_text(text: str) -> str:
    """``text`` with the value of every ``sensitive_name=value`` / ``name: value`` masked."""
    out: list[str] = []
    pos = 0
    for m in _NAME_AND_SEPARATOR.finditer(text):
        if m.start() < pos or not is_sensitive(m.group(1)):
            continue
        value = _VALUE.match(text, m.end())
        if value is None:
            continue
        out.append(text[pos : m.end()] + value.group(1) + MASK)
        pos = value.end()
    out.append(text[pos:])
    return "".join(out)
