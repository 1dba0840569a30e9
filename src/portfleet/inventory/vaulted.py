"""Encrypted content in inventory files: inline ``!vault`` values and whole encrypted files.

Ansible decrypts the two at different times, and so does portfleet:
- an inline ``!vault |`` value is decrypted lazily, when it is used (Ansible 2.19's EncryptedString
  decrypts on first use): a VaultValue is a Secret whose ``reveal()`` decrypts, so a value nobody
  uses needs no password. Its plaintext is a literal, never a template (Ansible does not template
  decrypted vault text either).
- a whole encrypted file (group_vars/windows/vault.yml, or an inventory file) is decrypted eagerly,
  when it is read (Ansible's DataLoader decrypts a file on load), then parsed like a plain one.
"""

from __future__ import annotations

from pathlib import Path

from portfleet.inventory import vault
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.secret import Secret
from portfleet.inventory.vault_secrets import HINT, VaultKeyring

_UNSET = object()


class VaultValue(Secret):
    """An inline ``!vault`` value: masked like any Secret; ``reveal()`` decrypts it (once)."""

    __slots__ = ("text", "vault_id", "path", "line", "_keyring")

    def __init__(self, text: str, path: Path, line: int, keyring: VaultKeyring | None) -> None:
        envelope = vault.parse_envelope(text)  # VaultFormatError for a paste error: caught at load
        super().__init__(_UNSET)
        self.text = text
        self.vault_id = envelope.label
        self.path = path
        self.line = line
        self._keyring = keyring

    def reveal(self) -> str:
        if self._value is _UNSET:
            if not self._keyring:
                raise InventoryError(
                    f"the value is vault-encrypted (vault id {self.vault_id!r}) and no vault password was given; {HINT}",
                    self.path,
                    self.line,
                )
            plain = self._keyring.decrypt(self.text, self.path, self.line)
            try:
                self._value = plain.decode("utf-8")
            except UnicodeDecodeError:
                raise InventoryError("the decrypted vault value is not UTF-8 text", self.path, self.line) from None
        return self._value

    def __bool__(self) -> bool:
        return True  # never decrypt just to test truth: an encrypted value is there

    def __eq__(self, other: object) -> bool:
        if isinstance(other, VaultValue):
            return self.text == other.text
        return NotImplemented

    def __hash__(self) -> int:
        return hash((VaultValue, self.text))


def read_text_source(path: Path, data: bytes, keyring: VaultKeyring | None) -> tuple[str, str | None]:
    """(text, vault id or None) of a file's bytes: decrypted first if the whole file is vault text."""
    if not vault.is_vault_text(data):
        return _decode(data, path, None), None
    try:
        label = vault.parse_envelope(data).label
    except vault.VaultFormatError as exc:
        raise InventoryError(f"the vault-encrypted file is malformed: {exc}", path, 1) from None
    if not keyring:
        raise InventoryError(f"the file is vault-encrypted (vault id {label!r}) and no vault password was given; {HINT}", path, 1)
    plain = keyring.decrypt(data, path, 1, what="vault-encrypted file")
    return _decode(plain, path, label), label


def _decode(data: bytes, path: Path, label: str | None) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        what = "the decrypted file" if label else "the file"
        line = data[: exc.start].count(b"\n") + 1
        raise InventoryError(f"{what} is not UTF-8 text (save it as UTF-8)", path, line) from None
