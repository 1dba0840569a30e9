"""Vars precedence as Ansible merges them, the typed connection accessors, and secrets."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from portfleet.inventory import InventoryError, Secret, is_sensitive, load_inventory, masked


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# -- precedence ------------------------------------------------------------------------------
def test_all_then_parent_then_child_then_host(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            "h.yml",
            """
            all:
              vars: {a: all, b: all, c: all, d: all}
              children:
                parent:
                  vars: {b: parent, c: parent, d: parent}
                  children:
                    child:
                      vars: {c: child, d: child}
                      hosts:
                        h1: {d: host}
            """,
        )
    )
    assert inv.host("h1").vars == {"a": "all", "b": "parent", "c": "child", "d": "host"}


def test_same_depth_groups_merge_alphabetically_and_priority_overrides(tmp_path):
    ini = """
        [alpha]
        h1
        h2
        [beta]
        h1
        h2
        [alpha:vars]
        x=alpha
        [beta:vars]
        x=beta
        """
    inv = load_inventory(write(tmp_path, "a.ini", ini))
    assert inv.host("h1").vars["x"] == "beta"  # beta sorts after alpha: merged later, wins
    inv = load_inventory(write(tmp_path, "b.ini", ini.replace("x=alpha", "x=alpha\nansible_group_priority=10")))
    assert inv.host("h1").vars["x"] == "alpha"
    assert "ansible_group_priority" not in inv.host("h1").vars  # an ordering knob, not a var (as Ansible)
    assert inv.groups["alpha"].priority == 10


def test_deeper_group_wins_over_shallower_whatever_the_names(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            "h.ini",
            """
            [zzz]
            h1
            [aaa_child]
            h1
            [mid:children]
            aaa_child
            [zzz:vars]
            x=zzz
            [aaa_child:vars]
            x=deep
            """,
        )
    )
    # zzz is depth 1, aaa_child depth 2 (all > mid > aaa_child): depth beats the alphabet
    assert inv.groups["aaa_child"].depth == 2 and inv.groups["zzz"].depth == 1
    assert inv.host("h1").vars["x"] == "deep"


def test_vars_files_rank_as_ansible_documents(tmp_path):
    inv_file = write(
        tmp_path,
        "hosts.ini",
        """
        [web]
        w1 from_host_line=inventory-host
        [web:vars]
        from_group=inventory-web
        overridden_by_all_file=inventory-web
        from_host_line=inventory-web
        [all:vars]
        from_all=inventory-all
        """,
    )
    write(tmp_path, "group_vars/all.yml", "from_all: file-all\noverridden_by_all_file: file-all\n")
    write(tmp_path, "group_vars/web.yml", "from_group: file-web\n")
    write(tmp_path, "host_vars/w1.yml", "from_host_line: file-host\n")
    w1 = load_inventory(inv_file).host("w1")
    assert w1.vars == {
        "from_all": "file-all",
        # Ansible's precedence: "inventory group_vars/all" ranks above "inventory file group vars"
        "overridden_by_all_file": "file-all",
        "from_group": "file-web",
        "from_host_line": "file-host",
    }
    origin = w1.var_origin("from_group")
    assert (origin.path.name, origin.line) == ("web.yml", 1)


# -- typed accessors -------------------------------------------------------------------------
def host_with(tmp_path: Path, **host_vars):
    path = tmp_path / "h.yml"
    path.write_text(json.dumps({"all": {"hosts": {"h": host_vars}}}), encoding="utf-8")
    return load_inventory(path).host("h")


@pytest.mark.parametrize(
    "host_vars, port, scheme",
    [
        ({"ansible_connection": "winrm"}, 5986, "https"),
        ({"ansible_connection": "winrm", "ansible_winrm_scheme": "http"}, 5985, "http"),
        ({"ansible_connection": "winrm", "ansible_port": 5985}, 5985, "http"),
        ({"ansible_connection": "winrm", "ansible_port": 5986}, 5986, "https"),
        ({"ansible_connection": "winrm", "ansible_port": 8080}, 8080, "https"),
        ({"ansible_connection": "winrm", "ansible_port": "8080", "ansible_winrm_scheme": "HTTP"}, 8080, "http"),
        ({"ansible_connection": "winrm", "ansible_winrm_port": 5985}, 5985, "http"),
        ({}, 22, None),
        ({"ansible_connection": "ssh", "ansible_ssh_port": 2222}, 2222, None),
    ],
)
def test_port_and_scheme_defaults(tmp_path, host_vars, port, scheme):
    h = host_with(tmp_path, **host_vars)
    assert (h.port, h.scheme) == (port, scheme)


def test_connection_accessors_and_defaults(tmp_path):
    h = host_with(tmp_path, ansible_connection="winrm")
    assert h.connection == "winrm" and h.is_winrm
    assert (h.address, h.user, h.winrm_transport, h.cert_validation) == ("h", None, "ntlm", "validate")
    assert (h.ca_trust_path, h.platform, h.winrm_path, h.password) == (None, "windows", "/wsman", None)
    h = host_with(
        tmp_path,
        ansible_connection="winrm",
        ansible_host="10.0.0.9",
        ansible_user="admin",
        ansible_winrm_transport="basic",
        ansible_winrm_server_cert_validation="ignore",
        ansible_winrm_ca_trust_path="/etc/ca.pem",
    )
    assert (h.address, h.user, h.winrm_transport, h.cert_validation, h.ca_trust_path) == (
        "10.0.0.9", "admin", "basic", "ignore", "/etc/ca.pem"
    )
    s = host_with(tmp_path, ansible_ssh_host="10.0.0.7", ansible_ssh_user="ops", ansible_ssh_private_key_file="~/.ssh/id")
    assert (s.connection, s.address, s.user, s.private_key_file, s.platform) == ("ssh", "10.0.0.7", "ops", "~/.ssh/id", None)
    assert host_with(tmp_path, portfleet_platform="linux").platform == "linux"
    # Ansible accepts a list of transports; pywinrm takes one
    assert host_with(tmp_path, ansible_connection="winrm", ansible_winrm_transport="kerberos,ntlm").winrm_transport == "kerberos"


def test_plugin_alias_wins_over_generic_var(tmp_path):
    # Ansible's winrm plugin lists ansible_password, ansible_winrm_pass, ansible_winrm_password: the last wins
    h = host_with(tmp_path, ansible_connection="winrm", ansible_password="generic", ansible_winrm_password="specific")
    assert h.password.reveal() == "specific"
    assert h.password_source == "inventory:ansible_winrm_password"


# -- passwords and secrets -------------------------------------------------------------------
def test_password_from_environment_variable(tmp_path, monkeypatch):
    h = host_with(tmp_path, portfleet_password_env="PF_TEST_PW")
    monkeypatch.setenv("PF_TEST_PW", "s3cr3t-from-env")
    assert h.password.reveal() == "s3cr3t-from-env"
    assert h.password_source == "env:PF_TEST_PW"
    assert h.resolve_password({"PF_TEST_PW": "other"}).reveal() == "other"


def test_missing_password_variable_names_host_variable_and_file(tmp_path, monkeypatch):
    path = write(tmp_path, "h.yml", "all:\n  vars:\n    portfleet_password_env: PF_MISSING_PW\n  hosts:\n    web01:\n")
    monkeypatch.delenv("PF_MISSING_PW", raising=False)
    host = load_inventory(path).host("web01")
    with pytest.raises(InventoryError) as info:
        host.password
    err = info.value
    assert (err.path, err.line) == (path, 3)
    assert "web01" in str(err) and "PF_MISSING_PW" in str(err) and "is not set" in str(err)
    monkeypatch.setenv("PF_MISSING_PW", "")
    with pytest.raises(InventoryError, match="is empty"):
        host.password


def test_more_specific_password_source_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("PF_GROUP_PW", "from-env")
    path = write(
        tmp_path,
        "h.yml",
        """
        all:
          vars:
            ansible_password: all-level-literal
          children:
            web:
              vars:
                portfleet_password_env: PF_GROUP_PW
              hosts:
                w1:
                w2:
                  ansible_password: host-literal
        """,
    )
    inv = load_inventory(path)
    assert inv.host("w1").password.reveal() == "from-env"  # group env beats all's literal
    assert inv.host("w2").password.reveal() == "host-literal"  # host literal beats group env


def test_secret_never_shows_itself(tmp_path):
    s = Secret("hunter2")
    assert repr(s) == "***" and str(s) == "***" and f"{s}" == "***" and f"{s:>10}" == "***"
    assert s.reveal() == "hunter2" and s == Secret("hunter2") and s != Secret("other")
    with pytest.raises(TypeError):
        json.dumps({"p": s})
    assert masked({"a": [s, {"b": s}], "c": 1}) == {"a": ["***", {"b": "***"}], "c": 1}


@pytest.mark.parametrize(
    "key, sensitive",
    [
        ("ansible_password", True),
        ("ansible_winrm_password", True),
        ("ansible_ssh_pass", True),
        ("ansible_become_password", True),
        ("api_token", True),
        ("client_secret", True),
        ("vault_key", True),
        ("aws_secret_access_key", True),
        ("apikey", True),
        ("keyboard_layout", False),
        ("ansible_ssh_host_key_checking", False),
        ("ansible_ssh_private_key_file", False),
        ("portfleet_password_env", False),
        ("ansible_winrm_cert_key_pem", False),
        ("ansible_host", False),
        ("ansible_user", False),
    ],
)
def test_sensitive_var_names(key, sensitive):
    assert is_sensitive(key) is sensitive


def test_secrets_masked_in_host_repr_str_and_vars(tmp_path):
    path = write(
        tmp_path,
        "h.ini",
        """
        [win]
        w1 ansible_password=hunter2 api="{'token':'tok-123','user':'u'}"
        [win:vars]
        ansible_connection=winrm
        ansible_winrm_password=group-pass-99
        """,
    )
    inv = load_inventory(path)
    h = inv.host("w1")
    for text in (repr(h), str(h), f"{h}", repr(h.vars), str(inv.groups["win"].vars), repr(inv.hosts)):
        for secret in ("hunter2", "tok-123", "group-pass-99"):
            assert secret not in text
    assert h.vars["api"]["user"] == "u" and isinstance(h.vars["api"]["token"], Secret)
    # As Ansible's winrm plugin: of its password vars present after merging, ansible_winrm_password
    # (last in its list) is used, even though the host's own ansible_password ranks higher as a var.
    assert h.password.reveal() == "group-pass-99"


@pytest.mark.parametrize(
    "bad_vars, key, message",
    [
        ({"ansible_port": "abc"}, "ansible_port", "not a port"),
        ({"ansible_port": 70000}, "ansible_port", "out of range"),
        ({"ansible_port": True}, "ansible_port", "not a port"),
        ({"ansible_connection": "winrm", "ansible_winrm_scheme": "ftp"}, "ansible_winrm_scheme", "valid values: http, https"),
        ({"ansible_winrm_server_cert_validation": "no"}, "ansible_winrm_server_cert_validation", "validate, ignore"),
        ({"ansible_connection": "winrm", "ansible_winrm_transport": "magic"}, "ansible_winrm_transport", "valid transports"),
        ({"portfleet_platform": "solaris"}, "portfleet_platform", "windows, linux"),
        ({"portfleet_password_env": "NOT A NAME"}, "portfleet_password_env", "name of an environment variable"),
        ({"ansible_host": ["a", "b"]}, "ansible_host", "single text value"),
    ],
)
def test_bad_connection_values_fail_the_load_with_file_and_line(tmp_path, bad_vars, key, message):
    lines = ["all:", "  children:", "    g:", "      vars:"] + [f"        {k}: {json.dumps(v)}" for k, v in bad_vars.items()]
    path = write(tmp_path, "h.yml", "\n".join(lines + ["      hosts:", "        h1:", ""]))
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    err = info.value
    assert err.path == path and err.line == 5 + list(bad_vars).index(key)
    assert key in str(err) and "'h1'" in str(err) and message in str(err)
