"""The host double answers what the lab answers over real WinRM: same texts, exit codes and failures.

One lab process; the double opens a copy of its state directory (the same hosts, boot times and
registry), and the same inventory host is asked through WinRMSession (HTTP, NTLM, encryption) and
through DoubleSession. Commands whose output moves with the clock (netstat, tasklist) are left out, and
the counters of `net statistics` (they grow with uptime, between the two asks) are blanked.
"""

from __future__ import annotations

import re
import shutil

import pytest

from host_double import FleetDouble
from portfleet.inventory import load_inventory
from portfleet.read_host import read_command
from portfleet.render import Renderer
from portfleet.transport.base import TransportError
from portfleet.transport.factory import ConnectOptions, session_factory

NO_RETRY = ConnectOptions(connect_retries=0)  # a refused host is not retried with sleeps
COMMANDS = (
    r'reg query "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v NoSuchValue',
    "netsh int ipv4 show dynamicport tcp",
    "frobnicate /x",
    "shutdown /a",
)


@pytest.fixture(scope="module")
def both(module_lab, tmp_path_factory):
    running = module_lab(hosts=4, profile="mixed", seed=1)
    root = tmp_path_factory.mktemp("double")
    shutil.copytree(running.state_dir, root / "lab")
    double = FleetDouble(root, state_dir=root / "lab")
    return running, double, load_inventory(running.inventory)


COUNTER = re.compile(r"^(  \S.*?\s{2,})\d+\r$", re.MULTILINE)
NET_STATISTICS = re.compile(r"(PORTFLEET:BEGIN:facts\.boot_net .*?)(?=PORTFLEET:BEGIN:)", re.DOTALL)


def without_counters(stdout: str) -> str:
    """`net statistics workstation` with its counters blanked: they grow with uptime between two asks."""
    return NET_STATISTICS.sub(lambda m: COUNTER.sub(r"\1N\r", m.group(1)), stdout)


def answers(open_session, host, lines):
    with open_session(host) as session:
        return [(without_counters(r.stdout), r.stderr, r.exit_code) for r in map(session.run, lines)]


def failure(open_session, host) -> tuple[str, str]:
    with pytest.raises(TransportError) as caught:
        with open_session(host) as session:
            session.run("hostname")
    return caught.value.kind, str(caught.value)


def test_every_host_answers_the_batched_read_and_tools_alike(both):
    running, double, inventory = both
    real = session_factory(NO_RETRY)
    renderer = Renderer()
    for host in inventory.hosts:
        lines = [read_command(renderer, host), *COMMANDS]
        over_winrm = answers(real, host, lines)
        assert answers(lambda h: double.open_session(h, NO_RETRY), host, lines) == over_winrm, host.name
        assert "  Bytes received  " in over_winrm[0][0] and (over_winrm[1][2], over_winrm[3][2]) == (1, 9009)


@pytest.mark.parametrize("fault", [{"unreachable": True}, {"wrong_password": True}, {"reset_mid_command": True},
                                   {"http_500": True}], ids=lambda fault: next(iter(fault)))
def test_a_faulted_host_fails_with_the_same_kind_and_text(both, fault):
    running, double, inventory = both
    host = inventory.hosts[0]
    control = running.control()
    control.set_faults(host.name, **fault)
    double.set_faults(host.name, **fault)
    try:
        expected = failure(session_factory(NO_RETRY), host)
        assert failure(lambda h: double.open_session(h, NO_RETRY), host) == expected
    finally:
        control.clear_faults(host.name)
        double.set_faults(host.name, **{k: type(v)() for k, v in fault.items()})
