"""The vault settings of Ansible's configuration file (ansible.cfg), found and read as Ansible does.

A team's repository usually says where its vault password is in ansible.cfg, not on every command line:

    [defaults]
    vault_password_file = .vault_pass
    vault_identity_list = prod@~/.vault-prod, dev@prompt

portfleet reads the four vault settings from it (ansible-core's DEFAULT_VAULT_PASSWORD_FILE,
DEFAULT_VAULT_IDENTITY_LIST, DEFAULT_VAULT_IDENTITY, DEFAULT_VAULT_ID_MATCH). Its other settings
are Ansible's business: an inventory plugin run through ansible-inventory reads the file itself.

Which file (ansible-core lib/ansible/config/manager.py, find_ini_config_file): the first that exists
and can be read of $ANSIBLE_CONFIG (a file, or a directory holding ansible.cfg), ./ansible.cfg (not
when the working directory is world-writable: anyone could plant one there; Ansible warns and skips
it, so does portfleet), ~/.ansible.cfg, /etc/ansible/ansible.cfg. Only one file is read; nothing merges.

A variable beats the file (ANSIBLE_VAULT_PASSWORD_FILE over vault_password_file, and so on). The
file is parsed as Ansible parses it: configparser with `;` inline comments and %-interpolation,
duplicate sections or keys refused. A relative vault_password_file is relative to the file's own
directory (Ansible resolves settings of type "path" against their origin); the sources of
vault_identity_list stay relative to the working directory, as Ansible reads them.
"""

from __future__ import annotations

import configparser
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from portfleet.inventory.errors import InventoryError

MAX_CONFIG_BYTES = 1 << 20  # an ansible.cfg is a few KB; a bigger file is not one
# ini key in [defaults] -> the variable that overrides it (ansible-core's config/base.yml).
VAULT_SETTINGS: dict[str, str] = {
    "vault_identity_list": "ANSIBLE_VAULT_IDENTITY_LIST",
    "vault_password_file": "ANSIBLE_VAULT_PASSWORD_FILE",
    "vault_identity": "ANSIBLE_VAULT_IDENTITY",
    "vault_id_match": "ANSIBLE_VAULT_ID_MATCH",
}
PATH_SETTINGS = frozenset({"vault_password_file"})


@dataclass(frozen=True)
class AnsibleConfig:
    """The vault settings of one ansible.cfg (none: no file was found)."""

    path: Path | None = None
    values: dict[str, str] = field(default_factory=dict)  # ini key -> value (paths resolved)
    notes: tuple[str, ...] = ()  # what a user should know (a skipped world-writable ./ansible.cfg)

    def origin(self, key: str) -> str:
        return f"{key} in {self.path}"


def find_config(environ: Mapping[str, str], cwd: Path) -> tuple[Path | None, list[str]]:
    """The file Ansible would read (see the module doc), and notes."""
    notes: list[str] = []
    candidates: list[Path] = []
    from_env = environ.get("ANSIBLE_CONFIG")
    if from_env is not None:
        path = Path(os.path.expanduser(from_env))
        candidates.append(path / "ansible.cfg" if path.is_dir() else path)
    here = cwd / "ansible.cfg"
    try:
        world_writable = bool(cwd.stat().st_mode & stat.S_IWOTH)
    except OSError:
        world_writable = False
    if world_writable:
        if here.exists():
            notes.append(f"{here} is ignored, as Ansible ignores it: the directory {cwd} is world-writable")
    else:
        candidates.append(here)
    home = environ.get("HOME")
    if home:
        candidates.append(Path(home) / ".ansible.cfg")
    candidates.append(Path("/etc/ansible/ansible.cfg"))
    for path in candidates:
        if path.is_file() and os.access(path, os.R_OK):
            return path, notes
    return None, notes


def read_config(path: Path) -> dict[str, str]:
    """[defaults]' vault settings of `path`; InventoryError saying what is wrong where."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise InventoryError(f"can't read the Ansible configuration: {exc.strerror or exc}", str(path)) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise InventoryError(f"the Ansible configuration is larger than {MAX_CONFIG_BYTES} bytes; "
                             "an ansible.cfg is an INI file of settings", str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InventoryError("the Ansible configuration is not UTF-8 text", str(path), line) from None
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",))
    try:
        parser.read_string(text, source=str(path))
        found = {key: parser.get("defaults", key) for key in VAULT_SETTINGS
                 if parser.has_option("defaults", key)}
    except configparser.Error as exc:
        raise InventoryError(_config_problem(exc), str(path), _config_line(exc)) from None
    out: dict[str, str] = {}
    for key, value in found.items():
        value = value.strip()
        if key in PATH_SETTINGS and value:
            value = _resolve_path(value, path.parent)
        out[key] = value
    return out


def _config_line(exc: configparser.Error) -> int | None:
    line = getattr(exc, "lineno", None)  # MissingSectionHeaderError, DuplicateOptionError, ...
    if isinstance(line, int):
        return line
    errors = getattr(exc, "errors", None)  # ParsingError: [(line, text), ...]
    if errors and isinstance(errors[0][0], int):
        return errors[0][0]
    return None


def _config_problem(exc: configparser.Error) -> str:
    """What is wrong, never quoting the file's text (a line of it may hold a password)."""
    head = "the Ansible configuration can't be read as Ansible reads it: "
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return head + "a setting comes before any [section] header (write [defaults] above it)"
    if isinstance(exc, configparser.ParsingError):
        return head + "this line is neither a [section], a key = value setting nor a comment"
    if isinstance(exc, configparser.DuplicateSectionError):
        return head + f"the section [{exc.section}] is there twice (Ansible refuses that too)"
    if isinstance(exc, configparser.DuplicateOptionError):
        return head + f"{exc.option} is set twice in [{exc.section}] (Ansible refuses that too)"
    if isinstance(exc, configparser.InterpolationError):
        return head + (f"the value of {exc.option} in [{exc.section}] has a % that is not %% or %(name)s "
                       "(configparser interpolation, as in Ansible: write %% for a percent sign)")
    return head + type(exc).__name__


def _resolve_path(value: str, base: Path) -> str:
    """Ansible's resolve_path for a setting from a file: ~ and $VARS expanded, relative to the file's directory."""
    expanded = os.path.expandvars(os.path.expanduser(value))
    return expanded if os.path.isabs(expanded) else str(base / expanded)


def load_config(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> AnsibleConfig:
    """The vault settings of the ansible.cfg Ansible would read now (an empty one when there is none)."""
    env = os.environ if environ is None else environ
    path, notes = find_config(env, cwd or Path.cwd())
    if path is None:
        return AnsibleConfig(notes=tuple(notes))
    return AnsibleConfig(path, read_config(path), tuple(notes))


def vault_settings(config: AnsibleConfig, environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The vault variables in force: each ANSIBLE_VAULT_* variable, else its ansible.cfg setting under
    the variable's name; and where each value came from (the variable's name, or "key in FILE")."""
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for key, variable in VAULT_SETTINGS.items():
        if variable in environ:
            values[variable], origins[variable] = environ[variable], variable
        elif key in config.values:
            values[variable], origins[variable] = config.values[key], config.origin(key)
    return values, origins
