"""WS-Management / WinRS as the real pywinrm client sees it, over NTLM with message encryption on plain HTTP."""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET

import pytest
import winrm
import xmltodict
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
CMD_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
GUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


@pytest.fixture(scope="module")
def running(module_lab):
    return module_lab(hosts=3)


def protocol(running, name=None, **kwargs):
    name = name or running.hosts[0]["name"]
    return winrm.Protocol(
        running.url(name), transport="ntlm", username=running.username, password=running.password, **kwargs
    )


def test_protocol_shell_lifecycle_over_encrypted_ntlm(running):
    p = protocol(running)
    shell_id = p.open_shell()
    assert GUID.match(shell_id)
    command_id = p.run_command(shell_id, "echo", ["hello", "lab"])
    assert GUID.match(command_id)
    stdout, stderr, code = p.get_command_output(shell_id, command_id)
    assert (stdout, stderr, code) == (b"hello lab\r\n", b"", 0)
    p.cleanup_command(shell_id, command_id)
    # several commands in one shell, one NTLM handshake
    command_id = p.run_command(shell_id, "hostname")
    assert p.get_command_output(shell_id, command_id) == (running.hosts[0]["name"].encode() + b"\r\n", b"", 0)
    p.cleanup_command(shell_id, command_id)
    p.close_shell(shell_id)
    # the traffic really was sealed: pywinrm set up NTLM message encryption for http://
    assert p.transport.encryption is not None


def test_session_run_cmd_reports_stderr_and_exit_code(running):
    session = winrm.Session(running.url(running.hosts[1]["name"]), auth=(running.username, running.password), transport="ntlm")
    result = session.run_cmd("frobnicate", ["--now"])
    assert result.status_code == 9009
    assert result.std_out == b""
    assert result.std_err == (
        b"'frobnicate' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
    )


def test_session_run_ps_runs_encoded_command(running):
    session = winrm.Session(running.url(running.hosts[0]["name"]), auth=(running.username, running.password), transport="ntlm")
    result = session.run_ps("hostname")
    assert result.status_code == 0, result.std_err
    assert result.std_out.strip() == running.hosts[0]["name"].encode()


def test_relates_to_echoes_message_id_verbatim_and_message_ids_are_uuids(running):
    p = protocol(running)
    shell_id = p.open_shell()
    odd_id = "uuid:" + str(uuid.uuid4()).upper()[:-4] + "abcd"  # mixed case must come back unchanged
    envelope = {"env:Envelope": p.build_wsman_header(action=SHELL + "/Command", resource_uri=CMD_URI, shell_id=shell_id)}
    envelope["env:Envelope"]["env:Header"]["a:MessageID"] = odd_id
    envelope["env:Envelope"]["env:Body"] = {"rsp:CommandLine": {"rsp:Command": "ver"}}
    root = ET.fromstring(p.send_message(xmltodict.unparse(envelope)))
    assert root.findtext("s:Header/a:RelatesTo", namespaces=NS) == odd_id
    message_id = root.findtext("s:Header/a:MessageID", namespaces=NS)
    assert message_id.startswith("uuid:") and GUID.match(message_id[5:])
    assert root.findtext("s:Header/a:Action", namespaces=NS) == SHELL + "/CommandResponse"
    p.close_shell(shell_id)


def test_create_response_describes_the_shell_like_windows(running):
    p = protocol(running)
    envelope = {"env:Envelope": p.build_wsman_header(action="http://schemas.xmlsoap.org/ws/2004/09/transfer/Create", resource_uri=CMD_URI)}
    envelope["env:Envelope"]["env:Body"] = {"rsp:Shell": {"rsp:InputStreams": "stdin", "rsp:OutputStreams": "stdout stderr"}}
    root = ET.fromstring(p.send_message(xmltodict.unparse(envelope)))
    shell_id = root.findtext(".//w:SelectorSet/w:Selector[@Name='ShellId']", namespaces=NS)
    assert GUID.match(shell_id)
    shell = root.find("s:Body/rsp:Shell", NS)
    assert shell.findtext("rsp:ShellId", namespaces=NS) == shell_id
    assert shell.findtext("rsp:Owner", namespaces=NS) == running.username
    assert shell.findtext("rsp:ClientIP", namespaces=NS) == "127.0.0.1"
    assert shell.findtext("rsp:IdleTimeOut", namespaces=NS) == "PT7200.000S"
    p.close_shell(shell_id)


def _fault(excinfo):
    err = excinfo.value
    root = ET.fromstring(err.response)
    return err, root


def test_unknown_shell_id_gets_invalid_selectors_fault(running):
    p = protocol(running)
    bogus = str(uuid.uuid4()).upper()
    with pytest.raises(WSManFaultError) as excinfo:
        p.run_command(bogus, "ver")
    err, root = _fault(excinfo)
    assert err.code == 500
    assert err.wsman_fault_code == 2150858843
    assert err.fault_code == "s:Sender" and err.fault_subcode == "w:InvalidSelectors"
    message = root.findtext(".//f:WSManFault/f:Message", namespaces=NS)
    assert f"ShellId {bogus} failed because the shell was not found on the server" in message
    assert root.findtext("s:Header/a:Action", namespaces=NS) == "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"


def test_unknown_command_id_gets_invalid_selectors_fault(running):
    p = protocol(running)
    shell_id = p.open_shell()
    with pytest.raises(WSManFaultError) as excinfo:
        p.get_command_output_raw(shell_id, str(uuid.uuid4()).upper())
    err, root = _fault(excinfo)
    assert err.wsman_fault_code == 2150858843 and err.fault_subcode == "w:InvalidSelectors"
    assert "command identifier that does not exist" in root.findtext(".//f:Message", namespaces=NS)
    p.close_shell(shell_id)


def test_terminated_command_is_gone(running):
    p = protocol(running)
    shell_id = p.open_shell()
    command_id = p.run_command(shell_id, "ver")
    p.get_command_output(shell_id, command_id)
    p.cleanup_command(shell_id, command_id)  # Signal terminate
    with pytest.raises(WSManFaultError) as excinfo:
        p.get_command_output_raw(shell_id, command_id)
    assert excinfo.value.wsman_fault_code == 2150858843
    p.close_shell(shell_id)
    with pytest.raises(WSManFaultError) as excinfo:  # Delete removed the shell
        p.run_command(shell_id, "ver")
    assert excinfo.value.wsman_fault_code == 2150858843


def _receive_small_envelopes(p, shell_id, command_id, max_envelope):
    """Receive with a MaxEnvelopeSize of our choice (pywinrm always asks for 153600)."""
    envelope = {"env:Envelope": p.build_wsman_header(action=SHELL + "/Receive", resource_uri=CMD_URI, shell_id=shell_id)}
    envelope["env:Envelope"]["env:Header"]["w:MaxEnvelopeSize"]["#text"] = str(max_envelope)
    envelope["env:Envelope"]["env:Body"] = {"rsp:Receive": {"rsp:DesiredStream": {"@CommandId": command_id, "#text": "stdout stderr"}}}
    raw = p.send_message(xmltodict.unparse(envelope))
    return raw, ET.fromstring(raw)


def test_output_larger_than_the_envelope_is_split_over_several_receives(running):
    p = protocol(running)
    shell_id = p.open_shell()
    text = "".join(chr(ord("a") + i % 26) for i in range(7000))
    command_id = p.run_command(shell_id, "echo", [text])
    pieces, states, sizes = [], [], []
    for _ in range(20):
        raw, root = _receive_small_envelopes(p, shell_id, command_id, 8192)
        sizes.append(len(raw))
        for stream in root.iter(f"{{{NS['rsp']}}}Stream"):
            if stream.get("Name") == "stdout" and stream.text:
                pieces.append(base64.b64decode(stream.text))
        state = root.find(".//rsp:CommandState", NS)
        states.append(state.get("State").rsplit("/", 1)[1])
        if states[-1] == "Done":
            assert state.findtext("rsp:ExitCode", namespaces=NS) == "0"
            break
    assert len(states) >= 2 and states[:-1] == ["Running"] * (len(states) - 1) and states[-1] == "Done"
    assert b"".join(pieces) == text.encode() + b"\r\n"
    assert max(sizes) <= 8192
    p.cleanup_command(shell_id, command_id)
    p.close_shell(shell_id)


def test_large_real_output_arrives_whole_through_get_command_output(running):
    """netstat -ano on the busiest host is bigger than one 150 KB envelope; pywinrm reassembles it."""
    sizes = {}
    for host in running.hosts:
        session = winrm.Session(running.url(host["name"]), auth=(running.username, running.password), transport="ntlm")
        sizes[host["name"]] = len(session.run_cmd("netstat", ["-ano"]).std_out)
    biggest = max(sizes, key=sizes.get)
    p = protocol(running, biggest)
    shell_id = p.open_shell()
    command_id = p.run_command(shell_id, "netstat -ano")
    receives, chunks, done = 0, [], False
    while not done:
        stdout, _stderr, code, done = p.get_command_output_raw(shell_id, command_id)
        chunks.append(stdout)
        receives += 1
    output = b"".join(chunks)
    assert len(output) == sizes[biggest]
    assert output.startswith(b"\r\nActive Connections\r\n")
    # the exhausted host's thousands of ports: several envelopes' worth at pywinrm's MaxEnvelopeSize 153600
    assert len(output) > 150_000
    assert receives >= -(-len(output) // 150_000)
    assert code == 0
    p.cleanup_command(shell_id, command_id)
    p.close_shell(shell_id)


def test_output_is_encoded_in_the_shell_code_page(running):
    p = protocol(running)
    for codepage, expected in ((437, "Grüße\r\n".encode("cp437")), (65001, "Grüße\r\n".encode("utf-8"))):
        shell_id = p.open_shell(codepage=codepage)
        command_id = p.run_command(shell_id, "echo Grüße")
        assert p.get_command_output(shell_id, command_id)[0] == expected
        p.cleanup_command(shell_id, command_id)
        p.close_shell(shell_id)


def test_ctrl_c_and_stdin_are_accepted(running):
    p = protocol(running)
    shell_id = p.open_shell()
    command_id = p.run_command(shell_id, "ver")
    p.send_command_input(shell_id, command_id, "ignored\r\n", end=True)
    envelope = {"env:Envelope": p.build_wsman_header(action=SHELL + "/Signal", resource_uri=CMD_URI, shell_id=shell_id)}
    envelope["env:Envelope"]["env:Body"] = {"rsp:Signal": {"@CommandId": command_id, "rsp:Code": SHELL + "/signal/ctrl_c"}}
    root = ET.fromstring(p.send_message(xmltodict.unparse(envelope)))
    assert root.find("s:Body/rsp:SignalResponse", NS) is not None
    p.cleanup_command(shell_id, command_id)
    p.close_shell(shell_id)


def test_receive_waits_then_times_out_as_windows_does(running):
    """A command whose output is not there yet: Receive holds for OperationTimeout, then the TimedOut fault."""
    name = running.hosts[2]["name"]
    control = running.control()
    control.set_faults(name, slow_seconds=2.0)
    try:
        p = protocol(running, name, operation_timeout_sec=1, read_timeout_sec=5)
        shell_id = p.open_shell()
        command_id = p.run_command(shell_id, "ver")
        with pytest.raises(WinRMOperationTimeoutError):
            p.get_command_output_raw(shell_id, command_id)
        stdout, _, code = p.get_command_output(shell_id, command_id)  # pywinrm re-sends Receive until Done
        assert b"Microsoft Windows [Version" in stdout and code == 0
        p.cleanup_command(shell_id, command_id)
        p.close_shell(shell_id)
    finally:
        control.set_faults(name, slow_seconds=0.0)


def test_max_shells_per_user_quota(running):
    p = protocol(running, running.hosts[1]["name"])
    shells = [p.open_shell() for _ in range(30)]
    try:
        with pytest.raises(WSManFaultError) as excinfo:
            p.open_shell()
        assert excinfo.value.wsman_fault_code == 2150859173
        assert "maximum number of 30 concurrent shells" in excinfo.value.reason
    finally:
        for shell_id in shells:
            p.close_shell(shell_id, close_session=False)
    shell_id = p.open_shell()
    p.close_shell(shell_id)
