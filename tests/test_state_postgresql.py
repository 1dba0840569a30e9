"""PostgreSQL state through the CLI, as a user points portfleet at it: by --state URL or
PORTFLEET_STATE, the URL's password never shown, a missing driver told with the pip command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from test_fleet_apply_e2e import PLAYBOOK

HIDE_PSYCOPG = (
    "import sys; sys.modules['psycopg'] = None\n"  # as if the postgresql extra were not installed
    "from portfleet.cli.app import main; sys.argv = ['portfleet', *sys.argv[1:]]; main()"
)


def run(*args: str, env: dict[str, str] | None = None, code: str | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "PORTFLEET_STATE")}
    full.update(env or {})
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "portfleet", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=full, timeout=300)


def test_state_by_url_in_option_and_environment_with_the_password_never_shown(module_lab, pg_database):
    fleet = module_lab(hosts=2, profile="defaults", seed=21)
    url, password = pg_database.url, pg_database.server.password
    audited = run("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--state", url, "--format", "json")
    assert audited.returncode == 3, audited.stderr  # defaults drift from the playbook
    applied = run("apply", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--yes", "--state", url)
    assert applied.returncode in (0, 3), applied.stderr
    listed = run("runs", "list", "--format", "json", env={"PORTFLEET_STATE": url})
    runs = json.loads(listed.stdout)["runs"]
    assert [r["kind"] for r in runs] == ["apply", "audit"]
    shown = run("runs", "show", runs[0]["id"], "--state", url)
    assert shown.returncode == 0 and "web-01" in shown.stdout
    for proc in (audited, applied, listed, shown):
        assert password not in proc.stdout + proc.stderr


def test_a_wrong_password_or_an_unreachable_server_is_exit_2_with_the_password_masked(pg_database):
    server = pg_database.server
    wrong = f"postgresql://portfleet:Wr0ng-{server.password}@{server.host}:{server.port}/{pg_database.name}"
    proc = run("runs", "list", "--state", wrong)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "password authentication failed" in proc.stderr and "portfleet:***@" in proc.stderr
    assert "Wr0ng" not in proc.stderr + proc.stdout
    gone = run("runs", "list", env={"PORTFLEET_STATE": "postgresql://u:s3cr3t-pw@127.0.0.1:1/db"})
    assert gone.returncode == 2 and "cannot reach the state database postgresql://u:***@127.0.0.1:1/db" in gone.stderr
    assert "s3cr3t-pw" not in gone.stderr + gone.stdout


def test_without_the_postgresql_extra_a_url_says_what_to_install():
    proc = run("runs", "list", "--state", "postgresql://u:pw-123@db.example/portfleet", code=HIDE_PSYCOPG)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'portfleet[postgresql]'" in proc.stderr and "pw-123" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_url_that_is_not_postgresql_or_names_no_database_is_refused():
    for value, needle in (("mysql://u:pw-9@h/db", "unsupported scheme 'mysql://'"),
                          ("postgresql://u:pw-9@h/", "names no database")):
        proc = run("runs", "list", "--state", value)
        assert proc.returncode == 2 and needle in proc.stderr and "pw-9" not in proc.stderr


def test_a_database_that_does_not_exist_yet_is_created_on_first_use(pg_server):
    url = pg_server.url(f"portfleet_new_{os.getpid()}")
    listed = run("runs", "list", "--format", "json", "--state", url)
    assert listed.returncode == 0 and json.loads(listed.stdout) == {"runs": []}  # a reader creates nothing
    with pg_server.admin() as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert f"portfleet_new_{os.getpid()}" not in names
    from portfleet.state import Store

    with Store(url) as store:
        run_id = store.start_run("audit")
    with Store(url, read_only=True) as store:
        assert [r.id for r in store.list_runs()] == [run_id]
