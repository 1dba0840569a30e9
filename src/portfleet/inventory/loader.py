"""load_inventory: an inventory source -- a file, a directory, or a comma-separated host list -- read
as Ansible reads it (ansible-core's InventoryManager and its default plugins, in their order):

  host list    ``-i web01,web02,`` (not a path, holds a comma): host_list.py
  script       an executable file that can be run: script_inventory.py (Ansible's script protocol)
  plugin       a .yml/.yaml file with ``plugin:``: evaluated by ansible-inventory (plugin_inventory.py)
  YAML, INI    yaml_format.py, ini_format.py (an encrypted file is decrypted first)
  directory    each file in name order (subdirectories too; Ansible's ignored names and extensions
               skipped), later files adding to and overriding earlier ones as Ansible's sources do;
               then group_vars/ and host_vars/ beside the file, or in the directory (vars_files.py).

Precedence of vars is Ansible's (assemble.py). An inventory holding a plugin file -- aws_ec2.yml, or a
``constructed`` file, which Ansible evaluates against the hosts the files named before it have made --
is evaluated as a whole by ``ansible-inventory -i SOURCE --list``: that is the only way to get
Ansible's exact result, since a plugin reads and changes the inventory it is part of. Its answer
decides hosts, groups and vars; portfleet's own reading of the other files adds file:line origins and
which values are secrets (ansible_result.py). Scripts in such an inventory run twice: once in
portfleet's reading, once in Ansible's.

Vault: an encrypted inventory file or vars file is decrypted as it is read (``keyring`` holds the
run's vault passwords); inline !vault values only when used. Templates in values are evaluated at
use, per host (resolve.py): loading evaluates none, and checks at once only the hosts whose
connection vars hold no template or vault value.

Size: the garbage collector is paused while loading. An inventory is millions of small containers,
none of them garbage; CPython's collector would walk them all again and again as they are made
(composing a 100,000-host YAML file: 2.5 s with the collector, 0.6 s without).
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator
from pathlib import Path

from portfleet.inventory import vars_files
from portfleet.inventory.ansible_result import from_ansible
from portfleet.inventory.assemble import build_inventory
from portfleet.inventory.builder import InventoryBuilder
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.host_list import is_host_list, parse_host_list
from portfleet.inventory.ini_format import parse_ini
from portfleet.inventory.model import Inventory
from portfleet.inventory.plugin_inventory import plugin_of, run_ansible_inventory
from portfleet.inventory.resolve import InventoryScope
from portfleet.inventory.script_inventory import is_inventory_script, parse_script, starts_like_a_program
from portfleet.inventory.vault import is_vault_text
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.vaulted import read_text_source
from portfleet.inventory.yaml_format import parse_yaml

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
INI_EXTENSIONS = (".ini",)
# Skipped in an inventory directory: Ansible's INVENTORY_IGNORE_EXTS (REJECT_EXTS + .orig .cfg
# .retry) and its always-ignored names (hidden files, group_vars, host_vars, vars_plugins).
IGNORED_EXTENSIONS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry")
IGNORED_NAMES = ("group_vars", "host_vars", "vars_plugins")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_inventory(path: Path | str, vault: VaultKeyring | None = None) -> Inventory:
    """Read an Ansible inventory source (see the module doc); InventoryError on bad input.
    ``vault``: the vault passwords (vault_secrets.keyring_from_options); none: vault content is refused
    when it is needed, with the file:line and vault id."""
    with gc_paused():
        return _load(str(path), vault)


def _load(text: str, vault: VaultKeyring | None) -> Inventory:
    builder = InventoryBuilder()
    if is_host_list(text):
        parse_host_list(text, builder)
        builder.reconcile()
        return build_inventory(Path(text), builder, {}, {}, InventoryScope(vault))
    source = Path(text)
    if not source.exists():
        raise InventoryError("no such inventory file or directory (a host list needs a comma: -i web01,)", source)
    if source.is_dir():
        files = inventory_files(source)
        if not files:
            raise InventoryError("the inventory directory holds no inventory file (.yml, .yaml, .ini, a script ...)", source)
        base = source
    else:
        files, base = [source], source.parent
    plugins = [(file, found) for file in files if (found := plugin_of(file)) is not None]
    plugin_files = {file for file, _ in plugins}
    for file in files:
        if file not in plugin_files:
            parse_file(file, builder, vault)
    builder.reconcile()
    group_layers = vars_files.load_all(base, "group_vars", list(builder.groups), builder.warnings, vault)
    host_layers = vars_files.load_all(base, "host_vars", list(builder.hosts), builder.warnings, vault)
    static = build_inventory(source, builder, group_layers, host_layers, InventoryScope(vault))
    if not plugins:
        return static
    plugin_file, (plugin, line) = plugins[0]
    document = run_ansible_inventory(source, plugin_file, plugin, line, vault)
    return from_ansible(source, document, static, (group_layers, host_layers), base, vault, plugin_file)


def inventory_files(directory: Path, _seen: set[Path] | None = None) -> list[Path]:
    """The inventory files under ``directory``, in Ansible's order (sorted names, depth first); a
    directory reached twice (a symlink loop) is read once."""
    seen = _seen if _seen is not None else set()
    real = directory.resolve()
    if real in seen:
        return []
    seen.add(real)
    try:
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise InventoryError(f"can't read the directory: {exc.strerror or exc}", directory) from None
    files = []
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name in IGNORED_NAMES or name.endswith(IGNORED_EXTENSIONS):
            continue
        if entry.is_dir():
            files.extend(inventory_files(entry, seen))
        elif entry.is_file():
            files.append(entry)
    return files


def detect_format(path: Path) -> str:
    """'yaml' or 'ini': by extension (.yml/.yaml/.json, .ini), else by content."""
    suffix = path.suffix.lower()
    if suffix in YAML_EXTENSIONS:
        return "yaml"
    if suffix in INI_EXTENSIONS:
        return "ini"
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise InventoryError(f"can't read the file: {exc.strerror or exc}", path) from None
    return sniff(text)


def sniff(text: str) -> str:
    """An INI inventory has a [section] line or host lines; YAML has 'group:' mappings."""
    meaningful = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip()[0] not in "#;"]
    if not meaningful:
        return "ini"
    if any(re.match(r"^\[[^\]]+\]\s*(#.*)?$", ln) for ln in meaningful):
        return "ini"
    if meaningful[0] == "---" or meaningful[0] == "{":
        return "yaml"
    # YAML: the first line is 'name:' (the group) and the next line is indented under it.
    first = meaningful[0]
    if re.match(r"^[^\s:=]+:\s*(#.*)?$", first) or first.startswith(("all:", "{")):
        return "yaml"
    return "ini"


def parse_file(path: Path, builder: InventoryBuilder, vault: VaultKeyring | None = None) -> None:
    if is_inventory_script(path):
        parse_script(path, builder, vault)
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise InventoryError(f"can't read the file: {exc.strerror or exc}", path) from None
    if is_vault_text(head):
        _parse_encrypted(path, builder, vault)
        return
    try:
        _parse_data(path, builder, vault)
    except InventoryError as exc:
        if starts_like_a_program(path):
            raise InventoryError(
                f"{exc.message} (the file starts with '#!': if it is an inventory script, make it executable: "
                f"chmod +x {path})", exc.path, exc.line) from None
        raise


def _parse_data(path: Path, builder: InventoryBuilder, vault: VaultKeyring | None) -> None:
    if detect_format(path) != "yaml":
        parse_ini(path, builder)
        return
    try:
        parse_yaml(path, builder, vault)
    except InventoryError as exc:
        # A .yml name on an INI file: say so rather than leave a puzzling YAML error.
        if exc.path == path and sniff(path.read_text(encoding="utf-8", errors="replace")) == "ini":
            raise InventoryError(
                f"{exc.message} (the file looks like an INI inventory: rename it to .ini)", exc.path, exc.line
            ) from None
        raise


def _parse_encrypted(path: Path, builder: InventoryBuilder, vault: VaultKeyring | None) -> None:
    # A whole encrypted inventory file (ansible-vault encrypt hosts.yml): decrypted now, as Ansible's
    # loader does, then read like the plain file; its lines are the decrypted text's lines.
    text, _ = read_text_source(path, path.read_bytes(), vault)
    suffix = path.suffix.lower()
    kind = "yaml" if suffix in YAML_EXTENSIONS else "ini" if suffix in INI_EXTENSIONS else sniff(text)
    if kind == "yaml":
        parse_yaml(path, builder, vault, text)
    else:
        parse_ini(path, builder, text.splitlines())
