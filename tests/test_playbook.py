"""Playbooks: shipped files load; every mistake is refused with file:line before any host is contacted."""

from pathlib import Path
from textwrap import dedent

import pytest

from portfleet.facts import HostFacts
from portfleet.playbook import PlaybookError, RebootBlock, Rollout, check_for_host, host_warnings, load_playbook
from portfleet.settings import PortRange
from portfleet.shares import Share

ROOT = Path(__file__).resolve().parent.parent
WS2003 = HostFacts(os_version="5.2.3790", major=5, minor=2, build=3790)
WS2008 = HostFacts(os_version="6.0.6002", major=6, minor=0, build=6002)
WS2012R2 = HostFacts(os_version="6.3.9600", major=6, minor=3, build=9600)
WS2019 = HostFacts(os_version="10.0.17763.5458", major=10, minor=0, build=17763, revision=5458)

EXAMPLE = """\
- name: Widen the dynamic range and shorten TIME_WAIT on modern hosts
  hosts: windows:!legacy
  settings:
    TcpTimedWaitDelay: 30
    dynamicport:
      ipv4: {tcp: {start: 10000, num: 55536}}
      ipv6: {tcp: {start: 10000, num: 55536}}
  rollout: {batch: "25%", max_fail_percentage: 10}
  reboot: {windows: ["Sat 02:00-04:00"], timezone: "Europe/Berlin", max_parallel: 5, max_unavailable: "25%"}
- name: Legacy hosts
  hosts: legacy
  settings: {MaxUserPort: 65534, TcpTimedWaitDelay: 30}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "play.yml"
    path.write_text(dedent(text))
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    return message[len(str(path)) + 1:]


def test_the_example_from_the_issue(tmp_path):
    pb = load_playbook(write(tmp_path, EXAMPLE))
    modern, legacy = pb.plays
    assert modern.hosts == "windows:!legacy"
    assert modern.settings == {"TcpTimedWaitDelay": 30, "dynamicport.ipv4.tcp": PortRange(10000, 55536),
                               "dynamicport.ipv6.tcp": PortRange(10000, 55536)}
    assert modern.setting_lines == {"TcpTimedWaitDelay": 4, "dynamicport.ipv4.tcp": 6, "dynamicport.ipv6.tcp": 7}
    assert modern.rollout == Rollout(batch="25%", max_fail_percentage=10.0)
    assert modern.reboot == RebootBlock(line=9, windows=("Sat 02:00-04:00",), window_lines=(9,),
                                        timezone="Europe/Berlin", max_parallel=5, max_unavailable=Share(percent=25.0),
                                        key_lines=(("timezone", 9), ("max_parallel", 9), ("max_unavailable", 9)))
    assert (modern.line, legacy.line) == (1, 10)
    assert legacy.settings == {"MaxUserPort": 65534, "TcpTimedWaitDelay": 30}
    assert legacy.rollout == Rollout() and legacy.reboot is None
    assert pb.warnings == []


def test_shipped_playbooks_load_cleanly():
    pb = load_playbook(ROOT / "playbooks" / "port-exhaustion.yml")
    assert pb.warnings == []
    modern, legacy = pb.plays
    assert modern.settings["TcpTimedWaitDelay"] == 30
    assert modern.settings["dynamicport.ipv4.tcp"] == PortRange(10000, 55536)
    assert modern.settings["dynamicport.ipv4.tcp"].end == 65535
    # Absent on modern hosts: a leftover value would reset the range at every boot (DESIGN).
    assert modern.settings["MaxUserPort"] is None
    assert legacy.hosts == "legacy" and legacy.settings == {"MaxUserPort": 65534, "TcpTimedWaitDelay": 30}
    defaults = load_playbook(ROOT / "playbooks" / "defaults.yml")
    assert defaults.plays[0].settings["TcpTimedWaitDelay"] is None
    assert defaults.plays[0].settings["dynamicport.ipv6.udp"] == PortRange(49152, 16384)


@pytest.mark.parametrize("text,expected", [
    ("- hosts: all\n  settings:\n    MaxUserPrt: 5000\n", "3: unknown setting 'MaxUserPrt'; did you mean 'MaxUserPort'?"),
    ("- hosts: all\n  settings:\n    TcpTimedWaitDelay: 30\n    MaxUserPort: 70000\n",
     "4: MaxUserPort 70000 is out of range: valid is 5000-65534"),
    ("- hosts: all\n  settings:\n    TcpTimedWaitDelay: 400\n", "3: TcpTimedWaitDelay 400 is out of range: valid is 30-300 seconds"),
    ("- hosts: all\n  settings:\n    TcpTimedWaitDelay: thirty\n", "3: TcpTimedWaitDelay must be a whole number"),
    ("- hosts: all\n  settings:\n    TcpTimedWaitDelay: [30]\n", "3: TcpTimedWaitDelay must be a whole number (valid: 30-300"),
    ("- hosts: all\n  setings:\n    TcpTimedWaitDelay: 30\n", "2: unknown key 'setings' in play #1; did you mean 'settings'?"),
    ("- hosts: all\n  settings:\n    dynamicport:\n      ipv4:\n        tcp: {start: 1000, num: 100}\n",
     "5: dynamicport.ipv4.tcp: start 1000 is below 1025; num 100 is below 255"),
    ("- hosts: all\n  settings:\n    dynamicport:\n      ipv4:\n        tcp: {start: 10000, num: 60000}\n",
     "5: dynamicport.ipv4.tcp: the range ends at 69999, past 65535 (num may be at most 55536)"),
    ("- hosts: all\n  settings:\n    dynamicport:\n      ipv5: {tcp: {start: 10000, num: 100}}\n",
     "4: unknown key 'ipv5' in dynamicport; did you mean 'ipv6'?"),
    ("- hosts: all\n  settings:\n    dynamicport:\n      ipv4: {tpc: {start: 10000, num: 1000}}\n",
     "4: unknown key 'tpc' in dynamicport.ipv4; did you mean 'tcp'?"),
    ("- hosts: all\n  settings:\n    dynamicport: {ipv4: {tcp: {start: 10000, count: 1000}}}\n",
     "3: unknown key 'count' in dynamicport.ipv4.tcp"),
    ("- hosts: all\n  settings:\n    dynamicport: {ipv4: {tcp: null}}\n", "3: dynamicport.ipv4.tcp cannot be absent"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30\n", "YAML syntax error: expected ',' or '}'"),
    ("- hosts: all\n  settings:\n  TcpTimedWaitDelay: 30\n   bad: indent\n", "YAML syntax error"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30, TcpTimedWaitDelay: 40}\n", "2: settings of play 'play #1': 'TcpTimedWaitDelay' given twice"),
    ("- name: x\n  settings: {TcpTimedWaitDelay: 30}\n", "1: play 'x' has no 'hosts:'"),
    ("- hosts: !legacy\n  settings: {TcpTimedWaitDelay: 30}\n", "1: could not determine a constructor for the tag '!legacy' "
     "(YAML reads a leading '!' as a tag: quote the value"),
    ("- hosts: all\n  settings:\n    - TcpTimedWaitDelay: 30\n", "3: settings of play 'play #1' must be a mapping (key: value), got a list"),
    ("- name: x\n  hosts: all\n", "1: play 'x' has no 'settings:'"),
    ("- hosts: all\n  settings: {}\n", "2: play 'play #1' sets nothing"),
    ("hosts: all\nsettings: {}\n", "1: a playbook is a list of plays"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30}\n  rollout: {batch: 0}\n", "3: rollout batch must be at least 1 host"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30}\n  rollout: {batch: '150%'}\n", "3: rollout batch must be a host count"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30}\n  rollout:\n    max_fail_percentage: 120\n",
     "4: max_fail_percentage must be a number from 0 to 100"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30}\n  rollout: {serial: 2}\n", "3: unknown key 'serial' in rollout"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30}\n  reboot:\n    timezone: Mars/Olympus\n", "4: unknown time zone 'Mars/Olympus'"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30}\n  reboot:\n    windows:\n      - Saturday night\n",
     "5: reboot window 'Saturday night' has no time span"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30}\n  reboot: {max_parallel: 0}\n", "3: reboot max_parallel must be a whole number"),
    ("- hosts: all\n  settings: {TcpTimedWaitDelay: 30}\n  reboot: {windws: []}\n", "3: unknown key 'windws' in reboot policy of play 'play #1'; did you mean 'windows'?"),
])
def test_mistakes_are_refused_with_file_and_line(tmp_path, text, expected):
    assert expected in error_of(tmp_path, text)


def test_empty_and_missing_files(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(PlaybookError, match="empty"):
        load_playbook(path)
    with pytest.raises(PlaybookError) as info:
        load_playbook(tmp_path / "missing.yml")
    assert str(info.value) == f"{tmp_path / 'missing.yml'}: no such playbook file"


def test_absent_values_and_host_lists(tmp_path):
    pb = load_playbook(write(tmp_path, """\
        - hosts: [web, app]
          settings:
            MaxUserPort: null
            TcpTimedWaitDelay: absent
            dynamicport.ipv4.udp: {start: 49152, end: 65535}
        """))
    (play,) = pb.plays
    assert play.hosts == "web,app"
    assert play.settings == {"MaxUserPort": None, "TcpTimedWaitDelay": None,
                             "dynamicport.ipv4.udp": PortRange(49152, 16384)}


def test_maxuserport_next_to_a_dynamic_range_warns_with_its_line(tmp_path):
    path = write(tmp_path, """\
        - name: mixed
          hosts: windows
          settings:
            dynamicport: {ipv4: {tcp: {start: 10000, num: 55536}}}
            MaxUserPort: 65534
        """)
    pb = load_playbook(path)
    assert len(pb.warnings) == 1
    assert pb.warnings[0].startswith(f"{path}:5: warning: play 'mixed' sets MaxUserPort next to a dynamic port range")
    assert "start=1024, num=MaxUserPort-1023" in pb.warnings[0]


def test_short_timed_wait_warns_and_is_refused_per_host(tmp_path):
    path = write(tmp_path, """\
        - name: fast reuse
          hosts: windows
          settings:
            TcpTimedWaitDelay: 10
            dynamicport: {ipv4: {tcp: {start: 10000, num: 55536}}}
        """)
    pb = load_playbook(path)
    assert pb.warnings == [f"{path}:4: warning: play 'fast reuse' sets TcpTimedWaitDelay 10: values below 30 are valid "
                           f"only on Windows 8.1 / Server 2012 R2 and later; older hosts in 'windows' will be refused"]
    (play,) = pb.plays
    errors = check_for_host(play, WS2008)
    assert errors == [f"{path}:4: TcpTimedWaitDelay 10 needs Windows 8.1 / Server 2012 R2 (6.3) or later; this host "
                      f"runs 6.0.6002 (Windows Vista / Server 2008), where the valid range is 30-300"]
    assert check_for_host(play, WS2012R2) == []
    legacy = check_for_host(play, WS2003)
    assert len(legacy) == 2 and "dynamicport.ipv4.tcp needs Windows Vista / Server 2008 or later" in legacy[1]


def test_host_warning_for_maxuserport_on_modern_windows(tmp_path):
    pb = load_playbook(write(tmp_path, "- hosts: all\n  settings: {MaxUserPort: 65534}\n"))
    (play,) = pb.plays
    assert host_warnings(play, WS2003) == []
    (warning,) = host_warnings(play, WS2019)
    assert "start=1024, num=64511" in warning and "Server 2019" in warning
