"""Host variables as Ansible evaluates them: templated lazily, at use, per host.

``host.vars[key]`` templates the value of ``key`` (and, through it, every variable it reads) in the
host's own context: its other vars plus Ansible's magic variables inventory_hostname,
inventory_hostname_short, group_names, groups, hostvars, inventory_file and inventory_dir. Results
are cached per host. A loop (a -> b -> a, across hosts through hostvars too) is reported, as Ansible
reports "recursive loop detected in template".

Secrets: a template that reads a secret (a vault value, a sensitive var such as vault_winrm_password,
a value of an encrypted vars file, an encrypted file through lookup('file')) gives a Secret, and so
does a template whose own text is secret. Jinja sees plaintext only inside one evaluation, and an
error message that would show a secret's text is replaced by one that does not. Inline vault values
stay encrypted until revealed and are never templated (Ansible 2.19 treats decrypted vault text as
a literal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from portfleet.inventory import templating
from portfleet.inventory.builder import Origin
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.jinja_filters import run_lookup
from portfleet.inventory.markers import is_template
from portfleet.inventory.secret import Secret, protect
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.vaulted import read_text_source

MAX_DEPTH = 64  # variables templated inside one another; deeper is a runaway chain, not an inventory
MAGIC = ("inventory_hostname", "inventory_hostname_short", "group_names", "groups", "hostvars",
         "inventory_file", "inventory_dir")
LOOKUP_NAMES = ("lookup", "query", "q")


class HostLike(Protocol):
    name: str
    raw_vars: Mapping[str, Any]
    origins: Mapping[str, Origin]
    source: Path | None
    resolved: dict[str, Any]

    @property
    def group_names(self) -> list[str]: ...


class InventoryScope:
    """What a template sees beyond its host: the other hosts (hostvars), ``groups``, the keyring."""

    def __init__(self, keyring: VaultKeyring | None = None) -> None:
        self.keyring = keyring
        self.hosts: Mapping[str, HostLike] = {}
        self._groups: dict[str, list[str]] | None = None
        self._groups_of: Callable[[], dict[str, list[str]]] = dict

    def bind(self, hosts: Mapping[str, HostLike], groups: Callable[[], dict[str, list[str]]]) -> None:
        """``groups`` computes Ansible's ``groups`` var; it runs once, when a template first reads it."""
        self.hosts, self._groups_of, self._groups = hosts, groups, None

    @property
    def groups(self) -> dict[str, list[str]]:
        if self._groups is None:
            self._groups = self._groups_of()
        return self._groups


class _Frame:
    """One template evaluation: did it read a secret, and which secret texts did Jinja see."""

    __slots__ = ("tainted", "revealed")

    def __init__(self) -> None:
        self.tainted = False
        self.revealed: list[str] = []


def needs_templating(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return "{" in value and is_template(value)
    if kind is int or kind is bool or value is None:
        return False
    if is_template(value):
        return True
    if kind is Secret:  # a plain Secret may hold a template; a VaultValue never is one
        return needs_templating(value.reveal())
    if isinstance(value, dict):
        return any(needs_templating(v) for v in value.values())
    if isinstance(value, list):
        return any(needs_templating(v) for v in value)
    return False


def resolve_var(host: HostLike, key: str, scope: InventoryScope, chain: list[tuple[str, str]] | None = None) -> Any:
    """The value of ``key`` for ``host`` as used: templated, secrets still wrapped. KeyError if unset."""
    if key in host.resolved:
        return host.resolved[key]
    raw = host.raw_vars[key]
    if not needs_templating(raw):
        return raw
    chain = [] if chain is None else chain
    ident = (host.name, key)
    if ident in chain:
        start = chain.index(ident)
        loop = " -> ".join(_label(h, k, host.name) for h, k in chain[start:] + [ident])
        raise _error(host, key, f"its template refers back to itself, a loop: {loop}", chain[:start])
    if len(chain) >= MAX_DEPTH:
        raise _error(host, key, f"templates nest more than {MAX_DEPTH} variables deep", chain)
    chain.append(ident)
    try:
        value = _render_value(raw, host, key, scope, chain, secret_source=False)
    finally:
        chain.pop()
    host.resolved[key] = value
    return value


def _label(host_name: str, key: str, home: str) -> str:
    return key if host_name == home else f"hostvars[{host_name!r}].{key}"


def _render_value(value: Any, host: HostLike, key: str, scope: InventoryScope, chain: list[tuple[str, str]],
                  secret_source: bool) -> Any:
    if is_template(value):
        return _render_text(value, host, key, scope, chain, secret_source)
    if type(value) is Secret and needs_templating(value.reveal()):
        result = _render_value(value.reveal(), host, key, scope, chain, secret_source=True)
        return result if isinstance(result, Secret) else Secret(result)
    if isinstance(value, dict):
        return {k: _render_value(v, host, key, scope, chain, secret_source) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, host, key, scope, chain, secret_source) for v in value]
    return value


def _render_text(source: str, host: HostLike, key: str, scope: InventoryScope, chain: list[tuple[str, str]],
                 secret_source: bool) -> Any:
    frame = _Frame()
    variables = TemplateVars(host, scope, chain, frame)
    try:
        result = templating.render(source, variables, cache=not secret_source)
    except templating.TemplateProblem as problem:
        raise _template_error(host, key, problem, frame, source if secret_source else None, chain) from None
    if frame.tainted or secret_source:
        return result if isinstance(result, Secret) else Secret(result)
    return protect(result, key)


def _template_error(host: HostLike, key: str, problem: templating.TemplateProblem, frame: _Frame,
                    secret_text: str | None, chain: list[tuple[str, str]]) -> InventoryError:
    message = problem.message
    if secret_text is not None and problem.kind == "syntax":
        message = "template syntax error (the text is not shown: the value is a secret)"
    hidden = [s for s in frame.revealed if s] + ([secret_text] if secret_text else [])
    if any(s in message for s in hidden):
        message = f"the template can't be evaluated ({problem.kind} error; not shown because it would show a secret)"
    if problem.line and problem.line > 1:
        message += f" (line {problem.line} of the template)"
    return _error(host, key, message, chain[:-1])


def _error(host: HostLike, key: str, message: str, outer: list[tuple[str, str]]) -> InventoryError:
    origin = host.origins.get(key)
    via = ""
    if outer:
        needer_host, needer_key = outer[-1]
        via = f" (needed by {needer_key}" + (f" of host {needer_host!r})" if needer_host != host.name else ")")
    return InventoryError(
        f"{key} for host {host.name!r}: {message}{via}",
        origin.path if origin else host.source,
        origin.line if origin else None,
    )


def _reveal(value: Any, frame: _Frame) -> Any:
    """Plain data for Jinja: Secrets opened (the frame remembers it read one), containers copied."""
    if isinstance(value, Secret):
        frame.tainted = True
        inner = value.reveal()  # a VaultValue decrypts here: InventoryError (file:line, vault id) if it can't
        if isinstance(inner, (str, bytes)):
            frame.revealed.append(inner if isinstance(inner, str) else inner.decode("utf-8", "replace"))
        return _reveal(inner, frame)
    if isinstance(value, dict):
        return {k: _reveal(v, frame) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_reveal(v, frame) for v in value]
    return value


class TemplateVars(Mapping[str, Any]):
    """The names a template of one host can read (the parent of Jinja's context): looked up,
    templated and revealed one at a time, only when the template reads them."""

    __slots__ = ("_host", "_scope", "_chain", "_frame")

    def __init__(self, host: HostLike, scope: InventoryScope, chain: list[tuple[str, str]], frame: _Frame) -> None:
        self._host, self._scope, self._chain, self._frame = host, scope, chain, frame

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            name in MAGIC or name in LOOKUP_NAMES or name in self._host.raw_vars or name in templating.GLOBALS
        )

    def __getitem__(self, name: str) -> Any:
        if name in MAGIC:
            return self._magic(name)
        if name in LOOKUP_NAMES:
            return self._lookup if name == "lookup" else self._query
        if name in self._host.raw_vars:
            return _reveal(resolve_var(self._host, name, self._scope, self._chain), self._frame)
        if name in templating.GLOBALS:
            return templating.GLOBALS[name]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._host.raw_vars)

    def __len__(self) -> int:
        return len(self._host.raw_vars)

    def _magic(self, name: str) -> Any:
        host = self._host
        if name == "inventory_hostname":
            return host.name
        if name == "inventory_hostname_short":
            return host.name.split(".", 1)[0]
        if name == "group_names":
            return host.group_names
        if name == "groups":
            return self._scope.groups
        if name == "hostvars":
            return HostvarsView(self._scope, self._chain, self._frame)
        if name == "inventory_file":
            return str(host.source) if host.source else None
        return str(host.source.parent) if host.source else None  # inventory_dir

    def _decrypt_file(self, data: bytes, path: Path) -> tuple[str, bool]:
        text, label = read_text_source(path, data, self._scope.keyring)
        return text, label is not None

    def _run(self, name: Any, terms: tuple[Any, ...], options: dict[str, Any]) -> list[Any]:
        values, secret = run_lookup(name, terms, options, decrypt_file=self._decrypt_file)
        if secret:
            self._frame.tainted = True
            self._frame.revealed.extend(v for v in values if isinstance(v, str))
        return values

    def _lookup(self, name: Any, *terms: Any, **options: Any) -> Any:
        # Ansible's lookup(): one value as is, several joined with ','; wantlist=True gives the list.
        wantlist = bool(options.pop("wantlist", False))
        values = self._run(name, terms, options)
        if wantlist:
            return values
        return values[0] if len(values) == 1 else ",".join(str(v) for v in values)

    def _query(self, name: Any, *terms: Any, **options: Any) -> list[Any]:
        options.pop("wantlist", None)
        return self._run(name, terms, options)


class HostvarsView(Mapping[str, Any]):
    """Ansible's ``hostvars``: every host's variables, each templated in that host's context."""

    __slots__ = ("_scope", "_chain", "_frame")

    def __init__(self, scope: InventoryScope, chain: list[tuple[str, str]], frame: _Frame) -> None:
        self._scope, self._chain, self._frame = scope, chain, frame

    def __getitem__(self, name: str) -> TemplateVars:
        return TemplateVars(self._scope.hosts[name], self._scope, self._chain, self._frame)

    def __contains__(self, name: object) -> bool:
        return name in self._scope.hosts

    def __iter__(self) -> Iterator[str]:
        return iter(self._scope.hosts)

    def __len__(self) -> int:
        return len(self._scope.hosts)


class HostVars(Mapping[str, Any]):
    """``host.vars``: each value as used (templated on access, cached); secrets stay Secret."""

    __slots__ = ("_host", "_scope")

    def __init__(self, host: HostLike, scope: InventoryScope) -> None:
        self._host, self._scope = host, scope

    def __getitem__(self, key: str) -> Any:
        return resolve_var(self._host, key, self._scope)

    def __contains__(self, key: object) -> bool:
        return key in self._host.raw_vars

    def __iter__(self) -> Iterator[str]:
        return iter(self._host.raw_vars)

    def __len__(self) -> int:
        return len(self._host.raw_vars)

    def __repr__(self) -> str:
        return f"HostVars({self._host.name!r}, {len(self)} vars)"


# Jinja names an object's type in its messages ("'x object' has no attribute 'y'"): read as Ansible's.
for _view, _name in ((TemplateVars, "hostvars[host]"), (HostvarsView, "hostvars")):
    _view.__module__, _view.__name__ = "builtins", _name
