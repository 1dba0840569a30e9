"""An inventory directory as ops teams keep one -- YAML and INI files, group_vars/ and host_vars/
(plain, a directory of files, a vault-encrypted file), inline !vault and !unsafe values, templates
-- read by portfleet and by `ansible-inventory --list`: the same groups, hosts and merged vars
(values as written: ansible-inventory does not template; inline vault values stay encrypted)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from portfleet.inventory import Secret, load_inventory
from portfleet.inventory.markers import UnsafeText
from portfleet.inventory.vault_secrets import keyring_from_options
from portfleet.inventory.vaulted import VaultValue
from test_inventory_vault_tools import Ansible, vault_yaml, write


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    return Ansible(tmp_path_factory.mktemp("ansible-home"))


def as_ansible_lists(value: Any) -> Any:
    """portfleet's raw value in ansible-inventory's JSON form."""
    if isinstance(value, VaultValue):
        return {"__ansible_vault": value.text}
    if isinstance(value, Secret):
        return as_ansible_lists(value.reveal())
    if isinstance(value, UnsafeText):
        return {"__ansible_unsafe": str(value)}
    if isinstance(value, dict):
        return {k: as_ansible_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_ansible_lists(v) for v in value]
    return value


def build(directory: Path, ansible: Ansible) -> tuple[Path, Path]:
    pw = write(directory / "pw.txt", "compat-vault-pw\n")
    inline = ansible.encrypt_strings({"ansible_password": "Inline-S3cret"}, "--vault-id", f"ops@{pw}")["ansible_password"]
    inv = directory / "inventory"
    write(inv / "10-windows.yml", textwrap.dedent("""\
        all:
          vars:
            ansible_connection: winrm
            mgmt_domain: mgmt.example.com
          children:
            windows:
              vars:
                ansible_host: "{{ inventory_hostname | replace('.corp', '') }}.{{ mgmt_domain }}"
                literal_braces: !unsafe "{{ not a template }}"
              children:
                web:
                  hosts:
                    web[01:03].corp:
                dc:
                  hosts:
                    dc01.corp:
        """) + "              hosts:\n                legacy01.corp:\n" + vault_yaml("ansible_password", inline, 18))
    write(inv / "20-linux.ini", textwrap.dedent("""\
        [linux]
        lx01 ansible_host=10.2.0.1 ansible_port=2222
        lx02 ansible_host=10.2.0.2

        [linux:vars]
        ansible_connection=ssh
        ansible_user=ops

        [dmz:children]
        web
        linux
        """))
    write(inv / "group_vars" / "windows" / "vars.yml", 'ansible_password: "{{ vault_winrm_password }}"\nansible_user: Administrator\n')
    vault = write(inv / "group_vars" / "windows" / "vault.yml", 'vault_winrm_password: "Group-S3cret"\nvault_extra: [1, 2]\n')
    ansible.encrypt_file(vault, "--vault-id", f"ops@{pw}")
    write(inv / "group_vars" / "dmz.yml", "ansible_group_note: dmz\nportfleet_command_timeout: 600\n")
    write(inv / "host_vars" / "web02.corp.yml", "ansible_port: 5985\nansible_winrm_scheme: http\n")
    write(inv / "host_vars" / "lx01", "ansible_user: root\n")
    return inv, pw


def test_groups_hosts_and_vars_match_ansible_inventory_list(tmp_path, ansible):
    inv_path, pw = build(tmp_path, ansible)
    theirs = ansible.inventory_list(inv_path, "--vault-id", f"ops@{pw}")
    ours = load_inventory(inv_path, keyring_from_options([f"ops@{pw}"], environ={}))
    hostvars = theirs.pop("_meta")["hostvars"]
    assert sorted(hostvars) == sorted(h.name for h in ours.hosts)
    for host in ours.hosts:
        assert as_ansible_lists(host.raw_vars) == hostvars[host.name], host.name
    for name, group in theirs.items():
        mine = ours.groups[name]
        assert sorted(group.get("hosts", [])) == sorted(mine.hosts), name
        assert sorted(group.get("children", [])) == sorted(mine.children), name
    assert {h.name: h.group_names for h in ours.hosts} == {
        name: sorted(g for g, data in theirs.items() if name in _all_hosts(theirs, g) and g != "all") for name in hostvars
    }


def _all_hosts(listing: dict[str, Any], group: str) -> set[str]:
    data = listing.get(group, {})
    hosts = set(data.get("hosts", []))
    for child in data.get("children", []):
        hosts |= _all_hosts(listing, child)
    return hosts


def test_the_same_directory_templated_per_host_as_ansible_does(tmp_path, ansible):
    inv_path, pw = build(tmp_path, ansible)
    ours = load_inventory(inv_path, keyring_from_options([f"ops@{pw}"], environ={}))
    theirs = ansible.debug(inv_path, "[ansible_host | default(inventory_hostname), ansible_port | default(none), "
                           "ansible_user | default(none), ansible_password | default(none), groups['dmz']]",
                           "--vault-id", f"ops@{pw}")
    dmz = sorted(h.name for h in ours.group_hosts("dmz"))
    for host in ours.hosts:
        password = host.password
        address, port, user, secret, _ = theirs[host.name]
        assert [host.address, host.user, password.reveal() if password else None] == [address, user, secret], host.name
        # Ansible shows the winrm plugin's default port; an ssh host without one is left to ssh (22).
        assert host.port == (port if port is not None else 22) and (port is not None or not host.is_winrm), host.name
        assert sorted(theirs[host.name][4]) == dmz
