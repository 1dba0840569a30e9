"""`portfleet reboot plan|run|schedule|status|cancel`: reboots inside maintenance windows.

One module per command (parse the flags -> call reboot.session / reboot.tasks -> render -> exit);
options.py holds the options they share, output.py what they print alike.
"""

from __future__ import annotations

import typer

from portfleet.cli.commands.reboot.cancel import cancel_cmd
from portfleet.cli.commands.reboot.plan import plan_cmd
from portfleet.cli.commands.reboot.run import run_cmd
from portfleet.cli.commands.reboot.schedule import schedule_cmd
from portfleet.cli.commands.reboot.status import status_cmd

app = typer.Typer(
    help=(
        "Reboot the hosts whose new settings wait for a boot (MaxUserPort, TcpTimedWaitDelay), inside their "
        "maintenance windows, in batches.\n\n"
        "Windows per host: inventory vars portfleet_maintenance_windows (e.g. ['Sat 02:00-04:00']), "
        "portfleet_timezone, portfleet_freeze; else the play's `reboot:` block. "
        "`plan` shows who and when, `run` reboots and verifies from here, `schedule` leaves one-time "
        "scheduled tasks on the hosts, `status` and `cancel` follow them up."
    ),
    no_args_is_help=True,
)
app.command("plan")(plan_cmd)
app.command("run")(run_cmd)
app.command("schedule")(schedule_cmd)
app.command("status")(status_cmd)
app.command("cancel")(cancel_cmd)
