"""Handing the run's vault passwords to ansible-inventory without writing them anywhere.

Each password goes through a named pipe (FIFO) in a private temporary directory (mode 0700): a
two-line password "script" there (``cat`` of the pipe) is given as ``--vault-id LABEL@SCRIPT``, so
Ansible runs it and reads the password from its stdout, as it does for any vault password script
(stripping the trailing newline). A thread writes the password into the pipe when the script opens
it; nothing reaches a disk, the command line or the environment (which ansible-inventory would hand
on to inventory scripts). The passwords handed on are the ones portfleet already read, so a password
script is not run twice and a password typed at the prompt is not asked for again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator

from portfleet.inventory.vault_secrets import VaultKeyring


def _feed(fifo: str, data: bytes) -> None:
    try:
        with open(fifo, "wb") as pipe:  # blocks until the reader (the script's cat) opens it
            pipe.write(data)
    except OSError:  # the reader went away, or cleanup opened it only to release us
        pass


@contextlib.contextmanager
def vault_id_arguments(keyring: VaultKeyring | None) -> Iterator[list[str]]:
    """``--vault-id LABEL@SCRIPT`` arguments for ansible-inventory, valid inside the ``with``."""
    if not keyring:
        yield []
        return
    directory = tempfile.mkdtemp(prefix="portfleet-vault-")  # 0700, this user's only
    feeders: list[tuple[str, threading.Thread]] = []
    args: list[str] = []
    try:
        for index, (label, password) in enumerate(keyring.passwords()):
            fifo = os.path.join(directory, f"password-{index}")
            os.mkfifo(fifo, 0o600)
            script = os.path.join(directory, f"password-{index}.sh")
            with open(script, "w", encoding="ascii") as handle:
                handle.write(f"#!/bin/sh\nexec cat '{fifo}'\n")
            os.chmod(script, 0o700)
            data = password.reveal()
            data = data if isinstance(data, bytes) else str(data).encode("utf-8")
            thread = threading.Thread(target=_feed, args=(fifo, data + b"\n"), daemon=True)
            thread.start()
            feeders.append((fifo, thread))
            args += ["--vault-id", f"{label}@{script}"]
        yield args
    finally:
        for fifo, thread in feeders:
            if thread.is_alive():
                # Nobody read this password: open the pipe ourselves so the writer's open returns.
                with contextlib.suppress(OSError):
                    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
                    thread.join(timeout=2)
                    os.close(fd)
            thread.join(timeout=2)
        shutil.rmtree(directory, ignore_errors=True)
