"""Reading Ansible inventories: YAML and INI files, ranges, format detection, directories, vars files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from portfleet.inventory import InventoryError, load_inventory
from portfleet.inventory.ini_format import parse_value
from portfleet.inventory.ranges import RangeError, expand, split_port

REPO = Path(__file__).resolve().parent.parent


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def names(inv) -> list[str]:
    return [h.name for h in inv.hosts]


# -- YAML ------------------------------------------------------------------------------------
def test_yaml_groups_children_hosts_and_vars(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            "hosts.yml",
            """
            all:
              hosts:
                lonely:
              vars:
                ansible_user: admin
              children:
                windows:
                  vars:
                    ansible_connection: winrm
                  children:
                    web:
                      hosts:
                        web01:
                        web02:
                          ansible_host: 10.0.0.2
                    db:
                      hosts: db01
            """,
        )
    )
    assert names(inv) == ["lonely", "web01", "web02", "db01"]
    web02 = inv.host("web02")
    assert web02.groups == {"all", "windows", "web"}
    assert web02.vars == {"ansible_user": "admin", "ansible_connection": "winrm", "ansible_host": "10.0.0.2"}
    assert web02.address == "10.0.0.2" and inv.host("web01").address == "web01"
    assert inv.host("db01").groups == {"all", "windows", "db"}  # 'hosts: db01' is a one-host mapping
    assert inv.host("lonely").groups == {"all", "ungrouped"}
    assert inv.groups["windows"].children == ("web", "db")
    assert inv.groups["web"].parents == ("windows",)
    assert inv.groups["web"].hosts == ("web01", "web02")
    assert inv.groups["ungrouped"].hosts == ("lonely",)
    assert inv.source == tmp_path / "hosts.yml"


def test_yaml_host_in_two_groups_merges_its_vars_and_keeps_first_position(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            "hosts.yaml",
            """
            web:
              hosts:
                a: {x: 1}
                b:
            db:
              hosts:
                a: {y: 2}
            """,
        )
    )
    assert names(inv) == ["a", "b"]
    assert inv.host("a").vars == {"x": 1, "y": 2}
    assert inv.host("a").groups == {"all", "web", "db"}
    assert inv.groups["all"].children == ("ungrouped", "web", "db")  # top-level groups hang under all


def test_yaml_ranges_ports_anchors_and_unsafe(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            "hosts.yml",
            """
            all:
              vars:
                base: &base {ansible_connection: winrm, ansible_port: 5986}
                note: !unsafe "{{ not templated }}"
              hosts:
                web[01:03]:
                db-[a:c].corp:2222:
                  <<: {ansible_user: merged, ansible_port: 1}
                  ansible_port: 3333
            """,
        )
    )
    assert names(inv) == ["web01", "web02", "web03", "db-a.corp", "db-b.corp", "db-c.corp"]
    db = inv.host("db-b.corp")
    assert db.vars["ansible_user"] == "merged" and db.port == 3333  # explicit key beats merge key and :port
    assert inv.host("web02").vars["base"] == {"ansible_connection": "winrm", "ansible_port": 5986}
    assert inv.host("web02").vars["note"] == "{{ not templated }}"


def test_yaml_vars_keep_yaml_types(tmp_path):
    inv = load_inventory(write(tmp_path, "h.yml", "all:\n  hosts:\n    a:\n      n: 5\n      b: yes\n      s: '5'\n      l: [1, 2]\n"))
    assert inv.host("a").vars == {"n": 5, "b": True, "s": "5", "l": [1, 2]}


def test_json_inventory_is_read_as_yaml(tmp_path):
    inv = load_inventory(write(tmp_path, "inv.json", '{"all": {"hosts": {"j1": {"ansible_port": 22}}}}'))
    assert inv.host("j1").port == 22


# -- INI -------------------------------------------------------------------------------------
def test_ini_sections_children_vars_and_comments(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            "hosts.ini",
            """
            # a comment
            ; another comment
            jump ansible_host=192.0.2.1

            [web]
            web[01:02] ansible_port=5986  # inline comment
            web-old   description="old box, retire soon" mysecret="'03#pa33w0rd'"

            [web:vars]
            ansible_connection=winrm
            http_port = 8080
            label=FALSE
            flag=True

            [windows:children]   # comment after a section
            web

            [windows:vars]
            ansible_user=admin
            """,
        )
    )
    assert names(inv) == ["jump", "web01", "web02", "web-old"]
    assert inv.host("jump").groups == {"all", "ungrouped"}
    web01 = inv.host("web01")
    assert web01.groups == {"all", "web", "windows"}
    assert web01.vars["ansible_port"] == 5986
    assert web01.vars["http_port"] == 8080
    assert web01.vars["label"] == "FALSE"  # not a Python literal: stays text
    assert web01.vars["flag"] is True
    old = inv.host("web-old")
    assert old.vars["description"] == "old box, retire soon"
    assert old.vars["mysecret"].reveal() == "03#pa33w0rd"  # quoted twice: '#' kept, masked as a secret


@pytest.mark.parametrize(
    "text, value",
    [
        ("5986", 5986),
        ("True", True),
        ("true", "true"),
        ("0123", "0123"),
        ("'5986'", "5986"),
        ("[1, 2]", [1, 2]),
        ("(1, 2)", [1, 2]),
        ("10-5", "10-5"),
        ("None", None),
        ("3.5", 3.5),
        ("{'a': 1}", {"a": 1}),
        ("hello world", "hello world"),
        ("", ""),
    ],
)
def test_ini_values_are_python_literals_else_text(text, value):
    assert parse_value(text) == value


def test_ini_host_port_and_vars_section_before_group(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            "hosts",
            """
            [web:children]
            iis

            [iis]
            iis01:5985
            [fe80::1]:5986
            10.1.1.[1:3]
            """,
        )
    )
    assert names(inv) == ["iis01", "fe80::1", "10.1.1.1", "10.1.1.2", "10.1.1.3"]
    assert inv.host("iis01").vars["ansible_port"] == 5985
    assert inv.host("fe80::1").vars["ansible_port"] == 5986
    assert inv.host("10.1.1.2").groups == {"all", "web", "iis"}


def test_ini_host_in_ungrouped_and_group_leaves_ungrouped(tmp_path):
    inv = load_inventory(write(tmp_path, "h.ini", "a\nb\n[g]\na\n"))
    assert inv.groups["ungrouped"].hosts == ("b",)
    assert inv.host("a").groups == {"all", "g"}


# -- ranges ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("web[01:03]", ["web01", "web02", "web03"]),
        ("web[1:3]", ["web1", "web2", "web3"]),
        ("web[8:10]", ["web8", "web9", "web10"]),
        ("web[001:003].corp", ["web001.corp", "web002.corp", "web003.corp"]),
        ("db-[a:c]", ["db-a", "db-b", "db-c"]),
        ("n[1:10:3]", ["n1", "n4", "n7", "n10"]),
        ("n[01:10:4]", ["n01", "n05", "n09"]),
        ("x[a:f:2]", ["xa", "xc", "xe"]),
        ("r[1:2]-s[a:b]", ["r1-sa", "r1-sb", "r2-sa", "r2-sb"]),
        ("h[:2]", ["h0", "h1", "h2"]),
        ("plain", ["plain"]),
    ],
)
def test_range_expansion(pattern, expected):
    assert expand(pattern) == expected


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("web[05:01]", "bad host range 'web[05:01]': start is after end (write web[01:05])"),
        ("web[9:1]", "start is after end (write web[1:9])"),
        ("db-[f:a]", "start is after end (write db-[a:f])"),
        ("web[01:5]", "same width (2 digits) (write web[01:05])"),
        ("web[1]", "a range is [begin:end] or [begin:end:step]"),
        ("web[1:]", "no end value"),
        ("web[1:5:0]", "step must be a whole number of 1 or more"),
        ("web[a:5]", "must both be numbers"),
        ("web[1:3", "unbalanced"),
        ("web[1:999999]", "it expands to 999,999 hosts, more than 100,000"),
    ],
)
def test_range_errors_say_what_is_right(pattern, message):
    with pytest.raises(RangeError) as info:
        expand(pattern)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("web01:5986", ("web01", 5986)),
        ("web[01:05].corp:22", ("web[01:05].corp", 22)),
        ("[2001:db8::1]:5986", ("2001:db8::1", 5986)),
        ("2001:db8::1", ("2001:db8::1", None)),
        ("192.0.2.7:22", ("192.0.2.7", 22)),
        ("web01", ("web01", None)),
    ],
)
def test_host_port_split_as_ansible_parse_address(pattern, expected):
    assert split_port(pattern) == expected


def test_ranges_in_both_formats_give_the_same_hosts(tmp_path):
    yml = load_inventory(write(tmp_path, "a.yml", "all:\n  hosts:\n    web[01:03:2]:\n    db[a:b]:\n"))
    ini = load_inventory(write(tmp_path, "a.ini", "web[01:03:2]\ndb[a:b]\n"))
    assert names(yml) == names(ini) == ["web01", "web03", "dba", "dbb"]


# -- detection, directories, vars files -------------------------------------------------------
def test_format_detected_by_content_without_extension(tmp_path):
    assert names(load_inventory(write(tmp_path, "y", "all:\n  hosts:\n    a:\n"))) == ["a"]
    assert names(load_inventory(write(tmp_path, "i", "a ansible_port=22\n[g]\nb\n"))) == ["a", "b"]
    assert names(load_inventory(write(tmp_path, "plain", "a\nb:2222\n"))) == ["a", "b"]


def test_directory_inventory_with_group_and_host_vars(tmp_path):
    write(tmp_path, "inv/10-win.yml", "windows:\n  hosts:\n    w1:\n    w2:\n")
    write(tmp_path, "inv/20-linux", "[linux]\nl1\n")
    write(tmp_path, "inv/notes.md", "[this] is not an inventory\n")
    write(tmp_path, "inv/old.retry", "junk\n")
    write(tmp_path, "inv/.hidden.yml", "broken: [\n")
    write(tmp_path, "inv/group_vars/all.yml", "ansible_user: admin\n")
    write(tmp_path, "inv/group_vars/windows/10-conn.yml", "ansible_connection: winrm\nansible_port: 5985\n")
    write(tmp_path, "inv/group_vars/windows/20-tls.yaml", "ansible_port: 5986\n")
    write(tmp_path, "inv/group_vars/linux", "ansible_connection: ssh\n")
    write(tmp_path, "inv/host_vars/w2.yml", "ansible_host: 10.0.0.2\n")
    write(tmp_path, "inv/group_vars/windos.yml", "typo: true\n")
    inv = load_inventory(tmp_path / "inv")
    assert names(inv) == ["w1", "w2", "l1"]
    w1, w2, l1 = inv.hosts
    assert (w1.connection, w1.port, w1.user) == ("winrm", 5986, "admin")  # 20-tls.yaml sorts after 10-conn.yml
    assert w2.address == "10.0.0.2"
    assert (l1.connection, l1.port) == ("ssh", 22)
    assert w2.var_origin("ansible_host").path == tmp_path / "inv/host_vars/w2.yml"
    assert w2.var_origin("ansible_host").line == 1
    assert inv.groups["windows"].vars == {"ansible_connection": "winrm", "ansible_port": 5986}
    assert any("windos" in w and "apply to nothing" in w for w in inv.warnings), inv.warnings


def test_group_vars_beside_an_inventory_file(tmp_path):
    inv_file = write(tmp_path, "hosts.ini", "[web]\nw1\n")
    write(tmp_path, "group_vars/web.yml", "ansible_connection: winrm\n")
    write(tmp_path, "group_vars/web.yaml", "ignored: true\n")  # Ansible takes the first found: web.yml
    inv = load_inventory(inv_file)
    assert inv.host("w1").vars == {"ansible_connection": "winrm"}


def test_shipped_example_inventories_agree(tmp_path):
    yml = load_inventory(REPO / "inventory/example.yml")
    ini = load_inventory(REPO / "inventory/example.ini")
    fleet = load_inventory(REPO / "inventory/fleet")
    assert not yml.warnings and not ini.warnings and not fleet.warnings
    for inv in (yml, ini):
        web = inv.host("web-legacy.corp.example.com")
        assert (web.address, web.port, web.scheme, web.cert_validation) == ("10.0.8.15", 5985, "http", "ignore")
        sql = inv.host("sqlb.corp.example.com")
        assert (sql.port, sql.scheme, sql.ca_trust_path) == (5986, "https", "/etc/portfleet/corp-ca.pem")
        assert [h.name for h in inv.select("linux")][:2] == ["batch1.corp.example.com", "batch3.corp.example.com"]
        assert inv.host("lb01.corp.example.com").private_key_file == "~/.ssh/portfleet_ed25519"
    assert {h.name for h in yml.select("windows")} == {h.name for h in ini.select("windows")}
    assert fleet.host("web01.corp.example.com").scheme == "http"
    assert fleet.host("batch01.corp.example.com").user == "ops"


def test_missing_inventory_is_an_error(tmp_path):
    with pytest.raises(InventoryError, match="no such inventory file or directory"):
        load_inventory(tmp_path / "nope.yml")


def test_empty_inventory_loads_with_a_warning(tmp_path):
    inv = load_inventory(write(tmp_path, "empty.yml", "# nothing yet\n"))
    assert inv.hosts == [] and inv.warnings == [f"{tmp_path / 'empty.yml'}: the inventory defines no hosts"]
