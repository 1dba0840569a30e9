"""YAML loading that keeps line numbers, refuses duplicate keys and refuses alias bombs.

PyYAML's node graph carries a start mark per key and value; we walk it ourselves so every
error can say ``file:line``. Ansible's loader only warns on a duplicate key and keeps the last
value; a duplicate in an inventory is almost always a paste error, so here it is refused.

libyaml's parser and composer (yaml.CSafeLoader) where PyYAML was built with it -- as Ansible's own
loader -- else PyYAML's pure-Python one. Aliases: composing shares one node per anchor, and only
building values from the nodes copies it per alias, so a few hundred bytes of nested aliases
("billion laughs") stand for gigabytes. Before any value is built, the node graph's size with every
alias expanded is counted (memoised per node: linear in the graph, whatever it expands to), and a
document that expands past MAX_EXPANDED_NODES + EXPANSION_FACTOR x its own size is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from portfleet.inventory import vault
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.markers import UnsafeText, mark_unsafe
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.vaulted import VaultValue

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LIBYAML = _BaseLoader is not yaml.SafeLoader
# Expanded nodes allowed: a fixed allowance (anchors shared by a few thousand hosts) plus a multiple
# of what is written (100,000 hosts each merging a 10-var anchor: x4). Past it: an alias bomb.
MAX_EXPANDED_NODES = 200_000
EXPANSION_FACTOR = 10
STR_TAG = "tag:yaml.org,2002:str"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"
NULL_TAG = "tag:yaml.org,2002:null"


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader plus Ansible's two inventory tags; knows its file and the run's vault keyring."""

    path: Path = Path("<yaml>")
    keyring: VaultKeyring | None = None


def _unsafe(loader: _Loader, node: Node) -> Any:
    # !unsafe: Ansible never templates the text (every string inside, for a list or mapping).
    if isinstance(node, ScalarNode):
        return UnsafeText(loader.construct_scalar(node))
    data = loader.construct_sequence(node, deep=True) if isinstance(node, SequenceNode) else loader.construct_mapping(node, deep=True)
    return mark_unsafe(data)


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
    """The document's root node (None for an empty file); InventoryError (file:line) for bad YAML
    or a document whose aliases expand past the bound."""
    try:
        loader = _Loader(text)  # the pure-Python reader checks the characters here
        loader.path, loader.keyring = path, keyring
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise yaml_error(exc, path) from None
    except yaml.reader.ReaderError as exc:
        raise reader_error(exc, text, path) from None
    except yaml.YAMLError as exc:  # pragma: no cover - other unmarked errors
        raise InventoryError(f"invalid YAML: {type(exc).__name__}", path) from None
    except RecursionError:
        raise InventoryError("invalid YAML: the document nests lists/mappings too deeply", path) from None
    if root is not None and "*" in text:  # no '*', no alias: nothing expands
        check_expansion(root, path)
    return root, loader


def reader_error(exc: yaml.reader.ReaderError, text: str, path: Path) -> InventoryError:
    # Not str(exc): that quotes the stream name and character; the line is what helps.
    position = exc.position if isinstance(exc.position, int) and 0 <= exc.position <= len(text) else None
    line = text.count("\n", 0, position) + 1 if position is not None else None
    code = exc.character if isinstance(exc.character, int) else None
    what = f" (character U+{code:04X})" if code is not None else ""
    return InventoryError(f"invalid YAML: a control or non-printable character{what}: YAML allows only printable text, tabs and newlines", path, line)


def _children(node: Node) -> list[Node]:
    if type(node) is MappingNode:
        return [part for pair in node.value for part in pair]
    return node.value  # a SequenceNode


def expanded_size(root: Node, path: Path) -> tuple[int, int]:
    """(nodes written, nodes once every alias is expanded); a recursive alias is an InventoryError.
    Scalars are leaves, counted where they are referred to; only collections are memoised."""
    if type(root) is ScalarNode:
        return 1, 1
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    written = 0
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        ident = id(node)
        if finished:
            on_path.discard(ident)
            total = 1
            for child in _children(node):
                total += 1 if type(child) is ScalarNode else sizes[id(child)]
            sizes[ident] = total
            continue
        if ident in sizes:
            continue
        on_path.add(ident)
        stack.append((node, True))
        children = _children(node)
        written += 1 + len(children)
        for child in children:
            if type(child) is ScalarNode:
                continue
            if id(child) in on_path:
                raise InventoryError("a YAML alias refers to a structure that contains it (recursive anchor)", path, line_of(child))
            if id(child) not in sizes:
                stack.append((child, False))
    return written, sizes[id(root)]


def check_expansion(root: Node, path: Path) -> None:
    written, expanded = expanded_size(root, path)
    bound = MAX_EXPANDED_NODES + EXPANSION_FACTOR * written
    if expanded > bound:
        raise InventoryError(
            f"YAML aliases expand this document from {written:,} values to {expanded:,}, more than "
            f"portfleet's bound ({bound:,}): an alias bomb, or aliases nested far deeper than an inventory needs",
            path,
        )


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
    merges = False
    keys: list[Any] = []
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            merges = True
            continue
        key = scalar_key(key_node, loader, path)
        if key in seen:
            raise InventoryError(
                f"duplicate key {_short(key)} (first defined on line {seen[key]}); keep one of them",
                path,
                line_of(key_node),
            )
        seen[key] = line_of(key_node)
        keys.append(key)
    if not merges:
        for key, (key_node, value_node) in zip(keys, node.value):
            yield key, key_node, value_node
        return
    try:
        loader.flatten_mapping(node)  # applies '<<: *anchor' merge keys in place, explicit keys win
    except yaml.MarkedYAMLError as exc:
        raise yaml_error(exc, path) from None
    result: dict[Any, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        result[scalar_key(key_node, loader, path)] = (key_node, value_node)
    for key, (key_node, value_node) in result.items():
        yield key, key_node, value_node


def _short(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def scalar_key(node: Node, loader: _Loader, path: Path) -> Any:
    if not isinstance(node, ScalarNode):
        raise InventoryError("a mapping key must be a plain value, not a list or mapping", path, line_of(node))
    return to_python(node, loader, path)


def to_python(node: Node, loader: _Loader, path: Path) -> Any:
    """Plain Python data from a node, with file:line errors and duplicate keys refused. (Recursive
    aliases and alias bombs were refused when the document was composed.)"""
    kind = type(node)
    if kind is ScalarNode and node.tag == STR_TAG:
        return node.value  # the common case, without the constructor's bookkeeping
    try:
        if kind is ScalarNode:
            constructor = loader.yaml_constructors.get(node.tag)
            return constructor(loader, node) if constructor is not None else loader.construct_object(node, deep=True)
        if kind is SequenceNode and node.tag == SEQ_TAG:
            return [to_python(item, loader, path) for item in node.value]
        if kind is MappingNode and node.tag == MAP_TAG:
            return {k: to_python(v, loader, path) for k, _, v in mapping_items(node, loader, path)}
        return loader.construct_object(node, deep=True)  # !!set, !!omap, !unsafe, !vault ...
    except yaml.MarkedYAMLError as exc:
        raise yaml_error(exc, path) from None
    except (ValueError, OverflowError, TypeError) as exc:
        # int() of more than 4,300 digits, a timestamp such as 2024-13-45, an unhashable key ...
        raise InventoryError(f"invalid YAML value: {_value_problem(exc)}", path, line_of(node)) from None
    except RecursionError:
        raise InventoryError("invalid YAML: the value nests too deeply", path, line_of(node)) from None


def _value_problem(exc: Exception) -> str:
    text = str(exc)
    if "digits" in text and "limit" in text:
        return "a number of more than 4,300 digits"
    if "invalid literal" in text or "could not convert" in text:
        return "not a valid number"  # Python's message would quote the text
    # Python's own messages here name the problem, not the text ("month must be in 1..12").
    return text.split(";")[0][:120] if text else type(exc).__name__


def load_mapping(path: Path, what: str, keyring: VaultKeyring | None = None, text: str | None = None) -> tuple[MappingNode | None, _Loader]:
    """A YAML file (or its already read ``text``) whose top level must be a mapping (None if empty)."""
    node, loader = compose(read_text(path) if text is None else text, path, keyring)
    if node is None or (isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
        return None, loader
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else "a single value"
        raise InventoryError(f"{what} must be a YAML mapping (key: value lines), found {kind}", path, line_of(node))
    return node, loader
