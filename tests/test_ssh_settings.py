"""The Linux catalogue entries, their playbook checks, their templates, and how inventory vars become an
SSH target (no host is contacted here)."""

from __future__ import annotations

import textwrap

import pytest

from portfleet.facts import HostFacts
from portfleet.inventory import load_inventory
from portfleet.playbook import PlaybookError, load_playbook, loads_playbook
from portfleet.read_host import platform_settings
from portfleet.render import READ_COMMAND_BUDGET, Renderer
from portfleet.resources import playbooks_dir
from portfleet.settings import CATALOGUE, SYSCTL_FILE, PortRange, SettingError, get_setting
from portfleet.transport.factory import ConnectOptions, session_factory, ssh_target
from portfleet.transport.ssh import SSHSession
from portfleet.transport.winrm import WinRMSession

LINUX = ("net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_fin_timeout")


def test_linux_catalogue_entries():
    assert [k for k, s in CATALOGUE.items() if s.platform == "linux"] == list(LINUX)
    for key in LINUX:
        s = CATALOGUE[key]
        assert not s.needs_reboot and s.can_be_absent and "ip-sysctl.rst" in s.doc
    assert CATALOGUE["net.ipv4.ip_local_port_range"].default_value == PortRange(32768, 28232)
    assert CATALOGUE["net.ipv4.tcp_tw_reuse"].default_value == 2
    assert CATALOGUE["net.ipv4.tcp_fin_timeout"].default_value == 60


@pytest.mark.parametrize("raw", ["10000 65535", "10000-65535", [10000, 65535], {"start": 10000, "end": 65535},
                                 {"start": 10000, "num": 55536}, PortRange(10000, 55536)])
def test_port_range_forms(raw):
    assert get_setting("net.ipv4.ip_local_port_range").validate(raw) == PortRange(10000, 55536)


@pytest.mark.parametrize("raw,why", [
    ("1000 60999", "below 1024"),  # ipv4_local_port_range(): EINVAL under ip_unprivileged_port_start
    ("40000 30000", "must be above low"),  # EINVAL when high < low
    ("40000 40000", "must be above low"),  # the kernel takes it; a one-port range is refused here
    ("1024 65536", "past 65535"),
    ("10000", "two ports"),
])
def test_port_range_bounds(raw, why):
    with pytest.raises(SettingError, match=why):
        get_setting("net.ipv4.ip_local_port_range").validate(raw)


def test_scalar_bounds_and_kernel_checks():
    reuse, fin = get_setting("net.ipv4.tcp_tw_reuse"), get_setting("net.ipv4.tcp_fin_timeout")
    assert [reuse.validate(v) for v in (0, 1, 2)] == [0, 1, 2]
    for bad in (3, -1, "yes"):
        with pytest.raises(SettingError):
            reuse.validate(bad)
    assert fin.validate(1) == 1 and fin.validate("300") == 300
    for bad in (0, 301):
        with pytest.raises(SettingError, match="1-300 seconds"):
            fin.validate(bad)
    old = HostFacts(platform="linux", kernel_release="4.19.0-17-amd64")
    with pytest.raises(SettingError, match="needs Linux 4.20"):
        reuse.validate(2, old)
    assert reuse.validate(1, old) == 1
    assert reuse.validate(2, HostFacts(platform="linux", kernel_release="6.1.0")) == 2


def test_linux_playbook_loads_and_errors_point_at_lines(tmp_path):
    book = load_playbook(playbooks_dir() / "linux-port-exhaustion.yml")
    assert book.warnings == []
    (play,) = book.plays
    assert play.hosts == "linux"
    assert play.settings == {"net.ipv4.ip_local_port_range": PortRange(10000, 55536),
                             "net.ipv4.tcp_tw_reuse": 1, "net.ipv4.tcp_fin_timeout": 30}
    text = textwrap.dedent("""\
        - hosts: linux
          settings:
            net.ipv4.tcp_fin_timeout: 30
            net.ipv4.ip_local_port_range: [1000, 2000]
        """)
    with pytest.raises(PlaybookError) as caught:
        loads_playbook(text, "bad.yml")
    assert str(caught.value).startswith("bad.yml:4: net.ipv4.ip_local_port_range: low 1000 is below 1024")
    with pytest.raises(PlaybookError, match=r"^bad.yml:3: unknown setting 'net.ipv4.tcp_tw_reus'; did you mean"):
        loads_playbook("- hosts: linux\n  settings:\n    net.ipv4.tcp_tw_reus: 1\n", "bad.yml")
    same_parity = loads_playbook("- hosts: linux\n  settings:\n    net.ipv4.ip_local_port_range: 10000 65000\n", "p.yml")
    assert same_parity.warnings and same_parity.warnings[0].startswith("p.yml:3: warning:")
    assert "different parity" in same_parity.warnings[0]


def test_linux_templates_are_sh_scripts():
    r = Renderer()
    read = r.read_command(platform_settings("linux"), {}, platform="linux")
    assert " & " not in read and len(read) < READ_COMMAND_BUDGET
    lines = read.splitlines()
    assert lines[0] == "echo 'PORTFLEET:BEGIN:facts.uname'" and lines[-1] == "echo 'PORTFLEET:END'"
    assert "sysctl -n net.ipv4.tcp_tw_reuse 2>&1" in lines
    write = r.write_command(get_setting("net.ipv4.ip_local_port_range"), "10000 65535", {})
    assert "v='10000 65535'" in write.splitlines() and f"f='{SYSCTL_FILE}'" in write.splitlines()
    assert 'sysctl -w "$k=$v" || exit 1' in write
    unset = r.unset_command(get_setting("net.ipv4.tcp_fin_timeout"), {})
    assert "k='net.ipv4.tcp_fin_timeout'" in unset and "# portfleet prior: $k = " in unset
    # Windows templates keep their single cmd.exe line.
    assert "\n" not in r.read_command(platform_settings("windows"), {})


def test_inventory_vars_become_an_ssh_target(tmp_path, monkeypatch):
    monkeypatch.setenv("LINUX_PW", "s3cret-pw")
    inv = tmp_path / "inv.yml"
    inv.write_text(textwrap.dedent(f"""\
        all:
          hosts:
            web:
              ansible_connection: winrm
              ansible_user: admin
              ansible_password: x
            a:
              ansible_host: 10.0.0.5
              ansible_port: 2200
              ansible_user: ops
              ansible_ssh_private_key_file: ~/.ssh/id_test
              portfleet_known_hosts: {tmp_path}/kh
            b:
              ansible_user: root
              portfleet_password_env: LINUX_PW
              ansible_ssh_host_key_checking: false
              portfleet_platform: linux
            c:
              ansible_user: root
              ansible_host_key_checking: "no"
            d:
              ansible_connection: local
        """))
    hosts = {h.name: h for h in load_inventory(inv).hosts}
    a = ssh_target(hosts["a"], ConnectOptions())
    assert (a.address, a.port, a.username, a.key_filename, a.password) == ("10.0.0.5", 2200, "ops", "~/.ssh/id_test", None)
    assert a.host_key_checking and a.known_hosts == f"{tmp_path}/kh" and a.platform is None
    b = ssh_target(hosts["b"], ConnectOptions())
    assert b.password == "s3cret-pw" and not b.host_key_checking and b.platform == "linux" and b.port == 22
    assert b.known_hosts == "~/.ssh/known_hosts"
    assert "s3cret-pw" not in repr(b) and "s3cret-pw" not in str(b) and "password" in repr(b)
    assert not ssh_target(hosts["c"], ConnectOptions()).host_key_checking
    open_session = session_factory()
    assert isinstance(open_session(hosts["a"]), SSHSession)  # nothing is contacted before run()
    assert isinstance(open_session(hosts["web"]), WinRMSession)
    from portfleet.transport.base import TransportError

    with pytest.raises(TransportError, match="'local' is not supported"):
        open_session(hosts["d"])
