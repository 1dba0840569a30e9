"""Lab time: absolute instants are real wall time, durations are scaled.

Absolute timestamps (boot time, event times, scheduled task times) stay real so that a controller can
compare them with its own clock; only durations (a shutdown's /t delay, the time a reboot takes, the
TIME_WAIT hold) are divided by ``time_scale`` so that tests can run a reboot cycle in about a second.
"""

from __future__ import annotations

import time


class LabClock:
    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = float(time_scale)

    def now(self) -> float:
        """Real wall time (seconds since the epoch)."""
        return time.time()

    def real_seconds(self, lab_seconds: float) -> float:
        """How many real seconds a lab duration lasts."""
        return lab_seconds / self.time_scale

    def lab_seconds(self, real_seconds: float) -> float:
        """How many lab seconds a real duration amounts to (inverse of real_seconds)."""
        return real_seconds * self.time_scale
