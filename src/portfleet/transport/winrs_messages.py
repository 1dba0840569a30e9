"""The WS-Management messages of a WinRS cmd shell (MS-WSMV 3.1.4: Create, Command, Receive, Signal, Delete),
built as text and read back with ElementTree: pure functions, no I/O.

pywinrm's Protocol builds each envelope as nested dicts through xmltodict, about half a millisecond of CPU per
message: a fifth of the controller's CPU per host. These are the same envelopes (the header set pywinrm sends,
which Windows accepts: To, ReplyTo, MaxEnvelopeSize 153600, MessageID, Locale, DataLocale, OperationTimeout,
ResourceURI, Action, SelectorSet; MS-WSMV 2.2.4) written once as templates; the message still travels through
winrm.Protocol.send_message, so authentication, message encryption and fault handling stay pywinrm's.
"""

from __future__ import annotations

import base64
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = _SHELL + "/Command"
ACTION_RECEIVE = _SHELL + "/Receive"
ACTION_SIGNAL = _SHELL + "/Signal"
SIGNAL_TERMINATE = _SHELL + "/signal/terminate"
MAX_ENVELOPE_SIZE = 153600  # bytes, as pywinrm asks (Windows' own limit is MaxEnvelopeSizekb 500)

_NAMESPACES = (
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" '
    f'xmlns:rsp="{_SHELL}" xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config"'
)


class MessageError(ValueError):
    """A response that is not the WS-Man answer the request asked for (the host's bytes are untrusted)."""


def _envelope(action: str, timeout_s: int, message_id: str, shell_id: str | None, options: str, body: str) -> str:
    selector = (f'<w:SelectorSet><w:Selector Name="ShellId">{escape(shell_id)}</w:Selector></w:SelectorSet>'
                if shell_id else "")
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<env:Envelope {_NAMESPACES}><env:Header>'
        "<a:To>http://windows-host:5985/wsman</a:To>"
        '<a:ReplyTo><a:Address mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous'
        "</a:Address></a:ReplyTo>"
        f'<w:MaxEnvelopeSize mustUnderstand="true">{MAX_ENVELOPE_SIZE}</w:MaxEnvelopeSize>'
        f"<a:MessageID>uuid:{message_id}</a:MessageID>"
        '<w:Locale mustUnderstand="false" xml:lang="en-US"></w:Locale>'
        '<p:DataLocale mustUnderstand="false" xml:lang="en-US"></p:DataLocale>'
        f"<w:OperationTimeout>PT{max(1, int(timeout_s))}S</w:OperationTimeout>"
        f'<w:ResourceURI mustUnderstand="true">{RESOURCE_CMD}</w:ResourceURI>'
        f'<a:Action mustUnderstand="true">{action}</a:Action>'
        f"{selector}{options}</env:Header><env:Body>{body}</env:Body></env:Envelope>"
    )


def _options(pairs: tuple[tuple[str, str], ...]) -> str:
    return "<w:OptionSet>" + "".join(f'<w:Option Name="{k}">{v}</w:Option>' for k, v in pairs) + "</w:OptionSet>"


def new_message_id() -> str:
    return str(uuid.uuid4())


def create_shell(timeout_s: int, codepage: int, message_id: str | None = None) -> str:
    """Create a cmd shell: stdin in, stdout and stderr out, the user's profile loaded (WINRS_NOPROFILE FALSE)."""
    options = _options((("WINRS_NOPROFILE", "FALSE"), ("WINRS_CODEPAGE", str(int(codepage)))))
    body = "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
    return _envelope(ACTION_CREATE, timeout_s, message_id or new_message_id(), None, options, body)


def command(shell_id: str, line: str, timeout_s: int, message_id: str | None = None) -> str:
    """Run `line` through cmd.exe /c (WINRS_SKIP_CMD_SHELL FALSE), console-mode stdin as pywinrm sets it."""
    options = _options((("WINRS_CONSOLEMODE_STDIN", "TRUE"), ("WINRS_SKIP_CMD_SHELL", "FALSE")))
    body = f"<rsp:CommandLine><rsp:Command>{escape(line)}</rsp:Command></rsp:CommandLine>"
    return _envelope(ACTION_COMMAND, timeout_s, message_id or new_message_id(), shell_id, options, body)


def receive(shell_id: str, command_id: str, timeout_s: int, message_id: str | None = None) -> str:
    """The next output of a command; the host answers when there is some or after `timeout_s` (TimedOut fault)."""
    body = (f"<rsp:Receive><rsp:DesiredStream CommandId={quoteattr(command_id)}>stdout stderr</rsp:DesiredStream>"
            "</rsp:Receive>")
    return _envelope(ACTION_RECEIVE, timeout_s, message_id or new_message_id(), shell_id, "", body)


def signal_terminate(shell_id: str, command_id: str, timeout_s: int, message_id: str | None = None) -> str:
    body = f"<rsp:Signal CommandId={quoteattr(command_id)}><rsp:Code>{SIGNAL_TERMINATE}</rsp:Code></rsp:Signal>"
    return _envelope(ACTION_SIGNAL, timeout_s, message_id or new_message_id(), shell_id, "", body)


def delete_shell(shell_id: str, timeout_s: int, message_id: str | None = None) -> str:
    return _envelope(ACTION_DELETE, timeout_s, message_id or new_message_id(), shell_id, "", "")


# -- responses -------------------------------------------------------------------------------------


def _root(data: bytes) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError:
        raise MessageError("the host's answer is not XML") from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def shell_id_of(data: bytes) -> str:
    """The ShellId of a CreateResponse (a Selector in the ResourceCreated reference)."""
    for node in _root(data).iter():
        if _local(node.tag) == "Selector" and node.get("Name") == "ShellId" and node.text:
            return node.text.strip()
    raise MessageError("the Create response names no ShellId")


def command_id_of(data: bytes) -> str:
    for node in _root(data).iter():
        if _local(node.tag) == "CommandId" and node.text:
            return node.text.strip()
    raise MessageError("the Command response names no CommandId")


@dataclass(frozen=True)
class Received:
    stdout: bytes
    stderr: bytes
    done: bool
    exit_code: int  # -1 until done


def received(data: bytes) -> Received:
    """A ReceiveResponse: its stream chunks (base64), and CommandState Done with the ExitCode when it ended."""
    out: list[bytes] = []
    err: list[bytes] = []
    done, code = False, -1
    for node in _root(data).iter():
        name = _local(node.tag)
        if name == "Stream" and node.text:
            try:
                chunk = base64.b64decode(node.text.encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                raise MessageError("a Stream of the Receive response is not base64") from None
            (out if node.get("Name") == "stdout" else err if node.get("Name") == "stderr" else []).append(chunk)
        elif name == "CommandState" and node.get("State", "").endswith("/CommandState/Done"):
            done = True
        elif name == "ExitCode" and node.text:
            try:
                code = int(node.text.strip())
            except ValueError:
                raise MessageError("the ExitCode of the Receive response is not a number") from None
    return Received(b"".join(out), b"".join(err), done, code if done else -1)


def relates_to(data: bytes) -> str | None:
    for node in _root(data).iter():
        if _local(node.tag) == "RelatesTo" and node.text:
            return node.text.strip()
    return None
