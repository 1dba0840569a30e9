"""The exact command lines portfleet sends, and the read's round trip through real outputs."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from portfleet.facts import parse_facts
from portfleet.parse.sections import END_KEY, split_sections
from portfleet.render import CMD_LINE_LIMIT, Renderer, RenderError
from portfleet.settings import CATALOGUE, PortRange, ReadStatus, SettingError, parse_readings

DATA = Path(__file__).parent / "data" / "windows"
TCPIP = r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"


def sample(name: str) -> str:
    return open(DATA / name, encoding="utf-8", newline="").read()


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_read_command_is_one_chained_line_with_markers(renderer):
    line = renderer.read_command([CATALOGUE["MaxUserPort"], CATALOGUE["dynamicport.ipv4.tcp"]], {})
    assert "\n" not in line and "\r" not in line
    assert line.startswith(
        "echo PORTFLEET:BEGIN:facts.ver & ver 2>&1 & echo PORTFLEET:BEGIN:facts.boot & "
        "wevtutil qe System /q:\"*[System[Provider[@Name='Microsoft-Windows-Kernel-General'] and (EventID=12)]]\" "
        "/c:1 /rd:true /f:text 2>&1 & echo PORTFLEET:BEGIN:facts.boot_net & net statistics workstation 2>&1 & "
    )
    assert line.endswith(
        f'echo PORTFLEET:BEGIN:MaxUserPort & reg query "{TCPIP}" /v MaxUserPort 2>&1 & '
        "echo PORTFLEET:BEGIN:dynamicport.ipv4.tcp & netsh int ipv4 show dynamicport tcp 2>&1 & "
        "echo PORTFLEET:END"
    )
    commands = line.split(" & ")
    assert all(c.endswith("2>&1") for c in commands if not c.startswith("echo "))


def test_read_command_for_the_whole_catalogue_stays_well_under_cmds_limit(renderer):
    windows = [s for s in CATALOGUE.values() if s.platform == "windows"]  # Linux: tests/test_ssh_settings.py
    line = renderer.read_command(windows * 2, {})  # duplicates are read once
    assert len(line) < CMD_LINE_LIMIT // 2
    assert line.count("PORTFLEET:BEGIN:dynamicport.ipv6.udp") == 1


def windows_prints(renderer: Renderer, settings, outputs: dict[str, str]) -> str:
    """What cmd.exe prints for the read command: each echo (with its trailing space), then the
    command's recorded output; a section missing from `outputs` prints nothing."""
    out = []
    for name, _command in renderer.read_sections(settings, {}):
        out.append(f"PORTFLEET:BEGIN:{name} \r\n")
        out.append(outputs.get(name, ""))
    out.append("PORTFLEET:END\r\n")
    return "".join(out)


def test_round_trip_through_recorded_outputs_modern_host(renderer):
    settings = [CATALOGUE["TcpTimedWaitDelay"], CATALOGUE["dynamicport.ipv4.tcp"], CATALOGUE["dynamicport.ipv6.tcp"]]
    stdout = windows_prints(renderer, settings, {
        "facts.ver": sample("ver-fr-FR.txt"),
        "facts.boot": sample("wevtutil-kernel-general-12-en-US.txt"),
        "facts.boot_net": sample("net-statistics-workstation-en-US.txt"),
        "TcpTimedWaitDelay": sample("reg-query-absent-fr-FR.txt"),
        "dynamicport.ipv4.tcp": sample("netsh-dynamicport-fr-FR.txt"),
        "dynamicport.ipv6.tcp": sample("netsh-dynamicport-en-US-vsimage.txt"),
    })
    sections = split_sections(stdout)
    assert END_KEY in sections
    facts = parse_facts(sections)
    assert facts.os_version == "10.0.18363.1440"
    assert facts.boot_time == datetime(2024, 8, 24, 19, 15, 58, 500000, tzinfo=timezone.utc)
    readings = parse_readings(sections, settings, facts)
    assert (readings["TcpTimedWaitDelay"].status, readings["TcpTimedWaitDelay"].effective) == (ReadStatus.ABSENT, 120)
    assert readings["dynamicport.ipv4.tcp"].value == PortRange(49152, 16384)
    assert readings["dynamicport.ipv6.tcp"].value == PortRange(1024, 64511)


def test_round_trip_legacy_host(renderer):
    settings = [CATALOGUE["MaxUserPort"], CATALOGUE["dynamicport.ipv4.tcp"]]
    stdout = windows_prints(renderer, settings, {
        "facts.ver": sample("ver-en-US-2003.txt"),
        "facts.boot": "'wevtutil' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
        "facts.boot_net": sample("net-statistics-workstation-en-US.txt"),
        "MaxUserPort": sample("reg-query-absent-en-US.txt"),
        "dynamicport.ipv4.tcp": sample("netsh-dynamicport-notfound-en-US.txt"),
    })
    sections = split_sections(stdout)
    facts = parse_facts(sections)
    assert facts.is_legacy and facts.boot_time_source == "net statistics"
    readings = parse_readings(sections, settings, facts)
    assert (readings["MaxUserPort"].status, readings["MaxUserPort"].effective) == (ReadStatus.ABSENT, 5000)
    assert readings["dynamicport.ipv4.tcp"].status == ReadStatus.UNSUPPORTED


def test_write_commands(renderer):
    assert renderer.write_command(CATALOGUE["MaxUserPort"], 65534, {}) == \
        f'reg add "{TCPIP}" /v MaxUserPort /t REG_DWORD /d 65534 /f'
    assert renderer.write_command(CATALOGUE["TcpTimedWaitDelay"], 30, {}) == \
        f'reg add "{TCPIP}" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f'
    assert renderer.write_command(CATALOGUE["dynamicport.ipv6.udp"], PortRange(10000, 55536), {}) == \
        "netsh int ipv6 set dynamicport udp start=10000 num=55536"


@pytest.mark.parametrize("key,value", [
    ("TcpTimedWaitDelay", "30 & shutdown /r"), ("MaxUserPort", 70000),
    ("dynamicport.ipv4.tcp", {"start": 80, "num": 10}), ("dynamicport.ipv4.tcp", None),
])
def test_write_command_renders_only_checked_values(renderer, key, value):
    with pytest.raises((SettingError, RenderError)):
        renderer.write_command(CATALOGUE[key], value, {})


def test_unset_commands(renderer):
    assert renderer.unset_command(CATALOGUE["TcpTimedWaitDelay"], {}) == f'reg delete "{TCPIP}" /v TcpTimedWaitDelay /f'
    assert renderer.unset_command(CATALOGUE["MaxUserPort"], {}) == f'reg delete "{TCPIP}" /v MaxUserPort /f'
    assert renderer.unset_command(CATALOGUE["dynamicport.ipv4.tcp"], {}) is None


def test_user_templates_override_per_file_and_see_host_vars(tmp_path):
    write = tmp_path / "windows" / "write"
    write.mkdir(parents=True)
    (write / "TcpTimedWaitDelay.cmd.j2").write_text(
        "{# our change-control wrapper #}\n"
        "echo change {{ vars.change_ticket }}\n"
        'reg add "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters" /v TcpTimedWaitDelay /t REG_DWORD /d {{ value }} /f\n'
    )
    r = Renderer(tmp_path)
    assert r.write_command(CATALOGUE["TcpTimedWaitDelay"], 45, {"change_ticket": "CHG-42"}) == \
        f'echo change CHG-42 & reg add "{TCPIP}" /v TcpTimedWaitDelay /t REG_DWORD /d 45 /f'
    # everything else still comes from the shipped templates
    assert r.write_command(CATALOGUE["MaxUserPort"], 5000, {}).startswith("reg add")
    assert r.source_of("windows/write/TcpTimedWaitDelay.cmd.j2") == write / "TcpTimedWaitDelay.cmd.j2"
    with pytest.raises(RenderError, match="change_ticket"):
        r.write_command(CATALOGUE["TcpTimedWaitDelay"], 45, {})  # StrictUndefined: a missing var is an error


def test_broken_or_missing_templates_are_clear_errors(tmp_path):
    with pytest.raises(RenderError, match="does not exist"):
        Renderer(tmp_path / "nope")
    bad = tmp_path / "windows" / "read"
    bad.mkdir(parents=True)
    (bad / "MaxUserPort.cmd.j2").write_text("reg query {% if %}\n")
    with pytest.raises(RenderError, match=r"MaxUserPort.cmd.j2:1"):
        Renderer(tmp_path).read_command([CATALOGUE["MaxUserPort"]], {})
    with pytest.raises(RenderError, match="not found"):
        Renderer().render("windows/read/NoSuchSetting.cmd.j2")


@pytest.mark.parametrize("body, message", [
    ("reg query {{ 5 | nosuchfilter }}\n", "No filter named 'nosuchfilter'."),  # refused when compiled, not parsed
    ("{% block a %}{% endblock %}{% block a %}{% endblock %}\n", "block 'a' defined twice"),
])
def test_a_template_jinja_refuses_to_compile_is_named_with_its_file_and_line(tmp_path, body, message):
    bad = tmp_path / "windows" / "read"
    bad.mkdir(parents=True)
    (bad / "MaxUserPort.cmd.j2").write_text("\n" + body)
    for _ in range(2):  # and again: nothing of the failed template is kept
        with pytest.raises(RenderError) as caught:
            Renderer(tmp_path).read_command([CATALOGUE["MaxUserPort"]], {})
        assert str(caught.value) == f"template {bad / 'MaxUserPort.cmd.j2'}:2: {message}"


def test_reads_that_use_host_vars_differ_per_host_and_the_others_are_reused(tmp_path):
    """A read template reading `vars` is rendered for each host; the shipped ones (no vars) once per run,
    yet every host still gets the full, correct line."""
    read = tmp_path / "windows" / "read"
    read.mkdir(parents=True)
    (read / "TcpTimedWaitDelay.cmd.j2").write_text(
        'reg query "{{ vars.params_key | default("HKLM\\\\X") }}" /v TcpTimedWaitDelay 2>&1\n')
    r = Renderer(tmp_path)
    settings = [CATALOGUE["MaxUserPort"], CATALOGUE["TcpTimedWaitDelay"]]
    a = r.read_command(settings, {"params_key": "HKLM\\A"})
    b = r.read_command(settings, {"params_key": "HKLM\\B"})
    assert 'reg query "HKLM\\A" /v TcpTimedWaitDelay' in a and 'reg query "HKLM\\B" /v TcpTimedWaitDelay' in b
    assert a.replace("HKLM\\A", "HKLM\\B") == b  # only the host's own part differs
    assert r.read_command(settings, {"params_key": "HKLM\\A"}) == a
    assert Renderer().read_command(settings, {"anything": 1}) == Renderer().read_command(settings, {})


@pytest.mark.parametrize("body", [
    "echo {{ range(1000) | random }}",
    "echo {{ lipsum(1, false, 1, 2) }}",
    "{% include 'windows/facts/included.cmd.j2' %}",
])
def test_impure_or_including_templates_are_rendered_every_time(tmp_path, body):
    facts = tmp_path / "windows" / "facts"
    facts.mkdir(parents=True)
    (facts / "ver.cmd.j2").write_text(body + "\n")
    (facts / "included.cmd.j2").write_text("echo {{ vars.n }}\n")
    r = Renderer(tmp_path)
    outputs = {r.render("windows/facts/ver.cmd.j2", vars={"n": n}) for n in range(30)}
    assert len(outputs) > 1
