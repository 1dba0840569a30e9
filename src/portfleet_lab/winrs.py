"""The WinRS cmd shell plugin of one lab host: shells, commands and their output, behind the WS-Man actions
Create, Command, Receive, Send, Signal and Delete (MS-WSMV 3.1.4.5-3.1.4.15).

Windows behaviours mirrored:
- The process starts at Command (cmd.exe /c <line>); its effects happen even if the output is never read.
- Receive blocks until output is available or the request's OperationTimeout passes, then answers the
  TimedOut fault (MS-WSMV 3.1.4.14.2; pywinrm and winrm4j re-send Receive on WSManFault 2150858793).
- Output larger than one envelope is returned over several Receives: CommandState Running until the last one,
  which carries End="true" per stream and CommandState Done with the ExitCode.
- Signal terminate ends a command (a later Receive gets InvalidSelectors), ctrl_c stops a running one with
  STATUS_CONTROL_C_EXIT; Delete removes the shell.
- A program that sits at a prompt with nothing on stdin (`reg add` without /f on an existing value,
  schtasks' "(Y/N)?") is a process still running: Receive returns the prompt text already written, with
  CommandState Running and no End, then waits like for any silent command, so a client keeps getting the
  TimedOut fault (pywinrm's get_command_output retries it forever: diyan/pywinrm#177 "PowerShell hangs if tries
  to prompt", the note in ansible's winrm connection plugin before get_command_output) until it sends Signal
  terminate or deletes the shell (MS-WSMV 3.1.4.14: Receive answers when output is available or the
  OperationTimeout passes; 3.1.4.12 Signal terminate ends the process). Input sent with Send is not fed to it.
- MaxShellsPerUser (default 30 on Windows Server 2012 R2 and later: `winrm get winrm/config/winrs`) and the
  shell IdleTimeOut (default PT7200.000S, as captured in pypsrp tests/responses/test_winrs_standard.yml).
"""

from __future__ import annotations

import asyncio
import codecs
import time
from dataclasses import dataclass, field
from typing import Protocol

from portfleet_lab import wsman
from portfleet_lab.wsman import WsmanRequest

MAX_SHELLS_PER_USER = 30
IDLE_TIMEOUT = 7200.0
STATUS_CONTROL_C_EXIT = 0xC000013A  # ExitCode is a DWORD on the wire
_STREAM_ELEMENT_BYTES = 32 * 1024


class ResetConnection(Exception):
    """Raised by a handler to make the server abort the TCP connection (fault reset_mid_command)."""


class _Faults(Protocol):
    slow_seconds: float
    reset_mid_command: bool


class _Result(Protocol):
    stdout: str
    stderr: str
    exit_code: int
    waiting_for_input: bool


class _Host(Protocol):
    name: str
    oem_codepage: int
    faults: _Faults

    def execute(self, command_line: str) -> _Result: ...


def codec_for(codepage: int) -> str:
    """Python codec for a Windows code page (65001 is UTF-8); unknown pages fall back to cp437."""
    name = "utf-8" if codepage == 65001 else f"cp{codepage}"
    try:
        codecs.lookup(name)
    except LookupError:
        return "cp437"
    return name


@dataclass
class Command:
    command_id: str
    command_line: str
    ready_at: float  # monotonic time the output becomes available (slow fault)
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0
    waiting: bool = False  # blocked at a prompt reading stdin: Running until terminated
    sent: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)  # a blocked command was ended or removed

    def unsent(self, streams: list[str]) -> bool:
        return any(self.sent[n] < len(self.stdout if n == "stdout" else self.stderr)
                   for n in ("stdout", "stderr") if n in streams)

    def release(self) -> None:
        """Wake every Receive waiting on this command (it was terminated, interrupted or its shell deleted)."""
        self.ready.set()
        self.released.set()


@dataclass
class Shell:
    shell_id: str
    owner: str
    client_ip: str
    codepage: int
    idle_timeout: float
    input_streams: str
    output_streams: str
    created: float
    last_activity: float
    commands: dict[str, Command] = field(default_factory=dict)


class ShellService:
    """WinRS state of one host; lost when the host reboots (the WinRM service restarts)."""

    def __init__(self, host: _Host, max_shells_per_user: int = MAX_SHELLS_PER_USER) -> None:
        self.host = host
        self.max_shells_per_user = max_shells_per_user
        self.shells: dict[str, Shell] = {}

    def clear(self) -> None:
        for shell in self.shells.values():
            for command in shell.commands.values():
                command.release()  # wake waiting Receives; their connection is gone anyway
        self.shells.clear()

    def expire_idle(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        expired = [s for s in self.shells.values() if now - s.last_activity > s.idle_timeout]
        for shell in expired:
            del self.shells[shell.shell_id]
            for command in shell.commands.values():
                command.release()  # the shell's processes end with it
        return len(expired)

    # --- dispatch ---------------------------------------------------------------------------------

    async def handle(self, req: WsmanRequest, *, user: str, client_ip: str, address: str) -> bytes:
        if req.resource_uri.lower() != wsman.RESOURCE_CMD.lower():
            raise wsman.fault_resource_not_found(req.resource_uri)
        if req.action == wsman.ACTION_CREATE:
            return self._create(req, user, client_ip, address)
        shell = self._shell(req)
        shell.last_activity = time.monotonic()
        if req.action == wsman.ACTION_COMMAND:
            return self._command(req, shell)
        if req.action == wsman.ACTION_RECEIVE:
            return await self._receive(req, shell)
        if req.action == wsman.ACTION_SIGNAL:
            return self._signal(req, shell)
        if req.action == wsman.ACTION_SEND:
            return self._send(req, shell)
        if req.action == wsman.ACTION_DELETE:
            del self.shells[shell.shell_id]
            for command in shell.commands.values():
                command.release()  # a Receive still waiting on this shell answers at once
            return wsman.delete_response(req)
        raise wsman.fault_action_not_supported(req.action)

    def _shell(self, req: WsmanRequest) -> Shell:
        shell_id = req.selectors.get("ShellId", "")
        shell = self.shells.get(shell_id.upper())
        if shell is None:
            raise wsman.fault_unknown_shell(shell_id)
        return shell

    @staticmethod
    def _command_of(shell: Shell, command_id: str | None) -> Command:
        command = shell.commands.get((command_id or "").upper())
        if command is None:
            raise wsman.fault_unknown_command()
        return command

    # --- actions ----------------------------------------------------------------------------------

    def _create(self, req: WsmanRequest, user: str, client_ip: str, address: str) -> bytes:
        owned = sum(1 for s in self.shells.values() if s.owner.lower() == user.lower())
        if owned >= self.max_shells_per_user:
            raise wsman.fault_max_shells(self.max_shells_per_user)
        spec = wsman.read_shell(req)
        try:
            codepage = int(req.options.get("WINRS_CODEPAGE", "") or self.host.oem_codepage)
        except ValueError:
            codepage = self.host.oem_codepage
        now = time.monotonic()
        shell = Shell(
            shell_id=wsman.new_guid(),
            owner=user,
            client_ip=client_ip,
            codepage=codepage,
            idle_timeout=spec.idle_timeout or IDLE_TIMEOUT,
            input_streams=spec.input_streams,
            output_streams=spec.output_streams,
            created=now,
            last_activity=now,
        )
        self.shells[shell.shell_id] = shell
        info = wsman.ShellInfo(
            shell_id=shell.shell_id,
            resource_uri=wsman.RESOURCE_CMD,
            owner=user,
            client_ip=client_ip,
            idle_timeout=shell.idle_timeout,
            input_streams=shell.input_streams,
            output_streams=shell.output_streams,
        )
        return wsman.create_response(req, address, info)

    def _command(self, req: WsmanRequest, shell: Shell) -> bytes:
        line = wsman.read_command_line(req)
        if line is None:
            raise wsman.fault_invalid_message()
        result = self.host.execute(line)
        codec = codec_for(shell.codepage)
        # Characters the code page lacks print as '?', as a Windows console does.
        command = Command(
            command_id=wsman.new_guid(),
            command_line=line,
            ready_at=time.monotonic() + max(0.0, float(self.host.faults.slow_seconds or 0.0)),
            stdout=result.stdout.encode(codec, errors="replace"),
            stderr=result.stderr.encode(codec, errors="replace"),
            exit_code=int(result.exit_code) & 0xFFFFFFFF,
            waiting=bool(getattr(result, "waiting_for_input", False)),
        )
        if command.ready_at <= time.monotonic():
            command.ready.set()
        else:
            asyncio.get_running_loop().call_later(command.ready_at - time.monotonic(), command.ready.set)
        shell.commands[command.command_id] = command
        return wsman.command_response(req, command.command_id)

    async def _receive(self, req: WsmanRequest, shell: Shell) -> bytes:
        command_id, streams = wsman.read_receive(req)
        command = self._command_of(shell, command_id)
        if self.host.faults.reset_mid_command:
            raise ResetConnection()
        if not command.ready.is_set():
            try:
                await asyncio.wait_for(command.ready.wait(), max(req.operation_timeout, 0.0))
            except asyncio.TimeoutError:
                raise wsman.fault_timed_out() from None
            if shell.shell_id not in self.shells or command.command_id not in shell.commands:
                raise wsman.fault_unknown_command()  # terminated or shell deleted while waiting
            if self.host.faults.reset_mid_command:
                raise ResetConnection()
        if command.waiting and not command.unsent(streams):
            # Blocked at its prompt with everything it wrote already sent: nothing new until it is ended.
            try:
                await asyncio.wait_for(command.released.wait(), max(req.operation_timeout, 0.0))
            except asyncio.TimeoutError:
                raise wsman.fault_timed_out() from None
            if shell.shell_id not in self.shells or command.command_id not in shell.commands:
                raise wsman.fault_unknown_command()
        budget = wsman.receive_budget(req.max_envelope_size)
        chunks: list[tuple[str, bytes]] = []
        for name in ("stdout", "stderr"):
            if name not in streams:
                continue
            data = command.stdout if name == "stdout" else command.stderr
            while budget > 0 and command.sent[name] < len(data):
                take = min(budget, _STREAM_ELEMENT_BYTES, len(data) - command.sent[name])
                chunks.append((name, data[command.sent[name] : command.sent[name] + take]))
                command.sent[name] += take
                budget -= take
        finished = not command.waiting and not command.unsent(streams)
        ended = [n for n in ("stdout", "stderr") if n in streams] if finished else []
        exit_code = command.exit_code if finished else None
        return wsman.receive_response(req, command.command_id, chunks, ended, exit_code)

    def _signal(self, req: WsmanRequest, shell: Shell) -> bytes:
        command_id, code = wsman.read_signal(req)
        command = self._command_of(shell, command_id)
        if code.lower() == wsman.SIGNAL_TERMINATE.lower():
            del shell.commands[command.command_id]
            command.release()
        elif code.lower() in (wsman.SIGNAL_CTRL_C.lower(), wsman.SIGNAL_CTRL_BREAK.lower()):
            if command.waiting:
                # The console's Ctrl+C ends the program at its prompt; what it printed stays readable.
                command.waiting = False
                command.exit_code = STATUS_CONTROL_C_EXIT
                command.release()
            elif not command.ready.is_set():
                # Interrupted before it finished: no further output, STATUS_CONTROL_C_EXIT.
                command.stdout, command.stderr = b"", b""
                command.exit_code = STATUS_CONTROL_C_EXIT
                command.ready.set()
        return wsman.signal_response(req)

    def _send(self, req: WsmanRequest, shell: Shell) -> bytes:
        for command_id, _name, _data, _end in wsman.read_send(req):
            self._command_of(shell, command_id)  # stdin is accepted and discarded: cmd /c reads none
        return wsman.send_response(req)
