"""`ver` parser: the number inside the brackets, whatever the language around it."""

from pathlib import Path

import pytest

from portfleet.parse.ver import parse_ver, version_tuple

DATA = Path(__file__).parent / "data" / "windows"


@pytest.mark.parametrize("name,version", [
    ("ver-en-US-win10.txt", "10.0.19042.2006"),
    ("ver-en-US-win7.txt", "6.1.7600"),
    ("ver-en-US-2003.txt", "5.2.3790"),
    ("ver-fr-FR.txt", "10.0.18363.1440"),
    ("ver-fr-FR-win11.txt", "10.0.26200.8655"),
])
def test_recorded_banners(name, version):
    assert parse_ver(open(DATA / name, encoding="utf-8", newline="").read()) == version


@pytest.mark.parametrize("text,version", [
    ("Microsoft Windows XP [Version 5.1.2600]", "5.1.2600"),
    ("Microsoft Windows [Версия 10.0.19045.3086]", "10.0.19045.3086"),
    ("\r\nMicrosoft Windows [Version 10.0.20348.2340]\r\n", "10.0.20348.2340"),
])
def test_other_shapes(text, version):
    assert parse_ver(text) == version


@pytest.mark.parametrize("garbage", ["", "'ver' is not recognized", "[Version]", "Ok."])
def test_garbage(garbage):
    assert parse_ver(garbage) is None


def test_version_tuple():
    assert version_tuple("10.0.20348.2340") == (10, 0, 20348, 2340)
    assert version_tuple("5.2.3790") == (5, 2, 3790, 0)
    assert version_tuple(None) is None
