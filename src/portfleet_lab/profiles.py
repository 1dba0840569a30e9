"""Fleet profiles: deterministic (under a seed) sets of simulated hosts.

- ``mixed`` (default, the demo fleet): hosts named by role (web-NN, app-NN, sql-NN, legacy-01), builds
  2012 R2 / 2016 / 2019 / 2022, a mix of Windows defaults, hosts tuned as the shipped playbook wants
  (TcpTimedWaitDelay=30, TCP dynamic ranges start=10000 num=55536) and drifted hosts; exactly one Windows
  Server 2003 host, one host under port exhaustion (LeakyApp.exe), one with Windows' own reboot pending
  (CBS RebootPending) and at least one de-DE host (OEM code page 850).
- ``defaults``: every host a Windows Server 2022 at its defaults.
- ``tuned``: every host compliant with the playbook.
- ``faulty``: the ``mixed`` fleet plus one host per fault kind, preset (for trying failure handling
  without `portfleet lab fault`): the last five ordinary hosts are unreachable, refuse the password,
  answer slowly (25 s per command, past a default 20 s OperationTimeout), reset the connection
  mid-command, and answer HTTP 500. The other profiles preset no fault.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from . import events, intl, wintz
from .model import (
    CBS_REBOOT_PENDING,
    SESSION_MANAGER,
    TCPIP_PARAMETERS,
    WU_REBOOT_REQUIRED,
    ExcludedRange,
    HostState,
    Leak,
    Listener,
    PortRange,
    Process,
    RANGE_KEYS,
    Registry,
    RegValue,
    TcpTable,
)

PROFILES = ("mixed", "defaults", "tuned", "faulty")

# The faulty profile's presets, one kind per host (field values of model.Faults).
FAULT_PRESETS: tuple[dict[str, object], ...] = (
    {"unreachable": True},
    {"wrong_password": True},
    {"slow_seconds": 25.0},
    {"reset_mid_command": True},
    {"http_500": True},
)

BUILDS = {
    "2012r2": "6.3.9600",  # ver on 8.1/2012 R2 prints no update revision
    "2016": "10.0.14393.7428",
    "2019": "10.0.17763.6414",
    "2022": "10.0.20348.2849",
    "2003": "5.2.3790",
}
TUNED_TW = 30
TUNED_RANGE = PortRange(10000, 55536)
DEFAULT_RANGE = PortRange(49152, 16384)  # KB 929851: Vista and later
DAY = 86400.0


@dataclass
class Plan:
    """What a generated host should look like before it is built."""

    name: str
    role: str
    build: str
    config: str  # "default" | "tuned" | "drifted-tw" | "drifted-v4" | "drifted-pending" | "maxuserport"
    locale: str = "en-US"
    timezone: str = "America/New_York"
    exhausted: bool = False
    reboot_pending: bool = False
    faults: dict[str, object] | None = None


def plan_fleet(count: int, profile: str, seed: int) -> list[Plan]:
    if profile not in PROFILES:
        raise ValueError(f"unknown lab profile {profile!r} (choose from {', '.join(PROFILES)})")
    if count < 1:
        raise ValueError("a lab needs at least one host")
    if profile == "faulty":
        plans = plan_fleet(count, "mixed", seed)
        ordinary = [p for p in plans if p.role != "legacy" and not p.exhausted and not p.reboot_pending]
        for plan, preset in zip(reversed(ordinary), FAULT_PRESETS):
            plan.faults = dict(preset)
        return plans
    rng = random.Random(f"plan:{profile}:{seed}")
    if profile != "mixed":
        names = _role_names(count, legacy=False)
        cfg = "default" if profile == "defaults" else "tuned"
        return [Plan(n, r, "2022", cfg, timezone=rng.choice(_ZONES)) for n, r in names]

    names = _role_names(count, legacy=count >= 2)
    plans: list[Plan] = []
    modern_builds = ["2012r2", "2016", "2019", "2022"]
    for i, (name, role) in enumerate(names):
        if role == "legacy":
            plans.append(Plan(name, role, "2003", "default", timezone="America/Chicago"))
            continue
        plans.append(Plan(name, role, modern_builds[i % 4] if i < 4 else rng.choice(modern_builds),
                          "default", timezone=rng.choice(_ZONES)))
    modern = [p for p in plans if p.role != "legacy"]
    # Exactly one exhausted host: the first app server (else any modern host), at Windows defaults.
    victim = next((p for p in modern if p.role == "app"), modern[0] if modern else None)
    if victim is not None:
        victim.exhausted = True
        if victim.build == "2012r2":
            victim.build = "2019"  # its diagnosis needs netstat -q (2012 R2 gets it only from an update)
    # Configuration states of the others: cycled so that a small fleet gets each kind, then random.
    cycle = ["tuned", "default", "drifted-tw", "drifted-v4", "tuned", "default", "drifted-pending", "maxuserport"]
    others = [p for p in modern if p is not victim]
    for i, p in enumerate(others):
        p.config = cycle[i] if i < len(cycle) else rng.choice(["tuned", "tuned", "default", "drifted-tw",
                                                               "drifted-v4", "drifted-pending"])
    # Exactly one host with Windows' own reboot pending: a web server that is not the victim.
    pending = next((p for p in modern if p.role == "web" and not p.exhausted),
                   next((p for p in modern if not p.exhausted), None))
    if pending is not None:
        pending.reboot_pending = True
    # German hosts: the first sql server, plus about one in ten of the others.
    german = [p for p in modern if p.role == "sql"][:1] or [p for p in modern if not p.exhausted][-1:]
    for p in modern:
        if p in german or (p not in german and not p.exhausted and rng.random() < 0.1 and len(modern) > 8):
            p.locale, p.timezone = "de-DE", "Europe/Berlin"
    return plans


_ZONES = ["America/New_York", "America/Chicago", "Europe/London", "UTC", "America/Los_Angeles"]


def _role_names(count: int, *, legacy: bool) -> list[tuple[str, str]]:
    """web/app/sql in a 4:4:2 mix (web-01, app-01, sql-01, web-02, ...), legacy-01 last."""
    slots = count - (1 if legacy else 0)
    pattern = ["web", "app", "sql", "web", "app", "web", "app", "sql", "web", "app"]
    counters = {"web": 0, "app": 0, "sql": 0}
    out = []
    for i in range(slots):
        role = pattern[i % len(pattern)]
        counters[role] += 1
        width = 3 if slots > 300 else 2
        out.append((f"{role}-{counters[role]:0{width}d}", role))
    out.sort(key=lambda nr: (["web", "app", "sql"].index(nr[1]), nr[0]))
    if legacy:
        out.append(("legacy-01", "legacy"))
    return out


# ------------------------------------------------------------------ building one host


def build_host(plan: Plan, index: int, address: str, seed: int, now: float) -> HostState:
    rng = random.Random(f"host:{seed}:{plan.name}")
    os_version = BUILDS[plan.build]
    legacy = plan.build == "2003"
    local_ip = str(ipaddress.IPv4Address("10.20.0.0") + 16 + index)
    domain = "corp.example"

    registry = _registry(plan, domain, legacy)
    ranges = {k: PortRange(DEFAULT_RANGE.start, DEFAULT_RANGE.num) for k in RANGE_KEYS}
    if legacy:
        # Server 2003: no netsh dynamicport; ephemeral ports are 1025..MaxUserPort (KB 196271, default 5000).
        ranges = {k: PortRange(1025, 3976) for k in RANGE_KEYS}

    uptime_days = rng.uniform(3, 40) if not legacy else rng.uniform(90, 160)
    if plan.exhausted:
        uptime_days = rng.uniform(8.5, 10.5)
    boot_time = now - uptime_days * DAY
    applied_before_boot = boot_time - rng.uniform(1, 30) * DAY

    cfg = plan.config
    tw_configured: int | None = None
    if cfg == "tuned":
        tw_configured = TUNED_TW
        ranges["ipv4 tcp"] = PortRange(TUNED_RANGE.start, TUNED_RANGE.num)
        ranges["ipv6 tcp"] = PortRange(TUNED_RANGE.start, TUNED_RANGE.num)
    elif cfg == "drifted-tw":  # someone set an old "best practice" value
        tw_configured = 240
        ranges["ipv4 tcp"] = PortRange(TUNED_RANGE.start, TUNED_RANGE.num)
        ranges["ipv6 tcp"] = PortRange(TUNED_RANGE.start, TUNED_RANGE.num)
    elif cfg == "drifted-v4":  # ipv6 tuned, ipv4 left at the default range
        tw_configured = TUNED_TW
        ranges["ipv6 tcp"] = PortRange(TUNED_RANGE.start, TUNED_RANGE.num)
    elif cfg == "drifted-pending":  # value written after the last boot: configured, not yet effective
        ranges["ipv4 tcp"] = PortRange(TUNED_RANGE.start, TUNED_RANGE.num)
        ranges["ipv6 tcp"] = PortRange(TUNED_RANGE.start, TUNED_RANGE.num)
    elif cfg == "maxuserport":  # a MaxUserPort value from an old installer: range reset at each boot
        registry.set(TCPIP_PARAMETERS, "MaxUserPort", RegValue("REG_DWORD", 65534))
        ranges["ipv4 tcp"] = PortRange(1024, 65534 - 1023)
        ranges["ipv6 tcp"] = PortRange(1024, 65534 - 1023)
    if tw_configured is not None:
        registry.set(TCPIP_PARAMETERS, "TcpTimedWaitDelay", RegValue("REG_DWORD", tw_configured))
    effective = {"TcpTimedWaitDelay": tw_configured, "MaxUserPort": registry.dword(TCPIP_PARAMETERS, "MaxUserPort")}
    if cfg == "drifted-pending":
        registry.set(TCPIP_PARAMETERS, "TcpTimedWaitDelay", RegValue("REG_DWORD", TUNED_TW))
        effective["TcpTimedWaitDelay"] = None  # written after the last boot

    processes, pids = _processes(plan, rng, legacy)
    excluded: list[ExcludedRange] = []
    if not legacy:
        # Windows reserves a few ports itself (WSD 5357; the WinRM listeners 5985/47001 on Server builds).
        for fam in ("ipv4", "ipv6"):
            excluded.append(ExcludedRange(fam, "tcp", 5357, 5357))
        if plan.role == "app":
            excluded.append(ExcludedRange("ipv4", "tcp", 50000, 50059, administered=True))
            excluded.append(ExcludedRange("ipv6", "tcp", 50000, 50059, administered=True))

    tcp = _tcp_table(plan, rng, local_ip, pids, legacy)
    host = HostState(
        name=plan.name,
        address=address,
        groups=[plan.role],
        role=plan.role,
        os_version=os_version,
        locale=plan.locale,
        oem_codepage=850 if plan.locale in ("de-DE", "fr-FR") else 437,
        timezone=plan.timezone,
        domain=domain,
        registry=registry,
        ranges=ranges,
        ranges_persistent={k: PortRange(v.start, v.num) for k, v in ranges.items()},
        excluded=excluded,
        boot_time=boot_time,
        boot_count=1 + rng.randrange(5, 60),
        effective=effective,
        tcp=tcp,
        processes=processes,
        events=[],
        next_record_id=rng.randrange(20000, 90000),
    )
    wintz.install(host, now)  # HKLM ...\TimeZoneInformation of the host's zone (ActiveTimeBias as of now)
    intl.install(host)  # HKCU\Control Panel\International of the connecting user's locale
    if cfg == "maxuserport":  # netsh's persistent store still holds the defaults; the boot overrode them
        host.ranges_persistent["ipv4 tcp"] = PortRange(DEFAULT_RANGE.start, DEFAULT_RANGE.num)
        host.ranges_persistent["ipv6 tcp"] = PortRange(DEFAULT_RANGE.start, DEFAULT_RANGE.num)
    _history(host, rng, now, applied_before_boot)
    for key, value in (plan.faults or {}).items():
        setattr(host.faults, key, value)
    return host


def _registry(plan: Plan, domain: str, legacy: bool) -> Registry:
    r = Registry()
    p = TCPIP_PARAMETERS
    name = plan.name
    sz = lambda v: RegValue("REG_SZ", v)  # noqa: E731
    dw = lambda v: RegValue("REG_DWORD", v)  # noqa: E731
    r.set(p, "NV Hostname", sz(name))
    r.set(p, "DataBasePath", RegValue("REG_EXPAND_SZ", r"%SystemRoot%\System32\drivers\etc"))
    r.set(p, "NameServer", sz(""))
    r.set(p, "ForwardBroadcasts", dw(0))
    r.set(p, "IPEnableRouter", dw(0))
    r.set(p, "Domain", sz(domain))
    r.set(p, "Hostname", sz(name))
    r.set(p, "SearchList", sz(""))
    r.set(p, "UseDomainNameDevolution", dw(1))
    r.set(p, "EnableICMPRedirect", dw(1))
    r.set(p, "DeadGWDetectDefault", dw(1))
    r.set(p, "DontAddDefaultGatewayDefault", dw(0))
    if legacy:
        r.set(p, "EnableSecurityFilters", dw(0))
        r.set(p, "ReservedPorts", RegValue("REG_MULTI_SZ", []))
    else:
        r.set(p, "EnableWsd", dw(1))
        r.set(p, "NV Domain", sz(domain))
        r.set(p, "ICSDomain", sz("mshome.net"))
    iface = p + r"\Interfaces\{4d36e972-e325-11ce-bfc1-08002be10318}"
    r.set(iface, "EnableDHCP", dw(0))
    r.set(iface, "Domain", sz(""))
    r.set(iface, "NameServer", sz("10.20.0.10,10.20.0.11"))
    for sub in ("Adapters", "DNSRegisteredAdapters", "PersistentRoutes", "Winsock"):
        r.create_key(p + "\\" + sub)
    if not legacy:
        r.create_key(p + r"\NsiObjectSecurity")

    sm = SESSION_MANAGER
    r.set(sm, "BootExecute", RegValue("REG_MULTI_SZ", ["autocheck autochk *"]))
    r.set(sm, "CriticalSectionTimeout", dw(2592000))
    r.set(sm, "ExcludeFromKnownDlls", RegValue("REG_MULTI_SZ", []))
    r.set(sm, "GlobalFlag", dw(0))
    r.set(sm, "ProtectionMode", dw(1))
    for sub in ("Environment", "Memory Management", "Power"):
        r.create_key(sm + "\\" + sub)

    cbs = CBS_REBOOT_PENDING.rsplit("\\", 1)[0]
    if not legacy:  # Component Based Servicing arrived with Vista
        r.set(cbs, "LastTrustTime", RegValue("REG_BINARY", "2E1F7AC3E25BDA01"))
        for sub in ("PackageDetect", "PackageIndex", "Packages", "SessionsPending"):
            r.create_key(cbs + "\\" + sub)
    au = WU_REBOOT_REQUIRED.rsplit("\\", 1)[0]
    r.create_key(au)
    if plan.reboot_pending:
        # CBS writes RebootPending (with a subkey per pending package) when servicing needs a restart,
        # and usually queues file renames as well.
        r.create_key(CBS_REBOOT_PENDING + r"\Package_for_RollupFix~31bf3856ad364e35~amd64~~20348.2849.1.7")
        r.set(sm, "PendingFileRenameOperations", RegValue(
            "REG_MULTI_SZ",
            [r"\??\C:\Windows\WinSxS\Temp\PendingRenames\b2f3d1.mum", "",
             r"\??\C:\Windows\WinSxS\Temp\PendingDeletes\$$DeleteMe.ntoskrnl.exe", ""],
        ))
    return r


def _processes(plan: Plan, rng: random.Random, legacy: bool) -> tuple[list[Process], dict[str, int]]:
    used: set[int] = {0, 4}
    pids: dict[str, int] = {}

    def pid(key: str, lo: int = 300, hi: int = 9000) -> int:
        while True:
            v = rng.randrange(lo, hi, 4)
            if v not in used:
                used.add(v)
                pids[key] = v
                return v

    procs = [Process(0, "System Idle Process", 8), Process(4, "System", rng.randrange(120, 160) * (1 if legacy else 1))]
    if legacy:
        base = [("smss", "smss.exe", 380), ("csrss", "csrss.exe", 4200), ("winlogon", "winlogon.exe", 5100),
                ("services", "services.exe", 3900), ("lsass", "lsass.exe", 9800)]
    else:
        base = [("registry", "Registry", 60000), ("smss", "smss.exe", 1200), ("csrss", "csrss.exe", 5200),
                ("wininit", "wininit.exe", 6900), ("csrss1", "csrss.exe", 5400), ("winlogon", "winlogon.exe", 11000),
                ("services", "services.exe", 9500), ("lsass", "lsass.exe", 19000), ("fontdrv0", "fontdrvhost.exe", 3500),
                ("fontdrv1", "fontdrvhost.exe", 3900), ("dwm", "dwm.exe", 42000)]
    if plan.build == "2012r2":
        base = [b for b in base if b[0] not in ("registry", "fontdrv0", "fontdrv1")]
    for key, name, mem in base:
        p = pid(key, 200, 1000)
        console = key in ("csrss1", "winlogon", "fontdrv1", "dwm") and not legacy
        procs.append(Process(p, name, int(mem * rng.uniform(0.8, 1.3)), "Console" if console else "Services",
                             1 if console else 0))
    services = ["dcom", "rpcss", "eventlog", "schedule", "dnscache", "w32time", "ikeext", "termservice", "netsvcs",
                "localservice", "winmgmt"]
    for key in services:
        procs.append(Process(pid(key, 400, 4000), "svchost.exe", int(rng.uniform(5000, 45000))))
    procs.append(Process(pid("spoolsv", 1000, 4000), "spoolsv.exe", int(rng.uniform(9000, 16000))))
    procs.append(Process(pid("wmiprvse", 2000, 6000), "WmiPrvSE.exe", int(rng.uniform(8000, 20000))))
    if not legacy:
        procs.append(Process(pid("msmpeng", 2000, 5000), "MsMpEng.exe", int(rng.uniform(90000, 240000))))
        procs.append(Process(pid("vmtools", 2000, 5000), "vmtoolsd.exe", int(rng.uniform(18000, 30000))))
    role = plan.role
    if role == "web":
        procs.append(Process(pid("inetinfo", 2000, 6000), "inetinfo.exe", int(rng.uniform(12000, 20000))))
        for i in range(2):
            procs.append(Process(pid(f"w3wp{i}", 4000, 9000), "w3wp.exe", int(rng.uniform(180000, 600000))))
    elif role == "app":
        procs.append(Process(pid("java", 3000, 8000), "java.exe", int(rng.uniform(800000, 1600000))))
        procs.append(Process(pid("appsvc", 3000, 8000), "AppService.exe", int(rng.uniform(90000, 180000))))
    elif role == "sql":
        procs.append(Process(pid("sqlservr", 2000, 6000), "sqlservr.exe", int(rng.uniform(2_000_000, 6_000_000))))
        procs.append(Process(pid("sqlagent", 2000, 6000), "SQLAGENT.EXE", int(rng.uniform(40000, 70000))))
        procs.append(Process(pid("sqlwriter", 2000, 6000), "sqlwriter.exe", int(rng.uniform(6000, 9000))))
    elif role == "legacy":
        procs.append(Process(pid("inetinfo", 1000, 4000), "inetinfo.exe", int(rng.uniform(12000, 20000))))
        procs.append(Process(pid("w3wp0", 1000, 4000), "w3wp.exe", int(rng.uniform(40000, 90000))))
    if plan.exhausted:
        procs.append(Process(pid("leaky", 5000, 9000), "LeakyApp.exe", int(rng.uniform(700000, 900000))))
    return procs, pids


def _tcp_table(plan: Plan, rng: random.Random, local_ip: str, pids: dict[str, int], legacy: bool) -> TcpTable:
    L = Listener
    rows: list[Listener] = [L("TCP", "0.0.0.0", 135, pids["rpcss"]), L("TCP", "0.0.0.0", 445, 4)]
    if not legacy:
        rows += [L("TCP", "0.0.0.0", 3389, pids["termservice"]), L("TCP", "0.0.0.0", 5985, 4),
                 L("TCP", "0.0.0.0", 47001, 4), L("TCP", "0.0.0.0", 49664, pids["wininit"]),
                 L("TCP", "0.0.0.0", 49665, pids["eventlog"]), L("TCP", "0.0.0.0", 49666, pids["schedule"]),
                 L("TCP", "0.0.0.0", 49667, pids["lsass"]), L("TCP", "0.0.0.0", 49668, pids["spoolsv"]),
                 L("TCP", "0.0.0.0", 49669, pids["services"])]
    else:
        rows += [L("TCP", "0.0.0.0", 1025, pids["lsass"]), L("TCP", "0.0.0.0", 3389, pids["termservice"]),
                 L("TCP", "0.0.0.0", 5985, 4)]
    rows.append(L("TCP", local_ip, 139, 4))
    role_ports = {"web": [(80, 4), (443, 4)], "legacy": [(80, 4)], "app": [(8080, pids.get("java", 4)),
                  (8443, pids.get("java", 4))], "sql": [(1433, pids.get("sqlservr", 4))]}
    for port, owner in role_ports.get(plan.role, []):
        rows.append(L("TCP", "0.0.0.0", port, owner))
    rows.sort(key=lambda r: (r.address != "0.0.0.0", r.port))
    if not legacy:
        v6 = [L("TCP", "[::]", r.port, r.pid) for r in rows if r.address == "0.0.0.0"]
        rows += v6
    udp = [L("UDP", "0.0.0.0", 123, pids["w32time"]), L("UDP", "0.0.0.0", 500, pids["ikeext"]),
           L("UDP", "0.0.0.0", 4500, pids["ikeext"]), L("UDP", local_ip, 137, 4), L("UDP", local_ip, 138, 4)]
    if not legacy:
        udp += [L("UDP", "0.0.0.0", 3389, pids["termservice"]), L("UDP", "0.0.0.0", 5353, pids["dnscache"]),
                L("UDP", "0.0.0.0", 5355, pids["dnscache"]), L("UDP", "127.0.0.1", 55923, pids["netsvcs"])]
        udp += [L("UDP", "[::]", 123, pids["w32time"]), L("UDP", "[::]", 500, pids["ikeext"]),
                L("UDP", "[::]", 3389, pids["termservice"]), L("UDP", "[::]", 5353, pids["dnscache"])]
    rows += udp
    peers = {"web": ["10.20.1.21:8080", "10.20.1.22:8080", "10.20.2.31:1433"],
             "app": ["10.20.2.31:1433", "10.20.0.10:389", "10.20.0.10:88"],
             "sql": ["10.20.0.10:389", "10.20.0.10:445"],
             "legacy": ["10.20.2.31:1433"]}[plan.role]
    owner = {"web": pids.get("w3wp0", 4), "app": pids.get("java", 4), "sql": pids.get("sqlservr", 4),
             "legacy": pids.get("w3wp0", 4)}[plan.role]
    leak = None
    if plan.exhausted:
        leak = Leak(pid=pids["leaky"], process="LeakyApp.exe", remote="10.20.5.40", remote_port=443,
                    bound_per_hour=31.0, close_wait_per_hour=19.0, connects_per_second=52.0)
    return TcpTable(seed=rng.randrange(1 << 30), local_ip=local_ip, listeners=rows,
                    established=rng.randrange(6, 24), established_pids=[owner, pids["lsass"], pids["netsvcs"]],
                    peers=peers, time_wait=rng.randrange(2, 12), close_wait=rng.randrange(0, 2), leak=leak)


def _history(host: HostState, rng: random.Random, now: float, previous: float) -> None:
    """The System log before the lab starts: the previous boot, the current one, daily 6013, and on the
    exhausted host 4227/4231 during the last days."""
    events.restart_initiated(host, previous - 40, kind="restart", comment="", user="Administrator")
    events.shutdown_stop(host, previous - 25)
    events.boot(host, previous)
    events.shutdown_stop(host, host.boot_time - 25)
    events.boot(host, host.boot_time)
    t = host.boot_time + DAY
    while t < now:
        events.uptime(host, t)
        t += DAY
    if host.tcp.leak is not None:
        t = now - 3 * DAY
        while t < now - 600:
            events.port_exhaustion(host, t, 4227)
            if rng.random() < 0.6:
                events.port_exhaustion(host, t + rng.uniform(5, 90), 4231)
            t += rng.uniform(1.5, 5) * 3600
    host.events.sort(key=lambda e: e.time)
    first = host.next_record_id - len(host.events)
    for i, ev in enumerate(host.events):  # record ids grow with time, as in a real log
        ev.record_id = first + i
