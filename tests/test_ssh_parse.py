"""Pure parsers of the Linux side: sysctl output and sysctl.d files, `ss -tanp`, Linux facts, and the
Linux readings of the catalogue. Samples were captured on Debian 12 (iproute2-6.1.0, procps 4.0.2)
unless marked otherwise."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from portfleet.diagnose.linux import parse_reserved
from portfleet.facts import parse_linux_facts
from portfleet.parse.sections import split_sections
from portfleet.parse.ss import parse_ss
from portfleet.parse.sysctl import boot_order, normalize_key, parse_conf, parse_sysctl_read, parse_sysctl_value
from portfleet.settings import SYSCTL_FILE, PortRange, ReadStatus, get_setting

SS_TANP = """\
State     Recv-Q Send-Q      Local Address:Port        Peer Address:Port Process                            
LISTEN    0      128                 0.0.0.0:2024             0.0.0.0:*                                      
ESTAB     0      0               127.0.0.1:37786          127.0.0.1:42651 users:(("python3",pid=24319,fd=7))
LISTEN    0      128                 [::1]:51927               [::]:*     users:(("python3",pid=24319,fd=3))
LISTEN    1      128                     *:42651                  *:*     users:(("python3",pid=24319,fd=6))
ESTAB     0      0                   [::1]:51927              [::1]:45528 users:(("python3",pid=24319,fd=5))
TIME-WAIT 0      0          127.0.0.1:40357    127.0.0.1:37148                                  
CLOSE-WAIT 1     0          10.0.0.5:40001     10.0.0.9:443   users:(("Web Content",pid=77,fd=41),("firefox",pid=70,fd=12))
"""


def test_ss_rows_states_and_owners():
    conns, processes = parse_ss(SS_TANP)
    assert len(conns) == 7  # the header is not a row
    listen, estab, v6listen, anyv6, v6estab, tw, cw = conns
    assert (listen.local_addr, listen.local_port, listen.remote_port, listen.state, listen.pid) == \
        ("0.0.0.0", 2024, None, "LISTENING", None)
    assert (estab.state, estab.pid, estab.remote_addr, estab.remote_port) == ("ESTABLISHED", 24319, "127.0.0.1", 42651)
    assert (v6listen.local_addr, v6listen.local_port, v6listen.remote_addr) == ("::1", 51927, "::")
    assert anyv6.local_addr == "*" and anyv6.is_listening
    assert v6estab.local_addr == "::1" and v6estab.remote_port == 45528
    assert (tw.state, tw.pid) == ("TIME_WAIT", 0)  # no owner: shown as Windows shows it, PID 0
    assert (cw.state, cw.pid) == ("CLOSE_WAIT", 77)  # the first owner holds it
    assert processes[77].name == "Web Content" and processes[70].name == "firefox"
    assert processes[24319].name == "python3"


def test_ss_older_layout_and_interface_suffix():
    # iproute2 before 4.x printed IPv6 without brackets (constructed from that format, not captured).
    old = "State Recv-Q Send-Q Local Address:Port Peer Address:Port\nLISTEN 0 128 :::22 :::*\n" \
          "LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:*\nSYN-SENT 0 1 10.0.0.5:50000 10.0.0.9:443\n"
    conns, processes = parse_ss(old)
    assert [(c.local_addr, c.local_port, c.state) for c in conns] == [
        ("::", 22, "LISTENING"), ("127.0.0.53", 53, "LISTENING"), ("10.0.0.5", 50000, "SYN_SENT")]
    assert processes == {}
    assert parse_ss("Cannot open netlink socket: Protocol not supported") == ([], {})


def test_sysctl_values_and_conf_syntax():
    assert parse_sysctl_value("32768\t60999") == [32768, 60999]
    assert parse_sysctl_value("60\n") == [60]
    assert parse_sysctl_value("sysctl: permission denied on key 'x'") is None
    assert normalize_key("net/ipv4/tcp_fin_timeout") == "net.ipv4.tcp_fin_timeout"
    assert normalize_key("net.ipv4.conf.eth0/1.forwarding") == "net.ipv4.conf.eth0/1.forwarding"
    conf = parse_conf("# c\n; c\n-net.ipv4.tcp_tw_reuse=1\n net/ipv4/tcp_fin_timeout = 30 \n"
                      "net.ipv4.tcp_fin_timeout = 20\nbroken line\n")
    assert conf == {"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_fin_timeout": "20"}  # the later one wins
    # /etc/sysctl.conf is applied after every sysctl.d file, which go by file name.
    assert boot_order("/usr/lib/sysctl.d/50-default.conf") < boot_order(SYSCTL_FILE) < \
        boot_order("/etc/sysctl.d/99-sysctl.conf") < boot_order("/etc/sysctl.conf")


def test_sysctl_read_section():
    text = ("32768\t60999\n"
            f"{SYSCTL_FILE}:net.ipv4.ip_local_port_range = 10000 65535\n"
            "/etc/sysctl.d/99-tuning.conf:net/ipv4/ip_local_port_range=1024 65000\n"
            "/etc/sysctl.d/99-tuning.conf:net.ipv4.tcp_tw_reuse=1\n")
    read = parse_sysctl_read(text, "net.ipv4.ip_local_port_range")
    assert read.runtime == [32768, 60999]
    assert [h.path for h in read.hits] == [SYSCTL_FILE, "/etc/sysctl.d/99-tuning.conf"]
    assert read.in_file(SYSCTL_FILE).value == "10000 65535"
    missing = parse_sysctl_read("sysctl: cannot stat /proc/sys/net/ipv4/tcp_tw_reuse: No such file or directory",
                                "net.ipv4.tcp_tw_reuse")
    assert missing.missing and missing.runtime is None


def test_linux_readings():
    ports = get_setting("net.ipv4.ip_local_port_range")
    kept = ports.parse(f"10000\t65535\n{SYSCTL_FILE}:net.ipv4.ip_local_port_range = 10000 65535\n", None)
    assert (kept.status, kept.value, kept.effective) == (ReadStatus.VALUE, PortRange(10000, 55536), PortRange(10000, 55536))
    assert ports.matches(PortRange(10000, 55536), kept)
    # In the kernel only (sysctl -w by hand): absent from the file, so not compliant: lost at reboot.
    runtime_only = ports.parse("10000\t65535\n", None)
    assert runtime_only.status == ReadStatus.ABSENT and runtime_only.effective == PortRange(10000, 55536)
    assert not ports.matches(PortRange(10000, 55536), runtime_only)
    assert "not kept in" in runtime_only.detail
    # Kept, but the kernel runs something else; and a later file wins at boot.
    stale = ports.parse(f"32768\t60999\n{SYSCTL_FILE}:net.ipv4.ip_local_port_range=10000 65535\n"
                        "/etc/sysctl.conf:net.ipv4.ip_local_port_range = 1024 65535\n", None)
    assert stale.status == ReadStatus.VALUE and not ports.matches(PortRange(10000, 55536), stale)
    assert "the kernel runs 32768 60999" in stale.detail and "/etc/sysctl.conf sets 1024 65535" in stale.detail
    reuse = get_setting("net.ipv4.tcp_tw_reuse")
    assert reuse.parse("sysctl: cannot stat /proc/sys/net/ipv4/tcp_tw_reuse: No such file or directory", None).status \
        == ReadStatus.UNSUPPORTED
    assert reuse.parse("", None).status == ReadStatus.UNPARSABLE
    assert reuse.parse(f"2\n{SYSCTL_FILE}:net.ipv4.tcp_tw_reuse = yes\n", None).status == ReadStatus.UNPARSABLE
    assert reuse.matches(None, reuse.parse("2\n", None))  # desired absent: not in portfleet's file


LINUX_READ = """\
PORTFLEET:BEGIN:facts.uname
Linux 6.1.0-27-amd64
PORTFLEET:BEGIN:facts.btime
btime 1795238734
PORTFLEET:BEGIN:facts.os_release
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
PORTFLEET:END
"""


def test_linux_facts():
    facts = parse_linux_facts(split_sections(LINUX_READ))
    assert facts.platform == "linux" and facts.kernel_release == "6.1.0-27-amd64"
    assert facts.kernel_version == (6, 1)
    assert facts.boot_time == datetime.fromtimestamp(1795238734, timezone.utc)
    assert facts.os_label == "Debian GNU/Linux 12 (bookworm) (Linux 6.1.0-27-amd64)"
    # No Windows rule applies to a Linux host.
    assert not facts.version_known and not facts.is_legacy
    empty = parse_linux_facts({})
    assert empty.boot_time is None and len(empty.notes) == 2 and empty.os_label == "Linux (kernel unknown)"


@pytest.mark.parametrize("text,expected", [
    ("", []), ("8080,9148", [(8080, 8080, True), (9148, 9148, True)]), ("10000-10005", [(10000, 10005, True)]),
    ("sysctl: cannot stat /proc/sys/net/ipv4/ip_local_reserved_ports", None),
])
def test_reserved_ports(text, expected):
    assert parse_reserved(text) == expected
