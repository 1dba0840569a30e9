"""`portfleet lab serve` / `python -m portfleet_lab serve`: open (or create) a lab fleet, serve every host's
WinRM endpoint, write the Ansible inventory, print one line per host and a final "ready" line, and run until
SIGINT/SIGTERM.

With --ssh the hosts also answer SSH (portfleet_lab.ssh_server) on --ssh-port of their address, and a
second inventory is written next to the first: `<stem>-ssh.yml` (ansible_connection: ssh) with its
known_hosts file `<stem>-known_hosts`.

Authentication defaults as Windows ships them (portfleet_lab.auth): Negotiate on, Basic off unless --allow-basic.
--kerberos makes the hosts members of a lab domain with a real MIT KDC, --cert-auth maps a client certificate on
HTTPS (portfleet_lab.domain)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from portfleet_lab.auth import AuthConfig, Authenticator, NtlmCredentialStore
from portfleet_lab.control import CONTROL_FILE, ControlServer
from portfleet_lab.domain import KdcError, LabDomain, kerberos_unavailable
from portfleet_lab.fleet import Fleet, stored_fleet
from portfleet_lab.server import HTTP_PORT, HTTPS_PORT, LabServer
from portfleet_lab.tls import LabTls

from .profiles import PROFILES


class ServeError(Exception):
    """A problem the user can fix (bad option, address in use); exit code 2 for usage, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


NEW_FLEET = {"first_address": "127.0.10.1", "profile": "mixed", "seed": 1}  # defaults of a new fleet


@dataclass
class ServeOptions:
    # hosts, first_address, profile, seed: None = what the state directory's fleet was made with
    # (NEW_FLEET for a new one; hosts has no default). A value an existing fleet contradicts is refused.
    hosts: int | None
    inventory_out: Path
    state_dir: Path = Path("lab-state")
    first_address: str | None = None
    https: bool = False
    time_scale: float = 1.0
    latency: float = 0.0
    profile: str | None = None
    seed: int | None = None
    allow_unencrypted: bool = False
    replay: dict[str, Path] = field(default_factory=dict)
    http_port: int = HTTP_PORT
    https_port: int = HTTPS_PORT
    ssh: bool = False
    ssh_port: int = 2222
    allow_basic: bool = False  # Service/Auth/Basic=true
    kerberos: bool = False  # a lab domain with a real MIT KDC
    cert_auth: bool = False  # Service/Auth/Certificate=true with a mapped client certificate (needs https)


def parse_replay(items: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ServeError(f"--replay expects HOST=CAPTURE.json, got {item!r}", 2)
        capture = Path(path).expanduser()
        if not capture.is_file():
            raise ServeError(f"--replay {name}: no capture file {capture}", 2)
        out[name] = capture.resolve()
    return out


def _validate(opts: ServeOptions) -> None:
    if opts.hosts is not None and opts.hosts < 1:
        raise ServeError("--hosts must be at least 1", 2)
    if opts.first_address is not None:
        try:
            first = ipaddress.IPv4Address(opts.first_address)
        except ValueError as exc:
            raise ServeError(f"--first-address {opts.first_address!r} is not an IPv4 address", 2) from exc
        if not first.is_loopback:
            raise ServeError("--first-address must be a loopback address (127.0.0.0/8): the lab serves on loopback only", 2)
    if opts.time_scale <= 0:
        raise ServeError("--time-scale must be > 0", 2)
    if opts.latency < 0:
        raise ServeError("--latency must be >= 0", 2)
    if opts.profile is not None and opts.profile not in PROFILES:
        raise ServeError(f"--profile must be one of {', '.join(PROFILES)}", 2)
    if not 1 <= opts.ssh_port <= 65535:
        raise ServeError("--ssh-port must be a port number (1-65535)", 2)
    if opts.cert_auth and not opts.https:
        raise ServeError("--cert-auth needs --https: WinRM maps client certificates on its HTTPS listener only", 2)
    if opts.kerberos:
        why = kerberos_unavailable()
        if why:
            raise ServeError(why, 2)


def inventory_document(fleet: Any, *, https: bool, port: int, ca_path: Path | None) -> dict[str, Any]:
    """Ansible YAML inventory: group `windows`, the hosts' role groups as its children."""
    children: dict[str, Any] = {}
    ungrouped: dict[str, Any] = {}
    for host in fleet.hosts:
        entry = {"ansible_host": host.address, "ansible_port": port}
        if host.groups:
            for group in host.groups:
                children.setdefault(group, {"hosts": {}})["hosts"][host.name] = entry
        else:
            ungrouped[host.name] = entry
    variables: dict[str, Any] = {
        "ansible_user": fleet.username,
        "ansible_password": fleet.password,
        "ansible_connection": "winrm",
        "ansible_winrm_transport": "ntlm",
        "ansible_winrm_scheme": "https" if https else "http",
    }
    if https and ca_path is not None:
        variables["ansible_winrm_ca_trust_path"] = str(ca_path)
    windows: dict[str, Any] = {}
    if ungrouped:
        windows["hosts"] = ungrouped
    if children:
        windows["children"] = children
    windows["vars"] = variables
    return {"all": {"children": {"windows": windows}}}


def write_inventory(path: Path, document: dict[str, Any]) -> None:
    """Mode 0600 from creation on: the file holds the lab password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# portfleet lab inventory: written by `portfleet lab serve`; holds the lab password.\n")
        yaml.safe_dump(document, fh, sort_keys=False, default_flow_style=False)
    os.replace(tmp, path)


def _refuse_a_running_lab(state_dir: Path) -> None:
    """A lab already serving from `state_dir` owns its fleet (and its addresses): a second one would
    fight it for both. Its control channel answering is the proof (a stale control.json is not)."""
    from portfleet_lab.control import LabControl, LabControlError

    if not (state_dir / CONTROL_FILE).exists():
        return
    try:
        control = LabControl(state_dir, timeout=3.0)
        status, hosts = control.status(), control.hosts()
    except (LabControlError, OSError, ValueError):
        return
    addresses = sorted((h["address"] for h in hosts), key=ipaddress.IPv4Address)
    where = f"its {len(addresses)} hosts at {addresses[0]}-{addresses[-1]}" if addresses else "no hosts"
    raise ServeError(
        f"a lab is already running from {state_dir} (pid {status.get('pid')}, {where}): stop it first "
        f"(kill -TERM {status.get('pid')}), or use another --state-dir for a second lab", 2)


def _check_against_stored(opts: ServeOptions) -> None:
    """Refuse options the state directory's fleet contradicts: it is reopened as it was made (its
    hosts, their addresses), never silently reshaped; starting afresh is the user's explicit call."""
    try:
        stored = stored_fleet(opts.state_dir)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ServeError(f"{opts.state_dir} holds a lab fleet that cannot be read ({exc}); remove the directory "
                         "(rm -r) or pass another --state-dir to start afresh", 2) from exc
    if stored is None:
        if opts.hosts is None:
            raise ServeError(f"--hosts is needed: {opts.state_dir} holds no lab fleet yet", 2)
        return
    asked = {"--hosts": opts.hosts, "--first-address": opts.first_address, "--profile": opts.profile,
             "--seed": opts.seed}
    made = {"--hosts": stored.hosts, "--first-address": stored.first_address, "--profile": stored.profile,
            "--seed": stored.seed}
    differ = [flag for flag, value in asked.items() if value is not None and _differs(flag, value, made[flag])]
    if differ:
        given = " ".join(f"{flag} {asked[flag]}" for flag in differ)
        kept = " ".join(f"{flag} {made[flag]}" for flag in differ)
        raise ServeError(
            f"{opts.state_dir} already holds a lab fleet of {stored.hosts} hosts at {stored.first_address}-"
            f"{stored.last_address} (profile {stored.profile}, seed {stored.seed}), made with {kept}, not {given}. "
            f"Leave those options out (or give those values) to serve it again; to start afresh, remove the "
            f"directory (rm -r {opts.state_dir}) or pass another --state-dir.", 2)


def _differs(flag: str, asked: Any, made: Any) -> bool:
    if flag == "--first-address":
        return ipaddress.IPv4Address(asked) != ipaddress.IPv4Address(made)
    return asked != made


def _open_fleet(opts: ServeOptions) -> Any:
    return Fleet.open(
        opts.state_dir,
        hosts=opts.hosts,
        profile=opts.profile or NEW_FLEET["profile"],
        seed=opts.seed if opts.seed is not None else NEW_FLEET["seed"],
        first_address=opts.first_address or NEW_FLEET["first_address"],
        time_scale=opts.time_scale,
        replay=opts.replay or None,
    )


async def _serve(opts: ServeOptions, out: TextIO) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    _refuse_a_running_lab(opts.state_dir)
    _check_against_stored(opts)
    opts.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        fleet = _open_fleet(opts)
    except ValueError as exc:  # unreadable state or capture file
        raise ServeError(str(exc), 2) from exc
    tls = LabTls(opts.state_dir / "tls") if opts.https else None
    if tls is not None:
        tls.ensure_ca()
    host_names = [h.name for h in fleet.hosts]
    store = NtlmCredentialStore(fleet.username, fleet.password, host_names, parent=opts.state_dir)
    server: LabServer | None = None
    control: ControlServer | None = None
    ssh_server: Any = None
    domain = LabDomain(opts.state_dir, kerberos=opts.kerberos, cert_auth=opts.cert_auth)
    try:
        try:
            domain.start(fleet)
        except KdcError as exc:
            raise ServeError(f"the lab's KDC: {exc}") from exc
        config = AuthConfig(basic=opts.allow_basic, certificate=opts.cert_auth, realm=domain.realm,
                            allow_unencrypted=opts.allow_unencrypted)
        auth = Authenticator(fleet.username, fleet.password, store, config, domain.certmap(fleet, tls))
        server = LabServer(
            fleet,
            auth,
            tls=tls,
            allow_unencrypted=opts.allow_unencrypted,
            latency=opts.latency,
            http_port=opts.http_port,
            https_port=opts.https_port,
            spns=domain.spns,
        )
        try:
            await server.start()
        except OSError as exc:
            raise ServeError(f"{exc.strerror or exc} (is another lab using these addresses?)") from exc
        control = ControlServer(
            fleet,
            server,
            opts.state_dir,
            {"https": opts.https, "time_scale": opts.time_scale, "allow_unencrypted": opts.allow_unencrypted,
             "allow_basic": opts.allow_basic, "realm": domain.realm, "cert_auth": opts.cert_auth},
        )
        await control.start()

        inventory = opts.inventory_out.resolve()
        ca_copy = None
        if tls is not None:
            ca_copy = tls.copy_ca_to(inventory.with_name(f"{inventory.stem}-ca.pem"))
        port = opts.https_port if opts.https else opts.http_port
        document = inventory_document(fleet, https=opts.https, port=port, ca_path=ca_copy)
        main_document, domain_notes = domain.write_files(inventory, document, fleet, tls, write_inventory)
        write_inventory(inventory, main_document)
        ssh_note = "".join(f", {note}" for note in domain_notes)
        if opts.ssh:
            ssh_server, ssh_inventory = _start_ssh(opts, fleet, inventory, document)
            ssh_note += f", ssh inventory {ssh_inventory}"

        for host in fleet.hosts:
            note = ""
            if not host.is_up:
                note = "  (down)"
            elif host.faults.unreachable:
                note = "  (unreachable)"
            print(f"{host.name}  {host.address}:{port}{note}", file=out, flush=True)
        ca_note = f", CA {ca_copy}" if ca_copy else ""
        if ssh_server is not None:
            print(f"ssh: port {opts.ssh_port} on every host address, known_hosts "
                  f"{ssh_inventory.with_name(f'{inventory.stem}-known_hosts')}", file=out, flush=True)
        print(f"ready: {len(fleet.hosts)} hosts, inventory {inventory}{ca_note}{ssh_note}", file=out, flush=True)

        await stop.wait()
    finally:
        if control is not None:
            control.close()
        if ssh_server is not None:
            ssh_server.close()
        if server is not None:
            await server.close()
        domain.stop()
        fleet.save()
        store.close()
    return 0


def _start_ssh(opts: ServeOptions, fleet: Any, inventory: Path, document: dict[str, Any]) -> tuple[Any, Path]:
    """Start the SSH listeners; write `<stem>-ssh.yml` and its known_hosts file next to the inventory."""
    from portfleet_lab import ssh_server as ssh  # paramiko is loaded only when --ssh asks for it

    key = ssh.load_host_key(opts.state_dir)
    server = ssh.LabSshServer(fleet, key, port=opts.ssh_port)
    try:
        server.start()
    except OSError as exc:
        server.close()
        raise ServeError(f"{exc.strerror or exc} (is another lab using these addresses?)") from exc
    known_hosts = inventory.with_name(f"{inventory.stem}-known_hosts")
    known_hosts.write_text(ssh.known_hosts_text(fleet, opts.ssh_port, key), encoding="utf-8")
    ssh_inventory = inventory.with_name(f"{inventory.stem}-ssh.yml")
    write_inventory(ssh_inventory, ssh.ssh_inventory_document(document, port=opts.ssh_port, known_hosts=known_hosts))
    return server, ssh_inventory


def serve(opts: ServeOptions, out: TextIO | None = None) -> int:
    """Run the lab in the foreground; 0 after a clean SIGINT/SIGTERM shutdown."""
    out = out or sys.stdout
    _validate(opts)
    return asyncio.run(_serve(opts, out))
