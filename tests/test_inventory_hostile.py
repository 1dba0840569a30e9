"""Hostile and broken inventories, as a user (or an attacker) would feed them to the CLI: every one is
exit 2 with file:line, no traceback and no secret; bombs are refused before they eat the memory.

The bomb tests run portfleet under an address-space limit (RLIMIT_AS): a bomb that was expanded
instead of refused would die of MemoryError (a traceback, exit 1) instead of exiting 2 with the
refusal, so "refused before expansion" is what they check, not the clock."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portfleet.inventory import InventoryError, load_inventory
from test_inventory_vault_tools import write

MEMORY_LIMIT = 1536 * 1024 * 1024  # bytes of address space: portfleet on a small inventory needs ~600 MB


def portfleet(*args: str, limit_memory: bool = False) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, preexec_fn=limit if limit_memory else None,
                          env={**os.environ, "COLUMNS": "200"})


def refused(done: subprocess.CompletedProcess[str], where: str, *words: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: "), done.stderr[-2000:]
    assert where in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr
    return done.stderr


def test_the_memory_limit_leaves_room_for_a_normal_run(tmp_path):
    inv = write(tmp_path / "hosts.yml", "all:\n  hosts:\n    web[01:50]:\n")
    done = portfleet("inventory", "list", "-i", str(inv), limit_memory=True)
    assert done.returncode == 0, done.stderr  # so a MemoryError below would be the bomb's doing


# -- bombs ------------------------------------------------------------------------------------------
BILLION_LAUGHS = textwrap.dedent("""\
    all:
      vars:
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
      hosts:
        web01:
    """)


def test_a_418_byte_alias_bomb_is_refused_in_seconds_without_the_memory(tmp_path):
    assert len(BILLION_LAUGHS) < 450
    inv = write(tmp_path / "hosts.yml", BILLION_LAUGHS)
    started = time.monotonic()
    err = refused(portfleet("inventory", "list", "-i", str(inv), limit_memory=True), str(inv), "alias bomb", "from 120 values to 490,329,072")
    # A complexity bound, not a benchmark: the refusal costs one pass over ~100 nodes, while building
    # the values would take minutes (the issue measured 21 s and 418 MB before the bound existed).
    assert time.monotonic() - started < 5, err


def test_an_alias_bomb_in_group_vars_and_by_merge_keys_is_refused(tmp_path):
    write(tmp_path / "hosts.ini", "[web]\nweb01\n")
    merges = "base: &m0 {k: v}\n" + "".join(
        f"l{i}: &m{i}\n  <<: [{', '.join([f'*m{i - 1}'] * 10)}]\n" for i in range(1, 9))
    write(tmp_path / "group_vars" / "web.yml", merges)
    err = refused(portfleet("inventory", "list", "-i", str(tmp_path), limit_memory=True),
                  str(tmp_path / "group_vars" / "web.yml"), "alias bomb")
    assert "Traceback" not in err


def test_a_recursive_alias_is_refused_at_its_line(tmp_path):
    inv = write(tmp_path / "hosts.yml", "all:\n  vars:\n    loop: &x\n      - a\n      - *x\n  hosts:\n    h:\n")
    refused(portfleet("inventory", "list", "-i", str(inv)), f"{inv}:", "recursive anchor")


def test_legitimate_aliases_shared_by_many_hosts_are_not_a_bomb(tmp_path):
    hosts = "".join(f"    web{i:04d}:\n      <<: *winrm\n      ansible_host: 10.0.{i // 250}.{i % 250}\n" for i in range(3000))
    inv = write(tmp_path / "hosts.yml", textwrap.dedent("""\
        all:
          vars:
            defaults: &winrm
              ansible_connection: winrm
              ansible_port: 5986
              ansible_winrm_transport: ntlm
              ansible_winrm_server_cert_validation: validate
              portfleet_platform: windows
          hosts:
        """) + hosts)
    inv_ = load_inventory(inv)
    assert len(inv_.hosts) == 3000 and inv_.host("web2999").is_winrm and inv_.host("web2999").port == 5986


@pytest.mark.parametrize(
    "text, words",
    [
        ("[web]\nweb[0:100000000]\n", ("expands to 100,000,001 hosts",)),
        ("all:\n  hosts:\n    web[0:100000000]:\n", ("expands to 100,000,001 hosts",)),
        ("[web]\nw[0:99999]x[0:99999]\n", ("expands to 10,000,000,000 hosts",)),
        ("[web]\n" + "".join(f"s{i}-[0:99999]\n" for i in range(12)), ("past portfleet's bound (1,000,000 hosts",)),
        ("[web]\nweb[0:99999] " + " ".join(f"v{i}=1" for i in range(60)) + "\n", ("host variables from ranges",)),
    ],
    ids=["ini-range", "yaml-range", "product", "many-ranges", "range-with-vars"],
)
def test_range_bombs_are_refused_before_expansion(tmp_path, text, words):
    inv = write(tmp_path / ("hosts.yml" if text.startswith("all:") else "hosts.ini"), text)
    refused(portfleet("inventory", "list", "-i", str(inv), limit_memory=True), f"{inv}:", *words)


# -- bad input files and paths ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, text, line, words",
    [
        ("hosts.yml", "all:\n  hosts:\n    web01:\n      note: bell\x07here\n", 4, ("control or non-printable character (character U+0007)",)),
        ("hosts.yml", "all:\n  hosts:\n    web01:\n      big: " + "9" * 5000 + "\n", 4, ("a number of more than 4,300 digits",)),
        ("hosts.yml", "all:\n  hosts:\n    web01:\n      when: 2024-13-45\n", 4, ("invalid YAML value: month must be in 1..12",)),
        ("hosts.yml", "all:\n  hosts:\n    web01:\n      ansible_port: '²'\n", 4, ("not a port",)),
        ("hosts.yml", "all:\n  children:\n    g:\n      vars:\n        ansible_group_priority: '²'\n", 5, ("must be a whole number",)),
        ("hosts.yml", "[" * 20000 + "]" * 20000 + "\n", 1, ("invalid YAML",)),
        ("hosts.ini", "[web]\nweb[¹:³]\n", 2, ("numbers of digits 0-9",)),
        ("hosts.ini", "[web]\nweb[٠:٣]\n", 2, ("numbers of digits 0-9",)),
        ("hosts.ini", "[web]\nweb[1:3:²]\n", 2, ("the step must be a whole number",)),
        ("hosts.ini", "[web]\nweb01 ansible_port=²\n", 2, ("not a port",)),
        ("hosts.ini", "[web]\nweb01 ansible_port=" + "9" * 5000 + "\n", 2, ("not a port",)),
        ("hosts.ini", "[web]\nweb01\n[web:vars]\nansible_group_priority=³\n", 4, ("must be a whole number",)),
        ("hosts.ini", "[web]\nweb01:" + "9" * 5000 + "\n", 2, ()),  # no port: a name, refused later or not at all
    ],
    ids=["yaml-control-char", "yaml-huge-int", "yaml-bad-date", "yaml-port-superscript", "yaml-priority-superscript",
         "yaml-deep", "ini-range-superscript", "ini-range-arabic-digits", "ini-step-superscript",
         "ini-port-superscript", "ini-port-huge", "ini-priority-superscript", "ini-huge-port-suffix"],
)
def test_bad_values_are_exit_2_with_file_and_line(tmp_path, name, text, line, words):
    inv = write(tmp_path / name, text)
    done = portfleet("inventory", "list", "-i", str(inv))
    if not words:
        assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done.stderr
        return
    refused(done, f"{inv}:{line}:", *words)


@pytest.mark.parametrize(
    "text, line",
    [
        ("[web]\nweb01\n[dmz:children]\nansible_password=Sup3r-S3cret\n", 4),
        ("[web]\nweb01\n[dmz:children]\nweb ansible_password=Sup3r-S3cret\n", 4),
        ("[web]\nansible_password=Sup3r-S3cret\n", 2),
        ("[web]\nansible_password=[Sup3r-S3cret\n", 2),
        ("[web]\nweb01\n[web:vars]\nansible_password Sup3r-S3cret\n", 4),
        ("[web]\nweb01 ansible_user=x Sup3r-S3cret\n", 2),
        ("[ansible_password=Sup3r-S3cret x]\nweb01\n", 1),
        ("all:\n  hosts:\n    web01:\n      ansible_password: Sup3r-S3cret\n     bad: indent\n", 5),
    ],
)
def test_errors_about_a_line_holding_a_password_never_show_it(tmp_path, text, line):
    inv = write(tmp_path / ("hosts.yml" if text.startswith("all:") else "hosts.ini"), text)
    err = refused(portfleet("inventory", "list", "-i", str(inv)), f"{inv}:{line}:")
    assert "Sup3r-S3cret" not in err


def test_a_limit_file_that_is_not_utf8_and_broken_limit_patterns(tmp_path):
    inv = write(tmp_path / "hosts.ini", "[web]\nweb01\nweb02\n")
    limit = tmp_path / "limit.txt"
    limit.write_bytes(b"web01\n\xff\xfeweb02\n")
    refused(portfleet("inventory", "list", "-i", str(inv), "-l", f"@{limit}"), f"{limit}:2", "not UTF-8")
    refused(portfleet("inventory", "list", "-i", str(inv), "-l", "~web(0"), str(inv), "invalid regular expression '~web(0'")
    refused(portfleet("inventory", "list", "-i", str(inv), "-l", "~web["), str(inv), "without its pair")
    refused(portfleet("inventory", "list", "-i", str(inv), "-l", "~a{99999999999999},"), str(inv), "invalid regular expression")
    refused(portfleet("inventory", "list", "-i", str(inv), "-l", "web[" + "9" * 5000 + "]"), str(inv))


def test_a_deep_chain_of_child_groups_loads(tmp_path):
    chain = "".join(f"[g{i}:children]\ng{i + 1}\n" for i in range(3000)) + "[g3000]\nleaf\n"
    inv = load_inventory(write(tmp_path / "hosts.ini", chain))
    assert inv.groups["g3000"].depth == 3001 and len(inv.host("leaf").groups) == 3002


def test_an_unreadable_and_a_vanished_inventory(tmp_path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(InventoryError) as info:
        load_inventory(missing)
    assert info.value.path == missing
    if os.geteuid() != 0:  # root reads anything
        locked = write(tmp_path / "locked.ini", "[w]\nh\n", mode=0)
        with pytest.raises(InventoryError):
            load_inventory(locked)
    refused(portfleet("inventory", "list", "-i", str(tmp_path / "dir-without-inventory")), "dir-without-inventory")


def test_symlink_loops_in_the_inventory_and_in_group_vars_are_read_once(tmp_path):
    write(tmp_path / "hosts.ini", "[web]\nweb01\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to(tmp_path)  # the inventory directory inside itself
    write(tmp_path / "group_vars" / "web" / "main.yml", "role: web\n")
    (tmp_path / "group_vars" / "web" / "again").symlink_to(tmp_path / "group_vars" / "web")
    inv = load_inventory(tmp_path)
    assert [h.name for h in inv.hosts] == ["web01"] and inv.host("web01").vars["role"] == "web"
