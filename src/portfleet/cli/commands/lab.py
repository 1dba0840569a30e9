"""`portfleet lab ...`: the typer face of the lab (portfleet_lab), which has no CLI library of its own.

portfleet_lab is imported inside each command, so every other portfleet command starts without loading the lab.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="The lab: simulated Windows hosts speaking real WinRM on loopback.", no_args_is_help=True)

STATE_DIR_HELP = "Lab state directory (fleet model, TLS material, control channel of the running lab)."


class Profile(str, Enum):
    mixed = "mixed"
    defaults = "defaults"
    tuned = "tuned"
    faulty = "faulty"


@app.command()
def serve(
    hosts: Optional[int] = typer.Option(
        None, "--hosts", min=1, show_default=False,
        help="Number of simulated Windows hosts of a new fleet. A state directory that holds a fleet is "
        "served as it was made: leave --hosts, --first-address, --profile and --seed out, or give the same "
        "values (others are refused, exit 2).",
    ),
    inventory_out: Path = typer.Option(
        ..., "--inventory-out", help="Where to write the Ansible YAML inventory (mode 0600: it holds the lab password)."
    ),
    state_dir: Path = typer.Option(Path("lab-state"), "--state-dir", help=STATE_DIR_HELP + " Reused across restarts."),
    first_address: Optional[str] = typer.Option(
        None, "--first-address", show_default=False,
        help="Loopback address of the first host of a new fleet (default 127.0.10.1); the others follow it.",
    ),
    https: bool = typer.Option(
        False, "--https/--no-https",
        help="Also listen with HTTPS on 5986 (lab CA written next to the inventory); the inventory then uses HTTPS.",
    ),
    time_scale: float = typer.Option(
        1.0, "--time-scale", help="Divide lab durations (shutdown delay, reboot time, TIME_WAIT) by this factor."
    ),
    latency: float = typer.Option(0.0, "--latency", min=0.0, help="Seconds of delay added to every HTTP response."),
    profile: Optional[Profile] = typer.Option(
        None, "--profile", show_default=False,
        help="Fleet profile for a new lab: mixed (default; demo fleet), defaults, tuned, or faulty (mixed plus one "
        "host per fault kind preset: unreachable, wrong password, slow, reset, HTTP 500)."
    ),
    seed: Optional[int] = typer.Option(None, "--seed", show_default=False,
                                       help="Seed of a new fleet (default 1; same seed, same fleet)."),
    allow_unencrypted: bool = typer.Option(
        False, "--allow-unencrypted",
        help="Accept unencrypted SOAP over plain HTTP, like AllowUnencrypted=true (Basic on 5985 also needs --allow-basic).",
    ),
    allow_basic: bool = typer.Option(
        False, "--allow-basic",
        help="Accept Basic authentication, like Service/Auth/Basic=true (Windows ships it off; over HTTP it also "
        "needs --allow-unencrypted).",
    ),
    kerberos: bool = typer.Option(
        False, "--kerberos",
        help="Make the hosts members of a lab domain: start a real MIT KDC (krb5kdc) with its own realm in the state "
        "directory, an HTTP/<host>.portfleet.test principal per host, <stem>-krb5.conf next to the inventory, and an "
        "inventory that uses Kerberos. Needs krb5-kdc, krb5-admin-server and portfleet[kerberos].",
    ),
    cert_auth: bool = typer.Option(
        False, "--cert-auth",
        help="With --https: Service/Auth/Certificate=true and a client certificate mapped to the lab user "
        "(<stem>-client.pem, <stem>-client-key.pem, inventory <stem>-cert.yml).",
    ),
    replay: Optional[list[str]] = typer.Option(
        None, "--replay",
        help="HOST=CAPTURE.json: that host answers from a capture made by `portfleet capture`. Repeatable.",
    ),
    ssh: bool = typer.Option(
        False, "--ssh/--no-ssh",
        help="Also answer SSH as Windows OpenSSH with cmd.exe (password auth) on --ssh-port of every host; "
        "writes <stem>-ssh.yml (ansible_connection: ssh) and <stem>-known_hosts next to the inventory.",
    ),
    ssh_port: int = typer.Option(2222, "--ssh-port", min=1, max=65535, help="SSH port of every host (22 needs root)."),
) -> None:
    """Run a simulated Windows fleet behind real WinRM endpoints until Ctrl-C / SIGTERM.

    Prints one line per host, then a line starting with "ready" once every host accepts connections.
    """
    from portfleet_lab.serve import ServeError, ServeOptions, parse_replay
    from portfleet_lab.serve import serve as run_serve

    try:
        options = ServeOptions(
            hosts=hosts,
            inventory_out=inventory_out,
            state_dir=state_dir,
            first_address=first_address,
            https=https,
            time_scale=time_scale,
            latency=latency,
            profile=profile.value if profile is not None else None,
            seed=seed,
            allow_unencrypted=allow_unencrypted,
            replay=parse_replay(replay or []),
            ssh=ssh,
            ssh_port=ssh_port,
            allow_basic=allow_basic,
            kerberos=kerberos,
            cert_auth=cert_auth,
        )
        code = run_serve(options)
    except ServeError as exc:
        typer.echo(f"portfleet lab serve: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit(code)


FAULT_KINDS = "unreachable | wrong-password | slow[=SECONDS] | reset | http500"
DEFAULT_SLOW_SECONDS = 30.0


def fault_changes(kind: str, off: bool) -> dict[str, object]:
    """Map a CLI fault KIND to Faults field changes."""
    name, sep, value = kind.strip().lower().partition("=")
    simple = {
        "unreachable": "unreachable",
        "wrong-password": "wrong_password",
        "reset": "reset_mid_command",
        "http500": "http_500",
    }
    if name in simple and not sep:
        return {simple[name]: not off}
    if name == "slow":
        if off:
            return {"slow_seconds": 0.0}
        try:
            seconds = float(value) if sep else DEFAULT_SLOW_SECONDS
        except ValueError:
            raise ValueError(f"slow=SECONDS needs a number, got {value!r}") from None
        if seconds < 0:
            raise ValueError("slow=SECONDS must be >= 0")
        return {"slow_seconds": seconds}
    raise ValueError(f"unknown fault {kind!r}; KIND is one of: {FAULT_KINDS}")


@app.command()
def fault(
    host: str = typer.Argument(..., help="Host name (or address) in the running lab."),
    kind: str = typer.Argument(
        ..., help=f"Fault to inject: {FAULT_KINDS}. slow without =SECONDS means {DEFAULT_SLOW_SECONDS:g} s."
    ),
    off: bool = typer.Option(False, "--off", help="Remove the fault instead of injecting it."),
    state_dir: Path = typer.Option(Path("lab-state"), "--state-dir", help=STATE_DIR_HELP),
) -> None:
    """Inject or remove a fault on a host of a running lab; prints the host's faults as JSON."""
    from portfleet_lab.control import LabControl, LabControlError

    try:
        changes = fault_changes(kind, off)
    except ValueError as exc:
        typer.echo(f"portfleet lab fault: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        faults = LabControl(state_dir).set_faults(host, **changes)
    except LabControlError as exc:
        typer.echo(f"portfleet lab fault: {exc}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(json.dumps({"host": host, "faults": faults}, indent=2) + "\n")


@app.command()
def show(
    host: str = typer.Argument(..., help="Host name (or address) in the running lab."),
    state_dir: Path = typer.Option(Path("lab-state"), "--state-dir", help=STATE_DIR_HELP),
) -> None:
    """Print the model of one host of a running lab as JSON (registry, port ranges, TCP table summary, ...)."""
    from portfleet_lab.control import LabControl, LabControlError

    try:
        data = LabControl(state_dir).host(host)
    except LabControlError as exc:
        typer.echo(f"portfleet lab show: {exc}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
