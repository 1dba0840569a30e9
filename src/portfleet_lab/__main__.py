"""`python -m portfleet_lab serve ...`: the lab on its own, without the portfleet tool.

The same options and output as `portfleet lab serve` (which calls the same serve.serve); the checks of the
values live in serve.py, so both entries refuse the same input with the same exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from portfleet_lab.profiles import PROFILES
from portfleet_lab.serve import ServeError, ServeOptions, parse_replay, serve

STATE_DIR_HELP = "lab state directory (fleet model, TLS material, control channel); reused across restarts"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m portfleet_lab",
        description="The lab: simulated Windows hosts speaking real WinRM on loopback.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = commands.add_parser(
        "serve", help="run a simulated Windows fleet until Ctrl-C / SIGTERM",
        description="Run a simulated Windows fleet behind real WinRM endpoints until Ctrl-C / SIGTERM. Prints one "
        'line per host, then a line starting with "ready" once every host accepts connections.',
    )
    s.add_argument("--hosts", type=int, help="number of simulated Windows hosts of a new fleet (a state directory "
                   "holding a fleet is served as made: leave --hosts/--first-address/--profile/--seed out or the same)")
    s.add_argument("--inventory-out", type=Path, required=True, help="Ansible YAML inventory to write (mode 0600)")
    s.add_argument("--state-dir", type=Path, default=Path("lab-state"), help=STATE_DIR_HELP)
    s.add_argument("--first-address", help="loopback address of the first host of a new fleet (default 127.0.10.1)")
    s.add_argument("--https", action=argparse.BooleanOptionalAction, default=False, help="also listen with HTTPS on 5986")
    s.add_argument("--time-scale", type=float, default=1.0, help="divide lab durations by this factor")
    s.add_argument("--latency", type=float, default=0.0, help="seconds of delay added to every HTTP response")
    s.add_argument("--profile", choices=list(PROFILES), help="fleet profile for a new lab (default mixed)")
    s.add_argument("--seed", type=int, help="seed of a new fleet (default 1)")
    s.add_argument("--allow-unencrypted", action="store_true", help="accept unencrypted SOAP over plain HTTP")
    s.add_argument("--allow-basic", action="store_true", help="accept Basic authentication (Windows ships it off)")
    s.add_argument("--kerberos", action="store_true", help="a lab domain with a real MIT KDC (krb5kdc)")
    s.add_argument("--cert-auth", action="store_true", help="with --https: map a client certificate to the lab user")
    s.add_argument("--replay", action="append", default=[], metavar="HOST=CAPTURE.json",
                   help="that host answers from a capture file; repeatable")
    s.add_argument("--ssh", action=argparse.BooleanOptionalAction, default=False,
                   help="also answer SSH as Windows OpenSSH with cmd.exe on --ssh-port of every host")
    s.add_argument("--ssh-port", type=int, default=2222, help="SSH port of every host")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # bad usage: argparse prints it and exits 2
    try:
        options = ServeOptions(
            hosts=args.hosts,
            inventory_out=args.inventory_out,
            state_dir=args.state_dir,
            first_address=args.first_address,
            https=args.https,
            time_scale=args.time_scale,
            latency=args.latency,
            profile=args.profile,
            seed=args.seed,
            allow_unencrypted=args.allow_unencrypted,
            replay=parse_replay(args.replay),
            ssh=args.ssh,
            ssh_port=args.ssh_port,
            allow_basic=args.allow_basic,
            kerberos=args.kerberos,
            cert_auth=args.cert_auth,
        )
        return serve(options)
    except ServeError as exc:
        print(f"python -m portfleet_lab serve: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
