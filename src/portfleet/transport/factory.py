"""Build the right Session for an inventory host from its (merged) Ansible vars."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from portfleet.transport import kerberos
from portfleet.transport.base import Session, TransportError
from portfleet.transport.kerberos import RunCredentials, TicketRequest
from portfleet.transport.winrm import WinRMSession, WinRMTarget

if TYPE_CHECKING:
    from portfleet.transport.ssh import SSHTarget


# portfleet_http_client: "builtin" speaks NTLM over HTTP and HTTPS itself (transport/ntlm_http.py), "requests" keeps
# pywinrm's requests-based transport for every host.
HTTP_CLIENTS = ("builtin", "requests")


@dataclass(frozen=True)
class ConnectOptions:
    """Run-wide connection knobs (CLI flags); per-host vars win where Ansible has a var for it."""

    connect_timeout: float = 10.0
    operation_timeout: int = 20
    command_timeout: float = 300.0
    connect_retries: int = 2
    ca_bundle: str | None = None  # --ca-bundle: default CA file for hosts without ansible_winrm_ca_trust_path
    prompted_password: Any = None  # -k/--ask-pass: a Secret used for hosts whose inventory sets none


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _secret(host: Any, options: ConnectOptions) -> Any:
    from portfleet.inventory import InventoryError

    try:
        return host.password or options.prompted_password
    except InventoryError as exc:  # portfleet_password_env names a missing variable
        raise TransportError("auth_failed", str(exc)) from None


def _kerberos_ticket(host: Any, secret: Any, credentials: RunCredentials | None) -> TicketRequest:
    """Get (once per principal per run) the ticket a Kerberos host needs; raise TransportError if that fails."""
    if credentials is None or not kerberos.pykerberos_available():
        raise TransportError("protocol", f"{host.name}: Kerberos needs pykerberos, which is not installed: "
                                         f"{kerberos.EXTRA_HINT}")
    principal = host.user
    if not principal:
        raise TransportError("auth_failed", f"{host.name}: no user: set ansible_user to user@REALM")
    # Ansible's rule: managed when a password is given, unless ansible_winrm_kinit_mode says otherwise.
    mode = host.kinit_mode or ("managed" if secret is not None else "manual")
    if mode == "managed" and secret is None:
        raise TransportError("auth_failed", f"{host.name}: managed kinit needs the password of {principal}: set "
                                            "ansible_password (or portfleet_password_env, -k), or kinit yourself and "
                                            "set ansible_winrm_kinit_mode: manual")
    args = host.kinit_args
    request = TicketRequest(principal=principal, managed=mode == "managed", kinit_cmd=host.kinit_cmd,
                            kinit_args=tuple(args) if args is not None else None,
                            delegation=host.kerberos_delegation)
    credentials.ensure(request, secret.reveal() if mode == "managed" else None, host.name)
    return request


def winrm_target(host: Any, options: ConnectOptions, credentials: RunCredentials | None = None) -> WinRMTarget:
    """Map Ansible's winrm connection vars onto a WinRMTarget (the password stays inside it).

    Kerberos hosts get their ticket here, before the session exists (transport.kerberos); certificate hosts need
    no password; CredSSP is refused with the supported alternative."""
    v = host.vars
    transport = host.winrm_transport
    if transport == "credssp":
        raise TransportError(
            "protocol",
            f"{host.name}: ansible_winrm_transport credssp is not supported by portfleet; use Kerberos with "
            "delegation (ansible_winrm_transport: kerberos, ansible_winrm_kerberos_delegation: true), which also "
            "lets the host use your credentials for a second hop",
        )
    secret = _secret(host, options)
    kinit_manual = False
    if transport == "kerberos":
        kinit_manual = not _kerberos_ticket(host, secret, credentials).managed
    elif transport != "certificate":
        if secret is None:
            raise TransportError(
                "auth_failed",
                f"{host.name}: no password: set ansible_password, portfleet_password_env: VAR naming an "
                "environment variable, or pass -k/--ask-pass",
            )
        if not host.user:
            raise TransportError("auth_failed", f"{host.name}: no user: set ansible_user")
    op_timeout = int(v.get("ansible_winrm_operation_timeout_sec", options.operation_timeout))
    http_client = str(v.get("portfleet_http_client") or "builtin").strip().lower()
    if http_client not in HTTP_CLIENTS:
        raise TransportError("protocol", f"{host.name}: portfleet_http_client must be one of "
                                         f"{', '.join(HTTP_CLIENTS)}, not {str(v.get('portfleet_http_client'))[:40]!r}")
    return WinRMTarget(
        host=host.name,
        address=host.address,
        port=host.port,
        scheme=host.scheme or "http",
        path=host.winrm_path,
        transport=transport,
        username=host.user or "",
        # Kerberos and certificates authenticate without it: the password stays out of pywinrm then.
        password=secret.reveal() if secret is not None and transport not in ("kerberos", "certificate") else "",
        cert_validation=host.cert_validation != "ignore",
        ca_trust_path=host.ca_trust_path or options.ca_bundle,
        allow_unencrypted=_truthy(v.get("portfleet_allow_unencrypted", False)),
        connect_timeout=float(v.get("ansible_winrm_connection_timeout", options.connect_timeout)),
        operation_timeout=op_timeout,
        command_timeout=float(v.get("portfleet_command_timeout", options.command_timeout)),
        connect_retries=options.connect_retries,
        proxy=v.get("ansible_winrm_proxy") or None,
        kerberos_delegation=host.kerberos_delegation,
        kerberos_hostname_override=host.kerberos_hostname_override,
        kinit_manual=kinit_manual,
        cert_pem=host.cert_pem,
        cert_key_pem=host.cert_key_pem,
        http_client=http_client,
    )


def ssh_target(host: Any, options: ConnectOptions) -> "SSHTarget":
    """Map Ansible's ssh connection vars onto an SSHTarget (the password stays inside it).

    Host key checking follows Ansible: on unless ansible_ssh_host_key_checking (or
    ansible_host_key_checking) is false; portfleet_known_hosts names the known_hosts file.
    """
    from portfleet.inventory import InventoryError
    # fabric and paramiko load only for runs that have SSH hosts: a tenth of a WinRM run's start-up less.
    from portfleet.transport.ssh import DEFAULT_KNOWN_HOSTS, SSHTarget

    v = host.vars
    try:
        secret = host.password or options.prompted_password
    except InventoryError as exc:  # portfleet_password_env names a missing variable
        raise TransportError("auth_failed", str(exc)) from None
    user = host.user
    if not user:
        raise TransportError("auth_failed", f"{host.name}: no user: set ansible_user")
    checking = v.get("ansible_ssh_host_key_checking", v.get("ansible_host_key_checking", True))
    timeout = v.get("ansible_ssh_timeout", v.get("ansible_timeout", options.connect_timeout))
    return SSHTarget(
        host=host.name,
        address=host.address,
        port=host.port,
        username=str(user),
        password=secret.reveal() if secret is not None else None,
        key_filename=host.private_key_file,
        known_hosts=str(v.get("portfleet_known_hosts") or DEFAULT_KNOWN_HOSTS),
        host_key_checking=_truthy(checking),
        connect_timeout=float(timeout),
        # One whole command (the batched read, a write, `ss -tanp`) may take this long. WinRM's
        # OperationTimeout bounds one Receive, which pywinrm repeats; SSH has no such round, so the
        # whole command gets three of them.
        operation_timeout=float(options.operation_timeout) * 3,
        connect_retries=options.connect_retries,
        platform=host.platform,
    )


SessionFactory = Callable[[Any], Session]


def session_factory(options: ConnectOptions | None = None) -> SessionFactory:
    """The run's session factory. Called from the main thread before any fan-out: this is where the run's Kerberos
    credential collection is installed (KRB5CCNAME set once per process; transport.kerberos says why)."""
    options = options or ConnectOptions()
    credentials = kerberos.install() if kerberos.pykerberos_available() else None

    def open_session(host: Any) -> Session:
        connection = (host.connection or "winrm").lower()
        if connection in {"winrm", "psrp"}:
            return WinRMSession(winrm_target(host, options, credentials))
        if connection in {"ssh", "paramiko", "paramiko_ssh"}:
            from portfleet.transport.ssh import SSHSession

            return SSHSession(ssh_target(host, options))
        raise TransportError(
            "protocol",
            f"{host.name}: ansible_connection {connection!r} is not supported (use winrm or ssh)",
        )

    return open_session
