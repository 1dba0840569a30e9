"""Diagnose ephemeral port exhaustion: which hosts are running out of ports, and who eats them.

Per host, in ONE session: the batched read (facts + the four dynamic ranges, TcpTimedWaitDelay,
MaxUserPort), then one diagnose read (excluded port ranges, `netstat -ano[q]`, `tasklist`, System
events 4227/4231). Then a pure analysis, as the port-exhaustion troubleshooting guide does it
(learn.microsoft.com/troubleshoot/windows-client/networking/tcp-ip-port-exhaustion-troubleshooting).

Modules, one job each:
  collect    the read of one host in one session, parsed into a Collected (and --watch samples)
  linux      the same for Linux hosts over SSH (ss, sysctl), with Linux's advice
  model      the values: Collected, Sample, RangeUse, ProcessUse, Recommendation, Trend,
             HostDiagnosis, DiagnoseReport
  ports      port arithmetic: overlaps, excluded ports, listening ports
  thresholds the numbers the verdict is judged by, with why
  analysis   usage of the dynamic ranges, the verdict and its evidence
  recommend  recommendations and playbook warnings (Windows)
  trend      the --watch slope and when the range would be full
  run        the fleet: diagnose_host, run_diagnose, watch
"""

from portfleet.diagnose.analysis import analyse, effective_ranges, table_usage
from portfleet.diagnose.collect import (
    READ_KEYS,
    S_EVENTS,
    S_EVENTS_DAY,
    S_NETSTAT,
    S_TASKLIST,
    build_collected,
    diagnose_command,
)
from portfleet.diagnose.model import (
    VERDICTS,
    Collected,
    DiagnoseReport,
    HostDiagnosis,
    ProcessUse,
    RangeUse,
    Recommendation,
    Sample,
    Trend,
)
from portfleet.diagnose.recommend import playbook_warnings
from portfleet.diagnose.run import diagnose_host, failure, rank, run_diagnose, watch
from portfleet.diagnose.thresholds import AT_RISK_FILL, EXHAUSTED_FILL
from portfleet.diagnose.trend import apply_trend, format_duration, trend_of

__all__ = [
    "AT_RISK_FILL", "EXHAUSTED_FILL", "READ_KEYS", "S_EVENTS", "S_EVENTS_DAY", "S_NETSTAT", "S_TASKLIST", "VERDICTS",
    "Collected", "DiagnoseReport", "HostDiagnosis", "ProcessUse", "RangeUse", "Recommendation", "Sample", "Trend",
    "analyse", "apply_trend", "build_collected", "diagnose_command", "diagnose_host", "effective_ranges", "failure",
    "format_duration", "playbook_warnings", "rank", "run_diagnose", "table_usage", "trend_of", "watch",
]
