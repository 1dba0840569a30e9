"""Ansible host patterns (--limit and a play's hosts:) evaluated against an inventory."""

from __future__ import annotations

import textwrap

import pytest

from portfleet.inventory import PatternError, load_inventory, split_host_pattern

INVENTORY = """
all:
  hosts:
    bastion:
  children:
    windows:
      children:
        webservers:
          hosts:
            web[01:04].example.com:
        dbservers:
          hosts:
            db01.example.com:
            db02.example.com:
    staging:
      hosts:
        web03.example.com:
        db02.example.com:
        stage-app:
    web:
      hosts:
        web:
"""


@pytest.fixture(scope="module")
def inv(tmp_path_factory):
    path = tmp_path_factory.mktemp("inv") / "hosts.yml"
    path.write_text(textwrap.dedent(INVENTORY), encoding="utf-8")
    return load_inventory(path)


def sel(inv, pattern, **kw):
    return [h.name for h in inv.select(pattern, **kw)]


WEBS = [f"web0{i}.example.com" for i in range(1, 5)]
DBS = ["db01.example.com", "db02.example.com"]


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("all", ["bastion", *WEBS, *DBS, "stage-app", "web"]),
        ("*", ["bastion", *WEBS, *DBS, "stage-app", "web"]),
        ("windows", [*WEBS, *DBS]),  # a group brings its children's hosts
        ("dbservers", DBS),
        ("db01.example.com", ["db01.example.com"]),
        ("ungrouped", ["bastion"]),
        ("web0*", WEBS),
        ("*.example.com", [*WEBS, *DBS]),
        ("web0[12].example.com", WEBS[:2]),
        ("~web0[3-4]", WEBS[2:]),
        ("~db\\d+\\.example", DBS),
        ("dbservers,webservers", [*DBS, *WEBS]),
        ("dbservers:webservers", [*DBS, *WEBS]),
        ("windows:!staging", ["web01.example.com", "web02.example.com", "web04.example.com", "db01.example.com"]),
        ("windows,!staging", ["web01.example.com", "web02.example.com", "web04.example.com", "db01.example.com"]),
        ("!staging,windows", ["web01.example.com", "web02.example.com", "web04.example.com", "db01.example.com"]),
        ("windows:&staging", ["web03.example.com", "db02.example.com"]),
        ("webservers:dbservers:&staging:!db*", ["web03.example.com"]),
        ("!windows", ["bastion", "stage-app", "web"]),  # only exclusions: applied to all
        ("&staging", ["web03.example.com", "db02.example.com", "stage-app"]),
        ("webservers[0]", ["web01.example.com"]),
        ("webservers[-1]", ["web04.example.com"]),
        ("webservers[1:2]", WEBS[1:3]),  # inclusive, as Ansible
        ("webservers[2:]", WEBS[2:]),
        ("web", ["web"]),  # a host name is taken before a group of the same name
        (" dbservers , bastion ", [*DBS, "bastion"]),
    ],
)
def test_patterns(inv, pattern, expected):
    assert sel(inv, pattern) == expected


def test_none_selects_every_host_in_inventory_order(inv):
    assert sel(inv, None) == [h.name for h in inv.hosts]


def test_limit_narrows_a_pattern(inv):
    assert sel(inv, "windows", limit="staging") == ["web03.example.com", "db02.example.com"]
    assert sel(inv, None, limit="db*") == DBS


def test_limit_from_file(inv, tmp_path):
    listing = tmp_path / "retry.txt"
    listing.write_text("web01.example.com\n# a comment\n\ndb02.example.com\n", encoding="utf-8")
    assert sel(inv, "all", limit=f"@{listing}") == ["web01.example.com", "db02.example.com"]
    with pytest.raises(PatternError, match="limit file"):
        inv.select("all", limit=f"@{tmp_path / 'missing.txt'}")


def test_unknown_name_is_an_error_with_close_matches(inv):
    with pytest.raises(PatternError) as info:
        inv.select("webserver")
    err = info.value
    assert "no host or group matches 'webserver'" in str(err) and "did you mean: webservers" in str(err)
    assert err.pattern == "webserver" and err.path == inv.source
    with pytest.raises(PatternError, match="'nothing_like_it'.*groups: windows, webservers"):
        inv.select("windows:!nothing_like_it")


def test_empty_result_and_bad_patterns_are_errors(inv):
    with pytest.raises(PatternError, match="leaves no hosts to target"):
        inv.select("dbservers:&webservers")
    with pytest.raises(PatternError, match="with limit 'bastion' leaves no hosts"):
        inv.select("windows", limit="bastion")
    with pytest.raises(PatternError, match="invalid regular expression"):
        inv.select("~web(")
    with pytest.raises(PatternError, match="out of range"):
        inv.select("dbservers[5]")
    with pytest.raises(PatternError, match="empty"):
        inv.select("  ")
    with pytest.raises(PatternError, match="nothing after '!'"):
        inv.select("all:!")


@pytest.mark.parametrize(
    "pattern, parts",
    [
        ("a,b[1], c[2:3] , d", ["a", "b[1]", "c[2:3]", "d"]),
        ("a:b:!c:&d", ["a", "b", "!c", "&d"]),
        ("web[01:03]", ["web[01:03]"]),
        ("g[0:2]:h", ["g[0:2]", "h"]),
        ("host.example.com:22", ["host.example.com:22"]),
        ("fe80::1", ["fe80::1"]),
        ("cafe:bad:face", ["cafe", "bad", "face"]),
    ],
)
def test_split_host_pattern(pattern, parts):
    assert split_host_pattern(pattern) == parts
