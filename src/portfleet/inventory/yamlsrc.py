"""YAML loading that keeps line numbers and refuses duplicate keys.

PyYAML's node graph carries a start mark per key and value; we walk it ourselves so every
error can say ``file:line``. Ansible's loader only warns on a duplicate key and keeps the last
value; a duplicate in an inventory is almost always a paste error, so here it is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from portfleet.inventory import vault
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.markers import UnsafeText
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.vaulted import VaultValue


class _Loader(yaml.SafeLoader):
    """SafeLoader plus Ansible's two inventory tags; knows its file and the run's vault keyring."""

    path: Path = Path("<yaml>")
    keyring: VaultKeyring | None = None


def _mark_unsafe(value: Any) -> Any:
    if isinstance(value, str):
        return UnsafeText(value)
    if isinstance(value, list):
        return [_mark_unsafe(v) for v in value]
    if isinstance(value, dict):
        return {k: _mark_unsafe(v) for k, v in value.items()}
    return value


def _unsafe(loader: _Loader, node: Node) -> Any:
    # !unsafe: Ansible never templates the text (every string inside, for a list or mapping).
    if isinstance(node, ScalarNode):
        return UnsafeText(loader.construct_scalar(node))
    data = loader.construct_sequence(node, deep=True) if isinstance(node, SequenceNode) else loader.construct_mapping(node, deep=True)
    return _mark_unsafe(data)


def _vault(loader: _Loader, node: Node) -> Any:
    if not isinstance(node, ScalarNode):
        raise InventoryError(
            "a !vault value must be the encrypted text that `ansible-vault encrypt_string` prints, not a list or mapping",
            loader.path, line_of(node),
        )
    try:
        return VaultValue(str(node.value), loader.path, line_of(node), loader.keyring)
    except vault.VaultFormatError as exc:
        raise InventoryError(f"the !vault value is not Ansible Vault text: {exc}", loader.path, line_of(node)) from None


_Loader.add_constructor("!unsafe", _unsafe)
_Loader.add_constructor("!vault", _vault)


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InventoryError(f"can't read the file: {exc.strerror or exc}", path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InventoryError("the file is not UTF-8 text (save it as UTF-8)", path, line) from None


def compose(text: str, path: Path, keyring: VaultKeyring | None = None) -> tuple[Node | None, _Loader]:
    """The document's root node (None for an empty file)."""
    loader = _Loader(text)
    loader.path, loader.keyring = path, keyring
    try:
        return loader.get_single_node(), loader
    except yaml.MarkedYAMLError as exc:
        raise yaml_error(exc, path) from None
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare (e.g. reader errors)
        raise InventoryError(f"invalid YAML: {exc}", path) from None


def yaml_error(exc: yaml.MarkedYAMLError, path: Path) -> InventoryError:
    # Built from problem/context only: str(exc) would quote the offending source line,
    # which may hold a password.
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or "invalid YAML"
    if exc.context:
        started = exc.context_mark
        since = f" (started on line {started.line + 1})" if started and mark and started.line != mark.line else ""
        what = f"{exc.context}{since}: {what}"
    return InventoryError(f"invalid YAML: {what}", path, mark.line + 1 if mark else None)


def mapping_items(node: MappingNode, loader: _Loader, path: Path) -> Iterator[tuple[Any, Node, Node]]:
    """(key, key_node, value_node) for a mapping node: merge keys applied, duplicates refused."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = scalar_key(key_node, loader, path)
        if key in seen:
            raise InventoryError(
                f"duplicate key {key!r} (first defined on line {seen[key]}); keep one of them",
                path,
                line_of(key_node),
            )
        seen[key] = line_of(key_node)
    try:
        loader.flatten_mapping(node)  # applies '<<: *anchor' merge keys in place, explicit keys win
    except yaml.MarkedYAMLError as exc:
        raise yaml_error(exc, path) from None
    result: dict[Any, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        result[scalar_key(key_node, loader, path)] = (key_node, value_node)
    for key, (key_node, value_node) in result.items():
        yield key, key_node, value_node


def scalar_key(node: Node, loader: _Loader, path: Path) -> Any:
    if not isinstance(node, ScalarNode):
        raise InventoryError("a mapping key must be a plain value, not a list or mapping", path, line_of(node))
    return to_python(node, loader, path)


def to_python(node: Node, loader: _Loader, path: Path, _active: frozenset[int] = frozenset()) -> Any:
    """Plain Python data from a node, with file:line errors and duplicate keys refused."""
    if id(node) in _active:
        raise InventoryError("a YAML alias refers to a structure that contains it (recursive anchor)", path, line_of(node))
    try:
        if isinstance(node, ScalarNode):
            return loader.construct_object(node, deep=True)
        active = _active | {id(node)}
        if isinstance(node, SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                return loader.construct_object(node, deep=True)
            return [to_python(item, loader, path, active) for item in node.value]
        if isinstance(node, MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                return loader.construct_object(node, deep=True)  # !!set, !!omap, !unsafe ...
            return {k: to_python(v, loader, path, active) for k, _, v in mapping_items(node, loader, path)}
    except yaml.MarkedYAMLError as exc:
        raise yaml_error(exc, path) from None
    raise InventoryError(f"unexpected YAML node {type(node).__name__}", path, line_of(node))  # pragma: no cover


def load_mapping(path: Path, what: str, keyring: VaultKeyring | None = None, text: str | None = None) -> tuple[MappingNode | None, _Loader]:
    """A YAML file (or its already read ``text``) whose top level must be a mapping (None if empty)."""
    node, loader = compose(read_text(path) if text is None else text, path, keyring)
    if node is None or (isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
        return None, loader
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else "a single value"
        raise InventoryError(f"{what} must be a YAML mapping (key: value lines), found {kind}", path, line_of(node))
    return node, loader
