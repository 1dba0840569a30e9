"""Kerberos credentials of one run: ONE private credential cache per principal, shared by the run's threads.

How the ticket reaches pywinrm, and why the cache is chosen the way it is:
pywinrm's kerberos transport is its vendored requests_kerberos on pykerberos. For every handshake it calls
`kerberos.authGSSClientInit("HTTP@<host>", principal=<ansible_user>)`, which does
`gss_acquire_cred(name=<principal>, GSS_C_INITIATE)` with no credential store: pykerberos cannot be handed a ccache.
MIT krb5 then looks for a cache whose client is that principal in the *default cache collection*, which comes from
KRB5CCNAME, read afresh by every krb5 context, that is by every GSS call on any thread. Swapping KRB5CCNAME per
connection would therefore race between the run's threads (and setenv() while other threads call getenv() is
undefined behaviour in C). So portfleet sets KRB5CCNAME exactly ONCE per process, before any worker thread exists
(transport.factory.session_factory runs in the main thread), to a private `DIR:` collection (mode 0700), and puts one
cache file per principal into it. Each thread's gss_acquire_cred finds its own principal's cache by name, so one
process serves several principals at once; no process per principal is needed. The directory is deleted at exit.

- managed (ansible_winrm_kinit_mode, the default when a password is given): portfleet runs
  `<ansible_winrm_kinit_cmd> <ansible_winrm_kinit_args> <principal>` once per principal per run, with the password on
  stdin and KRB5CCNAME=DIR::<collection>/tkt<n> in kinit's own environment (as Ansible feeds kinit). Once per
  principal also means a wrong password costs the account one failed logon, not one per host (AD lockout counts them).
  A run can outlast its ticket (a reboot run waiting for its window, a slow rolling apply: AD tickets last 10 h
  by default): the ticket's end time is read from its cache (transport/ccache.py) and, once a quarter of its
  lifetime (at most 5 minutes) is left, the next host that needs it gets a new one first, with the same kinit,
  into a file beside the collection that then replaces the old cache in one rename, so no thread ever sees a
  cache without a ticket. A failed renewal is retried 30 s later; the old ticket serves until it ends.
- manual: the operator's ticket (their KRB5CCNAME from before portfleet started, or the default cache) is found with
  `klist -l` and its cache file copied into the collection, so a later `kdestroy` or `kinit` by the operator does not
  change a run in progress. FILE and DIR caches can be copied; KEYRING and KCM caches cannot (clear error).

Errors come back as TransportError with what happened (KDC unreachable, unknown principal, wrong password, no
service principal for the host, clock skew, ticket expired) and never the password.
"""

from __future__ import annotations

import atexit
import hmac
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from portfleet import main_process
from portfleet.transport import ccache
from portfleet.transport.base import TransportError

EXTRA_HINT = "pip install 'portfleet[kerberos]' (pykerberos and gssapi build against libkrb5-dev: apt-get install libkrb5-dev)"
KINIT_TIMEOUT = 60.0
_CACHE_FILE = re.compile(r"^(?:FILE:|DIR::)?(/.+)$")


def pykerberos_available() -> bool:
    """pywinrm's Kerberos transport needs pykerberos (the `kerberos` extra)."""
    try:
        import kerberos  # noqa: F401
    except ImportError:
        return False
    return True


def realm_of(principal: str) -> str | None:
    return principal.rpartition("@")[2] or None if "@" in principal else None


def _realm_hint(principal: str) -> str:
    realm = realm_of(principal)
    return " (realm names are upper case)" if realm and realm != realm.upper() else ""


# MIT's com_err texts (krb5_err.et) -> what happened, for kinit's stderr and GSS minor statuses alike.
def describe(text: str, principal: str, *, spn: str | None = None, manual: bool = False) -> tuple[str, str]:
    """(kind, what happened) for a Kerberos failure text; kind as TransportError's."""
    realm = realm_of(principal) or "the default realm"
    low = text.lower()
    if "cannot contact any kdc" in low:
        return "unreachable", f"the KDC of {realm} is unreachable (krb5.conf [realms] kdc; KRB5_CONFIG names the file)"
    if "cannot find kdc for realm" in low or "cannot resolve network address for kdc" in low:
        return "unreachable", f"no KDC is configured for {realm}{_realm_hint(principal)} (krb5.conf [realms]; KRB5_CONFIG)"
    if "server" in low and "not found in kerberos database" in low:
        name = f"HTTP/{spn.split('@', 1)[-1]}" if spn else "HTTP/<host>"
        return "auth_failed", (f"the KDC has no service principal {name} for this host: register the SPN on the "
                               "host's computer account (setspn -S), or set ansible_winrm_kerberos_hostname_override "
                               "to the name it is registered under")
    if "not found in kerberos database" in low:
        return "auth_failed", f"the KDC does not know the principal {principal}{_realm_hint(principal)}"
    if "password incorrect" in low or "preauthentication failed" in low:
        return "auth_failed", f"wrong password for {principal}"
    if "clock skew too great" in low:
        return "auth_failed", ("clock skew: this machine's clock and the KDC's (or the host's) differ by more than "
                               "Kerberos allows (5 minutes by default); synchronise them (NTP)")
    if "password has expired" in low or "key has expired" in low:
        return "auth_failed", f"the password of {principal} has expired: change it first"
    if "expired" in low and ("ticket" in low or "credential" in low):
        if manual:
            return "auth_failed", f"the ticket of {principal} has expired: run `kinit {principal}` again"
        return "auth_failed", f"the ticket of {principal} expired during the run"
    if "credentials have been revoked" in low:
        return "auth_failed", f"the account {principal} is disabled or locked out"
    if ("can't find client principal" in low or "no credentials cache found" in low
            or "no kerberos credentials available" in low or "matching credential not found" in low):
        if manual:
            return "auth_failed", f"no Kerberos ticket for {principal}: run `kinit {principal}` first (manual kinit mode)"
        return "auth_failed", f"no Kerberos ticket for {principal} in the run's credential cache"
    if "cannot determine realm for host" in low:
        return "auth_failed", "no realm for the host name: add it to krb5.conf [domain_realm]"
    return "auth_failed", f"Kerberos error: {_first_line(text)}"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().lower().startswith("password for")]
    return (lines[-1] if lines else "no details")[:240]


def _redact(text: str, password: str | None) -> str:
    if password and len(password) >= 4:
        text = text.replace(password, "<redacted>")
    return text


@dataclass(frozen=True)
class TicketRequest:
    """What one host needs: a ticket for `principal`, obtained the way its inventory says."""

    principal: str
    managed: bool
    kinit_cmd: str = "kinit"
    kinit_args: tuple[str, ...] | None = None  # None: Ansible's default (-f when delegating)
    delegation: bool = False


RENEW_MARGIN_S = 300.0  # get a new managed ticket when this much of it is left (or a quarter of a shorter one)
RENEW_RETRY_S = 30.0


class _Entry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.error: TransportError | None = None
        self.password: bytes | None = None
        self.cache: Path | None = None  # managed: the principal's cache file in the collection
        self.expires: float | None = None  # its TGT's end time, when it could be read
        self.renew_at = float("inf")

    def got_ticket(self, cache: Path, obtained: float) -> None:
        self.cache, self.expires = cache, ccache.tgt_expiry(cache)
        if self.expires is not None:
            lifetime = max(0.0, self.expires - obtained)
            self.renew_at = self.expires - min(RENEW_MARGIN_S, lifetime / 4)


class RunCredentials:
    """The run's private ccache collection and the one cache per principal in it."""

    def __init__(self, directory: Path, operator_ccname: str | None, environ: dict[str, str]) -> None:
        self.directory = directory
        self.operator_ccname = operator_ccname  # KRB5CCNAME before portfleet set its own (manual mode reads it)
        self._environ = environ  # the process environment at install time, KRB5CCNAME excluded
        self._guard = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._count = 0

    @property
    def ccname(self) -> str:
        return f"DIR:{self.directory}"

    def _new_cache(self) -> Path:
        with self._guard:
            if self._count == 0:
                # Made on first use, so a run without Kerberos hosts leaves nothing behind; mkdir fails if the
                # (random) name exists: nobody else's directory is ever used.
                try:
                    self.directory.mkdir(mode=0o700)
                except OSError as exc:
                    raise TransportError("auth_failed", f"cannot create the run's credential cache directory "
                                                        f"{self.directory}: {exc.strerror}") from None
            self._count += 1
            return self.directory / f"tkt{self._count}"

    def ensure(self, request: TicketRequest, password: str | None, where: str) -> None:
        """Have a ticket for the principal in the collection, getting it once per run; raise TransportError."""
        with self._guard:
            entry = self._entries.setdefault(request.principal, _Entry())
        with entry.lock:
            if not entry.done:
                try:
                    if request.managed:
                        obtained, cache = time.time(), self._new_cache()
                        self._kinit(request, password or "", f"DIR::{cache}")
                        entry.got_ticket(cache, obtained)
                        entry.password = (password or "").encode("utf-8")
                    else:
                        self._copy_operator_ticket(request)
                except TransportError as exc:
                    entry.error = exc
                entry.done = True
        if entry.error is not None:
            raise TransportError(entry.error.kind, f"{where}: {entry.error}")
        if request.managed and entry.password is not None and not hmac.compare_digest(
            entry.password, (password or "").encode("utf-8")
        ):
            raise TransportError("auth_failed", f"{where}: this host gives {request.principal} a different password "
                                                "than another host of this run; portfleet gets one ticket per principal")
        if request.managed and time.time() >= entry.renew_at:
            with entry.lock:
                if time.time() >= entry.renew_at:  # not renewed meanwhile by another thread
                    self._renew(request, password or "", entry, where)

    def _renew(self, request: TicketRequest, password: str, entry: _Entry, where: str) -> None:
        """A new ticket for a managed principal whose ticket is about to end (see the module doc)."""
        assert entry.cache is not None
        fresh = entry.cache.with_name(f"renew-{entry.cache.name}")  # not tkt*: outside the collection until renamed
        obtained = time.time()
        try:
            self._kinit(request, password, f"FILE:{fresh}")
            os.replace(fresh, entry.cache)
        except (TransportError, OSError) as exc:
            fresh.unlink(missing_ok=True)
            entry.renew_at = time.time() + RENEW_RETRY_S
            if entry.expires is not None and time.time() >= entry.expires:
                what = exc if isinstance(exc, TransportError) else exc.strerror
                kind = exc.kind if isinstance(exc, TransportError) else "auth_failed"
                raise TransportError(kind, f"{where}: the run's ticket for {request.principal} has ended and a new "
                                           f"one could not be had: {what}") from None
            return  # the old ticket still serves; the next host after RENEW_RETRY_S tries again
        entry.got_ticket(entry.cache, obtained)

    # -- managed -----------------------------------------------------------------------------------
    def _kinit(self, request: TicketRequest, password: str, ccname: str) -> None:
        """kinit the principal into the credential cache `ccname` (a cache of the collection, or a renewal's file)."""
        args = list(request.kinit_args) if request.kinit_args is not None else (["-f"] if request.delegation else [])
        env = dict(self._environ, KRB5CCNAME=ccname)
        command = [request.kinit_cmd, *args, request.principal]
        try:
            proc = subprocess.run(command, input=password + "\n", capture_output=True, text=True, env=env,
                                  timeout=KINIT_TIMEOUT)
        except FileNotFoundError:
            raise TransportError("auth_failed", f"kinit command {request.kinit_cmd!r} not found: install krb5-user "
                                                "(MIT Kerberos) or set ansible_winrm_kinit_cmd") from None
        except subprocess.TimeoutExpired:
            raise TransportError("unreachable", f"kinit for {request.principal} gave no answer within "
                                                f"{KINIT_TIMEOUT:g} s (KDC unreachable?)") from None
        except OSError as exc:
            raise TransportError("auth_failed", f"cannot run {request.kinit_cmd!r}: {exc.strerror}") from None
        if proc.returncode != 0:
            text = _redact((proc.stderr or "") + "\n" + (proc.stdout or ""), password)
            kind, what = describe(text, request.principal)
            raise TransportError(kind, f"managed kinit failed: {what}")

    # -- manual ------------------------------------------------------------------------------------
    def _klist(self) -> list[tuple[str, str, bool]]:
        env = dict(self._environ, LC_ALL="C")
        if self.operator_ccname is not None:
            env["KRB5CCNAME"] = self.operator_ccname
        try:
            proc = subprocess.run(["klist", "-l"], capture_output=True, text=True, env=env, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            raise TransportError("auth_failed", "manual kinit mode needs klist (krb5-user) to find the ticket") from None
        rows: list[tuple[str, str, bool]] = []
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and "@" in parts[0] and not set(parts[0]) <= {"-"}:
                rows.append((parts[0], parts[1], "(expired)" in line.lower()))
        return rows

    def _copy_operator_ticket(self, request: TicketRequest) -> None:
        principal = request.principal
        rows = self._klist()
        match = [r for r in rows if r[0] == principal] or [r for r in rows if r[0].lower() == principal.lower()]
        if not match:
            where = f" (caches: {', '.join(r[1] for r in rows)})" if rows else ""
            raise TransportError("auth_failed", f"manual kinit mode: no Kerberos ticket for {principal}{where}: "
                                                f"run `kinit {principal}` first, or give a password for managed kinit")
        _, cache, expired = match[0]
        if expired:
            raise TransportError("auth_failed", f"manual kinit mode: the ticket of {principal} in {cache} has expired: "
                                                f"run `kinit {principal}` again")
        path = _CACHE_FILE.match(cache)
        if path is None:
            raise TransportError("auth_failed", f"manual kinit mode: the ticket of {principal} is in {cache}, which "
                                                "portfleet cannot copy; kinit into a file cache "
                                                "(KRB5CCNAME=FILE:/tmp/krb5cc_portfleet kinit ...)")
        target = self._new_cache()
        try:
            data = Path(path.group(1)).read_bytes()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise TransportError("auth_failed", f"manual kinit mode: cannot read {cache}: {exc.strerror}") from None

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


_installed: RunCredentials | None = None
_install_lock = threading.Lock()


def install() -> RunCredentials:
    """Create the run's collection and point KRB5CCNAME at it: once per process, from the main thread, before any
    worker thread starts (see the module docstring). Later calls return the same collection."""
    global _installed
    with _install_lock:
        if _installed is None:
            operator = os.environ.get("KRB5CCNAME")
            environ = {k: v for k, v in os.environ.items() if k != "KRB5CCNAME"}
            directory = Path(tempfile.gettempdir()) / f"portfleet-krb5cc-{secrets.token_hex(8)}"
            _installed = RunCredentials(directory, operator, environ)
            os.environ["KRB5CCNAME"] = _installed.ccname
            atexit.register(_installed.close)
            # Worker processes (--procs) ask this process for tickets: still one kinit per principal per run.
            main_process.register(_installed)
        return _installed
