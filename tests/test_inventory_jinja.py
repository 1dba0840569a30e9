"""Jinja2 in inventory variables, checked against Ansible itself: the same inventory is evaluated by
portfleet (host.vars, the typed accessors) and by `ansible -m debug` (on the controller only), and
every value must agree -- types included (Ansible 2.19: one expression keeps its type)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from portfleet.inventory import InventoryError, Secret, load_inventory, masked
from portfleet.inventory.vault_secrets import keyring_from_options
from test_inventory_vault_tools import Ansible, AnsibleFailure, vault_yaml, write

INVENTORY = r"""
all:
  vars:
    mgmt_domain: mgmt.example.com
    ansible_connection: winrm
    ansible_host: "{{ inventory_hostname | replace('.corp', '') }}.{{ mgmt_domain }}"
    ansible_port: "{{ 5985 if winrm_http | default(false) | bool else 5986 }}"
    site: "{{ inventory_hostname_short | regex_replace('^([a-z]+)\\d+$', '\\1') | upper }}"
    member_of: "{{ group_names | join(',') }}"
    web_peers: "{{ groups['web'] | default([]) }}"
    first_db_address: "{{ hostvars[groups['db'][0]].ansible_host }}"
    env_value: "{{ lookup('env', 'PF_JINJA_TEST_VAR') }}"
    env_missing: "{{ lookup('env', 'PF_JINJA_TEST_UNSET') }}"
    file_value: "{{ lookup('file', 'motd.txt') }}"
    nested_a: "{{ nested_b }}-a"
    nested_b: "{{ nested_c | int + 1 }}"
    nested_c: "41"
    words: "{{ 'a b  c' | split }}"
    parts: "{{ 'x,y,z' | split(',') }}"
    kind: "{{ ('db' in inventory_hostname) | ternary('database', 'other') }}"
    number_in_name: "{{ inventory_hostname | regex_search('[0-9]+') }}"
    name_groups: "{{ inventory_hostname | regex_search('^([a-z]+)([0-9]+)', '\\1', '\\2') }}"
    backslashes: "{{ 'C:\\Windows' | length }}-{{ 'a\\tb' }}"
    no_match: "{{ inventory_hostname | regex_search('zzz') }}"
    lowered: "{{ 'MiXeD' | lower }}-{{ 'MiXeD' | upper }}"
    defaulted: "{{ nonexistent | d('fallback') }}-{{ nonexistent | default('x', true) }}"
    mandatory_ok: "{{ mgmt_domain | mandatory }}"
    bools: "{{ ['yes', 'off', 'TRUE', 0, 1, 'on'] | map('bool') | list }}"
    with_none: "x{{ none_value }}y"
    none_value: null
    native_list: "{{ [1, 'two', none_value, 2.5] }}"
    native_dict: "{{ {'name': inventory_hostname_short, 'port': ansible_port} }}"
    concatenated: "{{ 1 }}{{ 2 }}"
    sum_int: "{{ 40 + 2 }}"
    quoted_number: "{{ '5' }}"
    if_block: "{% if 'web' in group_names %}frontend{% else %}backend{% endif %}"
    trailing: "{{ inventory_hostname_short }}\n"
    spaced: "  {{ 5 }}  "
    nested_data:
      address: "{{ ansible_host }}"
      list: ["{{ inventory_hostname_short }}", 3]
  children:
    web:
      hosts:
        web01.corp:
        web02.corp:
          winrm_http: "yes"
    db:
      hosts:
        db01.corp:
          ansible_host: 10.0.0.50
"""
CHECKED = [k for k in ("ansible_host", "ansible_port", "site", "member_of", "web_peers", "first_db_address", "env_value",
                       "env_missing", "file_value", "nested_a", "nested_b", "words", "parts", "kind", "number_in_name",
                       "name_groups", "backslashes", "no_match", "lowered", "defaulted", "mandatory_ok", "bools", "with_none",
                       "native_list", "native_dict", "concatenated", "sum_int", "quoted_number", "if_block",
                       "trailing", "spaced", "nested_data", "inventory_hostname", "group_names")]


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    return Ansible(tmp_path_factory.mktemp("ansible-home"))


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # lookup('file') looks in ./files then ./, the current directory (an ad-hoc ansible run's base).
    write(tmp_path / "files" / "motd.txt", "Welcome to the fleet\n\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PF_JINJA_TEST_VAR", "from-the-environment")
    monkeypatch.delenv("PF_JINJA_TEST_UNSET", raising=False)
    return tmp_path


def magic(host, key):
    return {"inventory_hostname": host.name, "group_names": host.group_names}.get(key)


def test_values_agree_with_ansible_for_every_host(workdir, ansible):
    inv_path = write(workdir / "hosts.yml", textwrap.dedent(INVENTORY).lstrip())
    inv = load_inventory(inv_path)
    expression = "{" + ", ".join(f"'{k}': {k}" for k in CHECKED) + "}"
    theirs = ansible.debug(inv_path, expression, cwd=workdir, env={"PF_JINJA_TEST_VAR": "from-the-environment"})
    assert sorted(theirs) == sorted(h.name for h in inv.hosts)
    for host in inv.hosts:
        ours = {k: host.vars[k] if k in host.vars else magic(host, k) for k in CHECKED}
        assert not any(isinstance(v, Secret) for v in ours.values())
        assert json.loads(json.dumps(ours)) == theirs[host.name], host.name
        assert type(ours["ansible_port"]) is int and type(ours["sum_int"]) is int and ours["concatenated"] == "12"
    web01 = inv.host("web01.corp")
    assert web01.vars["ansible_host"] == "web01.mgmt.example.com" and web01.vars["trailing"] == "web01\n"


def test_typed_accessors_use_the_templated_values(workdir):
    inv = load_inventory(write(workdir / "hosts.yml", textwrap.dedent(INVENTORY).lstrip()))
    got = {h.name: (h.address, h.port, h.scheme) for h in inv.hosts}
    assert got == {
        "web01.corp": ("web01.mgmt.example.com", 5986, "https"),
        "web02.corp": ("web02.mgmt.example.com", 5985, "http"),
        "db01.corp": ("10.0.0.50", 5986, "https"),
    }
    assert inv.host("web01.corp").raw_vars["ansible_host"].startswith("{{")  # raw stays raw
    src = inv.host("web01.corp").var_source("ansible_host")
    assert src == {"file": str(workdir / "hosts.yml"), "line": 5, "vault": None, "template": True}


BROKEN = r"""
all:
  hosts:
    web01:
      ansible_connection: winrm
      ansible_user: admin
      undefined_ref: "{{ no_such_variable }}-x"
      unknown_filter: "{{ inventory_hostname | no_such_filter }}"
      syntax: "{{ inventory_hostname "
      loop_a: "{{ loop_b }}"
      loop_b: "{{ loop_a }}"
      unknown_lookup: "{{ lookup('no_such_lookup', 'x') }}"
      missing_file: "{{ lookup('file', 'no-such-file.txt') }}"
      sandbox: "{{ ''.__class__.__mro__ }}"
      missing_mandatory: "{{ no_such_variable | mandatory }}"
"""
BROKEN_CASES = [
    ("undefined_ref", 6, "'no_such_variable' is undefined"),
    ("unknown_filter", 7, "unknown filter 'no_such_filter'"),
    ("syntax", 8, "template syntax error"),
    ("loop_a", 9, "refers back to itself, a loop: loop_a -> loop_b -> loop_a"),
    ("unknown_lookup", 11, "unknown lookup 'no_such_lookup'"),
    ("missing_file", 12, "lookup('file', 'no-such-file.txt'): no such file"),
    ("sandbox", 13, "refused by the sandbox"),
    ("missing_mandatory", 14, "Mandatory variable 'no_such_variable' not defined"),
]


def test_template_errors_name_the_variable_the_host_and_file_line_and_ansible_fails_too(workdir, ansible):
    inv_path = write(workdir / "broken.yml", textwrap.dedent(BROKEN).lstrip())
    host = load_inventory(inv_path).host("web01")  # nothing is templated at load
    assert (host.address, host.user) == ("web01", "admin")  # the broken vars cost the others nothing
    for key, line, message in BROKEN_CASES:
        with pytest.raises(InventoryError) as info:
            host.vars[key]
        err = info.value
        assert (err.path, err.line) == (inv_path, line), (key, str(err))
        assert err.message.startswith(f"{key} for host 'web01': ") and message in err.message, (key, err.message)
    for key, _, _ in BROKEN_CASES:
        if key == "sandbox":
            continue  # Ansible's own sandbox is the same Jinja one; not worth a 2 s subprocess
        assert isinstance(ansible.debug(inv_path, key, cwd=workdir)["web01"], AnsibleFailure), key
    port_inv = write(workdir / "port.yml", "all:\n  hosts:\n    web01:\n      ansible_port: \"{{ 'eight' ~ 'y' }}\"\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(port_inv).host("web01").port
    assert info.value.line == 4 and "ansible_port for host 'web01' is 'eighty', not a port" in info.value.message


def test_a_long_chain_of_templates_is_refused_not_a_crash(workdir):
    chain = "".join(f'      v{i}: "{{{{ v{i + 1} }}}}"\n' for i in range(100)) + '      v100: "end"\n'
    host = load_inventory(write(workdir / "chain.yml", "all:\n  hosts:\n    h:\n" + chain)).host("h")
    assert host.vars["v40"] == "end"
    with pytest.raises(InventoryError) as info:
        load_inventory(workdir / "chain.yml").host("h").vars["v0"]
    assert "nest more than 64 variables deep" in info.value.message


def test_a_value_still_holding_a_template_mark_is_never_an_address_user_or_password(workdir):
    base = "all:\n  hosts:\n    web01:\n      ansible_connection: winrm\n"
    cases = [
        ('ansible_host: !unsafe "{{ not_evaluated }}"', "address"),  # !unsafe: never templated
        ('ansible_user: !unsafe "{% raw %}admin"', "user"),
        ('ansible_host: "{{ \'{{\' }}x"', "address"),  # templated, and what came out still holds '{{'
        ('ansible_password: "{{ \'{{\' }}literal"', "password"),
    ]
    for number, (line, accessor) in enumerate(cases):
        inv_path = write(workdir / f"marks{number}.yml", base + "      " + line + "\n")
        with pytest.raises(InventoryError) as info:
            getattr(load_inventory(inv_path).host("web01"), accessor)  # literal values fail the load itself
        assert (info.value.path, info.value.line) == (inv_path, 5), str(info.value)
        assert "still holds a template mark" in info.value.message, str(info.value)


def test_a_template_that_reads_a_secret_is_a_secret_and_errors_never_show_it(workdir, ansible, tmp_path):
    password_file = write(tmp_path / "pw.txt", "vault-pw\n")
    secret = "WinRM-S3cr3t-Value"
    texts = ansible.encrypt_strings({"vault_winrm_password": secret, "vault_token": secret + "-2"},
                                    "--vault-password-file", str(password_file))
    vault_file = write(workdir / "files" / "secret.txt", secret + "-file\n")
    ansible.encrypt_file(vault_file, "--vault-password-file", str(password_file))
    body = "all:\n  hosts:\n    web01:\n" + "".join(vault_yaml(k, v, 6) for k, v in texts.items()) + textwrap.indent(textwrap.dedent("""\
        ansible_connection: winrm
        ansible_password: "{{ vault_winrm_password }}"
        shouted: "{{ vault_token | upper }}"
        length_of: "{{ vault_token | length }}"
        bundle: "{{ {'user': 'ops', 'token': vault_token} }}"
        from_file: "{{ lookup('file', 'secret.txt') }}"
        plain: "{{ inventory_hostname }}"
        leaky_key: "{{ {}[vault_token] }}"
        leaky_message: "{{ no_such_variable | mandatory(vault_token) }}"
        """), "      ")
    inv_path = write(workdir / "secrets.yml", body)
    ring = keyring_from_options([], [str(password_file)], environ={})
    host = load_inventory(inv_path, ring).host("web01")
    for key in ("ansible_password", "shouted", "length_of", "bundle", "from_file"):
        assert isinstance(host.vars[key], Secret), key
    assert host.vars["plain"] == "web01"
    assert host.password.reveal() == secret
    theirs = ansible.debug(inv_path, "[shouted, length_of, bundle, from_file]", "--vault-password-file", str(password_file), cwd=workdir)
    assert [host.vars[k].reveal() for k in ("shouted", "length_of", "bundle", "from_file")] == theirs["web01"]
    shown = masked({k: host.vars[k] for k in host.vars if not k.startswith("leaky")})
    assert shown == {**{k: "***" for k in texts}, "ansible_connection": "winrm", "ansible_password": "***", "shouted": "***",
                     "length_of": "***", "bundle": "***", "from_file": "***", "plain": "web01"}
    for key in ("leaky_key", "leaky_message"):
        with pytest.raises(InventoryError) as info:
            host.vars[key]
        assert secret not in str(info.value) and "not shown because it would show a secret" in info.value.message, str(info.value)
