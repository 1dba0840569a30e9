"""--help as ops people expect it: flags without a value placeholder, -h as well as --help.

typer (0.29) prints a type placeholder after every option, `--check <bool>` included, which reads as
if the flag took a value; a flag takes none, so it gets no placeholder here (the one adjustment made
to typer's help, for every command at once).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

_display_type_rich = TyperOption.display_type_rich


def _flag_without_placeholder(self: TyperOption, ctx: Any) -> str | None:
    if getattr(self, "is_flag", False) and not getattr(self, "count", False):
        return None
    return _display_type_rich(self, ctx)


TyperOption.display_type_rich = _flag_without_placeholder  # type: ignore[method-assign]
