"""The read-only result of loading an inventory: Host, Group, Inventory.

Host carries the merged vars (Ansible's precedence, see loader.py) and typed accessors for the
connection vars portfleet honours, named as Ansible's winrm and ssh connection plugins name them
(https://docs.ansible.com/ansible/latest/collections/ansible/builtin/winrm_connection.html,
https://docs.ansible.com/ansible/latest/collections/ansible/builtin/ssh_connection.html).
Where a plugin accepts several var names for one option, the last one in its list wins, as in
Ansible's config resolution (e.g. ansible_winrm_password over ansible_password).

``raw_vars`` are the values as written (secrets wrapped); ``vars`` templates them at use (resolve.py).
The accessors read ``vars``, so an address, user, port or password is always the templated value, and
one that still holds '{{' (or comes from a secret, for all but the password) is refused, never used.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portfleet.inventory import patterns
from portfleet.inventory.builder import Origin
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.markers import holds_template_marks, is_template
from portfleet.inventory.numbers import ascii_int
from portfleet.inventory.resolve import HostVars, InventoryScope, needs_templating
from portfleet.inventory.secret import Secret
from portfleet.inventory.vaulted import VaultValue

WINRM_CONNECTIONS = ("winrm", "psrp")
DEFAULT_CONNECTION = "ssh"  # Ansible's default connection plugin
WINRM_HTTP_PORT, WINRM_HTTPS_PORT, SSH_PORT = 5985, 5986, 22
# pywinrm's transports (winrm.transport.Transport); Ansible passes the name through.
WINRM_TRANSPORTS = ("basic", "certificate", "credssp", "kerberos", "ntlm", "plaintext", "ssl")
CERT_VALIDATION = ("validate", "ignore")
PLATFORMS = ("windows", "linux")
PASSWORD_ENV_VAR = "portfleet_password_env"
KINIT_MODES = ("managed", "manual")
_TRUE, _FALSE = {"true", "yes", "on", "1", "y", "t"}, {"false", "no", "off", "0", "n", "f"}

# option -> (winrm plugin var names, ssh plugin var names), lowest to highest precedence
_VARS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "address": (("ansible_host", "ansible_winrm_host"), ("ansible_host", "ansible_ssh_host")),
    "user": (("ansible_user", "ansible_winrm_user"), ("ansible_user", "ansible_ssh_user")),
    "port": (("ansible_port", "ansible_winrm_port"), ("ansible_port", "ansible_ssh_port")),
    "password": (
        ("ansible_password", "ansible_winrm_pass", "ansible_winrm_password"),
        ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password"),
    ),
    "private_key_file": ((), ("ansible_private_key_file", "ansible_ssh_private_key_file")),
}

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Every var a typed accessor reads: if none of them is templated or encrypted, a host is checked at
# load; otherwise at its first use (Host.check), since Ansible templates them only at use.
CONNECTION_KEYS = frozenset(
    k for pair in _VARS.values() for names in pair for k in names
) | {
    "ansible_connection", "ansible_winrm_scheme", "ansible_winrm_transport", "ansible_winrm_server_cert_validation",
    "ansible_winrm_ca_trust_path", "ansible_winrm_path", "portfleet_platform", PASSWORD_ENV_VAR,
}
# ...but not the password: it is resolved only when a run needs it (resolve_password), so listing
# an inventory needs no vault password.
CHECKED_KEYS = CONNECTION_KEYS - set(_VARS["password"][0]) - set(_VARS["password"][1])
# Vars read only as plain text (Host._text) and as a port number (Host._explicit_port).
_TEXT_KEYS = frozenset(
    k for option in ("address", "user", "private_key_file") for names in _VARS[option] for k in names
) | {"ansible_winrm_ca_trust_path", "ansible_winrm_path"}
_PORT_KEYS = frozenset(_VARS["port"][0] + _VARS["port"][1])


def _did_you_mean(text: str | None, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(text, choices, n=1, cutoff=0.5) if text else []
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True, eq=False, repr=False)
class Host:
    """One inventory host: ``vars`` merged all < parent group < child group < host, secrets wrapped."""

    name: str
    raw_vars: dict[str, Any]  # as written in the files (secrets wrapped, templates not evaluated)
    groups: frozenset[str]
    origins: Mapping[str, Origin] = field(default_factory=dict)
    source: Path | None = None
    own_keys: frozenset[str] = frozenset()  # vars set on the host itself (host line / host_vars)
    scope: InventoryScope = field(default_factory=InventoryScope, repr=False)
    resolved: dict[str, Any] = field(default_factory=dict, repr=False)  # templated values, by var

    def __repr__(self) -> str:
        return f"Host({self.name!r}, groups={sorted(self.groups)!r}, vars={self.raw_vars!r})"

    __str__ = __repr__

    @functools.cached_property
    def vars(self) -> HostVars:
        """The merged vars as used: each templated when read (Ansible's lazy templating)."""
        return HostVars(self, self.scope)

    # -- helpers -----------------------------------------------------------------------------
    @property
    def group_names(self) -> list[str]:
        """Ansible's ``group_names``: every group of the host but 'all', sorted."""
        return sorted(g for g in self.groups if g != "all")

    def var_origin(self, key: str) -> Origin | None:
        """file:line (and merge level) of the definition of ``key`` that won."""
        return self.origins.get(key)

    def var_source(self, key: str) -> dict[str, Any]:
        """Where the value of ``key`` comes from, without the value: file, line, vault id (an inline
        !vault value or an encrypted vars file) and whether it is a template."""
        origin = self.origins.get(key)
        raw = self.raw_vars.get(key)
        vault_id = raw.vault_id if isinstance(raw, VaultValue) else (origin.vault_id if origin else None)
        plain = raw.reveal() if type(raw) is Secret else raw  # never decrypts: a VaultValue is not a template
        return {
            "file": str(origin.path) if origin else (str(self.source) if self.source else None),
            "line": origin.line if origin else None,
            "vault": vault_id,
            "template": is_template(plain),
        }

    def _error(self, key: str, problem: str) -> InventoryError:
        origin = self.origins.get(key)
        path = origin.path if origin else self.source
        return InventoryError(f"{key} for host {self.name!r} {problem}", path, origin.line if origin else None)

    def _pick(self, option: str, raw: bool = False) -> tuple[str | None, Any]:
        names = _VARS[option][0 if self.is_winrm else 1]
        values = self.raw_vars if raw else self.vars
        found: tuple[str | None, Any] = (None, None)
        for key in names:
            if values.get(key) is not None:
                found = (key, values[key])
        return found

    def _text(self, key: str | None, value: Any) -> str | None:
        if value is None:
            return None
        if key and isinstance(value, Secret):
            raise self._error(
                str(key),
                "comes from a secret (a vault value, or a template that reads one): portfleet shows addresses, "
                "users and ports in its output, so keep this one out of the vault",
            )
        if isinstance(value, (dict, list, bool)):
            raise self._error(str(key), "must be a single text value")
        self._refuse_template_marks(str(key), value)
        return str(value)

    def _refuse_template_marks(self, key: str, value: Any) -> None:
        # A value that still holds '{{' is an unevaluated template (or !unsafe / vault text that
        # looks like one): connecting to it, or sending it as a password, is never what was meant.
        if holds_template_marks(value):
            raise self._error(
                key, "still holds a template mark ('{{', '{%' or '{#') after templating, so it is not used; "
                "write the value itself (a password containing '{{' can come from portfleet_password_env)",
            )

    def _choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.vars.get(key)
        if value is None:
            return default
        if isinstance(value, Secret):
            self._text(key, value)  # refused with the reason
        text = str(value).strip().lower() if isinstance(value, str) else None
        if text not in choices:
            raise self._error(key, f"is {value!r}; valid values: {', '.join(choices)}{_did_you_mean(text, choices)}")
        return text

    # -- connection vars ---------------------------------------------------------------------
    @property
    def connection(self) -> str:
        """``ansible_connection``; Ansible's default is ssh."""
        value = self.vars.get("ansible_connection")
        if value is None:
            return DEFAULT_CONNECTION
        if isinstance(value, Secret):
            self._text("ansible_connection", value)
        if not isinstance(value, str) or not value.strip():
            raise self._error("ansible_connection", "must be a connection name such as winrm or ssh")
        return value.strip().lower()

    @property
    def is_winrm(self) -> bool:
        return self.connection in WINRM_CONNECTIONS

    @property
    def address(self) -> str:
        """``ansible_host`` (or the plugin's alias), else the inventory name."""
        key, value = self._pick("address")
        return self._text(key, value) or self.name

    @property
    def user(self) -> str | None:
        key, value = self._pick("user")
        return self._text(key, value)

    def _explicit_scheme(self) -> str | None:
        if self.vars.get("ansible_winrm_scheme") is None:
            return None
        return self._choice("ansible_winrm_scheme", "https", ("http", "https"))

    def _explicit_port(self) -> int | None:
        key, value = self._pick("port")
        if value is None:
            return None
        if isinstance(value, Secret):
            self._text(key, value)
        port = ascii_int(value)  # ASCII digits only: '²' passes str.isdigit() but not int()
        if port is None:
            shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:40]}..."
            raise self._error(str(key), f"is {shown}, not a port: write a number from 1 to 65535")
        if not 1 <= port <= 65535:
            raise self._error(str(key), f"is {port}, out of range: a port is a number from 1 to 65535")
        return port

    @property
    def port(self) -> int:
        """``ansible_port``; else winrm 5985 for http / 5986 otherwise (Ansible's winrm default), ssh 22."""
        explicit = self._explicit_port()
        if explicit is not None:
            return explicit
        if self.is_winrm:
            return WINRM_HTTP_PORT if self._explicit_scheme() == "http" else WINRM_HTTPS_PORT
        return SSH_PORT

    @property
    def scheme(self) -> str | None:
        """``ansible_winrm_scheme``; unset: http if the port is 5985, else https (as the winrm plugin).
        None for non-WinRM hosts."""
        if not self.is_winrm:
            return None
        return self._explicit_scheme() or ("http" if self.port == WINRM_HTTP_PORT else "https")

    @property
    def winrm_transport(self) -> str:
        """``ansible_winrm_transport``. Ansible accepts a list; pywinrm takes one: the first. Unset: kerberos when
        ansible_user is user@REALM (as Ansible's winrm plugin chooses), else ntlm."""
        value = self.vars.get("ansible_winrm_transport")
        if value is None:
            return "kerberos" if "@" in (self.user or "") else "ntlm"
        if isinstance(value, Secret):
            self._text("ansible_winrm_transport", value)
        first = value[0] if isinstance(value, list) and value else value
        text = str(first).split(",")[0].strip().lower() if isinstance(first, str) else None
        if text not in WINRM_TRANSPORTS:
            raise self._error(
                "ansible_winrm_transport",
                f"is {value!r}; valid transports: {', '.join(WINRM_TRANSPORTS)}{_did_you_mean(text, WINRM_TRANSPORTS)}",
            )
        return text

    @property
    def cert_validation(self) -> str:
        """``ansible_winrm_server_cert_validation``: validate (default) or ignore."""
        return self._choice("ansible_winrm_server_cert_validation", "validate", CERT_VALIDATION)

    @property
    def ca_trust_path(self) -> str | None:
        """``ansible_winrm_ca_trust_path``: a CA bundle file or directory to verify the host's TLS certificate."""
        return self._text("ansible_winrm_ca_trust_path", self.vars.get("ansible_winrm_ca_trust_path"))

    @property
    def private_key_file(self) -> str | None:
        """``ansible_ssh_private_key_file`` (or ``ansible_private_key_file``) for SSH hosts."""
        key, value = self._pick("private_key_file")
        return self._text(key, value)

    ssh_private_key_file = private_key_file

    @property
    def winrm_path(self) -> str:
        """``ansible_winrm_path``: the WS-Man URL path, /wsman by default."""
        return self._text("ansible_winrm_path", self.vars.get("ansible_winrm_path")) or "/wsman"

    @property
    def platform(self) -> str | None:
        """``portfleet_platform``: windows or linux; WinRM hosts default to windows, others to None."""
        if self.vars.get("portfleet_platform") is None:
            return "windows" if self.is_winrm else None
        return self._choice("portfleet_platform", "windows", PLATFORMS)

    # -- Kerberos and certificate vars (Ansible's winrm plugin names) -------------------------------
    def _bool(self, key: str) -> bool:
        value = self.vars.get(key)
        if value is None or isinstance(value, bool):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise self._error(key, f"is {value!r}; write true or false")

    @property
    def kinit_mode(self) -> str | None:
        """``ansible_winrm_kinit_mode``: managed (portfleet runs kinit) or manual (the operator's ticket cache);
        None when unset: the transport then picks managed if a password is given, as Ansible does."""
        if self.vars.get("ansible_winrm_kinit_mode") is None:
            return None
        return self._choice("ansible_winrm_kinit_mode", "managed", KINIT_MODES)

    @property
    def kinit_cmd(self) -> str:
        """``ansible_winrm_kinit_cmd``: the kinit to run in managed mode (default kinit)."""
        return self._text("ansible_winrm_kinit_cmd", self.vars.get("ansible_winrm_kinit_cmd")) or "kinit"

    @property
    def kinit_args(self) -> list[str] | None:
        """``ansible_winrm_kinit_args``: extra kinit arguments (a string split as a shell does, or a list)."""
        value = self.vars.get("ansible_winrm_kinit_args")
        if value is None:
            return None
        if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
            return [str(v) for v in value]
        text = self._text("ansible_winrm_kinit_args", value) or ""
        try:
            return shlex.split(text)
        except ValueError as exc:
            raise self._error("ansible_winrm_kinit_args", f"cannot be split into arguments: {exc}") from None

    @property
    def kerberos_delegation(self) -> bool:
        """``ansible_winrm_kerberos_delegation``: forward the TGT to the host (default false)."""
        return self._bool("ansible_winrm_kerberos_delegation")

    @property
    def kerberos_hostname_override(self) -> str | None:
        """``ansible_winrm_kerberos_hostname_override``: the host name of the SPN (HTTP/<name>) instead of the address."""
        key = "ansible_winrm_kerberos_hostname_override"
        return self._text(key, self.vars.get(key))

    @property
    def cert_pem(self) -> str | None:
        """``ansible_winrm_cert_pem``: the client certificate (PEM) of certificate authentication."""
        return self._text("ansible_winrm_cert_pem", self.vars.get("ansible_winrm_cert_pem"))

    @property
    def cert_key_pem(self) -> str | None:
        """``ansible_winrm_cert_key_pem``: its private key (PEM, unencrypted, as pywinrm needs it)."""
        return self._text("ansible_winrm_cert_key_pem", self.vars.get("ansible_winrm_cert_key_pem"))

    # -- password ----------------------------------------------------------------------------
    def _password_choice(self) -> tuple[str, str] | None:
        """('literal', var) or ('env', VARNAME): the source defined at the more specific level wins
        (a host's ansible_password beats a group's portfleet_password_env and vice versa)."""
        key, _ = self._pick("password", raw=True)  # which var, without templating or decrypting it
        env = self.raw_vars.get(PASSWORD_ENV_VAR)
        if env is None:
            return ("literal", key) if key else None
        if key is None:
            return ("env", PASSWORD_ENV_VAR)
        lit_level = self.origins[key].level if key in self.origins else 0
        env_level = self.origins[PASSWORD_ENV_VAR].level if PASSWORD_ENV_VAR in self.origins else 0
        return ("env", PASSWORD_ENV_VAR) if env_level > lit_level else ("literal", key)

    @property
    def password_source(self) -> str | None:
        """Where the password comes from, without it: 'inventory:ansible_password', 'env:VAR' or None."""
        choice = self._password_choice()
        if choice is None:
            return None
        kind, key = choice
        return f"env:{self.vars[PASSWORD_ENV_VAR]}" if kind == "env" else f"inventory:{key}"

    @property
    def password_is_vaulted(self) -> bool:
        choice = self._password_choice()
        return choice is not None and choice[0] == "literal" and isinstance(self.raw_vars.get(choice[1]), VaultValue)

    def resolve_password(self, environ: Mapping[str, str] | None = None) -> Secret | None:
        """The password as a Secret, or None if the inventory sets none.

        ``portfleet_password_env: VAR`` reads VAR from ``environ`` (default: the process
        environment); a missing or empty VAR is an InventoryError naming the host and VAR."""
        choice = self._password_choice()
        if choice is None:
            return None
        kind, key = choice
        if kind == "literal":
            value = self.vars[key]  # templated; a vault value is decrypted by reveal()
            value = value.reveal() if isinstance(value, Secret) else value
            if isinstance(value, (dict, list)):
                raise self._error(key, "must be a single text value, not a list or mapping")
            self._refuse_template_marks(key, value)
            return Secret(str(value))
        name = self.vars[PASSWORD_ENV_VAR]
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise self._error(PASSWORD_ENV_VAR, "must be the name of an environment variable, e.g. PORTFLEET_PASSWORD")
        env = os.environ if environ is None else environ
        value = env.get(name)
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise self._error(
                PASSWORD_ENV_VAR,
                f"names the environment variable {name}, which {state}: export {name} before running, "
                "or set ansible_password",
            )
        return Secret(value)

    @property
    def password(self) -> Secret | None:
        return self.resolve_password()

    def validate(self, passed: set[Any] | None = None) -> None:
        """At load: check the typed vars now, so a bad value fails the load with its file:line --
        unless one of them is templated or encrypted: that host is checked at use (check()).

        ``passed``: signatures of var combinations already found good in this load. The outcome of
        check() depends only on the values (no template is involved here), and the values that
        differ from host to host are nearly always plain texts (addresses, users) and port numbers,
        which are checked right here; so for 100,000 hosts check() runs once per distinct rest."""
        raw = self.raw_vars
        present = CHECKED_KEYS.intersection(raw)
        signature: list[tuple[str, type, Any]] = []
        for key in present:
            value = raw[key]
            if isinstance(value, VaultValue) or needs_templating(value):
                return
            kind = type(value)
            if key in _TEXT_KEYS and (kind is int or kind is float or (kind is str and "{" not in value)):
                continue  # what _text() accepts
            if key in _PORT_KEYS and kind is int and 1 <= value <= 65535:
                continue  # what _explicit_port() accepts; the port's effect on the scheme is not a check
            signature.append((key, kind, value))
        try:
            ident = frozenset(signature)
        except TypeError:  # an unhashable value (a list): no shortcut
            ident = None
        if passed is not None and ident is not None and ident in passed:
            return
        self.check()
        if passed is not None and ident is not None:
            passed.add(ident)

    def check(self) -> None:
        """Resolve and check every typed var (templates evaluated): InventoryError with file:line.
        Call it before contacting a host, so a bad template or vault value stops the run first."""
        self.connection
        self.address
        self.user
        self.port
        self.scheme
        self.cert_validation
        self.ca_trust_path
        self.private_key_file
        self.platform
        if self.is_winrm:
            self.winrm_transport
            for accessor in ("kinit_mode", "kinit_cmd", "kinit_args", "kerberos_delegation",
                             "kerberos_hostname_override", "cert_pem", "cert_key_pem"):
                getattr(self, accessor)
        env = self.vars.get(PASSWORD_ENV_VAR)
        if env is not None and (not isinstance(env, str) or not _ENV_NAME.match(env)):
            raise self._error(PASSWORD_ENV_VAR, "must be the name of an environment variable, e.g. PORTFLEET_PASSWORD")


@dataclass(frozen=True, eq=False)
class Group:
    """An inventory group: its direct hosts and children, its own vars (inventory + group_vars)."""

    name: str
    hosts: tuple[str, ...]
    children: tuple[str, ...]
    parents: tuple[str, ...]
    vars: dict[str, Any]
    depth: int
    priority: int = 1
    origin: Origin | None = None


@dataclass(eq=False)
class Inventory:
    source: Path
    hosts: list[Host]
    groups: dict[str, Group]
    warnings: list[str] = field(default_factory=list)
    _by_name: dict[str, Host] = field(default_factory=dict, repr=False)
    _members: dict[str, list[Host]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {h.name: h for h in self.hosts}

    def host(self, name: str) -> Host:
        try:
            return self._by_name[name]
        except KeyError:
            raise InventoryError(f"no host named {name!r} in the inventory", self.source) from None

    def has_host(self, name: str) -> bool:
        return name in self._by_name

    def group_hosts(self, name: str) -> list[Host]:
        """Hosts of a group and of all its descendants, in inventory order."""
        if self._members is None:  # one pass over every membership, on first use
            members: dict[str, list[Host]] = {}
            for h in self.hosts:
                for g in h.groups:
                    members.setdefault(g, []).append(h)
            self._members = members
        return list(self._members.get(name, ()))

    def select(self, pattern: str | None = None, *, limit: str | None = None) -> list[Host]:
        """Hosts matching an Ansible host pattern (None: all), then narrowed by ``limit``
        (Ansible's --limit). Raises PatternError when a part matches nothing or nothing is left."""
        return patterns.select(self, pattern, limit=limit)
