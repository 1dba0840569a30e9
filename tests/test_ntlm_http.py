"""portfleet's own HTTP client for NTLM over plain HTTP (transport/ntlm_http.py, sealed_body.py), against real parts:

- the lab through both clients (the builtin one and pywinrm's requests transport, `portfleet_http_client`): the same
  results, the same errors, word for word, for every fault the lab can play;
- hostile servers on real sockets (garbage for HTTP, no challenge, a broken CHALLENGE, a huge answer, a dropped
  connection, a tampered or mis-sized sealed answer, a connection closed after authentication), each answered with
  the host's one classified error and no traceback;
- the sealed-body framing: round trips with pyspnego's real NTLM contexts on both sides, and totality and linear
  time over arbitrary and mutated bodies.
"""

from __future__ import annotations

import base64
import socket
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
import spnego
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from portfleet.transport import sealed_body
from portfleet.transport.base import TransportError
from portfleet.transport.ntlm_http import MAX_ANSWER, NtlmHttpTransport
from portfleet.transport.winrm import WinRMSession, WinRMTarget
from test_fleet_apply_e2e import PLAYBOOK, as_json, portfleet
from test_fuzz_parsers import growth_failure

USER, PASSWORD = "labadmin", "Corr3ct-Horse"


# ---- the lab through both clients ------------------------------------------------------------------------------


def _target(running, name: str, client: str, password: str | None = None, port: int | None = None) -> WinRMTarget:
    host = running.host(name)
    https = running.https
    return WinRMTarget(host=name, address=host["address"], port=port or (5986 if https else host["port"]),
                       scheme="https" if https else "http", transport="ntlm", username=running.username,
                       password=password or running.password, http_client=client, connect_retries=0,
                       operation_timeout=5, ca_trust_path=str(running.ca_path) if https else None)


def _outcome(running, name: str, client: str, command: str = "ver", **target) -> tuple[str, str]:
    try:
        with WinRMSession(_target(running, name, client, **target)) as session:
            result = session.run(command)
            return "ok", f"{result.exit_code} {result.stdout!r} {result.stderr!r}"
    except TransportError as exc:
        return exc.kind, str(exc)


def test_the_builtin_client_is_the_one_used_and_answers_as_pywinrm_does(lab):
    running = lab(hosts=2, profile="defaults", seed=4)
    name = running.hosts[0]["name"]
    with WinRMSession(_target(running, name, "builtin")) as session:
        first = session.run("ver")
        assert type(session._protocol.transport) is NtlmHttpTransport  # which client ran
        second = session.run('reg query "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters" /v MaxUserPort')
        assert running.control().endpoint(name)["connections"] == 1  # one authenticated connection for both
    with WinRMSession(_target(running, name, "requests")) as session:
        assert session.run("ver") == first
        assert type(session._protocol.transport).__module__ == "winrm.transport"
    assert first.exit_code == 0 and first.stdout.startswith("\r\nMicrosoft Windows [Version 10.0.")
    assert (second.exit_code, second.stdout) == (1, "")
    assert second.stderr == "ERROR: The system was unable to find the specified registry key or value.\r\n"


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("fault", ["none", "wrong_password", "unreachable", "reset_mid_command", "http_500",
                                   "closed_port"])
def test_every_fault_reads_the_same_through_both_clients(lab, fault, https):
    running = lab(hosts=1, profile="defaults", seed=4, https=https)
    name = running.hosts[0]["name"]
    extra: dict = {}
    if fault == "closed_port":
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind((running.host(name)["address"], 0))
            extra["port"] = probe.getsockname()[1]
    elif fault == "wrong_password":
        extra["password"] = "not-the-password"
    elif fault != "none":
        running.control().set_faults(name, **{fault: True})
    command = "netstat -ano" if fault == "reset_mid_command" else "ver"
    builtin = _outcome(running, name, "builtin", command, **extra)
    assert builtin == _outcome(running, name, "requests", command, **extra)
    expected = {"none": ("ok", "0 '\\r\\nMicrosoft Windows [Version 10.0."),
                "wrong_password": ("auth_failed", "credentials were rejected (HTTP 401) for user 'labadmin'"),
                "unreachable": ("unreachable", "connection refused or no route"),
                "closed_port": ("unreachable", "connection refused or no route"),
                "reset_mid_command": ("reset", "connection dropped in the middle of a command"),
                "http_500": ("protocol", "WinRM service answered HTTP 500")}[fault]
    assert builtin[0] == expected[0] and expected[1] in builtin[1], builtin
    assert running.password not in builtin[1]


def test_an_audit_reads_the_same_fleet_through_both_clients(lab, tmp_path):
    running = lab(hosts=6, profile="mixed", seed=5)
    running.control().set_faults(running.hosts[1]["name"], wrong_password=True)
    data = yaml.safe_load(running.inventory.read_text())
    reports = {}
    for client in ("builtin", "requests"):
        data["all"]["children"]["windows"]["vars"]["portfleet_http_client"] = client
        inventory = tmp_path / f"{client}.yml"
        inventory.write_text(yaml.safe_dump(data))
        proc = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json",
                         state=tmp_path / f"{client}.db")
        assert proc.returncode == 4, proc.stderr  # the host with the wrong password counts as auth_failed
        reports[client] = {h["name"]: (h["status"], h.get("detail"), h.get("settings")) for h in as_json(proc)["hosts"]}
    assert reports["builtin"] == reports["requests"]
    assert {s for s, _, _ in reports["builtin"].values()} >= {"auth_failed", "drift"}


def _handshake_over_https(running, name: str, bindings: bytes | None | str) -> int:
    """NTLM against the lab's HTTPS listener with these channel bindings ("right": the listener certificate's hash);
    the status of the AUTHENTICATE's answer."""
    import http.client
    import ssl

    from portfleet.transport.tls_client import certificate_hash

    host = running.host(name)
    context = ssl.create_default_context(cafile=str(running.ca_path))
    connection = http.client.HTTPSConnection(host["address"], 5986, context=context, timeout=10)
    connection.connect()
    if bindings == "right":
        bindings = b"tls-server-end-point:" + certificate_hash(connection.sock.getpeercert(binary_form=True))
    cbt = spnego.channel_bindings.GssChannelBindings(application_data=bindings) if bindings else None
    client = spnego.client(running.username, running.password, protocol="ntlm", hostname=host["address"],
                           service="http", channel_bindings=cbt, options=spnego.NegotiateOptions.use_ntlm)
    statuses = []
    token = client.step()
    for _ in range(2):
        connection.request("POST", "/wsman", body=b"", headers={
            "Authorization": "Negotiate " + base64.b64encode(token or b"").decode(),
            "Content-Type": "application/soap+xml;charset=UTF-8"})
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        challenge = response.getheader("WWW-Authenticate", "")
        if response.status != 401 or client.complete:
            break
        token = client.step(base64.b64decode(challenge.split(" ", 1)[1]))
    connection.close()
    return statuses[-1]


def test_the_lab_checks_channel_bindings_as_windows_relaxed_does_and_the_builtin_client_sends_the_right_ones(lab):
    running = lab(hosts=1, profile="defaults", seed=4, https=True)
    name = running.hosts[0]["name"]
    # CbtHardeningLevel Relaxed (Windows' default): bindings that are sent must match; none at all are accepted.
    assert _handshake_over_https(running, name, b"tls-server-end-point:" + b"\x00" * 32) == 401
    assert _handshake_over_https(running, name, "right") == 200
    assert _handshake_over_https(running, name, None) == 200
    target = WinRMTarget(host=name, address=running.host(name)["address"], port=5986, scheme="https", transport="ntlm",
                         username=running.username, password=running.password, ca_trust_path=str(running.ca_path),
                         connect_retries=0)
    with WinRMSession(target) as session:
        assert session.run("ver").stdout.startswith("\r\nMicrosoft Windows [Version 10.0.")
        assert type(session._protocol.transport) is NtlmHttpTransport  # which client ran: the builtin one
    assert running.control().endpoint(name)["last_logon"]["channel_bound"] is True  # its bindings were checked
    target = WinRMTarget(**{**target.__dict__, "http_client": "requests"})
    with WinRMSession(target) as session:  # requests_ntlm binds too: the lab checks both the same way
        session.run("ver")
    assert running.control().endpoint(name)["last_logon"]["channel_bound"] is True


def test_an_unknown_http_client_is_the_hosts_error_naming_the_choices(lab, tmp_path):
    running = lab(hosts=2, profile="defaults", seed=4)
    data = yaml.safe_load(running.inventory.read_text())
    first = running.hosts[0]["name"]
    for group in data["all"]["children"]["windows"]["children"].values():
        if first in (group.get("hosts") or {}):
            group["hosts"][first]["portfleet_http_client"] = "curl"
    inventory = tmp_path / "inv.yml"
    inventory.write_text(yaml.safe_dump(data))
    proc = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    hosts = {h["name"]: h for h in as_json(proc)["hosts"]}
    assert hosts[first]["status"] == "error"
    assert "portfleet_http_client must be one of builtin, requests, not 'curl'" in hosts[first]["detail"]
    assert hosts[running.hosts[1]["name"]]["status"] == "drift"


# ---- hostile servers ---------------------------------------------------------------------------------------------


def _read_request(conn: socket.socket) -> tuple[dict[str, str], bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += conn.recv(65536)
    return headers, body


def _response(status: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch) -> Iterator[Callable[[Callable[[socket.socket], None]], WinRMTarget]]:
    """hostile(script) -> a target whose one connection is served by script(conn) on a real loopback socket."""
    users = tmp_path / "ntlm-users"
    users.write_text(f":{USER}:{PASSWORD}\n")  # no domain: the client names none
    monkeypatch.setenv("NTLM_USER_FILE", str(users))  # pyspnego's NTLM acceptor reads the password from here
    servers: list[socket.socket] = []

    def start(script: Callable[[socket.socket], None]) -> WinRMTarget:
        server = socket.create_server(("127.0.0.1", 0))
        servers.append(server)

        def serve() -> None:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                try:
                    script(conn)
                except OSError:
                    pass

        threading.Thread(target=serve, daemon=True).start()
        return WinRMTarget(host="evil", address="127.0.0.1", port=server.getsockname()[1], scheme="http",
                           transport="ntlm", username=USER, password=PASSWORD, connect_retries=0, operation_timeout=2)

    yield start
    for server in servers:
        server.close()


def _authenticated(conn: socket.socket, last: dict[str, str] | None = None) -> spnego.ContextProxy:
    """Serve the NTLM handshake as HTTP.sys does: 401 with the CHALLENGE, then 200 (with `last`'s headers); the
    server's context."""
    server = spnego.server(protocol="ntlm")
    headers, _ = _read_request(conn)  # type: ignore[misc]
    challenge = server.step(base64.b64decode(headers["authorization"].split(" ", 1)[1]))
    conn.sendall(_response(401, {"WWW-Authenticate": "Negotiate " + base64.b64encode(challenge).decode()}))
    headers, _ = _read_request(conn)  # type: ignore[misc]
    server.step(base64.b64decode(headers["authorization"].split(" ", 1)[1]))
    assert server.complete
    conn.sendall(_response(200, last or {}))
    return server


def _sealed_answer(server: spnego.ContextProxy, plaintext: bytes) -> bytes:
    wrapped = server.wrap_winrm(plaintext)
    return sealed_body.seal_body(plaintext, wrapped.header, wrapped.data)


def _run(target: WinRMTarget) -> TransportError:
    with pytest.raises(TransportError) as caught:
        with WinRMSession(target) as session:
            session.run("ver")
    assert PASSWORD not in str(caught.value)
    return caught.value


def test_an_answer_that_is_not_http_is_a_protocol_error(hostile):
    error = _run(hostile(lambda conn: (_read_request(conn), conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))))
    assert error.kind == "protocol" and "evil (http://127.0.0.1:" in str(error)
    assert "the answer is not HTTP" in str(error)


def test_a_401_without_a_challenge_is_refused_credentials(hostile):
    error = _run(hostile(lambda conn: (_read_request(conn), conn.sendall(_response(401, {"WWW-Authenticate": "Basic"})))))
    assert error.kind == "auth_failed" and f"credentials were rejected (HTTP 401) for user {USER!r}" in str(error)


@pytest.mark.parametrize("token", [b"NTLMSSP\x00\x02\x00\x00\x00\x01", b"garbage", b"NTLMSSP\x00\x03" + b"\x00" * 40])
def test_a_challenge_that_is_not_ntlm_is_a_protocol_error(hostile, token):
    junk = base64.b64encode(token).decode()
    error = _run(hostile(lambda conn: (_read_request(conn),
                                       conn.sendall(_response(401, {"WWW-Authenticate": f"Negotiate {junk}"})))))
    assert error.kind == "protocol" and "NTLM CHALLENGE could not be read" in str(error)


def test_a_huge_answer_is_cut_off_and_refused(hostile):
    def script(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(f"HTTP/1.1 401 X\r\nContent-Length: {MAX_ANSWER + 4096}\r\n\r\n".encode())
        block = b"x" * 65536
        for _ in range((MAX_ANSWER + 4096) // len(block) + 1):
            conn.sendall(block)

    error = _run(hostile(script))
    assert error.kind == "protocol" and "the answer is larger than 8 MiB" in str(error)


def test_a_connection_dropped_before_the_answer_is_a_reset(hostile):
    error = _run(hostile(lambda conn: _read_request(conn)))  # reads the request, closes without a word
    assert error.kind == "reset" and "connection dropped in the middle of a command" in str(error)


def test_an_answer_trickled_past_the_read_timeout_is_a_timeout_not_a_held_thread(hostile):
    """A byte every 50 ms for 20 s: every single read is quick, the whole answer is not. With a timeout per read
    only, the client would wait the 20 s out; the exchange's deadline ends it after its 1 s."""
    stop = threading.Event()

    def script(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 401 X\r\nContent-Length: 400\r\n")
        for _ in range(400):
            if stop.wait(0.05):
                return
            conn.sendall(b"X-Slow: 1\r\n"[:1])

    target = hostile(script)
    transport = NtlmHttpTransport(address=target.address, port=target.port, path="/wsman", username=USER,
                                  password=PASSWORD, connect_timeout=5, read_timeout=1.0, where="evil (slow)")
    try:
        with pytest.raises(TransportError) as caught:
            transport.send_message(b"<s:Envelope/>")
    finally:
        stop.set()
        transport.close_session()
    assert caught.value.kind == "timeout" and str(caught.value) == "evil (slow): no answer within 1s"


@pytest.mark.parametrize("damage", ["flipped byte", "wrong length", "no closing boundary", "plain garbage"])
def test_a_damaged_sealed_answer_is_a_protocol_error(hostile, damage):
    def script(conn: socket.socket) -> None:
        server = _authenticated(conn)
        _read_request(conn)  # the sealed Create
        plain = b"<s:Envelope>a shell</s:Envelope>"
        body = _sealed_answer(server, plain)
        if damage == "flipped byte":
            at = body.index(b"application/octet-stream\r\n") + 50
            body = body[:at] + bytes([body[at] ^ 1]) + body[at + 1:]
        elif damage == "wrong length":
            body = body.replace(f"Length={len(plain)}".encode(), f"Length={len(plain) - 3}".encode())
        elif damage == "no closing boundary":
            body = body[:-24]
        else:
            body = b"\x00" * 200
        conn.sendall(_response(200, {"Content-Type": sealed_body.CONTENT_TYPE}, body))

    error = _run(hostile(script))
    assert error.kind == "protocol", error
    assert "sealed message" in str(error) and "evil (http://127.0.0.1:" in str(error)


def test_a_connection_closed_after_authentication_is_not_silently_reopened(hostile):
    error = _run(hostile(lambda conn: _authenticated(conn, {"Connection": "close"})))
    assert error.kind == "reset" and "connection dropped" in str(error)


def test_a_sealed_answer_from_the_server_context_is_read(hostile):
    """The positive case of the hostile server: a well-formed sealed Create answer is unsealed and read."""
    shell = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
             b'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Body><x:ResourceCreated '
             b'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer"><w:SelectorSet><w:Selector Name="ShellId">'
             b"11111111-2222-3333-4444-555555555555</w:Selector></w:SelectorSet></x:ResourceCreated></s:Body>"
             b"</s:Envelope>")
    seen: list[bytes] = []

    def script(conn: socket.socket) -> None:
        server = _authenticated(conn)
        headers, body = _read_request(conn)  # type: ignore[misc]
        seen.append(sealed_body.open_body(body, server.unwrap_winrm))
        assert sealed_body.is_sealed(headers["content-type"])
        conn.sendall(_response(200, {"Content-Type": sealed_body.CONTENT_TYPE}, _sealed_answer(server, shell)))
        _, command = _read_request(conn)  # type: ignore[misc] # the Command: answered with nothing, the connection ends
        seen.append(sealed_body.open_body(command, server.unwrap_winrm))

    error = _run(hostile(script))
    assert b"http://schemas.xmlsoap.org/ws/2004/09/transfer/Create" in seen[0]
    assert error.kind == "reset"  # it got past the Create: the shell id was read from the sealed answer
    assert b"<w:Selector Name=\"ShellId\">11111111-2222-3333-4444-555555555555</w:Selector>" in seen[1]


# ---- the framing -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[spnego.ContextProxy, spnego.ContextProxy]:
    users = tmp_path_factory.mktemp("ntlm") / "users"
    users.write_text(f":{USER}:{PASSWORD}\n")  # no domain: the client names none
    import os

    old = os.environ.get("NTLM_USER_FILE")
    os.environ["NTLM_USER_FILE"] = str(users)
    try:
        client = spnego.client(USER, PASSWORD, protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
        server = spnego.server(protocol="ntlm")
        server.step(client.step(server.step(client.step())))  # type: ignore[arg-type]
    finally:
        if old is None:
            os.environ.pop("NTLM_USER_FILE", None)
        else:
            os.environ["NTLM_USER_FILE"] = old
    assert client.complete and server.complete
    return client, server


@pytest.mark.parametrize("size", [0, 1, 4095, 153600])
def test_sealed_bodies_round_trip_between_real_ntlm_contexts(pair, size):
    client, server = pair
    plaintext = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    wrapped = client.wrap_winrm(plaintext)
    body = sealed_body.seal_body(plaintext, wrapped.header, wrapped.data)
    assert body.startswith(b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n")
    assert f"Length={size}\r\n".encode() in body and body.endswith(b"--Encrypted Boundary--\r\n")
    assert sealed_body.open_body(body, server.unwrap_winrm) == plaintext


def test_a_replayed_sealed_body_fails_the_sequence_check(pair):
    client, server = pair
    wrapped = client.wrap_winrm(b"once")
    body = sealed_body.seal_body(b"once", wrapped.header, wrapped.data)
    assert sealed_body.open_body(body, server.unwrap_winrm) == b"once"
    with pytest.raises(sealed_body.SealedBodyError, match="integrity check"):
        sealed_body.open_body(body, server.unwrap_winrm)


def _open_any(body: bytes) -> None:
    try:
        sealed_body.open_body(body, lambda signature, sealed: sealed)  # a stand-in context: the framing is tested
    except sealed_body.SealedBodyError:
        pass


_VALID = sealed_body.seal_body(b"<s:Envelope/>", b"S" * 16, b"<s:Envelope/>")


@given(data=st.binary(max_size=600), cut=st.integers(0, len(_VALID)), at=st.integers(0, len(_VALID) - 1),
       byte=st.integers(0, 255))
@settings(max_examples=400, deadline=None, derandomize=True)
def test_opening_any_body_is_total(data, cut, at, byte):
    """Arbitrary bytes, a valid body cut short, with a byte changed, or followed by junk: the plaintext or a
    SealedBodyError, nothing else."""
    for body in (data, _VALID[:cut], _VALID[:at] + bytes([byte]) + _VALID[at + 1:], _VALID + data,
                 _VALID[:cut] + data):
        _open_any(body)


@pytest.mark.parametrize("shape", ["boundaries", "parts", "length digits", "headers"])
def test_opening_a_body_grows_linearly(shape):
    part = _VALID[:-len(b"--Encrypted Boundary--\r\n")]
    makers = {
        "boundaries": lambda n: b"--Encrypted Boundary\r\n" * (n // 22 + 1),
        "parts": lambda n: part * (n // len(part) + 1) + b"--Encrypted Boundary--\r\n",
        "length digits": lambda n: b"--Encrypted Boundary\r\napplication/HTTP-SPNEGO-session-encrypted Length=" + b"9" * n,
        "headers": lambda n: b"--Encrypted Boundary\r\n" + b"\tX: y\r\n" * (n // 7 + 1),
    }
    failure = growth_failure(lambda text: _open_any(text), makers[shape])  # type: ignore[arg-type]
    assert failure is None, failure
