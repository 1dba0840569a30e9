"""Running an inventory program (a dynamic inventory script, ansible-inventory) within bounds.

A deadline (the program and everything it started are killed when it passes: it runs in a process
group of its own), a cap on what it may print (its output is read into memory), stdin closed (a
script that waits for input would wait for ever), and of its stderr only the first lines kept,
with anything that looks like a secret masked, for the error message.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from portfleet.inventory.secret import redact_text

DEFAULT_TIMEOUT = 120.0  # seconds; PORTFLEET_INVENTORY_TIMEOUT overrides (Ansible itself waits for ever)
TIMEOUT_ENV = "PORTFLEET_INVENTORY_TIMEOUT"
MAX_OUTPUT = 512 * 1024 * 1024  # bytes of stdout: a 650,000-host --list is about 150 MB
STDERR_KEPT = 64 * 1024
STDERR_LINES = 5


class RunFailed(Exception):
    """The program could not be started, ran past its deadline or printed too much (message only)."""


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes  # at most STDERR_KEPT bytes, from the start

    def stderr_head(self, lines: int = STDERR_LINES) -> str:
        """The first lines of stderr, secrets masked, for a message; '' when it printed nothing."""
        return stderr_head(self.stderr, lines)


def stderr_head(data: bytes, lines: int = STDERR_LINES) -> str:
    text = data.decode("utf-8", errors="replace")
    kept = [line.rstrip()[:300] for line in text.splitlines() if line.strip()][:lines]
    return redact_text("\n".join(kept))


def timeout_from_env(environ: Mapping[str, str] | None = None) -> float:
    """PORTFLEET_INVENTORY_TIMEOUT seconds if set to a positive number, else DEFAULT_TIMEOUT."""
    env = os.environ if environ is None else environ
    text = env.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        value = DEFAULT_TIMEOUT
    return value if 0 < value < 1e6 else DEFAULT_TIMEOUT


def run_bounded(
    command: Sequence[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    max_output: int = MAX_OUTPUT,
) -> Finished:
    """Run ``command``; RunFailed if it can't start, passes ``timeout`` seconds or prints more
    than ``max_output`` bytes (it is killed, with its process group)."""
    try:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            start_new_session=True,  # its own process group: a timeout kills its children too
        )
    except OSError as exc:
        raise RunFailed(f"can't run it: {exc.strerror or exc}") from None
    out: list[bytes] = []
    err: list[bytes] = []
    size = err_size = 0
    deadline = time.monotonic() + timeout
    assert process.stdout is not None and process.stderr is not None
    streams = {process.stdout: out, process.stderr: err}
    try:
        with selectors.DefaultSelector() as selector:
            for stream in streams:
                selector.register(stream, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RunFailed(f"it did not finish within {timeout:g} s (it was stopped; set {TIMEOUT_ENV} "
                                    "to allow more)")
                for key, _ in selector.select(min(left, 1.0)):
                    chunk = os.read(key.fd, 1 << 20)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    if key.fileobj is process.stdout:
                        size += len(chunk)
                        if size > max_output:
                            raise RunFailed(f"it printed more than {max_output // (1024 * 1024)} MB (it was stopped)")
                        out.append(chunk)
                    elif err_size < STDERR_KEPT:
                        err.append(chunk[: STDERR_KEPT - err_size])
                        err_size += len(err[-1])
        left = max(0.1, deadline - time.monotonic())
        try:
            returncode = process.wait(timeout=left)
        except subprocess.TimeoutExpired:
            raise RunFailed(f"it did not finish within {timeout:g} s (it was stopped; set {TIMEOUT_ENV} "
                            "to allow more)") from None
    finally:
        if process.poll() is None:
            _kill_group(process)
        process.stdout.close()
        process.stderr.close()
    return Finished(returncode, b"".join(out), b"".join(err))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
        pass
