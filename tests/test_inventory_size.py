"""Inventories at fleet scale: 100,000 hosts load with the right vars and within the memory target,
in linear time; and the shortcuts that make that possible (group layers merged once per set of
groups, checks done once per distinct connection vars) give Ansible's exact answer.

Timings are bench/inventory_bench.py's business; the one clock used here is a ratio (see
test_loading_time_grows_linearly), which a quadratic step fails by a factor of 4 whatever the
machine's speed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portfleet.inventory import InventoryError, load_inventory
from portfleet.inventory.ansible_result import as_ansible_json
from test_inventory_vault_tools import Ansible, write

SITES = 100


def yaml_fleet(path: Path, hosts: int) -> Path:
    """``hosts`` WinRM hosts in SITES site groups under windows; every 7th host has its own port."""
    per = hosts // SITES
    lines = ["all:", "  vars:", "    ansible_connection: winrm", "  children:", "    windows:",
             "      vars:", "        ansible_winrm_transport: ntlm", "      children:"]
    for s in range(SITES):
        lines += [f"        site{s:03d}:", "          vars:", f"            site: s{s}", "          hosts:"]
        for i in range(per):
            k = s * per + i
            lines.append(f"            web{k:06d}.corp:")
            lines.append(f"              ansible_host: 10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}")
            if k % 7 == 0:
                lines.append("              ansible_port: 5985")
    return write(path, "\n".join(lines) + "\n")


def ini_fleet(path: Path, hosts: int, sites: int = SITES) -> Path:
    per = hosts // sites
    out: list[str] = []
    for s in range(sites):
        out.append(f"[site{s:03d}]")
        out += [f"web{s * per + i:06d}.corp ansible_host=10.9.{(s * per + i) >> 8 & 255}.{(s * per + i) & 255}" for i in range(per)]
        out += [f"[site{s:03d}:vars]", f"site=s{s}"]
    out += ["[windows:children]", *(f"site{s:03d}" for s in range(sites)), "[windows:vars]", "ansible_connection=winrm"]
    return write(path, "\n".join(out) + "\n")


@pytest.mark.parametrize("kind", ["yaml", "ini"])
def test_100000_hosts_load_with_their_vars(tmp_path, kind):
    path = yaml_fleet(tmp_path / "hosts.yml", 100_000) if kind == "yaml" else ini_fleet(tmp_path / "hosts.ini", 100_000)
    write(tmp_path / "group_vars" / "site042.yml", "ansible_user: site42-admin\n")
    write(tmp_path / "host_vars" / "web042001.corp.yml", "ansible_port: 5999\n")
    inv = load_inventory(path)
    assert len(inv.hosts) == 100_000 and len(inv.group_hosts("windows")) == 100_000
    host = inv.host("web042001.corp")
    assert (host.port, host.user, host.vars["site"], host.connection) == (5999, "site42-admin", "s42", "winrm")
    assert host.var_source("ansible_port")["file"] == str(tmp_path / "host_vars" / "web042001.corp.yml")
    other = inv.host("web042007.corp")
    assert other.user == "site42-admin" and other.port == (5985 if kind == "yaml" and 42007 % 7 == 0 else 5986)
    assert inv.host("web099999.corp").user is None and inv.host("web099999.corp").groups == {"all", "windows", "site099"}


def test_100000_hosts_stay_under_500_mb(tmp_path):
    path = yaml_fleet(tmp_path / "hosts.yml", 100_000)
    # VmHWM, not ru_maxrss: Linux carries the parent's (this test process's) peak into a child's
    # ru_maxrss across fork and exec, while VmHWM belongs to the child's own address space.
    code = ("import sys; from portfleet.inventory import load_inventory; "
            "inv = load_inventory(sys.argv[1]); [h.check() for h in inv.hosts]; "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]; "
            "print(len(inv.hosts), hwm)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300, check=True)
    count, peak_kb = map(int, done.stdout.split())
    assert count == 100_000
    assert peak_kb < 500 * 1024, f"peak RSS {peak_kb // 1024} MB"


def _load_time(path: Path) -> float:
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        load_inventory(path)
        best = min(best, time.perf_counter() - started)
    return best


def test_loading_time_grows_linearly(tmp_path):
    # One group holding every host: the shape in which a list-membership test per added host made
    # loading quadratic (170 s for 100,000 hosts). 4x the hosts must cost about 4x, well under 16x.
    small = ini_fleet(tmp_path / "small.ini", 15_000, sites=1)
    large = ini_fleet(tmp_path / "large.ini", 60_000, sites=1)
    ratio = _load_time(large) / _load_time(small)
    assert ratio < 9, f"4x the hosts took {ratio:.1f}x the time"


def test_shared_group_layers_and_checks_give_ansibles_answer(tmp_path):
    """Overlapping groups, priorities, children at several depths, group_vars and host_vars, hosts
    that differ in one connection var: every host's merged vars as `ansible-inventory --list` has them."""
    body = ["all:", "  vars:", "    ansible_connection: winrm", "    tier: base", "  children:"]
    body += ["    windows:", "      vars:", "        tier: windows", "        ansible_port: 5986", "      children:"]
    for s in range(6):
        body += [f"        site{s}:", "          vars:", f"            tier: site{s}",
                 f"            ansible_group_priority: {10 - s}" if s % 2 else "            dc: none", "          hosts:"]
        for i in range(50):
            k = s * 50 + i
            body.append(f"            h{k:03d}:" + ("" if k % 3 else f" {{ansible_port: {5985 + k % 2}}}"))
    body += ["    patch_a:", "      vars:", "        tier: patch_a", "        ansible_group_priority: 5", "      hosts:"]
    body += [f"        h{k:03d}:" for k in range(0, 300, 4)]
    body += ["    patch_b:", "      vars:", "        tier: patch_b", "      children:", "        patch_a:", "      hosts:"]
    body += [f"        h{k:03d}:" for k in range(0, 300, 5)]
    inv_dir = tmp_path / "inv"
    write(inv_dir / "hosts.yml", "\n".join(body) + "\n")
    write(inv_dir / "group_vars" / "site3.yml", "tier: gv_site3\nansible_user: s3\n")
    write(inv_dir / "group_vars" / "patch_b.yml", "ansible_user: pb\n")
    write(inv_dir / "host_vars" / "h007.yml", "tier: hv\n")
    ours = load_inventory(inv_dir)
    theirs = Ansible(tmp_path / "ansible-home").inventory_list(inv_dir)["_meta"]["hostvars"]
    assert len(ours.hosts) == 300
    for host in ours.hosts:
        assert as_ansible_json(host.raw_vars) == json.loads(json.dumps(theirs[host.name])), host.name


def test_a_port_out_of_range_is_caught_on_every_host_not_only_the_first_of_its_kind(tmp_path):
    inv = write(tmp_path / "hosts.yml", textwrap.dedent("""\
        all:
          vars: {ansible_connection: winrm}
          hosts:
            a1: {ansible_port: 5986}
            a2: {ansible_port: 5985}
            a3: {ansible_port: 70000}
        """))
    with pytest.raises(InventoryError) as info:
        load_inventory(inv)
    assert "ansible_port for host 'a3'" in str(info.value) and ":6" in str(info.value)
