"""`portfleet inventory ...`"""

import typer

app = typer.Typer(help="Read Ansible inventories (YAML or INI): list hosts, groups and merged vars.", no_args_is_help=True)
