"""Ansible's vault flags on every command that reads an inventory, declared once.

    @app.command()
    @reads_inventory
    def audit(inventory: Path = c.InventoryOpt, ...) -> None:
        inv = c.load_inventory_or_exit(inventory)     # decrypts with the command's vault passwords

`reads_inventory` adds --vault-password-file, --vault-id and -J/--ask-vault-pass to the command's
signature (as ansible-playbook has them) and keeps what was given for the command's run, so the
commands' own signatures do not repeat three options each.
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import typer

from portfleet.cli.console import fail
from portfleet.exit_codes import EXIT_INTERRUPTED

F = TypeVar("F", bound=Callable[..., Any])

VaultPasswordFileOpt = typer.Option(
    [],
    "--vault-password-file",
    "--vault-pass-file",
    metavar="FILE",
    help="Vault password file (or an executable that prints it), as ansible's; repeatable. Also "
    "ANSIBLE_VAULT_PASSWORD_FILE, else vault_password_file of ansible.cfg.",
    show_default=False,
)
VaultIdOpt = typer.Option(
    [],
    "--vault-id",
    metavar="[LABEL@]SOURCE",
    help="Vault identity [LABEL@]FILE or [LABEL@]prompt, as ansible's; repeatable. Also "
    "ANSIBLE_VAULT_IDENTITY_LIST, else vault_identity_list of ansible.cfg.",
    show_default=False,
)
AskVaultPassOpt = typer.Option(
    False, "-J", "--ask-vault-pass", "--ask-vault-password", help="Prompt for the vault password (as ansible -J)."
)


@dataclass(frozen=True)
class VaultFlags:
    vault_ids: list[str] = field(default_factory=list)
    password_files: list[Path] = field(default_factory=list)
    ask: bool = False


_FLAGS: ContextVar[VaultFlags] = ContextVar("portfleet_vault_flags", default=VaultFlags())
_KEYRING: ContextVar[Any] = ContextVar("portfleet_vault_keyring", default=None)

_PARAMS = [
    inspect.Parameter("vault_password_file", inspect.Parameter.KEYWORD_ONLY, default=VaultPasswordFileOpt,
                      annotation=list[Path]),
    inspect.Parameter("vault_id", inspect.Parameter.KEYWORD_ONLY, default=VaultIdOpt, annotation=list[str]),
    inspect.Parameter("ask_vault_pass", inspect.Parameter.KEYWORD_ONLY, default=AskVaultPassOpt, annotation=bool),
]


def reads_inventory(command: F) -> F:
    """The command with the three vault options (see the module doc)."""
    signature = inspect.signature(command)

    @functools.wraps(command)
    def run(*args: Any, vault_password_file: list[Path], vault_id: list[str], ask_vault_pass: bool,
            **kwargs: Any) -> Any:
        _FLAGS.set(VaultFlags(list(vault_id or []), list(vault_password_file or []), ask_vault_pass))
        _KEYRING.set(None)
        return command(*args, **kwargs)

    # The command's annotations resolved in its own module (typer reads them from the wrapper, whose
    # module is this one: `Annotated[...]` aliases of the command's module would not resolve here).
    hints = typing.get_type_hints(command, include_extras=True)
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
              for p in signature.parameters.values()]
    run.__signature__ = signature.replace(parameters=params + _PARAMS)  # type: ignore[attr-defined]
    run.__annotations__ = {**hints, **{p.name: p.annotation for p in _PARAMS}}
    return run  # type: ignore[return-value]


def command_keyring() -> Any:
    """The vault passwords of this command's flags (+ ANSIBLE_VAULT_* variables), read once."""
    keyring = _KEYRING.get()
    if keyring is None:
        flags = _FLAGS.get()
        keyring = vault_keyring_or_exit(flags.vault_ids, flags.password_files, flags.ask)
        _KEYRING.set(keyring)
    return keyring


def vault_keyring_or_exit(vault_ids: Optional[list[str]] = None, password_files: Optional[list[Path]] = None,
                          ask_vault_pass: bool = False) -> Any:
    """The run's vault passwords (flags + ANSIBLE_VAULT_* variables + the vault settings of the ansible.cfg
    Ansible would read), read now, before any host is contacted; a bad source or a broken ansible.cfg exits 2
    naming it. Prompts need a terminal."""
    import getpass

    from portfleet.cli.console import err
    from portfleet.inventory import InventoryError
    from portfleet.inventory.ansible_config import load_config
    from portfleet.inventory.vault_secrets import keyring_from_options

    prompt = (lambda text: getpass.getpass(text)) if sys.stdin.isatty() else None
    try:
        config = load_config()
        for note in config.notes:
            err.print(f"note: {note}", style="yellow", soft_wrap=True, markup=False)
        return keyring_from_options(vault_ids or [], [str(p) for p in password_files or []], ask_vault_pass,
                                    prompt=prompt, config=config)
    except InventoryError as exc:
        fail(str(exc))
    except (EOFError, KeyboardInterrupt):
        fail("no vault password was typed", EXIT_INTERRUPTED)
