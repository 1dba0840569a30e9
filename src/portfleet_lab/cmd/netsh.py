"""netsh interface ipv4|ipv6 show|set dynamicportrange, show|add|delete excludedportrange.

References:
- KB 929851 / https://learn.microsoft.com/troubleshoot/windows-server/networking/default-dynamic-port-range-tcpip-chang:
  "netsh int ipv4 show dynamicport tcp", "netsh int <ipv4|ipv6> set dynamic <tcp|udp> start=number num=range";
  minimum range 255 ports, minimum start port 1025, end port at most 65535.
- Output layout "Protocol tcp Dynamic Port Range / --------------------------------- / Start Port      : 49152 /
  Number of Ports : 16384" (captures in dorssel/usbipd-win#53 and actions/runner-images#1442).
- "Protocol tcp Port Exclusion Ranges ... * - Administered port exclusions." (capture in the question
  "What is Administered port exclusions in windows 10?", developerload.com); German captures:
  'Portausschlussbereiche für das Protokoll "tcp"', "Startport      Endport", "* - Verwaltete Portausschlüsse.".
- Unknown command: "The following command was not found: <command line>." (https://learn.microsoft.com/
  windows-server/networking/technologies/netsh/netsh-contexts ; German "Der folgende Befehl wurde nicht
  gefunden: dhcp." on the de-de page), exit code 1. netsh prints its messages on stdout.
- netsh accepts any unambiguous prefix of a context, command or tag name (`int`, `dynamic`, `start=`, `num=`).
- Exclusions are shared by IPv4 and IPv6 (both contexts write the same Nsi key; BigFix fixlet 27007).
- Invalid numbers are refused by the stack with ERROR_INVALID_PARAMETER, printed as its system message
  "The parameter is incorrect." (German "Falscher Parameter.").
"""

from __future__ import annotations

from .base import Ctx, Interpreter, Output, split_args
from .messages import lang
from ..model import ExcludedRange, PortRange

_SHOW = ["addresses", "compartments", "config", "destinationcache", "dnsservers", "dynamicportrange",
         "excludedportrange", "global", "icmpstats", "interfaces", "ipaddresses", "ipnettomedia", "ipstats",
         "joins", "neighbors", "offload", "route", "subinterfaces", "tcpconnections", "tcpstats",
         "udpconnections", "udpstats", "winsservers"]
_SET = ["address", "compartment", "dnsservers", "dynamicportrange", "global", "interface", "neighbors", "route",
        "subinterface", "winsservers"]
_ADD = ["address", "dnsservers", "excludedportrange", "neighbors", "route", "winsservers"]
_DELETE = ["address", "arpcache", "destinationcache", "dnsservers", "excludedportrange", "neighbors", "route",
           "winsservers"]
_VERBS = {"show": _SHOW, "set": _SET, "add": _ADD, "delete": _DELETE}
_TOP = ["add", "advfirewall", "branchcache", "bridge", "delete", "dhcpclient", "dnsclient", "dump", "exec",
        "firewall", "help", "http", "interface", "ipsec", "lan", "mbn", "namespace", "netio", "p2p", "ras",
        "rpc", "set", "show", "trace", "wcn", "wfp", "winhttp", "winsock", "wlan"]
_INTERFACE = ["6to4", "httpstunnel", "ipv4", "ipv6", "ip", "isatap", "portproxy", "tcp", "teredo", "udp"]


def _match(word: str, choices: list[str]) -> str | None:
    w = word.lower()
    if w in choices:
        return w
    hits = [c for c in choices if c.startswith(w)]
    return hits[0] if len(hits) == 1 else None


def _text(ctx: Ctx, key: str, **kw: str) -> str:
    de = lang(ctx.locale) == "de"
    t = {
        "notfound": "Der folgende Befehl wurde nicht gefunden: {cmd}." if de
        else "The following command was not found: {cmd}.",
        "ok": "OK." if de else "Ok.",
        "badparam": "Falscher Parameter." if de else "The parameter is incorrect.",
        "missing": ("Mindestens ein erforderlicher Parameter wurde nicht eingegeben.\r\n"
                    "\u00dcberpr\u00fcfen Sie die erforderlichen Parameter, und geben Sie sie erneut ein.") if de
        else ("One or more essential parameters were not entered.\r\n"
              "Verify the required parameters, and reenter them."),
        "dyn_title": "Protokoll {proto} Dynamischer Portbereich" if de else "Protocol {proto} Dynamic Port Range",
        "start": "Startport" if de else "Start Port",
        "num": "Anzahl von Ports" if de else "Number of Ports",
        "ex_title": 'Portausschlussbereiche f\u00fcr das Protokoll "{proto}"' if de
        else "Protocol {proto} Port Exclusion Ranges",
        "ex_head": "Startport      Endport" if de else "Start Port    End Port",
        "ex_foot": "* - Verwaltete Portausschl\u00fcsse." if de else "* - Administered port exclusions.",
    }[key]
    return t.format(**kw)


def _not_found(ctx: Ctx, args: list[str]) -> Output:
    return Output().out(_text(ctx, "notfound", cmd=" ".join(args)) + "\r\n\r\n").exit(1)


def run(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    args = split_args(tail)
    if not args:
        # interactive netsh reads commands from stdin; under WinRS stdin ends at once
        return Output().out("netsh>").exit(0)
    top = _match(args[0], _TOP)
    if top != "interface" or len(args) < 2:
        return _not_found(ctx, args)
    family = _match(args[1], _INTERFACE)
    if ctx.host.is_legacy:
        # Server 2003's netsh has "interface ip" but neither "ipv4" nor dynamicport/excludedportrange.
        return _not_found(ctx, args)
    if family == "ip":
        family = "ipv4"  # "interface ip" is an alias of "interface ipv4" from Vista on
    if family not in ("ipv4", "ipv6") or len(args) < 4:
        return _not_found(ctx, args)
    verb = _match(args[2], list(_VERBS))
    obj = _match(args[3], _VERBS[verb]) if verb else None
    if obj not in ("dynamicportrange", "excludedportrange"):
        return _not_found(ctx, args)
    params = args[4:]
    if obj == "dynamicportrange":
        if verb == "show":
            return _show_dynamic(ctx, family, params)
        if verb == "set":
            return _set_dynamic(ctx, family, params)
    else:
        if verb == "show":
            return _show_excluded(ctx, family, params)
        if verb in ("add", "delete"):
            return _change_excluded(ctx, family, verb, params)
    return _not_found(ctx, args)


def _tags(params: list[str], names: list[str]) -> dict[str, str] | None:
    """Assign `tag=value` (tag given by any unambiguous prefix) and positional values, in netsh's order."""
    out: dict[str, str] = {}
    for p in params:
        if "=" in p:
            tag, value = p.split("=", 1)
            name = _match(tag, names)
            if name is None or name in out:
                return None
            out[name] = value
        else:
            free = [n for n in names if n not in out]
            if not free:
                return None
            out[free[0]] = p
    return out


def _usage_missing(ctx: Ctx, usage: str) -> Output:
    return Output().out(_text(ctx, "missing") + "\r\n\r\n" + usage).exit(1)


_DYN_SHOW_USAGE = (
    "Usage: show dynamicportrange [protocol=]tcp|udp\r\n\r\n"
    "Parameters:\r\n\r\n"
    "       Tag            Value\r\n"
    "       protocol     - One of the following values:\r\n"
    "                      tcp: TCP port range.\r\n"
    "                      udp: UDP port range.\r\n\r\n"
    "Remarks: Shows dynamic port range configuration parameters.\r\n\r\n"
    "Example:\r\n\r\n"
    "       show dynamicportrange tcp\r\n\r\n"
)
_DYN_SET_USAGE = (
    "Usage: set dynamicportrange [protocol=]tcp|udp [startport=]<integer>\r\n"
    "             [numberofports=]<integer> [[store=]active|persistent]\r\n\r\n"
    "Parameters:\r\n\r\n"
    "       Tag            Value\r\n"
    "       protocol     - One of the following values:\r\n"
    "                      tcp: TCP port range.\r\n"
    "                      udp: UDP port range.\r\n"
    "       startport    - Starting port number of the range.\r\n"
    "       numberofports- Number of ports in the range.\r\n"
    "       store        - One of the following values:\r\n"
    "                      active: Change only lasts until next boot.\r\n"
    "                      persistent: Change is persistent (default).\r\n\r\n"
    "Remarks: Changes dynamic port range configuration parameters.\r\n\r\n"
    "Example:\r\n\r\n"
    "       set dynamicportrange tcp startport=5000 numberofports=1000\r\n\r\n"
)
_EX_SHOW_USAGE = (
    "Usage: show excludedportrange [protocol=]tcp|udp [[store=]active|persistent]\r\n\r\n"
    "Parameters:\r\n\r\n"
    "       Tag            Value\r\n"
    "       protocol     - One of the following values:\r\n"
    "                      tcp: TCP port range.\r\n"
    "                      udp: UDP port range.\r\n"
    "       store        - One of the following values:\r\n"
    "                      active: Show only active exclusions.\r\n"
    "                      persistent: Show persistent exclusions.\r\n\r\n"
    "Remarks: Shows all excluded port ranges.\r\n\r\n"
)


def _protocol(value: str | None) -> str | None:
    v = (value or "").lower()
    return v if v in ("tcp", "udp") else None


def _show_dynamic(ctx: Ctx, family: str, params: list[str]) -> Output:
    tags = _tags(params, ["protocol"])
    if tags is None:
        return Output().out(_text(ctx, "badparam") + "\r\n\r\n").exit(1)
    if "protocol" not in tags:
        return _usage_missing(ctx, _DYN_SHOW_USAGE)
    proto = _protocol(tags["protocol"])
    if proto is None:
        return Output().out(_text(ctx, "badparam") + "\r\n\r\n").exit(1)
    r = ctx.host.ranges[f"{family} {proto}"]
    start_label = _text(ctx, "start")
    num_label = _text(ctx, "num")
    body = (
        "\r\n" + _text(ctx, "dyn_title", proto=proto) + "\r\n"
        + "-" * 33 + "\r\n"
        + f"{start_label:<16}: {r.start}\r\n"
        + f"{num_label:<16}: {r.num}\r\n\r\n"
    )
    return Output().out(body).exit(0)


def _number(value: str) -> int | None:
    try:
        return int(value, 10)
    except ValueError:
        return None


def _set_dynamic(ctx: Ctx, family: str, params: list[str]) -> Output:
    tags = _tags(params, ["protocol", "startport", "numberofports", "store"])
    if tags is None:
        return Output().out(_text(ctx, "badparam") + "\r\n\r\n").exit(1)
    if not {"protocol", "startport", "numberofports"} <= set(tags):
        return _usage_missing(ctx, _DYN_SET_USAGE)
    proto = _protocol(tags["protocol"])
    start = _number(tags["startport"])
    num = _number(tags["numberofports"])
    store = tags.get("store", "persistent").lower()
    bad = (
        proto is None or start is None or num is None or store not in ("active", "persistent")
        or num < 255 or start < 1025 or start + num - 1 > 65535
    )
    if bad:
        return Output().out(_text(ctx, "badparam") + "\r\n\r\n").exit(1)
    key = f"{family} {proto}"
    ctx.host.ranges[key] = PortRange(start, num)
    if store == "persistent":
        ctx.host.ranges_persistent[key] = PortRange(start, num)
    ctx.changed = True
    return Output().out(_text(ctx, "ok") + "\r\n\r\n").exit(0)


def _show_excluded(ctx: Ctx, family: str, params: list[str]) -> Output:
    tags = _tags(params, ["protocol", "store"])
    if tags is None:
        return Output().out(_text(ctx, "badparam") + "\r\n\r\n").exit(1)
    if "protocol" not in tags:
        return _usage_missing(ctx, _EX_SHOW_USAGE)
    proto = _protocol(tags["protocol"])
    if proto is None:
        return Output().out(_text(ctx, "badparam") + "\r\n\r\n").exit(1)
    seen: dict[tuple[int, int], bool] = {}
    for ex in ctx.host.excluded:
        if ex.protocol == proto:
            seen[(ex.start, ex.end)] = seen.get((ex.start, ex.end), False) or ex.administered
    rows = "".join(
        f"{start:>10}  {end:>10}" + ("     *" if admin else "") + "\r\n"
        for (start, end), admin in sorted(seen.items())
    )
    body = (
        "\r\n" + _text(ctx, "ex_title", proto=proto) + "\r\n\r\n"
        + _text(ctx, "ex_head") + "\r\n" + "----------    --------\r\n"
        + rows + "\r\n" + _text(ctx, "ex_foot") + "\r\n\r\n"
    )
    return Output().out(body).exit(0)


def _change_excluded(ctx: Ctx, family: str, verb: str, params: list[str]) -> Output:
    tags = _tags(params, ["protocol", "startport", "numberofports", "store"])
    if tags is None:
        return Output().out(_text(ctx, "badparam") + "\r\n\r\n").exit(1)
    if not {"protocol", "startport", "numberofports"} <= set(tags):
        return _usage_missing(ctx, "")
    proto = _protocol(tags["protocol"])
    start = _number(tags["startport"])
    num = _number(tags["numberofports"])
    if proto is None or start is None or num is None or num < 1 or start < 1 or start + num - 1 > 65535:
        return Output().out(_text(ctx, "badparam") + "\r\n\r\n").exit(1)
    end = start + num - 1
    if verb == "add":
        ctx.host.excluded.append(ExcludedRange(family, proto, start, end, administered=True))
    else:
        before = len(ctx.host.excluded)
        ctx.host.excluded = [e for e in ctx.host.excluded
                             if not (e.protocol == proto and e.start == start and e.end == end and e.administered)]
        if len(ctx.host.excluded) == before:
            # ERROR_NOT_FOUND (1168) system message
            return Output().out("Element not found.\r\n\r\n").exit(1)
    ctx.changed = True
    return Output().out(_text(ctx, "ok") + "\r\n\r\n").exit(0)
