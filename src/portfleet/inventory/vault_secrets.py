"""Vault passwords: where they come from (Ansible's flags and variables) and the keyring that uses them.

Sources, in the order Ansible's CLI.setup_vault_secrets lists them (ansible-core lib/ansible/cli/__init__.py):
  1. ANSIBLE_VAULT_IDENTITY_LIST  comma-separated ``label@source`` entries
  2. --vault-id [label@]source    repeatable; source is a file, an executable, or ``prompt``
  3. --vault-password-file FILE   repeatable; label 'default'
  4. ANSIBLE_VAULT_PASSWORD_FILE  label 'default' (added even when 3. is given, as Ansible does)
  5. --ask-vault-pass             a prompt, label 'default'
(the 'default' label is ANSIBLE_VAULT_IDENTITY when that is set.) Each ANSIBLE_VAULT_* variable that is
not set takes its setting from the ansible.cfg Ansible would read (ansible_config.py), in the same place
of the order, and a message about it names that file. A password file is read whole and
stripped (Ansible: ``f.read().strip()``, then any vault encryption of the file itself removed with the
passwords read so far); an executable file is run and its standard output is the password
(``NAME-client`` scripts get ``--vault-id LABEL``, exit 2 meaning "no such id"). Ansible only warns
about a source that fails when another one works; portfleet refuses: a broken password source in an
automated run is a problem to fix, not to skip past. Passwords are held as Secret and never appear in
a message; a script's own stderr goes to the user's terminal untouched, never into ours.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from portfleet.inventory import vault
from portfleet.inventory.ansible_config import AnsibleConfig, vault_settings
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.secret import Secret

SCRIPT_TIMEOUT = 30.0  # seconds a vault password script may take (Ansible waits forever)
CLIENT_NO_SUCH_ID = 2  # Ansible's ClientScriptVaultSecret.VAULT_ID_UNKNOWN_RC
PROMPT = "prompt"
_ASK = "prompt_ask_vault_pass"  # Ansible's internal name for --ask-vault-pass: the old prompt text
HINT = "give it with --vault-id [LABEL@]FILE|prompt, --vault-password-file FILE, --ask-vault-pass or ANSIBLE_VAULT_PASSWORD_FILE"

Prompt = Callable[[str], str]


@dataclass(frozen=True)
class VaultIdSource:
    """One place a vault password comes from: its label, the file (or 'prompt'), and what named it."""

    label: str
    source: str
    given_by: str  # "--vault-id", "--vault-password-file", "ANSIBLE_VAULT_PASSWORD_FILE" ...

    def describe(self) -> str:
        if self.source in (PROMPT, _ASK):
            return f"{self.label!r} from the prompt ({self.given_by})"
        return f"{self.label!r} from {self.source} ({self.given_by})"


def split_vault_id(spec: str) -> tuple[str | None, str]:
    """Ansible's CLI.split_vault_id: 'label@source' -> (label, source); no '@' -> (None, source)."""
    if "@" not in spec:
        return None, spec
    label, source = spec.split("@", 1)
    return label, source


def vault_id_sources(
    vault_ids: Sequence[str] = (),
    password_files: Sequence[str | Path] = (),
    ask_vault_pass: bool = False,
    environ: Mapping[str, str] | None = None,
    origins: Mapping[str, str] | None = None,
) -> list[VaultIdSource]:
    """Every password source of a run, in Ansible's order (see the module docstring). `origins`: where a
    variable's value came from when not from the environment ("vault_password_file in ./ansible.cfg")."""
    env = os.environ if environ is None else environ
    said = origins or {}
    default = env.get("ANSIBLE_VAULT_IDENTITY") or vault.DEFAULT_VAULT_ID
    out: list[VaultIdSource] = []

    def add(spec: str, given_by: str) -> None:
        label, source = split_vault_id(spec.strip())
        if not source:
            raise InventoryError(f"{given_by} {spec!r} names no password file: write [LABEL@]FILE or [LABEL@]prompt")
        out.append(VaultIdSource(label or default, source, given_by))

    listed = env.get("ANSIBLE_VAULT_IDENTITY_LIST", "")
    for spec in (s for s in listed.split(",") if s.strip()):
        add(spec, said.get("ANSIBLE_VAULT_IDENTITY_LIST", "ANSIBLE_VAULT_IDENTITY_LIST"))
    for spec in vault_ids:
        add(spec, "--vault-id")
    for path in password_files:
        out.append(VaultIdSource(default, str(path), "--vault-password-file"))
    if env.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        out.append(VaultIdSource(default, os.path.expanduser(env["ANSIBLE_VAULT_PASSWORD_FILE"]),
                                 said.get("ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_PASSWORD_FILE")))
    if ask_vault_pass:
        out.append(VaultIdSource(default, _ASK, "--ask-vault-pass"))
    return out


class VaultKeyring:
    """The vault passwords of a run, by label, and decryption with Ansible's matching of vault ids."""

    def __init__(self, entries: Sequence[tuple[VaultIdSource, Secret]] = (), *, id_match: bool = False) -> None:
        self._entries = list(entries)
        self.id_match = id_match  # ANSIBLE_VAULT_ID_MATCH: only a secret of the envelope's label is tried

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __repr__(self) -> str:
        return f"VaultKeyring({[s.label for s, _ in self._entries]!r})"

    @property
    def labels(self) -> list[str]:
        return [source.label for source, _ in self._entries]

    def add(self, source: VaultIdSource, password: Secret) -> None:
        self._entries.append((source, password))

    def passwords(self) -> list[tuple[str, Secret]]:
        """(label, password) of each entry, in order: to hand them on to ansible-inventory."""
        return [(source.label, password) for source, password in self._entries]

    def decrypt(self, text: str | bytes, path: Path | str | None, line: int | None, what: str = "vault-encrypted value") -> bytes:
        """The plaintext of ``text``; InventoryError at path:line naming the vault id when no
        password fits, none is given, or the text is not vault text."""
        try:
            envelope = vault.parse_envelope(text)
        except vault.VaultFormatError as exc:
            raise InventoryError(f"the {what} is malformed: {exc}", path, line) from None
        order = vault.candidate_order(envelope, self.labels, id_match=self.id_match)
        for index in order:
            _, password = self._entries[index]
            try:
                return vault.decrypt_envelope(envelope, password.reveal())
            except vault.VaultHMACError:
                continue
            except vault.VaultFormatError as exc:
                raise InventoryError(f"the {what} is malformed: {exc}", path, line) from None
        raise InventoryError(self._no_fit_message(envelope.label, what, tried=[self._entries[i][0] for i in order]), path, line)

    def _no_fit_message(self, label: str, what: str, tried: list[VaultIdSource]) -> str:
        head = f"can't decrypt the {what} (vault id {label!r}): "
        if not self._entries:
            return head + f"no vault password was given; {HINT}"
        if not tried:  # ANSIBLE_VAULT_ID_MATCH and no secret of that label
            return head + f"no password has the label {label!r} and ANSIBLE_VAULT_ID_MATCH allows no other (have: {', '.join(map(repr, self.labels))})"
        missing = "" if label in self.labels else f"; no password was given for vault id {label!r} (--vault-id {label}@FILE)"
        return head + f"the vault password does not fit (tried {'; '.join(s.describe() for s in tried)}){missing}"


def _is_executable(path: Path) -> bool:
    # Ansible's DataLoader.is_executable: any execute bit on a regular file.
    mode = path.stat().st_mode
    return stat.S_ISREG(mode) and bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))


def _is_client_script(path: Path) -> bool:
    # Ansible's script_is_client: 'something-client' or 'something-client.<ext>'
    return os.path.splitext(path.name)[0].endswith("-client")


def _run_script(path: Path, source: VaultIdSource, timeout: float) -> bytes:
    command = [str(path)]
    if _is_client_script(path):
        command += ["--vault-id", source.label]
    where = f"vault password script ({source.given_by})"
    try:
        # stderr and stdin stay the user's (as Ansible: a script may prompt); only stdout is read.
        done = subprocess.run(command, stdout=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InventoryError(f"the {where} did not finish within {timeout:g} s (it was stopped)", path) from None
    except OSError as exc:
        raise InventoryError(
            f"can't run the {where}: {exc.strerror or exc} (if it is a password file, not a script, "
            "remove its execute bit: chmod -x)",
            path,
        ) from None
    if _is_client_script(path) and done.returncode == CLIENT_NO_SUCH_ID:
        raise InventoryError(f"the {where} has no password for vault id {source.label!r} (it exited 2)", path)
    if done.returncode != 0:
        raise InventoryError(f"the {where} failed with exit status {done.returncode} (its own messages are on stderr above)", path)
    return done.stdout


def _read_source(source: VaultIdSource, keyring: VaultKeyring, prompt: Prompt | None, timeout: float) -> Secret:
    if source.source in (PROMPT, _ASK):
        if prompt is None:
            raise InventoryError(f"{source.given_by} asks for the vault password of {source.label!r}, but there is no terminal to ask on; use a password file")
        text = "Vault password: " if source.source == _ASK else f"Vault password ({source.label}): "
        password = prompt(text).strip().encode("utf-8")
        if not password:
            raise InventoryError(f"the vault password typed for {source.label!r} is empty")
        return Secret(password)
    path = Path(source.source)
    if not path.exists():
        raise InventoryError(f"the vault password file given by {source.given_by} does not exist", path)
    if path.is_dir():
        raise InventoryError(f"the vault password file given by {source.given_by} is a directory, not a file", path)
    if _is_executable(path):
        data = _run_script(path, source, timeout).strip(b"\r\n")
        kind = "script printed"
    else:
        try:
            data = path.read_bytes().strip()
        except OSError as exc:
            raise InventoryError(f"can't read the vault password file: {exc.strerror or exc}", path) from None
        if vault.is_vault_text(data):  # a password file encrypted with a password read before it
            data = keyring.decrypt(data, path, 1, what="vault-encrypted password file")
        data = data.strip(b"\r\n")
        kind = "file holds"
    if not data:
        raise InventoryError(f"the vault password {kind} nothing (an empty password is refused, as by Ansible)", path)
    return Secret(data)


def load_keyring(
    sources: Sequence[VaultIdSource],
    *,
    prompt: Prompt | None = None,
    timeout: float = SCRIPT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> VaultKeyring:
    """Read every password now, as Ansible does at start-up; InventoryError naming the bad source."""
    env = os.environ if environ is None else environ
    id_match = env.get("ANSIBLE_VAULT_ID_MATCH", "").strip().lower() in ("1", "true", "yes", "on", "y", "t")
    keyring = VaultKeyring(id_match=id_match)
    for source in sources:
        keyring.add(source, _read_source(source, keyring, prompt, timeout))
    return keyring


def keyring_from_options(
    vault_ids: Sequence[str] = (),
    password_files: Sequence[str | Path] = (),
    ask_vault_pass: bool = False,
    *,
    prompt: Prompt | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = SCRIPT_TIMEOUT,
    config: AnsibleConfig | None = None,
) -> VaultKeyring:
    """The keyring for Ansible's three vault flags plus the ANSIBLE_VAULT_* variables, each unset one
    taken from `config` (the ansible.cfg in force: ansible_config.load_config) when given."""
    env = dict(os.environ if environ is None else environ)
    origins: dict[str, str] = {}
    if config is not None:
        settings, origins = vault_settings(config, env)
        env.update(settings)
    sources = vault_id_sources(vault_ids, password_files, ask_vault_pass, env, origins)
    return load_keyring(sources, prompt=prompt, timeout=timeout, environ=env)
