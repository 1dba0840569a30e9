"""Bad inventories: every error names the file and the line, says what is wrong and what would be
right, and never quotes a password."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from portfleet.inventory import InventoryError, load_inventory


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(path: Path) -> InventoryError:
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    return info.value


INI_CASES = [
    ("[web]\nweb01\nweb[05:01]\n", 3, "bad host range 'web[05:01]': start is after end (write web[01:05])"),
    ("[web]\nweb[1:05]\nweb[01:5]\n", 3, "same width (2 digits) (write web[01:05])"),
    ("[web:hosts]\na\n[web:vasr]\n", 3, "section [web:vasr] has unknown type 'vasr': use [web], [web:vars] or [web:children]"),
    ("a\n\n[web servers]\n", 3, "invalid section header '[web servers]'"),
    ("[web]\na\n[db:vars]\nx=1\n", 3, "section [db:vars] is for a group that is never declared"),
    ("[all_servers:children]\nweb\ndb\n[web]\na\n", 3, "section [all_servers:children] names group 'db', which is never declared"),
    ("[a:children]\nb\n[b:children]\na\n", 4, "creates a loop (a -> b -> a)"),
    ("[a:children]\na\n", 2, "group 'a' can't be its own child"),
    ("[a:children]\nall\n", 2, "group 'all' can't be a child of 'a'"),
    ("[web]\nweb01 ansible_port=5986 'unbalanced\n", 2, "can't split the host line (No closing quotation)"),
    ("[web]\nweb01 ansible_port 5986\n", 2, "word 2 after host 'web01' is not key=value"),
    ("[web]\nweb01\n[web:vars]\nansible_port\n", 4, "expected key=value in [web:vars]"),
    ("[web]\nweb01\n[web:vars]\n=5\n", 4, "missing variable name before '='"),
    ("---\nall:\n", 1, "'---' starts a YAML document"),
    ("[web]\nweb01:\n", 2, "ends with ':', which is reserved for a port"),
    ("[web]\nw1\n[web:vars]\nansible_group_priority=high\n", 4, "ansible_group_priority of group 'web' must be a whole number"),
    ("[web]\nw1\n[web:vars]\nansible_port=http\n", 4, "ansible_port for host 'w1' is 'http', not a port: write a number from 1 to 65535"),
    ("[c:children]\nweb\n[web]\nw1\n[c:children]\nweb junk\n", 6, "expected one group name per line in [c:children]"),
]


@pytest.mark.parametrize("text, line, message", INI_CASES)
def test_ini_errors_name_file_line_and_fix(tmp_path, text, line, message):
    path = write(tmp_path, "hosts.ini", text)
    err = error_of(path)
    assert (err.path, err.line) == (path, line), str(err)
    assert message in err.message
    assert str(err).startswith(f"{path}:{line}: ")


YAML_CASES = [
    ("all:\n  hosts:\n    a:\n    a:\n", 4, "duplicate key 'a' (first defined on line 3)"),
    ("all:\n  vars:\n    x: 1\n    y: 2\n    x: 3\n", 5, "duplicate key 'x' (first defined on line 3)"),
    ("all:\n  host:\n    a:\n", 2, "unexpected key 'host' in group 'all': only hosts, vars and children are valid (did you mean 'hosts'?)"),
    ("web:\n  ansible_host: 1.2.3.4\n", 2, "put it under vars:, if it is a host under hosts:"),
    ("all:\n  hosts:\n    - a\n    - b\n", 3, "'hosts' of group 'all' must be a mapping, found a list"),
    ("all:\n  children:\n    - web\n", 3, "'children' of group 'all' must be a mapping, found a list"),
    ("web:\n  - a\n", 2, "group 'web' must be a mapping"),
    ("all:\n  vars: [1]\n", 2, "vars of group 'all' must be a mapping"),
    ("all:\n  hosts:\n    a: 5\n", 3, "host 'a' in group 'all' must be followed by its vars (a mapping) or nothing"),
    (
        "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n",
        7,
        "making 'a' a child of 'b' creates a loop (a -> b -> a)",
    ),
    ("all:\n  hosts:\n    web[3:1]:\n", 3, "start is after end (write web[1:3])"),
    ("all:\n  hosts:\n    a:\n  vars:\n    x: [1, 2\n", 6, "invalid YAML"),
    ("plugin: aws_ec2\nregions: [x]\n", 1, "inventory plugin configuration"),
    ("- a\n- b\n", 1, "a YAML inventory must be a YAML mapping"),
    ("all:\n  vars:\n    ansible_password: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n", 3, "the !vault value is not Ansible Vault text"),
    ("all:\n  vars:\n    x: !weird 1\n", 3, "could not determine a constructor for the tag '!weird'"),
    ("all:\n  vars:\n    ansible_port: 99999\n  hosts:\n    a:\n", 3, "ansible_port for host 'a' is 99999, out of range"),
    ("all:\n  vars:\n    ansible_connection: winrm\n    ansible_winrm_transport: nltm\n  hosts:\n    a:\n", 4, "valid transports: basic"),
]


@pytest.mark.parametrize("text, line, message", YAML_CASES)
def test_yaml_errors_name_file_line_and_fix(tmp_path, monkeypatch, text, line, message):
    # Without Ansible: a plugin file (aws_ec2) is then refused, whatever collections this machine has.
    monkeypatch.setenv("PORTFLEET_ANSIBLE_INVENTORY", str(tmp_path / "no-ansible-inventory"))
    path = write(tmp_path, "hosts.yml", text)
    err = error_of(path)
    assert (err.path, err.line) == (path, line), str(err)
    assert message in err.message, err.message


def test_group_vars_file_errors_name_that_file(tmp_path):
    inv = write(tmp_path, "hosts.ini", "[web]\nw1\n")
    bad = write(tmp_path, "group_vars/web.yml", "ansible_port: 5986\nansible_port: 5985\n")
    err = error_of(inv)
    assert (err.path, err.line) == (bad, 2) and "duplicate key 'ansible_port'" in err.message
    bad.write_text("- not\n- a mapping\n", encoding="utf-8")
    err = error_of(inv)
    assert (err.path, err.line) == (bad, 1) and "a vars file must be a YAML mapping" in err.message
    bad.write_text("ansible_port: [5986]\n", encoding="utf-8")
    err = error_of(inv)
    assert (err.path, err.line) == (bad, 1) and "not a port" in err.message


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_bytes(b"# caf\xe9 comment is tolerated, as in Ansible\n[web]\nw\xe91\n")
    err = error_of(path)
    assert (err.path, err.line) == (path, 3) and "UTF-8" in err.message


@pytest.mark.parametrize(
    "name, text",
    [
        ("a.ini", "[web]\nweb01 ansible_password hunter2-SECRET\n"),
        ("b.ini", "[web]\nweb01\n[web:vars]\nansible_password hunter2-SECRET\n"),
        ("c.ini", "[web]\nweb01 ansible_password='hunter2-SECRET\n"),
        ("d.yml", "all:\n  vars:\n    ansible_password: \"hunter2-SECRET\n  hosts: {a: }\n"),
        ("e.yml", "all:\n  vars:\n    ansible_password: 'hunter2-SECRET'\n    ansible_password: 'hunter2-SECRET'\n"),
        ("f.yml", "all:\n  hosts:\n    a:\n      ansible_password: hunter2-SECRET\n      ansible_port: bad\n"),
        ("g.yml", "all:\n  hosts:\n    a: hunter2-SECRET\n"),
        ("h.yml", "all:\n  children:\n    web: hunter2-SECRET\n"),
        ("i.yml", "all:\n  vars:\n    ansible_password: hunter2-SECRET\n  hosts:\n    a:\n      ansible_host: [x]\n"),
    ],
)
def test_errors_never_quote_a_password(tmp_path, name, text):
    err = error_of(write(tmp_path, name, text))
    assert "hunter2" not in str(err) and "hunter2" not in repr(err)
    assert err.line is not None


def test_ini_content_in_a_yml_file_gets_a_rename_hint(tmp_path):
    err = error_of(write(tmp_path, "hosts.yml", "[web]\nweb01\nweb02 ansible_port=22\n"))
    assert err.line == 2 and "looks like an INI inventory: rename it to .ini" in err.message
