"""Fuzzing the inventory loaders with hypothesis: YAML and INI inventories, inventory script JSON and
vars files, built from the characters and fragments that matter to each parser. Whatever the input,
loading it, checking every host, reading every var (templates evaluated) and selecting with a pattern
either works or raises InventoryError (the CLI's exit 2) -- any other exception is a failure. Also
properties of the INI fast paths (the same as shlex and literal_eval) and linear time on adversarial
lines.

Bounded: derandomised (the same examples each run, so the suite stays reproducible) and about
150 examples per loader, part of the normal run in well under 30 s."""

from __future__ import annotations

import ast
import json
import shlex
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfleet.inventory import InventoryError, load_inventory
from portfleet.inventory.assemble import build_inventory
from portfleet.inventory.builder import InventoryBuilder
from portfleet.inventory.ini_format import _coerce, parse_value, split_line
from portfleet.inventory.json_inventory import JsonInventory, parse_json
from portfleet.inventory.patterns import split_host_pattern
from portfleet.inventory.ranges import expand_host_pattern
from portfleet.inventory.resolve import InventoryScope

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NAMES = st.sampled_from(["all", "web", "db", "ungrouped", "web01", "web[01:03]", "h:22", "[::1]:22", "x y", "",
                         "ansible_host", "ansible_port", "ansible_connection", "ansible_group_priority",
                         "ansible_password", "portfleet_password_env", "ansible_winrm_transport", "plugin",
                         "hosts", "vars", "children", "²", "web[¹:³]", "w[0:99]", "a" * 300])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["winrm", "ssh", "5985", "99999", "²", "{{ x }}", "{{ inventory_hostname }}", "{% if %}",
                     "{{ lookup('env', 'HOME') }}", "{{ 1/0 }}", "{{ hostvars[inventory_hostname].x }}",
                     "{{ ansible_host }}", "ntlm", "kerberos", "http", "https", "ignore", "$ANSIBLE_VAULT;1.1;AES256\n00"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3), max_leaves=8)
GROUP = st.deferred(lambda: st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"hosts": st.dictionaries(NAMES, st.none() | st.dictionaries(NAMES, VALUES, max_size=3), max_size=4),
                                        "vars": st.dictionaries(NAMES, VALUES, max_size=3) | VALUES,
                                        "children": st.dictionaries(NAMES, GROUP, max_size=2)}),
    VALUES,
))
YAML_NOISE = st.text(alphabet=st.sampled_from(list(" \n\t:-[]{}&*!|>'\"#%@`,?<=~") + ["\x07", "\x00", "é", "²", "a", "1"]),
                     max_size=60)


def _mutate(text: str, noise: str, at: int) -> str:
    at = at % (len(text) + 1)
    return text[:at] + noise + text[at:]


def exercise(path: Path | str, pattern: str = "all") -> None:
    """Load, check every host, read every var, select: only InventoryError may come out."""
    try:
        inv = load_inventory(path)
        for host in inv.hosts:
            host.check()
            host.resolve_password(environ={})
            for key in host.raw_vars:
                host.vars[key]
            host.var_source(next(iter(host.raw_vars), "none"))
        inv.select(pattern)
    except InventoryError:
        pass


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(doc=st.dictionaries(NAMES, GROUP, max_size=3), noise=YAML_NOISE, at=st.integers(0, 10**6), mutate=st.booleans(),
       pattern=NAMES)
def test_yaml_inventories(workdir, doc, noise, at, mutate, pattern):
    text = yaml.safe_dump(doc, default_flow_style=bool(at % 2))
    path = workdir / "hosts.yml"
    path.write_text(_mutate(text, noise, at) if mutate else text, encoding="utf-8")
    exercise(path, pattern or "all")


INI_LINES = st.lists(st.one_of(
    st.sampled_from(["[web]", "[web:vars]", "[web:children]", "[db]", "[all:vars]", "[bad", "[a b]", "[x:y]",
                     "web01", "web[01:03] ansible_port=5985", "web[05:01]", "h:22", "h ansible_host=10.0.0.1",
                     "ansible_password=x", "db", "# c", "; c", "a=1", "a = 'x", "k=[1,2", "k={'a': 1}", "k=²",
                     "ansible_group_priority=3", "ansible_group_priority=x", "h a=\"b c\"", "h a=1 b", "h 'x",
                     "h ansible_connection=winrm ansible_port=²", "---", "x:", "[web:children]", "web", "db"]),
    st.text(alphabet=st.sampled_from(list(" =[]:#;'\"\\ab1²\t,")), max_size=30),
), max_size=14)


@FUZZ
@given(lines=INI_LINES, pattern=NAMES)
def test_ini_inventories(workdir, lines, pattern):
    path = workdir / "hosts.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exercise(path, pattern or "all")


JSON_DOCS = st.one_of(
    st.dictionaries(NAMES | st.just("_meta"), st.one_of(
        GROUP.map(lambda g: g if not isinstance(g, dict) else {k: (list(v) if isinstance(v, dict) else v) for k, v in g.items()}),
        st.fixed_dictionaries({"hostvars": st.dictionaries(NAMES, VALUES, max_size=3) | VALUES})), max_size=4),
    VALUES,
)


@FUZZ
@given(doc=JSON_DOCS, raw=st.binary(max_size=40), use_raw=st.booleans())
def test_inventory_script_json(workdir, doc, raw, use_raw):
    # The script protocol's reader, in process (a subprocess per example would be the slow part).
    data = raw if use_raw else json.dumps(doc).encode()
    path = workdir / "script.py"
    builder = InventoryBuilder()
    try:
        reader = JsonInventory(builder, path, None, "the script's output")
        hostvars = reader.groups(parse_json(data, "the script's output", path))
        for host in reader.hosts:
            reader.host_vars(host, (hostvars or {}).get(host, {}), "in _meta.hostvars")
        builder.reconcile()
        inv = build_inventory(path, builder, {}, {}, InventoryScope())
        for host in inv.hosts:
            host.check()
            for key in host.raw_vars:
                host.vars[key]
    except InventoryError:
        pass


@FUZZ
@given(doc=st.dictionaries(NAMES, VALUES, max_size=4) | VALUES, noise=YAML_NOISE, at=st.integers(0, 10**6), mutate=st.booleans())
def test_vars_files(workdir, doc, noise, at, mutate):
    inv = workdir / "withvars"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    (inv / "host_vars").mkdir(exist_ok=True)
    (inv / "hosts.ini").write_text("[web]\nweb01\n", encoding="utf-8")
    text = yaml.safe_dump(doc)
    for target in (inv / "group_vars" / "web.yml", inv / "host_vars" / "web01"):
        target.write_text(_mutate(text, noise, at) if mutate else text, encoding="utf-8")
    exercise(inv)


@FUZZ
@given(source=st.lists(st.sampled_from(list("ab1:,[]. ²") + ["::1", "web", ":22", "~", "!", "&", "@", "*"]), max_size=20).map("".join))
def test_host_lists_and_host_patterns(source):
    exercise(source if "," in source else source + ",", source or "all")
    try:
        split_host_pattern(source)
        expand_host_pattern(source)
    except (InventoryError, ValueError):  # RangeError is a ValueError, caught by the parsers
        pass


@settings(max_examples=300, deadline=None, derandomize=True)
@given(line=st.text(alphabet=st.sampled_from(list(" \t#=ab1'\"\\\x0b\xa0\r")), max_size=30))
def test_ini_splitting_is_shlex(line):
    try:
        expected = shlex.split(line, comments=True)
    except ValueError:
        return  # unbalanced quotes: both paths go to shlex, which raises the same
    assert split_line(line) == expected


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.lists(st.sampled_from(list("aZ_09.-+:'\"[]()Tru eFalsNon") + ["True", "None", "0x", "1e5"]), max_size=10).map("".join))
def test_ini_value_fast_paths_are_literal_eval(text):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected: Any = _coerce(ast.literal_eval(text))
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        expected = text
    got = parse_value(text)
    assert got == expected and type(got) is type(expected)


ADVERSARIAL = {
    "ini spaces": lambda n: "[web]\nh" + " " * n + "x\n",
    "ini brackets": lambda n: "[web]\n" + "[" * n + "\n",
    "ini var value": lambda n: "[web]\nh a=" + "\\'" * n + "\n",
    "yaml spaces": lambda n: "all:\n  hosts:\n    h:\n      k: '" + " " * n + "x'\n",
    "yaml braces": lambda n: "all:\n  vars:\n    k: '" + "{" * n + "'\n  hosts:\n    h:\n",
    "host name": lambda n: "[web]\n" + "a[" * (n // 2) + "\n",
    "host port": lambda n: "[web]\n" + "a." * (n // 2) + ":\n",
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_lines_take_linear_time(workdir, name):
    # A complexity bound, not a benchmark: 8x the input may cost 8x, and a quadratic parser 64x;
    # the bound (24x, plus 50 ms of noise) tells them apart on a loaded machine.
    def cost(n: int) -> float:
        path = workdir / ("adv.yml" if name.startswith("yaml") else "adv.ini")
        path.write_text(ADVERSARIAL[name](n), encoding="utf-8")
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            exercise(path)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = cost(5_000), cost(40_000)
    assert large < 24 * small + 0.05, f"{name}: {small * 1000:.1f} ms -> {large * 1000:.1f} ms for 8x the input"


CFG_LINES = st.lists(st.sampled_from([
    "[defaults]", "[defaults", "[inventory]", "vault_password_file = pw.txt", "vault_password_file=", "vault_id_match = yes",
    "vault_identity_list = a@x, b@prompt", "vault_identity = prod", "forks = 5", "; comment", "# comment", "  indented",
    "%", "%(x)s", "%%", "key", "= value", "\t", "", "\x00", "é", "[", "]", "vault_password_file = 100%",
]), max_size=12)


@given(lines=CFG_LINES, raw=st.binary(max_size=60), use_raw=st.booleans())
@FUZZ
def test_ansible_cfg(workdir, lines, raw, use_raw):
    """An ansible.cfg of any content reads as settings or as InventoryError (exit 2), nothing else."""
    from portfleet.inventory.ansible_config import read_config

    path = workdir / "ansible.cfg"
    path.write_bytes(raw if use_raw else "\n".join(lines).encode("utf-8"))
    try:
        settings_found = read_config(path)
    except InventoryError as exc:
        assert str(exc).startswith(f"{path}")
        return
    assert set(settings_found) <= {"vault_identity_list", "vault_password_file", "vault_identity", "vault_id_match"}
