"""netsh int ipv4|ipv6 show|set dynamicport, show excludedportrange."""

from __future__ import annotations

import pytest

from portfleet_lab.fleet import Fleet

DEFAULT = "\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\nStart Port      : 49152\r\nNumber of Ports : 16384\r\n\r\n"


@pytest.fixture()
def fleet(tmp_path):
    return Fleet.open(tmp_path, hosts=4, profile="defaults", seed=1)


@pytest.fixture()
def host(fleet):
    return fleet.hosts[0]


@pytest.mark.parametrize("command", [
    "netsh int ipv4 show dynamicport tcp",
    "netsh interface ipv4 show dynamicportrange tcp",
    "netsh int ipv4 show dynamicportrange protocol=tcp",
    "netsh int ip show dynamic tcp",
])
def test_show_spellings(host, command):
    r = host.execute(command)
    assert (r.stdout, r.stderr, r.exit_code) == (DEFAULT, "", 0)


def test_set_then_show(host):
    r = host.execute("netsh int ipv4 set dynamicport tcp start=10000 num=55536")
    assert (r.stdout, r.exit_code) == ("Ok.\r\n\r\n", 0)
    r = host.execute("netsh int ipv4 show dynamicport tcp")
    assert "Start Port      : 10000\r\nNumber of Ports : 55536\r\n" in r.stdout
    # the other three ranges are independent
    assert host.execute("netsh int ipv6 show dynamicport tcp").stdout == DEFAULT
    assert "Protocol udp" in host.execute("netsh int ipv4 show dynamicport udp").stdout


@pytest.mark.parametrize("args", ["start=10000 num=254", "start=1024 num=1000", "start=65000 num=1000",
                                  "start=abc num=1000", "startport=60000 numberofports=5537"])
def test_invalid_ranges_are_refused_and_change_nothing(host, args):
    r = host.execute(f"netsh int ipv4 set dynamicport tcp {args}")
    assert (r.stdout, r.exit_code) == ("The parameter is incorrect.\r\n\r\n", 1)
    assert host.execute("netsh int ipv4 show dynamicport tcp").stdout == DEFAULT


def test_boundaries_are_accepted(host):
    assert host.execute("netsh int ipv6 set dynamicport udp start=1025 num=255").exit_code == 0
    assert host.execute("netsh int ipv6 set dynamicport udp start=65281 num=255").exit_code == 0


def test_store_active_is_lost_at_boot(fleet, host):
    from portfleet_lab.fleet import apply_boot

    host.execute("netsh int ipv4 set dynamicport tcp start=20000 num=1000 store=active")
    assert "Start Port      : 20000" in host.execute("netsh int ipv4 show dynamicport tcp").stdout
    apply_boot(host.state, fleet.clock.now())
    assert host.execute("netsh int ipv4 show dynamicport tcp").stdout == DEFAULT


def test_unknown_command(host):
    r = host.execute("netsh int ipv4 show bogus")
    assert (r.stdout, r.exit_code) == ("The following command was not found: int ipv4 show bogus.\r\n\r\n", 1)


def test_missing_protocol_prints_usage(host):
    r = host.execute("netsh int ipv4 show dynamicport")
    assert r.stdout.startswith("One or more essential parameters were not entered.\r\n")
    assert r.exit_code == 1


def test_excluded_ranges_with_administered_marker(host):
    r = host.execute("netsh int ipv4 add excludedportrange protocol=tcp startport=50000 numberofports=60")
    assert r.stdout == "Ok.\r\n\r\n"
    r = host.execute("netsh int ipv4 show excludedportrange protocol=tcp")
    assert r.stdout == (
        "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n"
        "      5357        5357\r\n     50000       50059     *\r\n\r\n* - Administered port exclusions.\r\n\r\n"
    )
    # exclusions are shared by the IPv4 and IPv6 contexts
    assert host.execute("netsh int ipv6 show excludedportrange tcp").stdout == r.stdout


def test_legacy_host_has_no_dynamicport(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=6)
    legacy = fleet.host("legacy-01")
    assert legacy.os_version == "5.2.3790"
    r = legacy.execute("netsh int ipv4 show dynamicport tcp")
    assert (r.stdout, r.exit_code) == ("The following command was not found: int ipv4 show dynamicport tcp.\r\n\r\n", 1)
    r = legacy.execute("netsh int ip show excludedportrange protocol=tcp")
    assert r.exit_code == 1 and r.stdout.startswith("The following command was not found")


def test_german_labels_translated_numbers_kept(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=6)
    de = next(h for h in fleet.hosts if h.state.locale == "de-DE")
    r = de.execute("netsh int ipv4 show dynamicport tcp")
    lines = r.stdout.split("\r\n")
    assert lines[1] == "Protokoll tcp Dynamischer Portbereich"
    assert lines[3].startswith("Startport       : ") and lines[4].startswith("Anzahl von Ports: ")
    r = de.execute("netsh int ipv4 set dynamicport tcp start=10 num=10")
    assert r.stdout == "Falscher Parameter.\r\n\r\n"
    r = de.execute("netsh int ipv4 show excludedportrange tcp")
    assert 'Portausschlussbereiche f\u00fcr das Protokoll "tcp"' in r.stdout
