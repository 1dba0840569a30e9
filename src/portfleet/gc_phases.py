"""The garbage collector's settings for a fleet command's two phases: start-up, then the run.

Start-up (the imports of typer, pydantic, SQLAlchemy, pywinrm, jinja2..., then the inventory and the playbook)
makes a few hundred thousand objects that live as long as the process and almost no garbage. CPython's default
thresholds (700, 10, 10) still collect about 280 times over them: 0.1 s of CPU per run (measured with
gc.callbacks), half a millisecond per host of a 200-host audit. So a fleet command starts with a high first
threshold (`starting`), and the fan-out, once start-up is over (`started`), freezes what start-up made
(gc.freeze: kept out of every later collection, as it lives for the run anyway) and restores the thresholds it
found, so the run's own garbage (per-host HTTP exchanges, parsed answers) is collected as usual.

Only the CLI's entry point calls `starting`; without it `started` does nothing, so a library caller or a test
process that runs many fan-outs keeps the collector exactly as it set it.
"""

from __future__ import annotations

import gc

STARTUP_THRESHOLDS = (50_000, 50, 100)
_saved: tuple[int, int, int] | None = None


def starting() -> None:
    """Collect rarely until `started`: start-up allocates, it hardly frees."""
    global _saved
    if _saved is None:
        _saved = gc.get_threshold()
        gc.set_threshold(*STARTUP_THRESHOLDS)


def started() -> None:
    """Start-up is over: freeze what it made, collect as before from now on (once; later calls do nothing)."""
    global _saved
    if _saved is not None:
        gc.freeze()
        gc.set_threshold(*_saved)
        _saved = None
