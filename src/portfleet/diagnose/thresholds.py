"""The numbers diagnose judges by, each with the reason for it."""

from __future__ import annotations

from portfleet.parse.netsh import PortRange

# A range 95% full leaves a few hundred ports at most: connections already fail in bursts.
EXHAUSTED_FILL = 0.95
# Above 60% a traffic spike or a slow leak reaches the end within hours; the guide's advice is to
# act (find the consumer) before the range is gone, not after.
AT_RISK_FILL = 0.60
# A healthy application holds a handful of CLOSE_WAIT/BOUND sockets, briefly. Hundreds held by one
# process (or more than 2% of the range) are sockets it never closes: a leak in that application.
LEAK_MIN_PORTS = 100
LEAK_MIN_SHARE = 0.02
# TIME_WAIT is "the" consumer when it holds at least this share of the used ports.
TIME_WAIT_SHARE = 0.30
# The value Microsoft's guidance and the seeds use for TcpTimedWaitDelay (KB 196271 range 30-300).
RECOMMENDED_TIMED_WAIT = 30
# A widened range should leave the current load at or under half of it.
TARGET_FILL_AFTER_WIDENING = 0.50
MAX_RANGE = PortRange(1025, 64511)  # 1025-65535, the widest netsh accepts (KB 929851)
