"""A command sitting at a prompt (reg add without /f on an existing value) under WinRS, as the real pywinrm
Protocol sees it: the prompt arrives with CommandState Running, later Receives time out, Signal terminate
ends it (MS-WSMV 3.1.4.14 / 3.1.4.12; diyan/pywinrm#177)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest
import winrm
import xmltodict
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError

SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CMD_URI = SHELL + "/cmd"
NS = {"rsp": SHELL}
KEY = r'"HKCU\Software\portfleet-fidelity"'
PROMPT = b"Value Prompted exists, overwrite(Yes/No)? "


@pytest.fixture(scope="module")
def running(module_lab):
    return module_lab(hosts=1)


def protocol(running):
    # a short OperationTimeout so that "nothing new" comes back as the TimedOut fault quickly
    return winrm.Protocol(running.url(running.hosts[0]["name"]), transport="ntlm", username=running.username,
                          password=running.password, operation_timeout_sec=1, read_timeout_sec=3)


def raw_receive(p, shell_id, command_id):
    envelope = {"env:Envelope": p.build_wsman_header(action=SHELL + "/Receive", resource_uri=CMD_URI,
                                                      shell_id=shell_id)}
    envelope["env:Envelope"]["env:Body"] = {
        "rsp:Receive": {"rsp:DesiredStream": {"@CommandId": command_id, "#text": "stdout stderr"}}}
    return ET.fromstring(p.send_message(xmltodict.unparse(envelope)))


def run(p, shell_id, line):
    command_id = p.run_command(shell_id, line)
    out, err, code = p.get_command_output(shell_id, command_id)
    p.cleanup_command(shell_id, command_id)
    return out, err, code


def start_prompt(p, shell_id):
    out, _, code = run(p, shell_id, f"reg add {KEY} /v Prompted /t REG_SZ /d one /f")
    assert code == 0, out
    return p.run_command(shell_id, f"reg add {KEY} /v Prompted /t REG_SZ /d two")


def test_prompt_is_running_until_terminated(running):
    p = protocol(running)
    shell_id = p.open_shell()
    command_id = start_prompt(p, shell_id)

    root = raw_receive(p, shell_id, command_id)
    streams = root.findall(".//rsp:Stream", NS)
    stdout = b"".join(base64.b64decode(s.text) for s in streams if s.get("Name") == "stdout" and s.text)
    assert stdout == PROMPT
    assert not [s for s in streams if s.get("End") == "true"]  # no stream has ended
    state = root.find(".//rsp:CommandState", NS)
    assert state.get("State") == SHELL + "/CommandState/Running"
    assert state.find("rsp:ExitCode", NS) is None

    # nothing more is coming: every further Receive waits OperationTimeout and gets the TimedOut fault,
    # which pywinrm's get_command_output would retry forever
    for _ in range(2):
        with pytest.raises(WinRMOperationTimeoutError):
            p.get_command_output_raw(shell_id, command_id)

    p.cleanup_command(shell_id, command_id)  # Signal terminate
    with pytest.raises(WSManFaultError) as excinfo:
        p.get_command_output_raw(shell_id, command_id)
    assert excinfo.value.wsman_fault_code == 2150858843  # InvalidSelectors: the command is gone

    # the shell is still usable, and the value was not overwritten
    out, _, code = run(p, shell_id, f"reg query {KEY} /v Prompted")
    assert code == 0 and out.endswith(b"    Prompted    REG_SZ    one\r\n\r\n")
    p.close_shell(shell_id)


def test_deleting_the_shell_ends_the_prompting_command(running):
    p = protocol(running)
    shell_id = p.open_shell()
    command_id = start_prompt(p, shell_id)
    stdout, _, _, done = p.get_command_output_raw(shell_id, command_id)
    assert (stdout, done) == (PROMPT, False)
    p.close_shell(shell_id)
    shell_id = p.open_shell()
    out, _, code = run(p, shell_id, "hostname")
    assert (out, code) == (running.hosts[0]["name"].encode() + b"\r\n", 0)
    p.close_shell(shell_id)
