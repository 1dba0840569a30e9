"""netsh dynamicport / excludedportrange parsers against recorded outputs (tests/data/windows)."""

from pathlib import Path

import pytest

from portfleet.parse.netsh import PortRange, command_not_found, parse_dynamicport, parse_excludedportrange

DATA = Path(__file__).parent / "data" / "windows"


def sample(name: str) -> str:
    return open(DATA / name, encoding="utf-8", newline="").read()


@pytest.mark.parametrize("name", ["netsh-dynamicport-en-US.txt", "netsh-dynamicport-fr-FR.txt", "netsh-dynamicport-de-DE.txt"])
def test_default_range_is_read_in_every_language(name):
    text = sample(name)
    assert "\r\n" in text  # recorded with Windows line ends
    found = parse_dynamicport(text)
    assert found == PortRange(49152, 16384)
    assert found.end == 65535
    assert str(found) == "49152-65535 (16384 ports)"


def test_lf_only_copy_parses_the_same():
    assert parse_dynamicport(sample("netsh-dynamicport-en-US.txt").replace("\r\n", "\n")) == PortRange(49152, 16384)


def test_range_widened_by_maxuserport_at_boot_is_reported_as_is():
    # start=1024 is below what netsh lets anyone set (1025) but is what Windows reports after
    # MaxUserPort was applied at boot: a reading must show it, not reject it.
    assert parse_dynamicport(sample("netsh-dynamicport-en-US-vsimage.txt")) == PortRange(1024, 64511)


def test_command_not_found_is_recognised_by_the_echoed_command():
    text = sample("netsh-dynamicport-notfound-en-US.txt")
    assert parse_dynamicport(text) is None
    assert command_not_found(text)
    # The same shape in German (real phrase from the de-DE netsh docs, with our command echoed).
    german = sample("netsh-notfound-de-DE.txt").replace("dhcp.", "int ipv4 show dynamicport tcp.")
    assert command_not_found(german)
    assert not command_not_found(sample("netsh-dynamicport-en-US.txt"))


@pytest.mark.parametrize(
    "garbage",
    ["", "Ok.\r\n", "'netsh' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
     "Start Port : 70000\r\nNumber of Ports : 16384\r\n", "Start Port : 49152\r\n", "\x00\xff binary \r\n"],
)
def test_garbage_gives_none_not_a_crash(garbage):
    assert parse_dynamicport(garbage) is None


def test_excluded_ranges_with_administered_marker():
    rows = parse_excludedportrange(sample("netsh-excludedportrange-en-US.txt"))
    assert rows == [(80, 80, False), (5986, 5986, False), (47001, 47001, False), (55679, 55679, True)]


@pytest.mark.parametrize("name,count,last", [
    ("netsh-excludedportrange-ko-KR.txt", 10, (50000, 50059, True)),
    ("netsh-excludedportrange-zh-CN.txt", 18, (54235, 54235, False)),
])
def test_excluded_ranges_in_other_languages(name, count, last):
    rows = parse_excludedportrange(sample(name))
    assert len(rows) == count
    assert rows[-1] == last
    assert (50000, 50059, True) in rows


def test_excluded_ranges_of_garbage_is_empty():
    assert parse_excludedportrange(sample("netsh-dynamicport-en-US.txt")) == []
    assert parse_excludedportrange("") == []
