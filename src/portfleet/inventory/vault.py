"""Ansible Vault's encrypted text: the envelope and the AES256 cipher, decrypt only. Pure: no I/O.

Format as Ansible documents it (https://docs.ansible.com/ansible/latest/vault_guide/vault_using_encrypted_content.html#format-of-files-encrypted-with-ansible-vault)
and as ansible-core's lib/ansible/parsing/vault reads it:

    $ANSIBLE_VAULT;1.1;AES256              header: format version, cipher
    $ANSIBLE_VAULT;1.2;AES256;prod         1.2 adds the vault id (a label, not authenticated)
    3533...                                body: hex, in lines of 80 characters

The body unhexlifies to three lines, ``hex(salt) \\n hex(hmac) \\n hex(ciphertext)``. PBKDF2-HMAC-SHA256
(10000 iterations) over the password and salt gives 80 bytes: the AES-256 key, the HMAC-SHA256 key and
the 16-byte CTR counter block. The HMAC of the ciphertext is checked (constant time) before anything is
decrypted; then AES-256-CTR and PKCS#7 unpadding (the padding is Ansible's, CTR itself needs none).
"""

from __future__ import annotations

import binascii
import functools
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

HEADER = "$ANSIBLE_VAULT"
CIPHERS = ("AES256",)  # Ansible's CIPHER_ALLOWLIST
DEFAULT_VAULT_ID = "default"  # Ansible's DEFAULT_VAULT_IDENTITY: the label of a 1.1 envelope
KDF_ITERATIONS = 10000
KEY_LENGTH = 32
IV_LENGTH = 16


class VaultError(Exception):
    """Base of this module's errors; messages never hold key material or plaintext."""


class VaultFormatError(VaultError):
    """The text is not a well-formed vault envelope."""


class VaultHMACError(VaultError):
    """The password does not fit: the HMAC of the ciphertext differs."""


@dataclass(frozen=True)
class Envelope:
    version: str
    cipher: str
    vault_id: str | None  # None for a 1.1 envelope (it then goes by DEFAULT_VAULT_ID)
    salt: bytes
    hmac: bytes
    ciphertext: bytes

    @property
    def label(self) -> str:
        return self.vault_id or DEFAULT_VAULT_ID


def is_vault_text(data: str | bytes) -> bool:
    """True when ``data`` starts with the vault header, as Ansible's is_encrypted (no leading space)."""
    head = data[: len(HEADER)]
    return (head.decode("ascii", "replace") if isinstance(data, bytes) else head) == HEADER


def _unhex(data: bytes, what: str) -> bytes:
    try:
        return binascii.unhexlify(data)
    except (binascii.Error, ValueError):
        raise VaultFormatError(f"the {what} is not hexadecimal") from None


def parse_envelope(text: str | bytes) -> Envelope:
    """The parts of a vault text; VaultFormatError if it is not one. Linear in the text's length."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise VaultFormatError("vault text is plain ASCII, this holds other characters") from None
    lines = text.strip().splitlines()
    if not lines or not is_vault_text(lines[0].strip()):
        raise VaultFormatError(f"vault text starts with {HEADER};1.1;AES256")
    header = [part.strip() for part in lines[0].strip().split(";")]
    if len(header) < 3 or not header[1]:
        raise VaultFormatError(f"the vault header has no version and cipher (expected {HEADER};1.1;AES256)")
    version, cipher = header[1], header[2]
    if cipher not in CIPHERS:
        raise VaultFormatError(f"the vault cipher {cipher[:20]!r} is not supported (Ansible writes AES256)")
    vault_id = header[3] if len(header) >= 4 and header[3] else None
    body = "".join(line.strip() for line in lines[1:]).encode("ascii")
    if not body:
        raise VaultFormatError("the vault text has a header but no encrypted data under it")
    parts = _unhex(body, "vault body").split(b"\n", 2)
    if len(parts) != 3:
        raise VaultFormatError("the vault body does not hold salt, HMAC and ciphertext (truncated or mangled?)")
    salt = _unhex(parts[0], "vault salt")
    mac = _unhex(parts[1], "vault HMAC")
    ciphertext = _unhex(parts[2], "vault ciphertext")
    if not salt or len(mac) != 32:
        raise VaultFormatError("the vault salt or HMAC has the wrong length (truncated or mangled?)")
    return Envelope(version, cipher, vault_id, salt, mac, ciphertext)


@functools.lru_cache(maxsize=128)
def _derive(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    # Cached as Ansible caches _gen_key_initctr: one group value shared by many hosts (or many values
    # encrypted with one salt) costs one PBKDF2 run, not one per use.
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=2 * KEY_LENGTH + IV_LENGTH, salt=salt, iterations=KDF_ITERATIONS)
    key = kdf.derive(password)
    return key[:KEY_LENGTH], key[KEY_LENGTH : 2 * KEY_LENGTH], key[2 * KEY_LENGTH :]


def decrypt_envelope(envelope: Envelope, password: bytes) -> bytes:
    """The plaintext; VaultHMACError when the password does not fit (checked before decrypting)."""
    aes_key, hmac_key, counter = _derive(password, envelope.salt)
    mac = HMAC(hmac_key, hashes.SHA256())
    mac.update(envelope.ciphertext)
    try:
        mac.verify(envelope.hmac)  # constant-time compare, and nothing is decrypted unless it passes
    except InvalidSignature:
        raise VaultHMACError("the vault password does not fit (HMAC mismatch)") from None
    decryptor = Cipher(algorithms.AES(aes_key), modes.CTR(counter)).decryptor()
    padded = decryptor.update(envelope.ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VaultFormatError("the decrypted vault data has bad padding (not written by ansible-vault?)") from None


def candidate_order(envelope: Envelope, labels: list[str], *, id_match: bool = False) -> list[int]:
    """Indexes of ``labels`` (the keyring's, in order) to try on ``envelope``.

    The secrets labelled with the envelope's vault id come first, then (unless ``id_match``,
    Ansible's ANSIBLE_VAULT_ID_MATCH) all the others in keyring order, as Ansible's VaultLib.decrypt
    considers every secret by default. (Ansible itself tries them in keyring order; only the right
    password passes the HMAC, so the result is the same and the label only saves PBKDF2 runs.)"""
    first = [i for i, label in enumerate(labels) if label == envelope.label]
    if id_match:
        return first
    return first + [i for i, label in enumerate(labels) if label != envelope.label]
