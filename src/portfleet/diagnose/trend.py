"""The --watch projection: the slope of ports in use over the rounds, and when the range is full."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from portfleet.diagnose.model import HostDiagnosis, Trend


def trend_of(points: Sequence[tuple[datetime, int]], capacity: int) -> Trend:
    """Least-squares slope of ports in use; the range is full at capacity, if the slope holds."""
    trend = Trend(points=list(points), capacity=capacity)
    if len(points) < 2:
        return trend
    t0 = points[0][0]
    xs = [(t - t0).total_seconds() for t, _ in points]
    ys = [float(n) for _, n in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var <= 0:
        return trend
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var  # ports per second
    trend.slope_per_min = slope * 60
    if slope > 0 and capacity > 0:
        trend.exhaustion_in_s = max(capacity - ys[-1], 0) / slope
    return trend


def apply_trend(d: HostDiagnosis, trend: Trend) -> None:
    d.trend = trend
    if trend.exhaustion_in_s is None or d.failed:
        return
    eta = trend.exhaustion_in_s
    text = (f"ports in use grow by {trend.slope_per_min:,.1f}/min: the range is full in about "
            f"{format_duration(eta)} at this pace")
    if eta <= 24 * 3600 and text not in d.evidence:
        d.evidence.append(text)
        if d.verdict == "healthy":
            d.verdict = "at_risk"


def format_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days"
