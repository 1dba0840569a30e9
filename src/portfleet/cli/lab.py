"""`portfleet lab ...`"""

import typer

app = typer.Typer(help="The lab: simulated Windows hosts speaking real WinRM on loopback.", no_args_is_help=True)
