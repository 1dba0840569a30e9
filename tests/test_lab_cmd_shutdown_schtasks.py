"""shutdown /r /a, schtasks /create /query /delete, net statistics."""

from __future__ import annotations

import re
import time

import pytest

from portfleet_lab.fleet import Fleet

CREATE = ('schtasks /create /tn portfleet-reboot /sc once /sd {sd} /st {st} /tr "shutdown /r /t 300" '
          '/ru SYSTEM /f')


@pytest.fixture()
def fleet(tmp_path):
    return Fleet.open(tmp_path, hosts=8, seed=2, time_scale=1000)


@pytest.fixture()
def host(fleet):
    return next(h for h in fleet.hosts if h.state.locale == "en-US" and not h.state.is_legacy)


def test_abort_with_nothing_pending(host):
    r = host.execute("shutdown /a")
    assert (r.stdout, r.exit_code) == ("", 1116)
    assert r.stderr == "Unable to abort the system shutdown because no shutdown was in progress.(1116)\r\n"


def test_restart_then_second_restart_then_abort(host):
    r = host.execute('shutdown /r /t 600 /c "portfleet: apply TcpTimedWaitDelay"')
    assert (r.stdout, r.stderr, r.exit_code) == ("", "", 0)
    r = host.execute("shutdown /r /t 60")
    assert (r.stderr, r.exit_code) == ("A system shutdown has already been scheduled.(1190)\r\n", 1190)
    r = host.execute("shutdown /a")
    assert (r.stdout, r.stderr, r.exit_code) == ("", "", 0)
    assert host.state.shutdown is None
    # USER32 1074 was written when the restart was requested, with the comment
    r = host.execute('wevtutil qe System /q:"*[System[EventID=1074]]" /f:text /c:1 /rd:true')
    assert "has initiated the restart of computer" in r.stdout
    assert "Comment: portfleet: apply TcpTimedWaitDelay" in r.stdout


def test_timeout_range(host, fleet):
    r = host.execute("shutdown /r /t 315360001")
    assert (r.stderr, r.exit_code) == ("The parameter is incorrect.(87)\r\n", 87)
    assert host.state.shutdown is None
    legacy = fleet.host("legacy-01")
    assert legacy.execute("shutdown /r /t 601").exit_code == 87  # XP/2003: 0-600
    assert legacy.execute("shutdown /r /t 600").exit_code == 0


def test_schtasks_create_query_delete(host):
    local = host._ctx().local()
    sd = f"{local.month:02d}/{local.day:02d}/{local.year + 1}"
    r = host.execute(CREATE.format(sd=sd, st="02:00"))
    assert r.stdout == 'SUCCESS: The scheduled task "portfleet-reboot" has successfully been created.\r\n'
    r = host.execute("schtasks /query /tn portfleet-reboot /fo csv /nh")
    assert r.stdout == f'"\\portfleet-reboot","{int(sd[:2])}/{int(sd[3:5])}/{sd[6:]} 2:00:00 AM","Ready"\r\n'
    r = host.execute("schtasks /query /tn portfleet-reboot /fo list /v")
    assert "Task To Run:                          shutdown /r /t 300\r\n" in r.stdout
    assert "Run As User:                          SYSTEM\r\n" in r.stdout
    r = host.execute("schtasks /query /tn portfleet-reboot")
    assert r.stdout.startswith("\r\nFolder: \\\r\nTaskName ")
    r = host.execute("schtasks /delete /tn portfleet-reboot /f")
    assert r.stdout == 'SUCCESS: The scheduled task "portfleet-reboot" was successfully deleted.\r\n'
    r = host.execute("schtasks /query /tn portfleet-reboot")
    assert (r.stderr, r.exit_code) == ("ERROR: The system cannot find the file specified.\r\n", 1)
    r = host.execute("schtasks /delete /tn portfleet-reboot /f")
    assert (r.stderr, r.exit_code) == ("ERROR: The system cannot find the file specified.\r\n", 1)


def test_schtasks_bad_date_and_past_time(host):
    r = host.execute(CREATE.format(sd="2026-11-28", st="02:00"))
    assert r.exit_code == 1
    assert r.stderr == 'ERROR: Invalid Start Date (Date should be in "mm/dd/yyyy" format).\r\n'
    r = host.execute(CREATE.format(sd="01/01/2020", st="02:00"))
    assert r.stdout.startswith("WARNING: Task may not run because /ST is earlier than current time.\r\n")
    assert r.exit_code == 0


def test_task_due_time_is_host_local(fleet, host):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    host.execute(CREATE.format(sd="12/24/2030", st="23:30"))
    expected = datetime(2030, 12, 24, 23, 30, tzinfo=ZoneInfo(host.state.timezone)).timestamp()
    assert host.state.tasks[0].due == expected


def test_task_runs_its_command_and_the_restart_happens(fleet, host):
    """A due task runs /tr through cmd as SYSTEM; the restart it asks for goes through down/up."""
    host.execute(CREATE.format(sd="12/24/2030", st="23:30").replace("/t 300", "/t 1"))
    r = host.execute("schtasks /run /tn portfleet-reboot")
    assert r.stdout == 'SUCCESS: Attempted to run the scheduled task "portfleet-reboot".\r\n'
    before = host.state.boot_time
    seen = []
    deadline = time.time() + 10
    while "up" not in seen and time.time() < deadline:
        seen += [kind for kind, h in fleet.tick() if h is host]
        wait = fleet.seconds_to_next_event()
        time.sleep(min(wait if wait is not None else 0.01, 0.05))
    assert seen == ["down", "up"]
    assert host.state.boot_time > before
    task = host.state.tasks[0]
    assert task.last_run is not None and task.last_result == 0
    r = host.execute("schtasks /query /tn portfleet-reboot /fo csv /nh")
    assert r.stdout.endswith('"N/A","Ready"\r\n')


def test_net_statistics_gives_boot_time_on_legacy(fleet):
    legacy = fleet.host("legacy-01")
    r = legacy.execute("net statistics workstation")
    assert r.stdout.startswith(f"Workstation Statistics for \\\\{legacy.name.upper()}\r\n\r\n\r\nStatistics since ")
    m = re.search(r"Statistics since (\d+)/(\d+)/(\d{4}) (\d+):(\d\d):(\d\d) (AM|PM)", r.stdout)
    assert m
    assert r.stdout.endswith("The command completed successfully.\r\n\r\n")
    assert legacy.execute("net statistics server").stdout.startswith("Server Statistics for \\\\LEGACY-01")
