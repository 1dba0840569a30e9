"""The lab model: profiles, reboots, persistence, faults, credentials, scale (Fleet/LabHost called directly)."""

from __future__ import annotations

import json
import os
import stat
import time
from collections import Counter

import psutil
import pytest

from portfleet_lab.fleet import BOOT_LAB_SECONDS, Fleet

PARAMS = r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
FULL = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
CBS = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending"


def wait_for(fleet, host, kinds, timeout=10.0):
    """Drive fleet.tick() until `host` went through the given transitions."""
    seen = []
    deadline = time.time() + timeout
    while seen != kinds and time.time() < deadline:
        seen += [k for k, h in fleet.tick() if h is host]
        pause = fleet.seconds_to_next_event()
        time.sleep(min(0.02, pause) if pause is not None else 0.02)
    assert seen == kinds
    return seen


def tcp_range(host, family="ipv4"):
    out = host.execute(f"netsh int {family} show dynamicport tcp").stdout
    start = int(out.split("Start Port      : ")[1].split()[0])
    num = int(out.split("Number of Ports : ")[1].split()[0])
    return start, num


# ------------------------------------------------------------------ profiles


@pytest.mark.parametrize("count", [6, 8, 20])
def test_mixed_profile_composition(tmp_path, count):
    fleet = Fleet.open(tmp_path, hosts=count)
    hosts = fleet.hosts
    assert len(hosts) == count
    assert len({h.address for h in hosts}) == count and hosts[0].address == "127.0.10.1"
    legacy = [h for h in hosts if h.os_version == "5.2.3790"]
    assert [h.name for h in legacy] == ["legacy-01"] and legacy[0].groups == ["legacy"]
    assert sum(1 for h in hosts if h.state.tcp.leak is not None) == 1
    assert sum(1 for h in hosts if h.execute(f'reg query "{CBS}"').exit_code == 0) == 1
    german = [h for h in hosts if h.state.locale == "de-DE"]
    assert german and all(h.oem_codepage == 850 for h in german) and not any(h.state.is_legacy for h in german)
    assert {h.groups[0] for h in hosts} == {"web", "app", "sql", "legacy"}
    modern = [h for h in hosts if not h.state.is_legacy]
    assert len({h.os_version.split(".")[2] for h in modern}) >= 3  # a mix of builds
    tw = Counter(h.state.registry.dword(FULL, "TcpTimedWaitDelay") for h in modern)
    assert tw[None] >= 1 and tw[30] >= 1 and tw[240] >= 1  # defaults, tuned, drifted
    english = [h for h in modern if h.state.locale == "en-US"]
    tuned = [h for h in english if h.state.registry.dword(FULL, "TcpTimedWaitDelay") == 30
             and tcp_range(h) == (10000, 55536) and tcp_range(h, "ipv6") == (10000, 55536)]
    assert tuned
    drifted = [h for h in modern if h.state.registry.dword(FULL, "TcpTimedWaitDelay") == 240
               or (h.state.ranges["ipv4 tcp"].start, h.state.ranges["ipv6 tcp"].start) == (49152, 10000)]
    assert drifted
    assert all(h.faults.unreachable is False and h.faults.slow_seconds == 0 for h in hosts)


def test_profiles_are_deterministic_under_seed(tmp_path):
    a = Fleet.open(tmp_path / "a", hosts=12, seed=4)
    b = Fleet.open(tmp_path / "b", hosts=12, seed=4)
    c = Fleet.open(tmp_path / "c", hosts=12, seed=5)

    def shape(fleet):
        return [(h.name, h.os_version, h.state.locale, h.state.timezone, h.state.registry.to_json(),
                 {k: (v.start, v.num) for k, v in h.state.ranges.items()}) for h in fleet.hosts]

    assert shape(a) == shape(b)
    assert shape(a) != shape(c)


def test_defaults_and_tuned_profiles(tmp_path):
    defaults = Fleet.open(tmp_path / "d", hosts=5, profile="defaults")
    for h in defaults.hosts:
        assert h.os_version.startswith("10.0.20348.")
        assert h.execute(f'reg query "{PARAMS}" /v TcpTimedWaitDelay').exit_code == 1
        assert tcp_range(h) == tcp_range(h, "ipv6") == (49152, 16384)
    tuned = Fleet.open(tmp_path / "t", hosts=5, profile="tuned")
    for h in tuned.hosts:
        assert "TcpTimedWaitDelay    REG_DWORD    0x1e" in h.execute(f'reg query "{PARAMS}" /v TcpTimedWaitDelay').stdout
        assert tcp_range(h) == tcp_range(h, "ipv6") == (10000, 55536)
        assert "Start Port      : 49152" in h.execute("netsh int ipv4 show dynamicport udp").stdout
    with pytest.raises(ValueError):
        Fleet.open(tmp_path / "x", hosts=2, profile="nope")


# ------------------------------------------------------------------ reboot cycle


def test_reboot_cycle_applies_registry_at_boot(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=3, profile="defaults", time_scale=1000)
    host = fleet.hosts[0]
    before_boot = host.state.boot_time
    assert host.to_json()["tcp_summary"]["by_state"]["TIME_WAIT"] > 0
    assert host.execute(f'reg add "{PARAMS}" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f').exit_code == 0
    assert host.execute(f'reg add "{PARAMS}" /v MaxUserPort /t REG_DWORD /d 65534 /f').exit_code == 0
    settings = host.to_json()["settings"]
    assert settings["TcpTimedWaitDelay"] == {"configured": 30, "effective": None, "effective_seconds": 120}
    assert tcp_range(host) == (49152, 16384)  # nothing changes before the reboot

    assert fleet.seconds_to_next_event() is None
    assert host.execute('shutdown /r /t 10 /c "portfleet"').exit_code == 0
    assert 0 <= fleet.seconds_to_next_event() <= 10 / 1000
    wait_for(fleet, host, ["down"])
    assert host.is_up is False
    assert 0 < fleet.seconds_to_next_event() <= BOOT_LAB_SECONDS / 1000
    wait_for(fleet, host, ["up"])
    assert host.is_up is True

    assert host.state.boot_time > before_boot
    # Vista+: MaxUserPort resets the TCP ranges of IPv4 and IPv6 to 1024..MaxUserPort at boot
    assert tcp_range(host) == tcp_range(host, "ipv6") == (1024, 64511)
    assert "Start Port      : 49152" in host.execute("netsh int ipv4 show dynamicport udp").stdout
    settings = host.to_json()["settings"]
    assert settings["TcpTimedWaitDelay"]["effective"] == 30
    summary = host.to_json()["tcp_summary"]["by_state"]
    assert summary["TIME_WAIT"] == 0 and summary["CLOSE_WAIT"] == 0
    netstat = host.execute("netstat -ano").stdout
    assert "TIME_WAIT" not in netstat and "CLOSE_WAIT" not in netstat and "LISTENING" in netstat
    r = host.execute('wevtutil qe System /q:"*[System[(EventID=12 or EventID=6005 or EventID=6006)]]" /f:text /rd:true /c:3')
    ids = [line.split(": ")[1] for line in r.stdout.split("\r\n") if line.startswith("  Event ID: ")]
    assert ids == ["6005", "12", "6006"]
    assert host.state.shutdown is None
    r = host.execute("shutdown /a")
    assert r.exit_code == 1116


def test_reboot_clears_windows_pending_flags(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=6, time_scale=1000)
    host = next(h for h in fleet.hosts if h.execute(f'reg query "{CBS}"').exit_code == 0)
    assert host.to_json()["reboot_pending"] == {"cbs": True, "windows_update": False, "pending_file_rename": True}
    host.execute("shutdown /r /t 0")
    wait_for(fleet, host, ["down", "up"])
    assert host.execute(f'reg query "{CBS}"').exit_code == 1
    assert host.to_json()["reboot_pending"] == {"cbs": False, "windows_update": False, "pending_file_rename": False}


def test_legacy_range_follows_maxuserport_at_boot(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=6, time_scale=1000)
    legacy = fleet.host("legacy-01")
    assert (legacy.state.ranges["ipv4 tcp"].start, legacy.state.ranges["ipv4 tcp"].end) == (1025, 5000)
    legacy.execute(f'reg add "{PARAMS}" /v MaxUserPort /t REG_DWORD /d 65534 /f')
    legacy.execute("shutdown /r /t 0")
    wait_for(fleet, legacy, ["down", "up"])
    assert (legacy.state.ranges["ipv4 tcp"].start, legacy.state.ranges["ipv4 tcp"].end) == (1025, 65534)


def test_exhausted_host_recovers_after_reboot_with_tuning(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=6, time_scale=1000)
    victim = next(h for h in fleet.hosts if h.state.tcp.leak is not None)
    assert victim.to_json()["tcp_summary"]["exhausted"]
    victim.execute("netsh int ipv4 set dynamicport tcp start=10000 num=55536")
    victim.execute("shutdown /r /t 0")
    wait_for(fleet, victim, ["down", "up"])
    summary = victim.to_json()["tcp_summary"]
    assert not summary["exhausted"] and summary["dynamic_range"] == {"start": 10000, "num": 55536}
    assert victim.to_json()["tcp_summary"]["leak"]["pid"] == victim.state.tcp.leak.pid


# ------------------------------------------------------------------ persistence


def test_state_survives_reopen(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=6, seed=9)
    host = fleet.hosts[1]
    host.execute(f'reg add "{PARAMS}" /v TcpTimedWaitDelay /t REG_DWORD /d 77 /f')
    host.execute("netsh int ipv6 set dynamicport tcp start=20000 num=30000")
    host.execute('schtasks /create /tn later /sc once /sd 12/24/2030 /st 23:30 /tr "shutdown /r /t 300" /ru SYSTEM /f')
    fleet.set_faults(host.name, slow_seconds=1.5, http_500=True)

    again = Fleet.open(tmp_path, hosts=99, profile="tuned", seed=1)  # arguments ignored for an existing lab
    assert [h.name for h in again.hosts] == [h.name for h in fleet.hosts]
    assert (again.username, again.password) == (fleet.username, fleet.password)
    h2 = again.host(host.name)
    assert "0x4d" in h2.execute(f'reg query "{PARAMS}" /v TcpTimedWaitDelay').stdout
    assert tcp_range(h2, "ipv6") == (20000, 30000)
    assert h2.execute("schtasks /query /tn later").exit_code == 0
    assert h2.faults.slow_seconds == 1.5 and h2.faults.http_500 is True
    assert again.host(host.address) is h2
    assert h2.to_json()["boot_time"] == host.to_json()["boot_time"]


def test_pending_shutdown_that_came_due_while_stopped_fires_on_reopen(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=3, profile="defaults", time_scale=1000)
    host = fleet.hosts[2]
    host.execute("shutdown /r /t 5")  # 5 ms of lab time
    due = host.state.shutdown.fire_at
    while time.time() <= due:
        time.sleep(0.001)
    reopened = Fleet.open(tmp_path, hosts=3, time_scale=1000)
    again = reopened.host(host.name)
    assert again.is_up and reopened.seconds_to_next_event() == 0
    wait_for(reopened, again, ["down", "up"])
    assert again.state.boot_time > host.state.boot_time


def test_credentials_file_is_private_and_secret_stays_there(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=3)
    creds = tmp_path / "credentials.json"
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    assert json.loads(creds.read_text()) == {"username": fleet.username, "password": fleet.password}
    assert len(fleet.password) >= 20
    for path in [tmp_path / "fleet.json", *sorted((tmp_path / "hosts").iterdir())]:
        assert fleet.password not in path.read_text()


def test_set_faults_validates_names(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=2, profile="defaults")
    with pytest.raises(ValueError):
        fleet.set_faults(fleet.hosts[0].name, explode=True)
    with pytest.raises(KeyError):
        fleet.set_faults("no-such-host", unreachable=True)
    fleet.set_faults(fleet.hosts[0].name, unreachable=True, wrong_password=True, reset_mid_command=True)
    f = Fleet.open(tmp_path, hosts=2).hosts[0].faults
    assert (f.unreachable, f.wrong_password, f.reset_mid_command) == (True, True, True)


def test_to_json_snapshot(tmp_path):
    fleet = Fleet.open(tmp_path, hosts=6)
    snap = fleet.hosts[0].to_json()
    json.dumps(snap)  # serialisable as is
    for key in ("name", "address", "os_version", "registry", "ranges", "excluded", "boot_time", "tcp_summary",
                "tasks", "shutdown", "settings", "reboot_pending", "events", "faults", "is_up"):
        assert key in snap


# ------------------------------------------------------------------ scale


def test_thousand_hosts_open_fast_and_small(tmp_path):
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    t0 = time.perf_counter()
    fleet = Fleet.open(tmp_path, hosts=1000)
    created = time.perf_counter() - t0
    t0 = time.perf_counter()
    reopened = Fleet.open(tmp_path, hosts=1000)
    loaded = time.perf_counter() - t0
    assert created < 3.0 and loaded < 3.0, (created, loaded)
    assert proc.memory_info().rss - rss_before < 200 * 1024 * 1024
    assert len({h.name for h in reopened.hosts}) == 1000
    assert reopened.hosts[-1].name == "legacy-01" and reopened.hosts[999].address == "127.0.13.232"
    t0 = time.perf_counter()
    for _ in range(20):
        reopened.tick()
    assert (time.perf_counter() - t0) / 20 < 0.02
    del fleet
