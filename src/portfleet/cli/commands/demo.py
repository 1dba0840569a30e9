"""`portfleet demo`: the tour on a lab fleet, every step a real command a user could type."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
import typer
from rich.markup import escape

from portfleet.cli import common as c
from portfleet.resources import playbooks_dir

READY_TIMEOUT = 120.0
# The demo's mark on a directory it made: only a directory holding it is ever reset, and then only
# the entries the demo makes (MADE_NAMES, names starting with MADE_PREFIXES); nothing else in it.
MARKER = ".portfleet-demo"
MARKER_TEXT = ("Made by `portfleet demo`. A new `portfleet demo --workdir` on this directory deletes what the "
               "demo made in it (lab inventory, lab state, state database, logs, reports) and nothing else.\n")
MADE_NAMES = frozenset({MARKER, "lab-state", "lab.log", "diagnose.html", "reboots.ics", "port-exhaustion.yml"})
MADE_PREFIXES = ("lab-inventory", "state.db")  # lab-inventory.yml and its -krb5.conf, -ca.pem ...; state.db-wal


def prepare_workdir(workdir: Path) -> list[str]:
    """An empty (or new) directory, or one the demo made, reset to empty of the demo's files; returns
    the names kept (not the demo's). Anything else is refused, exit 2, and nothing is deleted."""
    if workdir.is_symlink() or (workdir.exists() and not workdir.is_dir()):
        c.fail(f"--workdir {workdir} is not a directory: nothing was changed; pick another --workdir")
    if not workdir.exists():
        workdir.mkdir(parents=True)
    entries = sorted(workdir.iterdir())
    if entries and not (workdir / MARKER).is_file():
        c.fail(f"--workdir {workdir} is not empty and was not made by `portfleet demo` (it has no {MARKER} file): "
               "nothing in it was deleted; pick a new or empty directory")
    kept = []
    for entry in entries:
        if entry.name in MADE_NAMES or entry.name.startswith(MADE_PREFIXES):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        else:
            kept.append(entry.name)
    (workdir / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    return kept


def _free_first_address(hosts: int) -> str:
    """Pick a 127.x.y.1 block whose port 5985 is free on every address the lab will take."""
    for second in range(100, 250):
        base = f"127.{second}.0"
        taken = False
        for i in range(1, min(hosts, 250) + 1):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((f"{base}.{i}", 5985))
                except OSError:
                    taken = True
                    break
        if not taken:
            return f"{base}.1"
    c.fail("no free loopback address block for the lab (127.100-249.0.x all busy)", c.EXIT_UNEXPECTED)


class LabProcess:
    """`portfleet lab serve` in the background, started as a user would start it."""

    def __init__(self, workdir: Path, hosts: int, seed: int, kerberos: bool = False) -> None:
        self.inventory = workdir / "lab-inventory.yml"
        # --kerberos: the lab also runs a KDC and writes <stem>-krb5.conf next to the inventory.
        self.krb5_conf = workdir / "lab-inventory-krb5.conf" if kerberos else None
        self.state_dir = workdir / "lab-state"
        self.log = workdir / "lab.log"
        self.args = [
            sys.executable, "-m", "portfleet", "lab", "serve",
            "--hosts", str(hosts),
            "--inventory-out", str(self.inventory),
            "--state-dir", str(self.state_dir),
            "--first-address", _free_first_address(hosts),
            "--seed", str(seed),
            # 60x: a reboot that takes 45 s on the simulated host is over in under a second here.
            "--time-scale", "60",
        ] + (["--kerberos"] if kerberos else [])
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            with self.log.open("w") as log:
                for line in self.proc.stdout:
                    log.write(line)
                    log.flush()
                    self.lines.append(line.rstrip())
                    if line.startswith("ready"):
                        ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        came_up = ready.wait(READY_TIMEOUT) and any(line.startswith("ready") for line in self.lines)
        if not came_up or self.proc.poll() is not None:
            if not came_up and self.proc.poll() is None:
                try:
                    self.proc.wait(5)  # the output ended: the lab is exiting; its exit code says why
                except subprocess.TimeoutExpired:
                    pass
            self.stop()
            tail = "\n".join(self.lines[-15:])
            # exit 2: the lab refused its options (e.g. --kerberos without krb5kdc installed): the user can fix it.
            code = c.EXIT_USAGE if self.proc.returncode == 2 else c.EXIT_UNEXPECTED
            c.fail(f"the lab did not become ready (log: {self.log}):\n{tail}", code)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _step(title: str, explain: str) -> None:
    c.out.rule(f"[bold]{title}[/bold]")
    c.out.print(explain, style="dim")


def _run(args: list[str], env: dict[str, str], expect: set[int]) -> int:
    prefix = [f"KRB5_CONFIG={env['KRB5_CONFIG']}"] if "KRB5_CONFIG" in env and args[0] != "runs" else []
    shown = " ".join(shlex.quote(a) if not a.startswith("KRB5_CONFIG=") else a for a in [*prefix, "portfleet", *args])
    # soft_wrap: one line however wide, so that it can be copied and run as printed.
    c.out.print(f"[bold green]$[/bold green] {escape(shown)}", markup=True, highlight=False, soft_wrap=True)
    sys.stdout.flush()
    code = subprocess.call([sys.executable, "-m", "portfleet", *args], env=env)
    if code not in expect:
        c.fail(f"`{shown}` exited {code}, expected {sorted(expect)}", c.EXIT_UNEXPECTED)
    c.out.print(f"[dim](exit {code})[/dim]\n")
    return code


def demo(
    hosts: int = typer.Option(20, "--hosts", min=6, max=1000, help="How many simulated Windows hosts."),
    workdir: Path = typer.Option(
        Path("portfleet-demo"), "--workdir",
        help="Where the lab inventory, lab state and portfleet state go: a new or empty directory, or one an "
        "earlier demo made (its demo files are replaced; nothing else in it is touched).",
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the mixed lab fleet (same seed, same fleet)."),
    kerberos: bool = typer.Option(
        False, "--kerberos",
        help="Tour a domain fleet: the lab runs a real MIT KDC (needs krb5-kdc, krb5-admin-server, krb5-user and "
        "portfleet[kerberos]) and every step authenticates with Kerberos.",
    ),
) -> None:
    """Start a lab fleet in the background and run the whole tour against it.

    inventory list -> audit -> diagnose -> apply --check -> apply -> audit -> reboot plan ->
    reboot run -> audit: compliant.
    Every step is the real command, printed before it runs as you can type it again (paths as given,
    the state database named with --state). The lab is stopped at the end; its inventory, its state,
    a copy of the playbook and the state database stay in --workdir.
    """
    kept = prepare_workdir(workdir)
    if kept:
        c.out.print(f"kept in {workdir} (not made by the demo): {', '.join(kept)}", style="dim", highlight=False)
    # A copy of the shipped playbook next to the inventory: a path the user can type and read, also
    # when portfleet is installed from a wheel (the original lives in site-packages).
    playbook = workdir / "port-exhaustion.yml"
    shutil.copyfile(playbooks_dir() / "port-exhaustion.yml", playbook)
    state = workdir / "state.db"
    # Every step names its state store with --state, so each printed command runs as printed.
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("CI", None)  # the demo passes --yes itself
    env.pop("PORTFLEET_STATE", None)
    st = ["--state", str(state)]

    auth = (
        "Kerberos against the lab's own MIT KDC (realm PORTFLEET.TEST, one HTTP/<host>.portfleet.test service "
        "principal per host), with message encryption" if kerberos else "NTLM with message encryption"
    )
    _step(
        "1. Start the lab",
        f"{hosts} simulated Windows hosts, each on its own loopback address, speaking real WinRM "
        f"({auth}). A mixed fleet: defaults, tuned, drifted, one Windows 2003, "
        "one running out of ports, one with a reboot pending.",
    )
    lab = LabProcess(workdir, hosts, seed, kerberos)
    started = time.monotonic()
    lab.start()
    c.out.print(f"lab ready in {time.monotonic() - started:.1f}s; inventory written to {lab.inventory}\n")
    inv = str(lab.inventory)
    if lab.krb5_conf is not None:
        env["KRB5_CONFIG"] = str(lab.krb5_conf)
    try:
        if lab.krb5_conf is not None:
            _step(
                "2. The inventory of a domain fleet",
                "ansible_user is labadmin@PORTFLEET.TEST and ansible_winrm_transport kerberos; each host names "
                "its SPN host with ansible_winrm_kerberos_hostname_override. With a password in the inventory "
                "portfleet runs kinit itself, once per principal per run, into a private ticket cache that is "
                f"deleted afterwards. KRB5_CONFIG={lab.krb5_conf} points Kerberos at the lab's realm.",
            )
        else:
            _step("2. The inventory", "An Ansible YAML inventory: portfleet reads the files your team already has.")
        _run(["inventory", "list", "-i", inv], env, {0})

        _step(
            "3. Audit",
            f"Compare every host with {playbook.name}: one connection, one batched read per host. "
            "Exit 3 means drift was found.",
        )
        _run(["audit", "-i", inv, "-p", str(playbook), *st], env, {0, 3, 4})

        _step(
            "4. Diagnose",
            "Who is eating the ports? Per host: the TCP table by state and process, the range fill, "
            "events 4227/4231, a verdict and what to do. --html writes a report to open in a browser.",
        )
        html = workdir / "diagnose.html"
        _run(["diagnose", "-i", inv, "--html", str(html), *st], env, {0, 3, 4})

        _step("5. Dry run", "apply --check --diff prints the exact commands per host and changes nothing.")
        _run(["apply", "-i", inv, "-p", str(playbook), "--check", "--diff", "-l", "legacy*,web*", *st], env, {0, 3, 4})

        _step(
            "6. Apply",
            "Writes only what drifts, in rolling batches, reads back and verifies; prior values go to "
            f"the state database ({state}) for `portfleet rollback`.",
        )
        _run(["apply", "-i", inv, "-p", str(playbook), "--yes", "--batch", "50%", *st], env, {0, 3, 4})

        _step(
            "7. Audit again",
            "Dynamic port ranges apply at once. MaxUserPort and TcpTimedWaitDelay need a reboot: those "
            "hosts are pending_reboot until they boot again.",
        )
        _run(["audit", "-i", inv, "-p", str(playbook), *st], env, {0, 3, 4})

        _step(
            "8. Plan the reboots",
            "Each host in its next maintenance window (from the playbook or inventory vars), in batches "
            "that never take too much of one group down at once. --ics exports it for a change calendar.",
        )
        _run(["reboot", "plan", "-i", inv, "-p", str(playbook), "--ics", str(workdir / "reboots.ics"), *st], env,
             {0, 3, 4})

        _step(
            "9. Reboot now, rolling",
            "--now skips the wait for the window: batch by batch, shutdown /r, wait for each host to go "
            "down and come back, check the boot time changed and the settings are in effect. "
            "(The lab runs 60x faster than real time, so a reboot takes about a second.)",
        )
        # --delay 5: the users' warning time of shutdown /t, shortened for the tour.
        _run(["reboot", "run", "-i", inv, "-p", str(playbook), "--now", "--yes", "--delay", "5", *st], env, {0, 3, 4})

        _step("10. Audit once more", "The new values are in effect everywhere: every host compliant (exit 0).")
        _run(["audit", "-i", inv, "-p", str(playbook), *st], env, {0, 3, 4})

        _step("11. What happened", "Every run is recorded; `runs show RUN_ID` lists each write with its prior value.")
        _run(["runs", "list", *st], env, {0})
    finally:
        lab.stop()
    c.out.rule("[bold]Done[/bold]")
    q = shlex.quote
    krb5 = f"KRB5_CONFIG={q(str(lab.krb5_conf))} " if lab.krb5_conf is not None else ""
    c.out.print(
        "The lab is stopped. Try it yourself (the lab keeps its fleet in its state directory):\n"
        f"  portfleet lab serve --inventory-out {q(inv)} --state-dir {q(str(lab.state_dir))}"
        f"{' --kerberos' if kerberos else ''}   (in another terminal)\n"
        f"  {krb5}portfleet audit -i {q(inv)} -p {q(str(playbook))} --state {q(str(state))}\n"
        f"  portfleet runs list --state {q(str(state))}\n"
        f"  {krb5}portfleet rollback RUN_ID -i {q(inv)} --check --state {q(str(state))}\n"
        f"Open {workdir / 'diagnose.html'} in a browser for the diagnose report.",
        highlight=False, markup=False, soft_wrap=True,
    )
