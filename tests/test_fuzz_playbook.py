"""The playbook loader on hostile input: every outcome is a Playbook or a PlaybookError ("file:line:
message"), never another exception, and in time linear in the input.

Hypothesis (bounded examples, part of the normal run) feeds it playbook-shaped YAML with odd values
(non-ASCII digits, integers past Python's 4,300-digit limit, huge floats, long text, nesting), plain
text and raw bytes; a few regressions found that way are kept as named cases, and the CLI is checked
to turn them into exit 2 with file:line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from portfleet.playbook import PlaybookError, load_playbook, loads_playbook
from portfleet.reboot.maintenance import WindowError, parse_timezone

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)

ODD_DIGITS = "²³¹٣०๓߃႑᠓𝟘"  # str.isdigit() says yes to each; int() refuses most
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet="0123456789" + ODD_DIGITS + " -%", min_size=1, max_size=12),
    st.text(alphabet="0123456789" + ODD_DIGITS, min_size=1, max_size=4),
    st.sampled_from(["absent", "null", "Europe", "Europe/Berlin", "a" * 256, "../../etc/passwd", "1e400",
                     "9" * 5000, "0x" + "f" * 64, "25%", "101%", "Sat 02:00-04:00", "Snu 02:00-04:00"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)
SETTING_KEYS = ["TcpTimedWaitDelay", "MaxUserPort", "dynamicport", "dynamicport.ipv4.tcp",
                "net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "Bogus"]
# Mostly flat values (st.recursive alone gives mostly containers), shaped as the slots expect.
port_range = st.fixed_dictionaries({"start": scalars, "num": scalars})
range_values = st.one_of(scalars, scalars, scalars, port_range, st.fixed_dictionaries({"ipv4": st.fixed_dictionaries({"tcp": port_range})}),
                         st.lists(scalars, max_size=3), values)
settings_blocks = st.dictionaries(st.sampled_from(SETTING_KEYS), range_values, max_size=4)
reboot_blocks = st.dictionaries(
    st.sampled_from(["windows", "timezone", "freeze", "max_parallel", "batch", "max_unavailable", "when"]),
    values, max_size=4)
plays = st.fixed_dictionaries(
    {"hosts": st.one_of(st.just("windows"), values)},
    optional={"name": values, "settings": st.one_of(settings_blocks, values),
              "rollout": st.dictionaries(st.sampled_from(["batch", "max_fail_percentage", "x"]), values, max_size=2),
              "reboot": st.one_of(reboot_blocks, values), "extra": values},
)
documents = st.one_of(st.lists(plays, min_size=0, max_size=3), values)


def _load(text: str) -> None:
    try:
        loads_playbook(text, "fuzz.yml")
    except PlaybookError as exc:
        assert str(exc).startswith("fuzz.yml"), exc  # always names the file
        assert len(str(exc)) < 2000, "a message quotes a bounded part of the input"


@FUZZ
@given(documents)
def test_playbook_shaped_yaml_loads_or_is_a_playbook_error(document):
    _load(yaml.safe_dump(document, allow_unicode=True, width=10**6))


# A valid play with ONE slot replaced by a fuzzed value: every check of every part gets reached.
SLOTS = [("settings", k) for k in SETTING_KEYS] + [("reboot", k) for k in
         ("windows", "timezone", "freeze", "max_parallel", "batch", "max_unavailable")] + [
         ("rollout", "batch"), ("rollout", "max_fail_percentage"), ("name", None), ("hosts", None)]


@FUZZ
@given(st.sampled_from(SLOTS), range_values)
def test_a_valid_play_with_one_odd_value_loads_or_is_a_playbook_error(slot, value):
    play = {"name": "p", "hosts": "windows", "settings": {"TcpTimedWaitDelay": 30},
            "reboot": {"windows": ["Sat 02:00-04:00"]}, "rollout": {"batch": 2}}
    part, key = slot
    if key is None:
        play[part] = value
    else:
        play[part][key] = value
    _load(yaml.safe_dump([play], allow_unicode=True, width=10**6))


@FUZZ
@given(st.lists(st.sampled_from(list("- :{}[],\"'!&*|>%@`#\n\t ") + ["hosts", "settings", "\u00b2", "9999",
                                                                      "reboot", "~", "<<", "\n  "]),
                max_size=60).map("".join))
def test_yaml_token_soup_loads_or_is_a_playbook_error(text):
    _load(text)


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_in_a_file_load_or_are_a_playbook_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("pb") / "pb.yml"
    path.write_bytes(data)
    try:
        load_playbook(path)
    except PlaybookError as exc:
        assert str(exc).startswith(str(path))


PLAY = "- name: p\n  hosts: windows\n  settings:\n    TcpTimedWaitDelay: {value}\n"


@pytest.mark.parametrize("text, line, needle", [
    (PLAY.format(value='"²"'), 4, "must be a whole number"),
    (PLAY.format(value='"1²"'), 4, "must be a whole number"),
    (PLAY.format(value="9" * 5000), 4, "not a usable value"),
    (PLAY.format(value='"' + "9" * 5000 + '"'), 4, "must be a whole number"),
    (PLAY.format(value="0x" + "f" * 5000), 4, "far out of range"),
    (PLAY.format(value="1.0e+300"), 4, "far out of range"),
    ("- hosts: windows\n  settings:\n    dynamicport: {ipv4: {tcp: {start: \"1²\", num: 300}}}\n", 3, "start"),
    ("- hosts: windows\n  settings:\n    net.ipv4.ip_local_port_range: \"1² 3\"\n", 3, "whole number"),
    (PLAY.format(value=30) + "  reboot: {timezone: " + "a" * 256 + "}\n", 5, "unknown time zone"),
    (PLAY.format(value=30) + "  reboot: {timezone: Europe}\n", 5, "unknown time zone 'Europe'"),
    (PLAY.format(value=30) + "  reboot: {max_parallel: " + "9" * 5000 + "}\n", 5, "not a usable value"),
    (PLAY.format(value=30) + "  rollout: {batch: \"²%\"}\n", 5, "rollout batch"),
    ("- hosts: windows\n  settings:\n    net.ipv4.ip_local_port_range: " + "[" * 5000 + "]" * 5000 + "\n", 3,
     "nested more than"),
    ("- name: " + "9" * 5000 + "\n  hosts: windows\n  settings: {TcpTimedWaitDelay: 30}\n", 1, "not a usable value"),
])
def test_values_that_once_raised_are_playbook_errors_with_the_line(text, line, needle):
    with pytest.raises(PlaybookError) as caught:
        loads_playbook(text, "pb.yml")
    assert caught.value.line == line and needle in caught.value.message, str(caught.value)
    assert len(str(caught.value)) < 400


def test_a_real_zone_with_three_parts_still_loads():
    book = loads_playbook(PLAY.format(value=30) + "  reboot: {timezone: America/Argentina/Buenos_Aires}\n")
    assert book.plays[0].reboot is not None and book.plays[0].reboot.timezone == "America/Argentina/Buenos_Aires"


@pytest.mark.parametrize("name", ["a" * 256, "Europe", "x" * 100_000])
def test_a_bad_zone_in_an_inventory_var_is_a_window_error(name):
    started = time.monotonic()
    with pytest.raises(WindowError, match="unknown time zone"):
        parse_timezone(name, "hosts.yml", 7)
    assert time.monotonic() - started < 2.0  # no close-match search over a huge name


def test_loading_time_grows_linearly_with_a_long_value():
    def took(n: int) -> float:
        text = PLAY.format(value='"' + " " * n + 'x"')
        started = time.perf_counter()
        with pytest.raises(PlaybookError):
            loads_playbook(text)
        return time.perf_counter() - started

    small, big = min(took(20_000) for _ in range(3)), min(took(160_000) for _ in range(3))
    assert big < 8 * small * 3 + 0.05, (small, big)  # 8x the input: at most ~3x worse than linear


@pytest.mark.parametrize("value, needle", [('"²"', "pb.yml:4:"), ("9" * 5000, "pb.yml:4:")])
def test_the_cli_exits_2_naming_file_and_line_before_any_host(tmp_path, value, needle):
    playbook = tmp_path / "pb.yml"
    playbook.write_text(PLAY.format(value=value))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    web-01: {ansible_host: 127.0.0.1, ansible_port: 1}\n")
    env = dict(os.environ, PORTFLEET_STATE=str(tmp_path / "state.db"))
    proc = subprocess.run([sys.executable, "-m", "portfleet", "audit", "-i", str(inventory), "-p", str(playbook)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    reboot = tmp_path / "tz.yml"
    reboot.write_text(PLAY.format(value=30) + "  reboot: {timezone: " + "a" * 256 + "}\n")
    proc = subprocess.run([sys.executable, "-m", "portfleet", "reboot", "plan", "-i", str(inventory), "-p",
                           str(reboot)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and f"{reboot}:5:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
