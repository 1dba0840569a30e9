"""The exit codes of every portfleet command, in one table (DESIGN "The commands").

The library decides outcomes (a RunReport knows whether it drifted or failed); only the CLI turns them
into a process exit status, always through these names.
"""

from __future__ import annotations

import signal

EXIT_OK = 0  # success; every host compliant
EXIT_UNEXPECTED = 1  # anything unexpected: a bug
EXIT_USAGE = 2  # bad usage or a bad input file (the message names file:line)
EXIT_DRIFT = 3  # drift found, or changes pending (a reboot)
EXIT_FAILED = 4  # one or more hosts unreachable or failed, or a rollout stopped at its threshold
EXIT_HANGUP = 129  # SIGHUP: 128 + 1, as shells report a signal's death
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2
EXIT_TERMINATED = 143  # SIGTERM: 128 + 15

# signal -> the exit code of a run it stopped (in-flight hosts finish their bookkeeping first).
EXIT_FOR_SIGNAL = {
    signal.SIGINT: EXIT_INTERRUPTED,
    signal.SIGTERM: EXIT_TERMINATED,
    signal.SIGHUP: EXIT_HANGUP,
}

# For --help texts and the README: every code with what it means.
EXIT_CODE_TABLE = (
    (EXIT_OK, "success, all compliant"),
    (EXIT_UNEXPECTED, "unexpected error (a bug)"),
    (EXIT_USAGE, "bad usage or input file"),
    (EXIT_DRIFT, "drift or changes pending"),
    (EXIT_FAILED, "hosts unreachable or failed"),
    (EXIT_HANGUP, "SIGHUP"),
    (EXIT_INTERRUPTED, "Ctrl-C"),
    (EXIT_TERMINATED, "SIGTERM"),
)
