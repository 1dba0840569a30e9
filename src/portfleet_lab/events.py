"""System event log entries the lab writes, with the texts Windows renders for them.

Sources:
- Kernel-General 12 "The operating system started at system time ‎<ISO>Z." (the U+200E mark before the
  time is in Windows' own rendering; https://learn.microsoft.com/troubleshoot/windows-client/performance/
  windows-startup-event-id-12).
- EventLog 6005/6006/6009/6013 (https://learn.microsoft.com/troubleshoot/windows-server/performance/
  use-event-logs-find-unexpected-shutdown), classic events: Task "None"/N/A, Keywords "Classic", User N/A.
- USER32 1074 ("The process %1 has initiated the %5 of computer %2 on behalf of user %7 for the following
  reason: %3 / Reason Code: %4 / Shutdown Type: %5 / Comment: %6", kb.eventtracker.com EventId_1074_User32).
- Tcpip 4227 (Warning) and 4231 (Error): texts from the Windows Event Viewer captures quoted in
  https://theregime.wordpress.com/2013/12/03/event-id-4227/ and borncity.com 2016/12/20 (4231/4227).
"""

from __future__ import annotations

from datetime import datetime, timezone

from .model import Event, HostState

INFO, WARNING, ERROR = 4, 3, 2
SYSTEM_SID, SYSTEM_NAME = "S-1-5-18", "NT AUTHORITY\\SYSTEM"
MAX_EVENTS = 400  # the log wraps (oldest first out), as a size-capped System log does

MSG_4227 = (
    "TCP/IP failed to establish an outgoing connection because the selected local endpoint was recently "
    "used to connect to the same remote endpoint. This error typically occurs when outgoing connections are "
    "opened and closed at a high rate, causing all available local ports to be used and forcing TCP/IP to "
    "reuse a local port for an outgoing connection. To minimize the risk of data corruption, the TCP/IP "
    "standard requires a minimum time period to elapse between successive connections from a given local "
    "endpoint to a given remote endpoint."
)
MSG_4231 = (
    "A request to allocate an ephemeral port number from the global TCP port space has failed due to all "
    "such ports being in use."
)


def _iso_z(ts: float) -> str:
    """2026-11-21T05:00:00.500000000Z (the 100 ns resolution of a FILETIME, printed with 9 digits)."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}000Z"


def add(host: HostState, ts: float, provider: str, event_id: int, level: int, message: str, *,
        task: str = "N/A", opcode: str = "Info", keyword: str = "Classic",
        user_sid: str = "N/A", user_name: str = "N/A") -> Event:
    ev = Event(host.next_record_id, ts, provider, event_id, level, task, opcode, keyword, user_sid, user_name,
               message)
    host.next_record_id += 1
    host.events.append(ev)
    if len(host.events) > MAX_EVENTS:
        del host.events[: len(host.events) - MAX_EVENTS]
    return ev


def nt_version_string(host: HostState) -> str:
    """6009 text: "Microsoft (R) Windows (R) 10.00. 20348  Multiprocessor Free." (major.minor as %d.%02d)."""
    major, minor, build = host.version_tuple[:3]
    return f"Microsoft (R) Windows (R) {major}.{minor:02d}. {build}  Multiprocessor Free."


def boot(host: HostState, kernel_start: float) -> None:
    """What a boot writes: 12 (kernel start), then 6009 and 6005 when the event log service starts."""
    if not host.is_legacy:  # Kernel-General 12 exists from Vista on
        add(host, kernel_start, "Microsoft-Windows-Kernel-General", 12, INFO,
            f"The operating system started at system time \u200e{_iso_z(kernel_start)}.",
            task="N/A", opcode="Info", keyword="N/A", user_sid=SYSTEM_SID, user_name=SYSTEM_NAME)
    t = kernel_start + 9.5
    add(host, t, "EventLog", 6009, INFO, nt_version_string(host))
    add(host, t, "EventLog", 6005, INFO, "The Event log service was started.")


def shutdown_stop(host: HostState, ts: float) -> None:
    add(host, ts, "EventLog", 6006, INFO, "The Event log service was stopped.")


def restart_initiated(host: HostState, ts: float, *, kind: str, comment: str, user: str,
                      process: str = r"C:\Windows\system32\shutdown.exe") -> None:
    """USER32 1074, written when shutdown.exe is run (not when the restart happens)."""
    computer = host.name.upper()
    # shutdown /r without /d: "No title for this reason could be found", reason 0x800000ff (planned, other).
    msg = (
        f"The process {process} ({computer}) has initiated the {kind} of computer {computer} on behalf of user "
        f"{computer}\\{user} for the following reason: No title for this reason could be found\r\n"
        f" Reason Code: 0x800000ff\r\n Shutdown Type: {kind}\r\n Comment: {comment}"
    )
    add(host, ts, "User32", 1074, INFO, msg, user_sid="S-1-5-21-3623811015-3361044348-30300820-500",
        user_name=f"{computer}\\{user}")


def port_exhaustion(host: HostState, ts: float, event_id: int) -> None:
    if event_id == 4227:
        add(host, ts, "Tcpip", 4227, WARNING, MSG_4227)
    else:
        add(host, ts, "Tcpip", 4231, ERROR, MSG_4231)


def uptime(host: HostState, ts: float) -> None:
    """6013, written daily at noon: "The system uptime is N seconds."."""
    add(host, ts, "EventLog", 6013, INFO, f"The system uptime is {int(ts - host.boot_time)} seconds.")
