"""A real PostgreSQL server for the tests: Debian's postgresql binaries, initdb into a temporary
directory, pg_ctl start on a free port of 127.0.0.1 (and a unix socket in that directory), torn
down at the end of the session. PostgreSQL refuses to run as root: as root, the server runs as
the `postgres` user (runuser) in a directory that user owns.

    def test_x(pg_database):           # a new, empty database for the test
        url = pg_database.url           # postgresql://portfleet:<password>@127.0.0.1:<port>/<db>

Skipped, saying why, when the binaries or psycopg are missing (.ci/run installs both).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

SUPERUSER = "portfleet"


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    host: str
    port: int
    password: str
    socket_dir: Path
    _counter: Iterator[int]

    def url(self, database: str, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@{self.host}:{self.port}/{database}"

    def admin(self):  # noqa: ANN201 - a psycopg connection
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, password=self.password,
                               dbname="postgres", autocommit=True)

    def new_database(self) -> str:
        name = f"portfleet_test_{os.getpid()}_{next(self._counter)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


@dataclass
class PgDatabase:
    server: PgServer
    name: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = _binaries()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql): PostgreSQL tests skipped")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install '.[postgresql]'): PostgreSQL tests skipped")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as a non-root user")
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no `postgres` user to run the server as (apt-get install postgresql makes it)")
    base = Path(tempfile.mkdtemp(prefix="portfleet-pg-"))
    data, sock, pwfile = base / "data", base / "sock", base / "pw"
    sock.mkdir()
    password = "pg-" + secrets.token_hex(8)
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                                    "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True, env=env, timeout=120)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off -c max_connections=200"
    started = subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                              str(base / "log"), "-w", "-t", "60", "start"]),
                             capture_output=True, text=True, env=env, timeout=120)
    if started.returncode != 0:
        log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")
    try:
        yield PgServer("127.0.0.1", port, password, sock, itertools.count(1))
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True, env=env, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_database(pg_server: PgServer) -> PgDatabase:
    return PgDatabase(pg_server, pg_server.new_database())
