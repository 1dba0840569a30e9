"""A real MIT KDC for `lab serve --kerberos`: Debian's krb5kdc with a realm of its own in the lab's state directory.

The lab plays the domain controller of a small domain: one realm (PORTFLEET.TEST, DNS domain portfleet.test), the
lab user's principal, and one service principal HTTP/<host>.<domain> per host whose keys go to the keytab the lab's
acceptor reads (a domain-joined Windows host's WinRM listener accepts tickets for the SPN HTTP/<fqdn>, registered on
its computer account: https://learn.microsoft.com/windows/win32/winrm/authentication-for-remote-connections).

Everything lives under <state>/kerberos and every MIT tool is pointed there through KRB5_CONFIG and KRB5_KDC_PROFILE,
so the machine's /etc/krb5.conf and /etc/krb5kdc are never read or written. The database, its stash and the keytab
persist across lab restarts; the KDC's port is picked afresh at each start and the krb5.conf files are rewritten.
Secrets (the master key, principal passwords) reach the tools on stdin, never on a command line.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

REALM = "PORTFLEET.TEST"
DOMAIN = "portfleet.test"
KDC_ADDRESS = "127.0.0.1"
TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local")
INSTALL_HINT = "apt-get install krb5-kdc krb5-admin-server krb5-user"
START_TIMEOUT = 15.0
KRB5_PATH_VAR = "PORTFLEET_LAB_KRB5_PATH"
# Debian installs the KDC tools in /usr/sbin, which a non-root PATH often lacks.
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_LABEL = re.compile(r"[^a-z0-9-]+")


class KdcError(Exception):
    """The KDC cannot be set up or started; the message says why (and what to install)."""


def find_tool(name: str) -> str | None:
    """Where an MIT tool is: in PORTFLEET_LAB_KRB5_PATH's directories when set (an MIT build of one's own), else on
    PATH or in the sbin directories."""
    override = os.environ.get(KRB5_PATH_VAR)
    if override is not None:
        return shutil.which(name, path=override)
    found = shutil.which(name)
    if found:
        return found
    for directory in _SBIN:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_tools() -> list[str]:
    return [name for name in TOOLS if find_tool(name) is None]


def host_fqdn(name: str, domain: str = DOMAIN) -> str:
    """The DNS name a lab host has in the lab domain: its name as one DNS label."""
    label = _LABEL.sub("-", name.lower()).strip("-") or "host"
    return f"{label}.{domain}"


def _free_port(address: str) -> int:
    """A port free for both TCP and UDP on `address` (krb5kdc listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((address, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((address, port))
                except OSError:
                    continue
        return port
    raise KdcError(f"no free port for the KDC on {address}")


def krb5_conf_text(realm: str, domain: str, address: str, port: int) -> str:
    """A client krb5.conf for the lab realm: no DNS lookups, host names used as written (the hosts are loopback
    addresses; their names exist only in the SPNs)."""
    return (
        "# krb5.conf of a portfleet lab realm: written by `portfleet lab serve --kerberos`.\n"
        "# Use it with KRB5_CONFIG=<this file> (kinit, klist, portfleet, pywinrm).\n"
        "[libdefaults]\n"
        f"    default_realm = {realm}\n"
        "    dns_lookup_kdc = false\n"
        "    dns_lookup_realm = false\n"
        "    rdns = false\n"
        "    dns_canonicalize_hostname = false\n"
        "    forwardable = false\n"
        "[realms]\n"
        f"    {realm} = {{\n"
        f"        kdc = {address}:{port}\n"
        "    }\n"
        "[domain_realm]\n"
        f"    .{domain} = {realm}\n"
        f"    {domain} = {realm}\n"
    )


class LabKdc:
    """The lab realm's database, keytab and krb5kdc process under `directory`."""

    def __init__(self, directory: Path, realm: str = REALM, domain: str = DOMAIN, address: str = KDC_ADDRESS) -> None:
        self.directory = Path(directory)
        self.realm = realm
        self.domain = domain
        self.address = address
        self.port = 0
        self.kdc_conf = self.directory / "kdc.conf"
        self.krb5_conf = self.directory / "krb5.conf"
        self.database = self.directory / "principal"
        self.stash = self.directory / "stash"
        self.keytab = self.directory / "http.keytab"
        self.log = self.directory / "krb5kdc.log"
        self.pidfile = self.directory / "krb5kdc.pid"
        self._process: subprocess.Popen[bytes] | None = None

    # -- environment -------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment every MIT tool of the lab runs with: the lab's files only, never /etc."""
        env = dict(os.environ)
        env.update(KRB5_CONFIG=str(self.krb5_conf), KRB5_KDC_PROFILE=str(self.kdc_conf), LC_ALL="C")
        env.pop("KRB5CCNAME", None)
        return env

    def _tool(self, name: str) -> str:
        path = find_tool(name)
        if path is None:
            raise KdcError(f"{name} is not installed: {INSTALL_HINT}")
        return path

    def _run(self, name: str, args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [self._tool(name), *args], input=stdin, capture_output=True, text=True, env=self.env(), timeout=60
            )
        except subprocess.TimeoutExpired as exc:
            raise KdcError(f"{name} did not finish within 60 s") from exc

    # -- setup -------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Write the configuration (with a fresh port) and create the realm's database on first use."""
        missing = missing_tools()
        if missing:
            raise KdcError(f"--kerberos needs MIT Kerberos ({', '.join(missing)} not found): {INSTALL_HINT}")
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        self.port = _free_port(self.address)
        self._write_configs()
        if not self.stash.exists():
            master = secrets.token_urlsafe(24)
            # kdb5_util reads the master password twice (entry and confirmation) from stdin.
            result = self._run("kdb5_util", ["create", "-s", "-r", self.realm], stdin=f"{master}\n{master}\n")
            if result.returncode != 0 or not self.stash.exists():
                raise KdcError(f"kdb5_util create failed: {_last_line(result.stderr or result.stdout)}")

    def _write_configs(self) -> None:
        d = self.directory
        kdc_conf = (
            "[kdcdefaults]\n"
            f"    kdc_listen = {self.address}:{self.port}\n"
            f"    kdc_tcp_listen = {self.address}:{self.port}\n"
            "[realms]\n"
            f"    {self.realm} = {{\n"
            f"        database_name = {self.database}\n"
            f"        key_stash_file = {self.stash}\n"
            f"        acl_file = {d / 'kadm5.acl'}\n"
            "        max_life = 10h 0m 0s\n"
            "        max_renewable_life = 7d 0h 0m 0s\n"
            "        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n"
            "    }\n"
            "[logging]\n"
            f"    kdc = FILE:{self.log}\n"
            f"    admin_server = FILE:{d / 'kadmin.log'}\n"
            f"    default = FILE:{d / 'krb5lib.log'}\n"
        )
        _write(self.kdc_conf, kdc_conf)
        _write(d / "kadm5.acl", "")
        _write(self.krb5_conf, self.client_config())

    def client_config(self) -> str:
        return krb5_conf_text(self.realm, self.domain, self.address, self.port)

    def principals(self) -> set[str]:
        result = self._run("kadmin.local", ["-q", "listprincs"])
        if result.returncode != 0:
            raise KdcError(f"kadmin.local listprincs failed: {_last_line(result.stderr)}")
        return {line.strip() for line in result.stdout.splitlines() if "@" in line and " " not in line.strip()}

    def ensure(self, users: dict[str, str], host_names: list[str]) -> list[str]:
        """Create what is missing: a principal per user (with its password) and HTTP/<fqdn> per host with its keys
        in the keytab. One kadmin.local session reads all the queries from stdin. Returns the service principals."""
        have = self.principals()
        queries: list[str] = []
        for user, password in users.items():
            principal = f"{user}@{self.realm}"
            if principal in have:
                queries.append(f"cpw -pw {password} {principal}")  # the lab password is the truth
            else:
                queries.append(f"addprinc -pw {password} +requires_preauth {principal}")
        services = [f"HTTP/{host_fqdn(name, self.domain)}@{self.realm}" for name in host_names]
        for spn in services:
            if spn not in have:
                queries.append(f"addprinc -randkey {spn}")
                queries.append(f"ktadd -k {self.keytab} {spn}")
        if not self.keytab.exists() and not any(q.startswith("ktadd") for q in queries):
            queries += [f"ktadd -k {self.keytab} -norandkey {spn}" for spn in services]
        if queries:
            result = self._run("kadmin.local", [], stdin="\n".join(queries) + "\n")
            if result.returncode != 0:
                raise KdcError(f"kadmin.local failed: {_last_line(result.stderr)}")
            missing = {f"{u}@{self.realm}" for u in users} | set(services)
            missing -= self.principals()
            if missing:
                raise KdcError(f"kadmin.local could not create {', '.join(sorted(missing))}: "
                               f"{_last_line(result.stderr)}")
        if self.keytab.exists():
            os.chmod(self.keytab, 0o600)
        return services

    def remove_service(self, host_name: str) -> str:
        """Delete a host's service principal, as an admin who removes an SPN from a computer account."""
        spn = f"HTTP/{host_fqdn(host_name, self.domain)}@{self.realm}"
        result = self._run("kadmin.local", ["-q", f"delprinc -force {spn}"])
        if result.returncode != 0 or spn in self.principals():
            raise KdcError(f"could not delete {spn}: {_last_line(result.stderr)}")
        return spn

    # -- process -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Run krb5kdc in the foreground of a child process; return once it accepts TCP connections and
        has written its pid file."""
        log_start = self.log.stat().st_size if self.log.exists() else 0
        self._process = subprocess.Popen(
            [self._tool("krb5kdc"), "-n", "-P", str(self.pidfile)],
            env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                self._process = None
                raise KdcError(f"krb5kdc exited at start: {_last_line(err or _log_tail(self.log, log_start))}")
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            # krb5kdc may write its -P pid file a moment after it listens; ready means both.
            if self.pidfile.exists() and self.pidfile.read_text().strip():
                return
            time.sleep(0.05)
        self.stop()
        raise KdcError(f"krb5kdc did not listen on {self.address}:{self.port} within {START_TIMEOUT:g} s")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()
        self.pidfile.unlink(missing_ok=True)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _log_tail(path: Path, start: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            return fh.read().decode(errors="replace")
    except OSError:
        return ""
