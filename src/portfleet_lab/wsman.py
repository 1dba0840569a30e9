"""WS-Management (SOAP 1.2) and WinRS message parsing and building, as Windows' WinRM service speaks them.

The response shapes (namespace prefixes, header order, uppercase GUIDs, `rsp:Shell` echo in the Create
response, one `End="true"` stream element per stream, faults as SOAP 1.2 Fault with an `f:WSManFault`
detail) mirror real Windows Server captures published in pypsrp's test fixtures, e.g.
https://github.com/jborean93/pypsrp/blob/master/tests/responses/test_winrs_standard.yml and
test_winrs_bad_cmd_id.yml, and MS-WSMV 3.1.4 (https://learn.microsoft.com/openspecs/windows_protocols/ms-wsmv).
Pure functions: no sockets, no state.
"""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_WSMV = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_WSMANFAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

ACTION_CREATE = NS_TRANSFER + "/Create"
ACTION_DELETE = NS_TRANSFER + "/Delete"
ACTION_COMMAND = NS_SHELL + "/Command"
ACTION_RECEIVE = NS_SHELL + "/Receive"
ACTION_SIGNAL = NS_SHELL + "/Signal"
ACTION_SEND = NS_SHELL + "/Send"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

SIGNAL_TERMINATE = NS_SHELL + "/signal/terminate"
SIGNAL_CTRL_C = NS_SHELL + "/signal/ctrl_c"
SIGNAL_CTRL_BREAK = NS_SHELL + "/signal/ctrl_break"
STATE_RUNNING = NS_SHELL + "/CommandState/Running"
STATE_DONE = NS_SHELL + "/CommandState/Done"

# Windows' default MaxEnvelopeSizekb is 500 (2012+); clients ask for less (pywinrm: 153600 bytes).
DEFAULT_MAX_ENVELOPE = 512000
# Windows' default MaxTimeoutms is 60000; clients send w:OperationTimeout (pywinrm: PT20S).
DEFAULT_OPERATION_TIMEOUT = 60.0

# Envelope bytes a ReceiveResponse spends outside the base64 stream text (headers, tags, attributes);
# a generous bound so the whole response stays under the client's MaxEnvelopeSize.
_RECEIVE_OVERHEAD = 2048
_STREAM_TAG_OVERHEAD = 160


class WsmanFault(Exception):
    """A WS-Management fault as Windows returns it: HTTP 500 with a SOAP 1.2 Fault envelope."""

    def __init__(
        self,
        code: str,
        subcode: str,
        reason: str,
        wsman_code: int,
        message: str,
        fault_detail: str | None = None,
        http_status: int = 500,
    ) -> None:
        super().__init__(f"{subcode} ({wsman_code})")
        self.code = code  # "s:Sender" or "s:Receiver"
        self.subcode = subcode  # e.g. "w:InvalidSelectors"
        self.reason = reason
        self.wsman_code = wsman_code
        self.message = message
        self.fault_detail = fault_detail
        self.http_status = http_status


# --- fault catalogue (texts as Windows sends them, including the trailing spaces) ------------------


def fault_timed_out() -> WsmanFault:
    """Receive with no output before OperationTimeout: MS-WSMV 3.1.4.14 rule 3 requires this exact
    WSManFault Code; clients (pywinrm protocol.py, winrm4j ShellCommand) match 2150858793 and re-send
    Receive. Shape from a Server 2022 capture quoted in pywinrm's tests/test_exceptions.py."""
    text = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
    return WsmanFault("s:Receiver", "w:TimedOut", text, 2150858793, text)


_INVALID_SELECTORS_REASON = (
    "The WS-Management service cannot process the request because the request contained invalid selectors "
    "for the resource. "
)
_UNEXPECTED_SELECTORS = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"


def fault_unknown_command() -> WsmanFault:
    """Unknown CommandId: captured from Windows in pypsrp tests/responses/test_winrs_bad_cmd_id.yml."""
    return WsmanFault(
        "s:Sender",
        "w:InvalidSelectors",
        _INVALID_SELECTORS_REASON,
        2150858843,
        "The Windows Remote Shell received a request to perform an operation on a command identifier that does "
        "not exist. Either the command has completed execution or the client specified an invalid command "
        "identifier. ",
        _UNEXPECTED_SELECTORS,
    )


def fault_unknown_shell(shell_id: str) -> WsmanFault:
    """Unknown ShellId: same WSManFault code (winrm4j ShellCommand.WSMAN_FAULT_CODE_SHELL_WAS_NOT_FOUND);
    message text as quoted in Microsoft KB 3090768 ("InvalidShellID error in RPS")."""
    return WsmanFault(
        "s:Sender",
        "w:InvalidSelectors",
        _INVALID_SELECTORS_REASON,
        2150858843,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not "
        "found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer "
        "exists on the server. Provide the correct ShellId or create a new shell and retry the operation. ",
        _UNEXPECTED_SELECTORS,
    )


def fault_max_shells(limit: int) -> WsmanFault:
    """Create past MaxShellsPerUser (default 30): ERROR_WSMAN_QUOTA_MAX_SHELLS 0x803381A5."""
    text = (
        f"The WS-Management service cannot process the request. This user is allowed a maximum number of {limit} "
        "concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. "
    )
    return WsmanFault("s:Receiver", "w:QuotaLimit", text, 2150859173, text)


def fault_action_not_supported(action: str) -> WsmanFault:
    """An action the shell plugin does not implement: ERROR_WSMAN_INVALID_ACTIONURI 0x80338001."""
    return WsmanFault(
        "s:Sender",
        "a:ActionNotSupported",
        "The WS-Management service cannot process the request because the action is not supported. ",
        2150858753,
        f"The WS-Management service does not support the specified action {action}. ",
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/ActionMismatch",
    )


def fault_resource_not_found(resource_uri: str) -> WsmanFault:
    """Unknown ResourceURI: ERROR_WSMAN_RESOURCE_NOT_FOUND 0x80338000."""
    text = (
        "The WS-Management service cannot process the request. The service cannot find the resource identified "
        "by the resource URI and selectors. "
    )
    return WsmanFault("s:Sender", "w:DestinationUnreachable", text, 2150858752, text)


def fault_invalid_message() -> WsmanFault:
    """A body that is not a SOAP envelope: ERROR_WSMAN_INVALID_MESSAGE_INFORMATION_HEADER-class error."""
    text = "The WS-Management service cannot process the request because the XML is invalid. "
    return WsmanFault("s:Sender", "w:SchemaValidationError", text, 2150858817, text)


def fault_internal_error() -> WsmanFault:
    """The shell plugin failed: s:Receiver/w:InternalError carrying the Win32 error of the failure, here
    ERROR_INTERNAL_ERROR (1359, "An internal error occurred.")."""
    text = "An internal error occurred. "
    return WsmanFault("s:Receiver", "w:InternalError", text, 1359, text)


# --- requests ---------------------------------------------------------------------------------------


@dataclass
class WsmanRequest:
    action: str
    resource_uri: str
    message_id: str  # verbatim, echoed in RelatesTo
    to: str
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    operation_timeout: float = DEFAULT_OPERATION_TIMEOUT
    max_envelope_size: int = DEFAULT_MAX_ENVELOPE
    body: ET.Element | None = None


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _text(parent: ET.Element | None, ns: str, tag: str) -> str:
    if parent is None:
        return ""
    node = parent.find(_q(ns, tag))
    return (node.text or "").strip() if node is not None else ""


_DURATION = re.compile(
    r"^-?P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str) -> float | None:
    """xs:duration as WS-Man uses it (PT20S, PT60.000S, P0DT0H0M0S) to seconds; None if malformed."""
    match = _DURATION.match(value.strip())
    if not match or value.strip() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


def format_duration(seconds: float) -> str:
    """Windows writes IdleTimeOut as PT7200.000S and runtimes as P0DT0H0M0S."""
    return f"PT{seconds:.3f}S"


def format_runtime(seconds: float) -> str:
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"P{days}DT{hours}H{minutes}M{secs}S"


def parse_request(data: bytes) -> WsmanRequest:
    """Parse a WS-Man SOAP envelope; raises WsmanFault for anything that is not one."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise fault_invalid_message() from exc
    if root.tag != _q(NS_SOAP, "Envelope"):
        raise fault_invalid_message()
    header = root.find(_q(NS_SOAP, "Header"))
    body = root.find(_q(NS_SOAP, "Body"))
    if header is None:
        raise fault_invalid_message()
    message_id = _text(header, NS_ADDRESSING, "MessageID")
    action = _text(header, NS_ADDRESSING, "Action")
    selectors: dict[str, str] = {}
    selector_set = header.find(_q(NS_WSMAN, "SelectorSet"))
    if selector_set is not None:
        for sel in selector_set.findall(_q(NS_WSMAN, "Selector")):
            selectors[sel.get("Name", "")] = (sel.text or "").strip()
    options: dict[str, str] = {}
    option_set = header.find(_q(NS_WSMAN, "OptionSet"))
    if option_set is not None:
        for opt in option_set.findall(_q(NS_WSMAN, "Option")):
            options[opt.get("Name", "")] = (opt.text or "").strip()
    timeout = parse_duration(_text(header, NS_WSMAN, "OperationTimeout") or "") if header is not None else None
    envelope_text = _text(header, NS_WSMAN, "MaxEnvelopeSize")
    try:
        max_envelope = int(envelope_text) if envelope_text else DEFAULT_MAX_ENVELOPE
    except ValueError:
        max_envelope = DEFAULT_MAX_ENVELOPE
    if not message_id or not action:
        raise fault_invalid_message()
    return WsmanRequest(
        action=action,
        resource_uri=_text(header, NS_WSMAN, "ResourceURI"),
        message_id=message_id,
        to=_text(header, NS_ADDRESSING, "To"),
        selectors=selectors,
        options=options,
        operation_timeout=timeout if timeout is not None else DEFAULT_OPERATION_TIMEOUT,
        max_envelope_size=max(max_envelope, 8192),
        body=body,
    )


# --- body readers for the WinRS actions --------------------------------------------------------------


@dataclass
class ShellSpec:
    input_streams: str = "stdin"
    output_streams: str = "stdout stderr"
    working_directory: str | None = None
    idle_timeout: float | None = None
    environment: dict[str, str] = field(default_factory=dict)


def read_shell(req: WsmanRequest) -> ShellSpec:
    shell = req.body.find(_q(NS_SHELL, "Shell")) if req.body is not None else None
    spec = ShellSpec()
    if shell is None:
        return spec
    spec.input_streams = _text(shell, NS_SHELL, "InputStreams") or spec.input_streams
    spec.output_streams = _text(shell, NS_SHELL, "OutputStreams") or spec.output_streams
    spec.working_directory = _text(shell, NS_SHELL, "WorkingDirectory") or None
    idle = _text(shell, NS_SHELL, "IdleTimeOut")
    if idle:
        spec.idle_timeout = parse_duration(idle)
        if spec.idle_timeout is None:
            try:  # pywinrm sends a bare number of seconds here
                spec.idle_timeout = float(idle)
            except ValueError:
                spec.idle_timeout = None
    env = shell.find(_q(NS_SHELL, "Environment"))
    if env is not None:
        for var in env.findall(_q(NS_SHELL, "Variable")):
            spec.environment[var.get("Name", "")] = var.text or ""
    return spec


def read_command_line(req: WsmanRequest) -> str | None:
    """rsp:Command and each rsp:Arguments joined with spaces (how WinRS builds the cmd.exe /c line)."""
    node = req.body.find(_q(NS_SHELL, "CommandLine")) if req.body is not None else None
    if node is None:
        return None
    command = node.find(_q(NS_SHELL, "Command"))
    parts = [(command.text or "") if command is not None else ""]
    parts += [arg.text for arg in node.findall(_q(NS_SHELL, "Arguments")) if arg.text]
    return " ".join(parts)


def read_receive(req: WsmanRequest) -> tuple[str | None, list[str]]:
    """(CommandId, desired stream names) of a Receive."""
    node = req.body.find(_q(NS_SHELL, "Receive")) if req.body is not None else None
    stream = node.find(_q(NS_SHELL, "DesiredStream")) if node is not None else None
    if stream is None:
        return None, ["stdout", "stderr"]
    names = (stream.text or "stdout stderr").split()
    return stream.get("CommandId"), names


def read_signal(req: WsmanRequest) -> tuple[str | None, str]:
    node = req.body.find(_q(NS_SHELL, "Signal")) if req.body is not None else None
    if node is None:
        return None, ""
    return node.get("CommandId"), _text(node, NS_SHELL, "Code")


def read_send(req: WsmanRequest) -> list[tuple[str | None, str, bytes, bool]]:
    """(CommandId, stream name, data, end) of each rsp:Stream in a Send."""
    node = req.body.find(_q(NS_SHELL, "Send")) if req.body is not None else None
    out: list[tuple[str | None, str, bytes, bool]] = []
    if node is None:
        return out
    for stream in node.findall(_q(NS_SHELL, "Stream")):
        data = base64.b64decode((stream.text or "").encode("ascii")) if stream.text else b""
        out.append((stream.get("CommandId"), stream.get("Name", "stdin"), data, stream.get("End", "").lower() == "true"))
    return out


# --- responses ---------------------------------------------------------------------------------------


def new_guid() -> str:
    """Windows prints GUIDs uppercase (ShellId, CommandId, MessageID)."""
    return str(uuid.uuid4()).upper()


def _envelope(namespaces: str, action: str, relates_to: str, body: str) -> bytes:
    # Header order as captured: Action, MessageID, To, RelatesTo.
    return (
        f'<s:Envelope xml:lang="en-US" {namespaces}>'
        f"<s:Header><a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{new_guid()}</a:MessageID>"
        f"<a:To>{ANONYMOUS}</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode("utf-8")


_NS_SHELL_RESPONSE = (
    f'xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:x="{NS_TRANSFER}" xmlns:w="{NS_WSMAN}" '
    f'xmlns:rsp="{NS_SHELL}" xmlns:p="{NS_WSMV}"'
)
_NS_RECEIVE_RESPONSE = f'xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:w="{NS_WSMAN}" xmlns:rsp="{NS_SHELL}" xmlns:p="{NS_WSMV}"'
_NS_DELETE_RESPONSE = f'xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:w="{NS_WSMAN}" xmlns:p="{NS_WSMV}"'
_NS_FAULT = (
    f'xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:x="{NS_TRANSFER}" '
    'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    f'xmlns:w="{NS_WSMAN}" xmlns:p="{NS_WSMV}"'
)


@dataclass
class ShellInfo:
    shell_id: str
    resource_uri: str
    owner: str
    client_ip: str
    idle_timeout: float
    input_streams: str
    output_streams: str
    runtime: float = 0.0
    inactivity: float = 0.0


def create_response(req: WsmanRequest, address: str, shell: ShellInfo) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{escape(shell.resource_uri)}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell.shell_id}</w:Selector></w:SelectorSet>'
        f"</a:ReferenceParameters></x:ResourceCreated>"
        f'<rsp:Shell xmlns:rsp="{NS_SHELL}"><rsp:ShellId>{shell.shell_id}</rsp:ShellId>'
        f"<rsp:ResourceUri>{escape(shell.resource_uri)}</rsp:ResourceUri>"
        f"<rsp:Owner>{escape(shell.owner)}</rsp:Owner><rsp:ClientIP>{escape(shell.client_ip)}</rsp:ClientIP>"
        f"<rsp:IdleTimeOut>{format_duration(shell.idle_timeout)}</rsp:IdleTimeOut>"
        f"<rsp:InputStreams>{escape(shell.input_streams)}</rsp:InputStreams>"
        f"<rsp:OutputStreams>{escape(shell.output_streams)}</rsp:OutputStreams>"
        f"<rsp:ShellRunTime>{format_runtime(shell.runtime)}</rsp:ShellRunTime>"
        f"<rsp:ShellInactivity>{format_runtime(shell.inactivity)}</rsp:ShellInactivity></rsp:Shell>"
    )
    return _envelope(_NS_SHELL_RESPONSE, ACTION_CREATE + "Response", req.message_id, body)


def command_response(req: WsmanRequest, command_id: str) -> bytes:
    body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
    return _envelope(_NS_SHELL_RESPONSE, ACTION_COMMAND + "Response", req.message_id, body)


def signal_response(req: WsmanRequest) -> bytes:
    return _envelope(_NS_SHELL_RESPONSE, ACTION_SIGNAL + "Response", req.message_id, "<rsp:SignalResponse/>")


def send_response(req: WsmanRequest) -> bytes:
    return _envelope(_NS_SHELL_RESPONSE, ACTION_SEND + "Response", req.message_id, "<rsp:SendResponse/>")


def delete_response(req: WsmanRequest) -> bytes:
    return _envelope(_NS_DELETE_RESPONSE, ACTION_DELETE + "Response", req.message_id, "")


def receive_budget(max_envelope_size: int) -> int:
    """Raw output bytes one ReceiveResponse may carry so the envelope fits MaxEnvelopeSize (base64 is 4/3)."""
    usable = max(max_envelope_size - _RECEIVE_OVERHEAD, 1024)
    return max((usable * 3) // 4 - 4 * _STREAM_TAG_OVERHEAD, 512)


def receive_response(
    req: WsmanRequest,
    command_id: str,
    chunks: list[tuple[str, bytes]],
    ended: list[str],
    exit_code: int | None,
) -> bytes:
    """ReceiveResponse with data chunks, an empty End="true" element per finished stream (as captured), and
    CommandState Running, or Done with ExitCode once every stream has ended."""
    cid = quoteattr(command_id)
    parts = ["<rsp:ReceiveResponse>"]
    for name, data in chunks:
        parts.append(
            f'<rsp:Stream Name="{name}" CommandId={cid}>{base64.b64encode(data).decode("ascii")}</rsp:Stream>'
        )
    for name in ended:
        parts.append(f'<rsp:Stream Name="{name}" CommandId={cid} End="true"></rsp:Stream>')
    if exit_code is None:
        parts.append(f'<rsp:CommandState CommandId={cid} State="{STATE_RUNNING}"/>')
    else:
        parts.append(
            f'<rsp:CommandState CommandId={cid} State="{STATE_DONE}"><rsp:ExitCode>{exit_code}</rsp:ExitCode>'
            "</rsp:CommandState>"
        )
    parts.append("</rsp:ReceiveResponse>")
    return _envelope(_NS_RECEIVE_RESPONSE, ACTION_RECEIVE + "Response", req.message_id, "".join(parts))


def fault_response(relates_to: str, fault: WsmanFault, machine: str) -> bytes:
    detail = ""
    if fault.fault_detail:
        detail = f"<w:FaultDetail>{escape(fault.fault_detail)}</w:FaultDetail>"
    body = (
        f"<s:Fault><s:Code><s:Value>{fault.code}</s:Value><s:Subcode><s:Value>{fault.subcode}</s:Value>"
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
        f"<s:Detail>{detail}<f:WSManFault xmlns:f=\"{NS_WSMANFAULT}\" Code=\"{fault.wsman_code}\" "
        f"Machine={quoteattr(machine)}><f:Message>{escape(fault.message)}</f:Message></f:WSManFault>"
        "</s:Detail></s:Fault>"
    )
    return _envelope(_NS_FAULT, ACTION_FAULT, relates_to or "", body)
