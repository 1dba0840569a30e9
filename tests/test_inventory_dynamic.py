"""Dynamic inventories read as Ansible reads them, checked against the real `ansible-inventory --list`:
executable inventory scripts (with and without _meta.hostvars), comma host lists, inventory plugin
files (evaluated by ansible-inventory), and an inventory directory mixing YAML, INI, a script, an
encrypted group_vars file and a `constructed` plugin file. Errors: exit 2, naming the script or file,
never showing a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from portfleet.inventory import InventoryError, Secret, load_inventory
from portfleet.inventory.ansible_result import as_ansible_json
from portfleet.inventory.vault_secrets import keyring_from_options
from test_inventory_vault_tools import Ansible, vault_yaml, write

SCRIPT_HEAD = f"#!{sys.executable}\nimport json, sys\n"


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    return Ansible(tmp_path_factory.mktemp("ansible-home"))


@pytest.fixture
def ansible_env(ansible: Ansible, monkeypatch: pytest.MonkeyPatch) -> Ansible:
    """portfleet's own ansible-inventory runs get the same sandboxed config/HOME as the test's."""
    for key in [k for k in os.environ if k.startswith("ANSIBLE_")]:
        monkeypatch.delenv(key)
    for key in ("ANSIBLE_CONFIG", "HOME", "ANSIBLE_HOME", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_NOCOLOR"):
        monkeypatch.setenv(key, ansible.env[key])
    return ansible


def script(path: Path, body: str) -> Path:
    return write(path, SCRIPT_HEAD + textwrap.dedent(body), mode=0o755)


def portfleet(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **(env or {})}, cwd=cwd, stdin=subprocess.DEVNULL)


def assert_same_as_ansible(ours: Any, theirs: dict[str, Any]) -> None:
    """Hosts, every group's direct hosts and children, and each host's merged vars, as Ansible has them."""
    theirs = json.loads(json.dumps(theirs))
    hostvars = theirs.pop("_meta")["hostvars"]
    assert sorted(h.name for h in ours.hosts) == sorted(_every_host(theirs))
    for host in ours.hosts:
        assert as_ansible_json(host.raw_vars) == hostvars.get(host.name, {}), host.name
    for name, group in theirs.items():
        assert sorted(ours.groups[name].hosts) == sorted(group.get("hosts", [])), name
        assert sorted(ours.groups[name].children) == sorted(group.get("children", [])), name
    for host in ours.hosts:  # and so each host's groups, ancestors included
        expected = {g for g in theirs if host.name in _hosts_under(theirs, g)} - {"all"}
        assert set(host.group_names) == expected, host.name


def _every_host(listing: dict[str, Any]) -> set[str]:
    return {h for group in listing.values() for h in group.get("hosts", [])}


def _hosts_under(listing: dict[str, Any], group: str) -> set[str]:
    data = listing.get(group, {})
    found = set(data.get("hosts", []))
    for child in data.get("children", []):
        found |= _hosts_under(listing, child)
    return found


# -- inventory scripts --------------------------------------------------------------------------
CMDB = textwrap.dedent("""\
    HOSTS = {"web01.corp": {"ansible_host": "10.1.0.1", "site": "ams"},
             "web02.corp": {"ansible_host": "10.1.0.2", "ansible_port": 5985},
             "db01.corp": {}}
    if sys.argv[1:] == ["--list"]:
        out = {"web": {"hosts": ["web01.corp", "web02.corp"], "vars": {"ansible_connection": "winrm"},
                       "children": ["canary"]},
               "canary": ["db01.corp"],
               "all": {"vars": {"ansible_user": "svc_portfleet"}},
               "db01.corp": {"role": "db"}}
        if META:
            out["_meta"] = {"hostvars": HOSTS}
        print(json.dumps(out))
    elif sys.argv[1:2] == ["--host"]:
        print(json.dumps(HOSTS.get(sys.argv[2], {})))
    else:
        sys.exit("usage: --list | --host NAME")
    """)


@pytest.mark.parametrize("meta", [True, False], ids=["_meta.hostvars", "--host per host"])
def test_inventory_script_reads_as_ansible_inventory_list_does(tmp_path, ansible, meta):
    path = script(tmp_path / "cmdb.py", f"META = {meta}\n" + CMDB)
    inv = load_inventory(path)
    assert_same_as_ansible(inv, ansible.inventory_list(path))
    web02 = inv.host("web02.corp")
    assert (web02.address, web02.port, web02.scheme, web02.user) == ("10.1.0.2", 5985, "http", "svc_portfleet")
    # The mapping without hosts/vars/children is Ansible's "group that is a host" shape.
    assert inv.host("db01.corp").raw_vars["role"] == "db"
    assert inv.host("web01.corp").var_source("site")["file"] == str(path)


def test_a_script_given_with_i_is_a_cli_source_too(tmp_path):
    script(tmp_path / "inv.py", "META = True\n" + CMDB)
    # A bare relative name, as typed in the inventory's directory (run as ./inv.py, not looked up on PATH).
    done = portfleet("inventory", "list", "-i", "inv.py", "-l", "web", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    hosts = {h["name"]: h for h in json.loads(done.stdout)["hosts"]}
    assert sorted(hosts) == ["db01.corp", "web01.corp", "web02.corp"]  # canary is a child of web
    assert hosts["web01.corp"]["address"] == "10.1.0.1"


def test_a_failing_script_is_exit_2_with_its_code_and_stderr_but_no_secret(tmp_path):
    path = script(tmp_path / "cmdb.py", """\
        sys.stderr.write("cmdb: login refused for svc with ansible_password=Sup3r-S3cret\\n")
        sys.stderr.write('{"api_token": "tok-123456"}\\n')
        sys.exit(3)
        """)
    done = portfleet("inventory", "list", "-i", str(path))
    assert done.returncode == 2
    assert str(path) in done.stderr and "exit code 3" in done.stderr
    assert "login refused for svc" in done.stderr  # the first lines of its stderr ...
    assert "Sup3r-S3cret" not in done.stderr and "tok-123456" not in done.stderr  # ... secrets masked
    assert "Traceback" not in done.stderr


def test_a_hanging_script_is_stopped_at_the_deadline_with_its_children(tmp_path, monkeypatch):
    pid_file = tmp_path / "child.pid"
    path = script(tmp_path / "slow.py", f"""\
        import subprocess
        child = subprocess.Popen(["sleep", "300"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        child.wait()
        """)
    monkeypatch.setenv("PORTFLEET_INVENTORY_TIMEOUT", "1.5")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert "did not finish within 1.5 s" in str(info.value) and "PORTFLEET_INVENTORY_TIMEOUT" in str(info.value)
    child = int(pid_file.read_text())
    # The whole process group was killed: the script's own child is gone (reaped by init).
    assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text().lower()


@pytest.mark.parametrize(
    "output, message",
    [
        ('{"web": {"hosts": ["a", }', "is not JSON: line 1 column 25: Expecting value"),
        ('{"web": {"hosts": "a"}}', "'web.hosts' must be a list of host names, found text"),
        ('{"web": {"vars": ["x"]}}', "'web.vars' must be a mapping of variables, found a list"),
        ('{"web": {"children": "dmz"}}', "'web.children' must be a list of group names, found text"),
        ('{"web": {"hosts": [5]}}', "must hold host names (text), found a number"),
        ('["web01"]', "must be a JSON mapping of groups, found a list"),
        ('{"_meta": {"hostvars": []}}', "'_meta.hostvars' must be a mapping of host names, found a list"),
        ('{"web": ["a"], "_meta": {}}', "'_meta.hostvars' must be a mapping of host names, found null"),
        ('{"web": ["a"], "_meta": {"hostvars": {"a": [1]}}}', "the vars of host 'a' (in _meta.hostvars) must be a mapping"),
        ('{"w": {"vars": {"ansible_port": ' + "9" * 5000 + "}}}", "not usable JSON: Exceeds the limit (4300 digits)"),
        ("[" * 5000 + "]" * 5000, "nests lists/mappings more than 200 deep"),
    ],
)
def test_bad_script_output_is_an_error_naming_the_script_and_what_is_wrong(tmp_path, output, message):
    path = script(tmp_path / "bad.py", f"sys.stdout.write({output!r})\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert info.value.path == path
    assert message in info.value.message, info.value.message


def test_bad_host_output_without_meta_names_the_host(tmp_path):
    path = script(tmp_path / "old.py", """\
        if sys.argv[1] == "--list":
            print(json.dumps({"web": ["web01"]}))
        else:
            print("{ansible_password: S3cret")
        """)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert "--host web01 output is not JSON: line 1 column 2" in str(info.value)
    assert "S3cret" not in str(info.value)


def test_a_script_that_is_not_executable_is_told_to_chmod(tmp_path):
    path = write(tmp_path / "cmdb.py", SCRIPT_HEAD + CMDB, mode=0o644)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert f"chmod +x {path}" in str(info.value)


def test_script_output_in_ansible_json_profile_form_is_decoded(tmp_path, ansible):
    pw = write(tmp_path / "pw.txt", "profile-pw\n")
    secret = ansible.encrypt_strings({"ansible_password": "Prof1le-S3cret"}, "--vault-id", f"ops@{pw}")["ansible_password"]
    path = script(tmp_path / "inv.py", f"""\
        print(json.dumps({{"win": {{"hosts": ["h1"]}}, "_meta": {{"hostvars": {{"h1": {{
            "ansible_connection": "winrm", "ansible_password": {{"__ansible_vault": {secret!r}}},
            "note": {{"__ansible_unsafe": "{{{{ not templated }}}}"}}}}}}}}}}))
        """)
    inv = load_inventory(path, keyring_from_options([f"ops@{pw}"], environ={}))
    host = inv.host("h1")
    assert host.password.reveal() == "Prof1le-S3cret"
    assert host.vars["note"] == "{{ not templated }}"
    assert as_ansible_json(host.raw_vars) == ansible.inventory_list(path, "--vault-id", f"ops@{pw}")["_meta"]["hostvars"]["h1"]


# -- comma host lists ----------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["web01,web02:5986,[fe80::1]:2222,10.0.0.9", "web01,", " web01 , web01:22 ,", "web[1:3],db"])
def test_a_comma_host_list_is_read_as_ansible_reads_it(tmp_path, ansible, source):
    inv = load_inventory(source)
    assert_same_as_ansible(inv, ansible.inventory_list(Path(source)))
    assert all(h.groups == {"all", "ungrouped"} for h in inv.hosts)


def test_a_host_list_on_the_command_line_and_a_missing_path_without_comma(tmp_path):
    done = portfleet("inventory", "list", "-i", "web01:5986,web02,", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [(h["name"], h["port"]) for h in json.loads(done.stdout)["hosts"]] == [("web01", 5986), ("web02", 22)]
    done = portfleet("inventory", "list", "-i", "web01")
    assert done.returncode == 2 and "a host list needs a comma: -i web01," in done.stderr


# -- inventory plugin files ------------------------------------------------------------------------
def test_a_plugin_file_without_ansible_says_what_to_install(tmp_path):
    path = write(tmp_path / "aws_ec2.yml", "# fleet in AWS\nplugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n")
    done = portfleet("inventory", "list", "-i", str(path), env={"PORTFLEET_ANSIBLE_INVENTORY": str(tmp_path / "none")})
    assert done.returncode == 2
    assert f"{path}:2:" in done.stderr and "ansible-inventory was not found" in done.stderr
    for step in ("pip install ansible-core", "ansible-galaxy collection install amazon.aws", "pip install boto3 botocore"):
        assert step in done.stderr


def test_a_plugin_ansible_lacks_is_exit_2_naming_the_collection(tmp_path, ansible_env):
    path = write(tmp_path / "azure_rm.yml", "plugin: azure.azcollection.azure_rm\nauth_source: auto\n")
    done = portfleet("inventory", "list", "-i", str(path))
    assert done.returncode == 2, done.stderr
    assert f"{path}:1:" in done.stderr and "Ansible lacks the plugin 'azure.azcollection.azure_rm'" in done.stderr
    assert "ansible-galaxy collection install azure.azcollection" in done.stderr


def test_a_generator_plugin_file_alone_is_evaluated_by_ansible(tmp_path, ansible_env):
    path = write(tmp_path / "gen.yml", textwrap.dedent("""\
        plugin: ansible.builtin.generator
        hosts:
          name: "{{ site }}-web{{ n }}"
          parents:
            - name: "{{ site }}"
              vars:
                site_code: "{{ site }}"
        layers:
          site: [ams, fra]
          n: ["1", "2"]
        """))
    write(tmp_path / "group_vars" / "ams.yml", "ansible_connection: winrm\n")
    inv = load_inventory(path)
    assert_same_as_ansible(inv, ansible_env.inventory_list(path))
    assert sorted(h.name for h in inv.group_hosts("ams")) == ["ams-web1", "ams-web2"]
    assert inv.host("ams-web1").is_winrm and not inv.host("fra-web1").is_winrm
    assert inv.host("ams-web1").var_source("ansible_connection")["file"] == str(tmp_path / "group_vars" / "ams.yml")


# -- the mixed directory --------------------------------------------------------------------------
def build_mixed(root: Path, ansible: Ansible, constructed: bool = True) -> tuple[Path, Path]:
    pw = write(root / "pw.txt", "mixed-vault-pw\n")
    inline = ansible.encrypt_strings({"ansible_password": "Legacy-S3cret"}, "--vault-id", f"ops@{pw}")["ansible_password"]
    inv = root / "inventory"
    write(inv / "10-windows.yml", textwrap.dedent("""\
        all:
          vars:
            mgmt_domain: mgmt.example.com
          children:
            windows:
              vars:
                ansible_connection: winrm
                ansible_host: "{{ inventory_hostname | replace('.corp', '') }}.{{ mgmt_domain }}"
                site: ams
              children:
                web:
                  hosts:
                    web[01:03].corp:
                      role: web
              hosts:
                legacy01.corp:
                  site: fra
        """) + vault_yaml("ansible_password", inline, 10))
    write(inv / "20-linux.ini", textwrap.dedent("""\
        [linux]
        lx01 ansible_host=10.2.0.1 ansible_port=2222
        lx02 ansible_host=10.2.0.2 site=fra

        [linux:vars]
        ansible_user=ops

        [dmz:children]
        web
        linux

        [web:vars]
        role=frontend
        """))
    # The script overrides a var of a host the YAML made (later sources win), adds hosts to an
    # existing group and makes a group of its own.
    script(inv / "30-cmdb.py", """\
        print(json.dumps({
            "windows": {"hosts": ["app01.corp", "web02.corp"]},
            "cmdb_managed": {"hosts": ["app01.corp", "lx02"], "vars": {"owner": "cmdb"}},
            "_meta": {"hostvars": {"app01.corp": {"site": "fra", "ansible_port": 5985},
                                   "web02.corp": {"role": "canary"}}}}))
        """)
    if constructed:
        write(inv / "40-constructed.yml", textwrap.dedent("""\
            plugin: ansible.builtin.constructed
            strict: true
            groups:
              winrm_hosts: ansible_connection | default('ssh') == 'winrm'
            keyed_groups:
              - key: site | default('none')
                prefix: site
            compose:
              fqdn: inventory_hostname ~ '.example.com'
            """))
        # group_vars of a group only the constructed plugin makes
        write(inv / "group_vars" / "site_fra.yml", "backup_window: sunday\n")
    write(inv / "group_vars" / "windows" / "vars.yml", 'ansible_password: "{{ vault_winrm_password }}"\nansible_user: Administrator\n')
    vault = write(inv / "group_vars" / "windows" / "vault.yml", "vault_winrm_password: Group-S3cret\nvault_db_dsn: db://x\n")
    ansible.encrypt_file(vault, "--vault-id", f"ops@{pw}")
    write(inv / "group_vars" / "dmz.yml", "portfleet_command_timeout: 600\nrole: dmz\n")
    write(inv / "host_vars" / "web03.corp.yml", "ansible_port: 5985\nansible_winrm_scheme: http\n")
    return inv, pw


def test_a_mixed_directory_with_a_constructed_file_resolves_exactly_as_ansible(tmp_path, ansible_env, monkeypatch):
    inv_path, pw = build_mixed(tmp_path, ansible_env)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    ours = load_inventory(inv_path, keyring_from_options([f"ops@{pw}"], environ={}))
    assert list((tmp_path / "tmp").iterdir()) == []  # the vault hand-off left nothing behind
    theirs = ansible_env.inventory_list(inv_path, "--vault-id", f"ops@{pw}")
    assert_same_as_ansible(ours, theirs)
    # What only the constructed plugin made is there: its groups, their group_vars, composed vars.
    assert {"winrm_hosts", "site_fra", "site_ams", "site_none"} <= set(ours.groups)
    assert ours.host("app01.corp").raw_vars["backup_window"] == "sunday"
    assert ours.host("app01.corp").var_source("backup_window")["file"] == str(inv_path / "group_vars" / "site_fra.yml")
    assert ours.host("lx01").vars["fqdn"] == "lx01.example.com"
    # portfleet's bookkeeping survives: file:line of a var Ansible agrees on, secrets of the encrypted file.
    web02 = ours.host("web02.corp")
    assert web02.var_source("role")["file"] == str(inv_path / "30-cmdb.py")
    assert web02.var_source("ansible_user") == {"file": str(inv_path / "group_vars" / "windows" / "vars.yml"), "line": 2,
                                                "vault": None, "template": False}
    assert isinstance(web02.raw_vars["vault_db_dsn"], Secret)
    assert web02.var_source("vault_db_dsn")["vault"] == "ops"
    assert "db://x" not in repr(web02.raw_vars)
    # And templated per host, as Ansible templates them.
    debug = ansible_env.debug(inv_path, "[ansible_host | default(inventory_hostname), ansible_password | default(none), "
                              "ansible_port | default(none)]", "--vault-id", f"ops@{pw}")
    for host in ours.hosts:
        password = host.password
        address, secret, port = debug[host.name]
        assert [host.address, password.reveal() if password else None] == [address, secret], host.name
        assert port is None or host.port == port, host.name


def test_the_mixed_directory_without_a_plugin_is_portfleets_own_reading_and_still_ansibles(tmp_path, ansible_env, monkeypatch):
    inv_path, pw = build_mixed(tmp_path, ansible_env, constructed=False)
    monkeypatch.setenv("PORTFLEET_ANSIBLE_INVENTORY", str(tmp_path / "no-ansible"))  # never needed
    ours = load_inventory(inv_path, keyring_from_options([f"ops@{pw}"], environ={}))
    assert_same_as_ansible(ours, ansible_env.inventory_list(inv_path, "--vault-id", f"ops@{pw}"))
    app = ours.host("app01.corp")
    assert (app.port, app.scheme, app.user, app.password.reveal()) == (5985, "http", "Administrator", "Group-S3cret")
    assert ours.host("legacy01.corp").password.reveal() == "Legacy-S3cret"
    assert ours.host("web02.corp").var_source("role") == {"file": str(inv_path / "30-cmdb.py"), "line": None,
                                                           "vault": None, "template": False}


def test_the_mixed_directory_on_the_command_line_without_the_vault_password(tmp_path, ansible_env):
    inv_path, pw = build_mixed(tmp_path, ansible_env)
    done = portfleet("inventory", "list", "-i", str(inv_path))
    assert done.returncode == 2
    assert str(inv_path / "group_vars" / "windows" / "vault.yml") in done.stderr and "vault id 'ops'" in done.stderr
    done = portfleet("inventory", "list", "-i", str(inv_path), "--vault-id", f"ops@{pw}", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "Group-S3cret" not in done.stdout and "db://x" not in done.stdout
    listed = {h["name"]: h for h in json.loads(done.stdout)["hosts"]}
    assert listed["web03.corp"]["address"] == "web03.mgmt.example.com" and listed["web03.corp"]["port"] == 5985
