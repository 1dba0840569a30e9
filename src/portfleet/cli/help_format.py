"""--help as ops people know it from ansible and the other argparse tools: plain text that wraps to the
terminal (click's formatter, not rich panels that cut long names), `-h` as well as `--help`, and an
option's value named for what it is (`-i INVENTORY`, `--forks FORKS`) rather than typer's type
placeholders (`<path>`, `<int range>`, `<list[Path]>`). Choices stay listed: `--format [table|json]`.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

HELP_OPTIONS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

_display_type_rich = TyperOption.display_type_rich


def _value_name(self: TyperOption, ctx: Any) -> str | None:
    if self.metavar is not None:
        return self.metavar
    if self.type_descriptor.is_choice:
        label = (_display_type_rich(self, ctx) or "").strip("<>")
        return f"[{label}]"
    return (self.name or "value").upper()


TyperOption.display_type_rich = _value_name  # type: ignore[method-assign]
