"""ONE self-contained HTML page for `portfleet diagnose --html`: inline CSS and SVG, no scripts,
no fonts or images fetched from anywhere, so it opens offline and can be mailed as one file.

Charts: how full each host's dynamic range is (stacked by TCP state, with the at-risk and
exhausted lines), and for each host in trouble, which processes hold the ports in which state.
Every text that came from a host is escaped.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Iterable, Sequence

from portfleet.diagnose import AT_RISK_FILL, EXHAUSTED_FILL, DiagnoseReport, HostDiagnosis, format_duration

STATE_COLORS = {
    "TIME_WAIT": "#f59e0b",
    "CLOSE_WAIT": "#ef4444",
    "BOUND": "#8b5cf6",
    "ESTABLISHED": "#3b82f6",
    "LISTENING": "#10b981",
}
OTHER_COLOR = "#94a3b8"
VERDICT_COLORS = {"exhausted": "#dc2626", "at_risk": "#d97706", "healthy": "#16a34a", "unknown": "#64748b"}
VERDICT_LABEL = {"exhausted": "Exhausted", "at_risk": "At risk", "healthy": "Healthy", "unknown": "Unknown"}

CSS = """
:root{--bg:#f6f7fb;--card:#fff;--ink:#0f172a;--muted:#64748b;--line:#e2e8f0}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
 font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:linear-gradient(120deg,#0f172a,#1e3a8a);color:#fff;padding:28px 40px 24px}
header h1{margin:0 0 4px;font-size:24px;font-weight:650;letter-spacing:-.01em}
header p{margin:0;color:#cbd5e1;font-size:13px}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
.chips{display:flex;gap:12px;flex-wrap:wrap;margin:18px 0 0}
.chip{background:rgba(255,255,255,.1);border:1px solid rgba(255,255,255,.18);border-radius:12px;
 padding:10px 16px;min-width:120px}
.chip b{display:block;font-size:26px;line-height:1.1}
.chip span{font-size:12px;color:#cbd5e1;text-transform:uppercase;letter-spacing:.06em}
section.card{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:20px 24px;
 margin:0 0 20px;box-shadow:0 1px 2px rgba(15,23,42,.04)}
h2{font-size:17px;margin:0 0 4px}
.sub{color:var(--muted);font-size:13px;margin:0 0 14px}
.legend{display:flex;gap:16px;flex-wrap:wrap;font-size:12px;color:var(--muted);margin:6px 0 0}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:-1px}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:inherit}
.host{border-left:6px solid var(--v);}
.host h3{margin:0;font-size:18px;display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.badge{background:var(--v);color:#fff;font-size:12px;font-weight:600;border-radius:999px;padding:2px 10px;
 text-transform:uppercase;letter-spacing:.05em}
.meta{color:var(--muted);font-size:13px;margin:2px 0 12px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:18px}
@media (max-width:820px){.grid{grid-template-columns:1fr}}
ul{margin:6px 0 0;padding-left:20px}
li{margin:3px 0}
.rec{background:#eff6ff;border:1px solid #bfdbfe;border-radius:10px;padding:10px 14px;margin:8px 0}
.rec.app{background:#fef2f2;border-color:#fecaca}
.rec b{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#1e40af}
.rec.app b{color:#b91c1c}
code,pre{font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#0f172a;color:#e2e8f0;border-radius:8px;padding:8px 12px;margin:8px 0 0;white-space:pre-wrap;
 word-break:break-all}
.warn{background:#fffbeb;border:1px solid #fde68a;border-radius:10px;padding:8px 14px;margin:8px 0;font-size:14px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:var(--muted);font-size:12.5px}
.failed td{color:#b91c1c}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:28px}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _state_color(state: str) -> str:
    return STATE_COLORS.get(state, OTHER_COLOR)


def _segments(by_state: dict[str, int]) -> list[tuple[str, int]]:
    known = [(s, by_state[s]) for s in STATE_COLORS if by_state.get(s)]
    other = sum(n for s, n in by_state.items() if s not in STATE_COLORS)
    return known + ([("other", other)] if other else [])


def legend(states: Iterable[str]) -> str:
    items = "".join(f'<span><i style="background:{_state_color(s)}"></i>{_e(s)}</span>' for s in states)
    return f'<div class="legend">{items}</div>'


def range_use_chart(hosts: Sequence[HostDiagnosis]) -> str:
    """Horizontal bar per host: its dynamic range, filled by state; lines at 60% and 95%."""
    rows = [h for h in hosts if not h.failed and h.main is not None and h.main.capacity]
    if not rows:
        return '<p class="note">No host could be measured.</p>'
    label_w, bar_w, right_w, row_h, top = 190, 560, 190, 34, 26
    width = label_w + bar_w + right_w
    height = top + row_h * len(rows) + 8
    out = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="Dynamic port range use per host">']
    for frac, label, color in ((AT_RISK_FILL, "at risk", "#d97706"), (EXHAUSTED_FILL, "exhausted", "#dc2626")):
        x = label_w + bar_w * frac
        out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 4}" stroke="{color}" '
                   f'stroke-dasharray="4 3" stroke-width="1.2"/>')
        out.append(f'<text x="{x:.1f}" y="{top - 10}" font-size="11" fill="{color}" text-anchor="middle">'
                   f'{int(frac * 100)}% {label}</text>')
    for i, h in enumerate(rows):
        main = h.main
        assert main is not None
        y = top + i * row_h
        color = VERDICT_COLORS[h.verdict]
        out.append(f'<g class="host-row" data-host="{_e(h.name)}" data-verdict="{_e(h.verdict)}">')
        out.append(f'<circle cx="10" cy="{y + 13}" r="5" fill="{color}"/>')
        out.append(f'<text x="22" y="{y + 17.5}" font-size="13" fill="#0f172a">{_e(_clip(h.name, 22))}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="20" rx="4" fill="#eef2f7"/>')
        x = float(label_w)
        for state, n in _segments(main.by_state):
            w = bar_w * min(n / main.capacity, 1.0)
            w = min(w, label_w + bar_w - x)
            if w <= 0:
                continue
            out.append(f'<rect x="{x:.2f}" y="{y + 3}" width="{w:.2f}" height="20" fill="{_state_color(state)}">'
                       f'<title>{_e(h.name)}: {n:,} ports {_e(state)}</title></rect>')
            x += w
        out.append(f'<text x="{label_w + bar_w + 10}" y="{y + 17.5}" font-size="13" fill="#0f172a">'
                   f'<tspan font-weight="700" fill="{color}">{main.fill:.0%}</tspan>'
                   f'<tspan fill="#64748b"> {main.in_use:,} / {main.capacity:,}</tspan></text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def process_chart(h: HostDiagnosis, limit: int = 6, *, compact: bool = False) -> str:
    """One bar per top process, split by TCP state, scaled to the biggest holder."""
    procs = [p for p in h.processes if p.ports][:limit]
    if not procs:
        return '<p class="note">No process holds ports of the dynamic range.</p>'
    biggest = max(p.ports for p in procs)
    label_w, bar_w, right_w, row_h = (190, 230, 70, 30) if compact else (220, 380, 90, 30)
    width = label_w + bar_w + right_w
    height = row_h * len(procs) + 6
    out = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="Ports by state per process on {_e(h.name)}">']
    for i, p in enumerate(procs):
        y = i * row_h
        name = p.name if p.pid <= 0 else f"{p.name} ({p.pid})"
        bold = ' font-weight="700"' if p.pid in h.leak_suspects else ""
        out.append(f'<g class="proc-row" data-process="{_e(p.name)}">')
        out.append(f'<text x="0" y="{y + 18}" font-size="12.5" fill="#0f172a"{bold}>{_e(_clip(name, 30))}</text>')
        total = sum(p.by_state.values()) or 1
        x = float(label_w)
        span = bar_w * p.ports / biggest
        for state, n in _segments(p.by_state):
            w = span * n / total
            out.append(f'<rect x="{x:.2f}" y="{y + 5}" width="{max(w, 0.8):.2f}" height="18" fill="{_state_color(state)}">'
                       f'<title>{_e(p.name)}: {n:,} {_e(state)}</title></rect>')
            x += w
        out.append(f'<text x="{label_w + span + 8:.1f}" y="{y + 18}" font-size="12" fill="#475569">{p.ports:,}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def sparkline(h: HostDiagnosis) -> str:
    """--watch samples: ports in use over time, against the line where the range is full."""
    t = h.trend
    if t is None or len(t.points) < 2:
        return ""
    w, hgt, pad = 340, 86, 8
    ys = [n for _, n in t.points]
    top = max(max(ys), t.capacity, 1)
    bottom = max(0, min(ys) - (top - min(ys)) * 0.15)
    scale = max(top - bottom, 1)
    t0, t1 = t.points[0][0], t.points[-1][0]
    span = max((t1 - t0).total_seconds(), 1e-9)

    def y(n: float) -> float:
        return hgt - pad - (hgt - 2 * pad) * (n - bottom) / scale

    pts = " ".join(f"{pad + (w - 2 * pad) * (at - t0).total_seconds() / span:.1f},{y(n):.1f}" for at, n in t.points)
    eta = "no growth" if t.exhaustion_in_s is None else f"full in ~{format_duration(t.exhaustion_in_s)}"
    slope = "" if t.slope_per_min is None else f"{t.slope_per_min:+,.1f} ports/min, "
    full = y(t.capacity)
    return (f'<h2 style="margin-top:14px">Trend</h2><svg class="trend" viewBox="0 0 {w} {hgt}" width="{w}" '
            f'height="{hgt}" role="img" aria-label="ports in use over time">'
            f'<rect width="{w}" height="{hgt}" rx="8" fill="#f1f5f9"/>'
            f'<line x1="{pad}" x2="{w - pad}" y1="{full:.1f}" y2="{full:.1f}" stroke="#dc2626" stroke-dasharray="4 3"/>'
            f'<text x="{pad + 4}" y="{full + 12:.1f}" font-size="10" fill="#dc2626">'
            f'range full ({t.capacity:,})</text>'
            f'<polyline points="{pts}" fill="none" stroke="#2563eb" stroke-width="2.4" stroke-linejoin="round"/></svg>'
            f'<div class="note">{len(t.points)} samples from {ys[0]:,} to {ys[-1]:,} ports: {_e(slope)}{_e(eta)}</div>')


def _when(iso: str) -> str:
    """'2026-11-21T03:00:00+00:00' -> '2026-11-21 03:00 UTC'; a date without zone is the host's clock."""
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if at.tzinfo is None:
        return at.strftime("%Y-%m-%d %H:%M") + " host time"
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def host_card(h: HostDiagnosis) -> str:
    color = VERDICT_COLORS[h.verdict]
    main = h.main
    meta = [x for x in (h.address, h.os_label, h.os_version and f"build {h.os_version}",
                        h.netstat_flags and f"netstat {h.netstat_flags}") if x]
    if h.timed_wait_delay is not None:
        meta.append(f"TcpTimedWaitDelay {h.timed_wait_delay} s{'' if h.timed_wait_configured else ' (default)'}")
    parts = [f'<section class="card host" style="--v:{color}" id="host-{_e(h.name)}">',
             f'<h3>{_e(h.name)} <span class="badge">{VERDICT_LABEL[h.verdict]}</span></h3>',
             f'<div class="meta">{_e(" · ".join(meta))}</div>', '<div class="grid"><div>',
             "<h2>Evidence</h2><ul>", *(f"<li>{_e(x)}</li>" for x in h.evidence), "</ul>"]
    if h.events:
        parts.append("<h2 style='margin-top:14px'>System events</h2><ul>")
        for eid, n in sorted(h.events.items(), reverse=True):
            latest = next((ev for ev in h.last_events if ev["id"] == eid), None)
            when = f", latest {_when(latest['at'])}" if latest and latest.get("at") else ""
            text = f": {latest['message']}" if latest and latest.get("message") else ""
            parts.append(f"<li><b>{eid}</b> ×{n}{_e(when)}{_e(text)}</li>")
        parts.append("</ul>")
    elif not h.events_readable:
        parts.append('<p class="note">The System event log could not be read on this host.</p>')
    parts.append(sparkline(h))
    parts.append("</div><div><h2>Who holds the ports</h2>")
    parts.append(process_chart(h, compact=True))
    if main is not None:
        parts.append(legend(s for s, _ in _segments(main.by_state)))
    if h.time_wait_remotes:
        remotes = ", ".join(f"{_e(r)} ({n:,})" for r, n in h.time_wait_remotes[:3])
        parts.append(f'<p class="note">TIME_WAIT towards: {remotes}</p>')
    parts.append("</div></div>")
    if h.recommendations:
        parts.append("<h2 style='margin-top:12px'>What to do</h2>")
        for r in h.recommendations:
            cls = "rec app" if r.kind == "fix_application" else "rec"
            label = {"fix_application": "fix the application", "widen_range": "widen the range",
                     "lower_timed_wait": "shorter TIME_WAIT", "exclude_ports": "reserve ports"}.get(r.kind, r.kind)
            cmd = f"<pre>{_e(r.command)}</pre>" if r.command else ""
            parts.append(f'<div class="{cls}"><b>{_e(label)}</b><div>{_e(r.text)}</div>{cmd}</div>')
    for w in h.warnings:
        parts.append(f'<div class="warn">⚠ {_e(w)}</div>')
    for n in h.notes:
        parts.append(f'<p class="note">{_e(n)}</p>')
    parts.append("</section>")
    return "".join(parts)


def render_html(report: DiagnoseReport) -> str:
    s = report.summary()
    when = report.generated_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    measured = [h for h in report.hosts if not h.failed]
    failed = [h for h in report.hosts if h.failed]
    trouble = [h for h in measured if h.verdict in ("exhausted", "at_risk")]
    states = sorted({st for h in measured if h.main for st, _ in _segments(h.main.by_state)},
                    key=lambda st: list(STATE_COLORS).index(st) if st in STATE_COLORS else 99)
    chips = "".join(
        f'<div class="chip" style="border-color:{VERDICT_COLORS.get(k, "#fff")}"><b>{s[k]}</b><span>{label}</span></div>'
        for k, label in (("exhausted", "exhausted"), ("at_risk", "at risk"), ("healthy", "healthy"),
                         ("unreachable", "not reached"))
    )
    src = " · ".join(x for x in (report.inventory and f"inventory {report.inventory}",
                                 report.playbook and f"playbook {report.playbook}",
                                 f"events of the last {report.days} days" if report.days else "event log skipped",
                                 f"{report.rounds} samples" if report.rounds > 1 else None) if x)
    body = [
        "<header><h1>Ephemeral port exhaustion report</h1>",
        f"<p>{_e(when)} · {s['hosts']} host(s) · {_e(src)}</p>",
        f'<div class="chips">{chips}</div></header><main>',
    ]
    for w in report.warnings:
        body.append(f'<div class="warn">⚠ {_e(w)}</div>')
    body += [
        '<section class="card"><h2>Dynamic port range use per host</h2>',
        '<p class="sub">Ports of the TCP dynamic range in use, by state, worst host first.</p>',
        range_use_chart(report.hosts), legend(states), "</section>",
    ]
    if trouble:
        body.append('<section class="card"><h2>States per top process</h2>'
                    '<p class="sub">Many CLOSE_WAIT or BOUND ports in one process are that application\'s leak; '
                    'TIME_WAIT is connection churn (owner gone, PID 0).</p>')
        for h in trouble:
            body.append(f"<h3 style='font-size:15px;margin:14px 0 6px'>{_e(h.name)}</h3>{process_chart(h)}")
        body.append(legend(STATE_COLORS) + "</section>")
    for h in [*trouble, *[h for h in measured if h not in trouble]]:
        body.append(host_card(h))
    if failed:
        body.append('<section class="card"><h2>Not reached</h2><table><tr><th>host</th><th>status</th><th>detail</th></tr>')
        for h in failed:
            body.append(f'<tr class="failed"><td>{_e(h.name)}</td><td>{_e(h.status)}</td><td>{_e(h.detail)}</td></tr>')
        body.append("</table></section>")
    body.append("<footer>portfleet diagnose · schema portfleet.diagnose/1 · "
                "learn.microsoft.com: Troubleshoot port exhaustion issues</footer></main>")
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>portfleet diagnose · {s['exhausted']} exhausted, {s['at_risk']} at risk</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_html(report: DiagnoseReport, path: Path | str) -> Path:
    target = Path(path)
    target.write_text(render_html(report), encoding="utf-8")
    return target
