"""The dashboard's chart: tasks done and failed per minute, as inline SVG.

Rendered on the server (no script, no CDN): one stacked bar per minute, done
below in green and failed above in red. It stays readable after a burst:

* the y axis goes up to a round number with three or four labelled grid
  lines (``2.5k``, ``10k``);
* a few minutes far above the rest (a burst) do not flatten the others: the
  axis is scaled to the rest, and the burst's bars reach the top with a gap
  across them and their total written above (``12.7k``);
* a minute with any task keeps a bar at least one pixel high;
* the x axis names every tenth minute.
"""

from __future__ import annotations

import math
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 720, 180
LEFT, RIGHT, BOTTOM, TOP = 44, 6, 22, 20
#: A minute is a burst, drawn cut, when it is this many times above the
#: busiest of the other minutes (all but the top 5 %).
BURST = 3
#: How far (pixels) a burst's bar rises above the plot.
OVERSHOOT = 7
#: A minute with tasks is never drawn lower than this (pixels).
MIN_BAR = 1.0
#: Minutes between two labels of the time axis.
TIME_LABEL_EVERY = 10


def _n(value: float) -> str:
    return f"{value:.1f}"


def nice_scale(peak: int) -> tuple[int, int]:
    """(top, step): the y axis's top, a round number (1, 2 or 5 times a power
    of ten, times the number of steps) at or above ``peak``, and its step,
    so that the axis has at most four labelled steps."""
    peak = max(1, peak)
    magnitude = 10 ** math.floor(math.log10(peak))
    for factor in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10):
        step = max(1, round(magnitude * factor))
        if step * 4 >= peak:
            return step * math.ceil(peak / step), step
    raise AssertionError("unreachable")  # pragma: no cover


def scale_peak(totals: list[int]) -> int:
    """What the y axis must reach: the busiest minute, unless a few minutes
    (at most 5 %, at least one) are more than :data:`BURST` times the
    busiest of the others; then that one, and the bursts are drawn cut."""
    busy = sorted(total for total in totals if total)
    if not busy:
        return 1
    rest = busy[: -max(1, len(busy) // 20)]
    typical = rest[-1] if rest else busy[-1]
    return busy[-1] if busy[-1] <= BURST * typical else typical


def compact(value: int) -> str:
    """``950``, ``1k``, ``2.5k``, ``12k``, ``1.5M``: an axis label."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if value >= size:
            text = f"{value / size:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return str(value)


def throughput_svg(series: list[tuple[datetime, int, int]]) -> SafeString:
    """``series`` is (minute, done, failed), oldest first."""
    totals = [done + failed for _, done, failed in series]
    peak = max([*totals, 1])
    top, step = nice_scale(scale_peak(totals))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    base = TOP + plot_h
    slot = plot_w / max(len(series), 1)

    def height(value: int, total: int) -> float:
        # A burst sticks out above the plot, split between done and failed as it was.
        scale = plot_h / top if total <= top else (plot_h + OVERSHOOT) / total
        return max(MIN_BAR, value * scale) if value else 0.0

    bars, bursts = [], []
    for i, (minute, done, failed) in enumerate(series):
        x = LEFT + i * slot
        total = done + failed
        done_h, failed_h = height(done, total), height(failed, total)
        label = f"{minute:%H:%M} UTC: {done:,} done, {failed:,} failed"
        if done:
            bars.append((_n(x), _n(base - done_h), _n(slot * 0.8), _n(done_h), "symphra-done", label))
        if failed:
            bars.append((_n(x), _n(base - done_h - failed_h), _n(slot * 0.8), _n(failed_h),
                         "symphra-failed", label))
        if total > top:
            bursts.append((_n(x - 1), _n(TOP - 1), _n(slot * 0.8 + 2), _n(x + slot * 0.4),
                           _n(TOP - OVERSHOOT - 3), compact(total)))
    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="symphra-grid"/>'
        '<text x="{}" y="{}" class="symphra-label" text-anchor="end">{}</text>',
        [
            (LEFT, _n(y), WIDTH - RIGHT, _n(y), LEFT - 4, _n(y + 3), compact(value))
            for value in range(step, top + 1, step)
            for y in [base - plot_h * value / top]
        ],
    )
    times = format_html_join(
        "",
        '<text x="{}" y="{}" class="symphra-label" text-anchor="middle">{}</text>',
        [
            (_n(LEFT + (i + 0.4) * slot), HEIGHT - 6, f"{minute:%H:%M}")
            for i, (minute, _, _) in enumerate(series)
            if minute.minute % TIME_LABEL_EVERY == 0
        ],
    )
    rects = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{}</title></rect>',
        bars,
    )
    cuts = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="3" class="symphra-cut"/>'
        '<text x="{}" y="{}" class="symphra-label symphra-burst" text-anchor="middle">{}</text>',
        bursts,
    )
    return format_html(
        '<svg class="symphra-chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="Tasks done and failed per minute over the last hour (UTC), at most {peak} a minute">'
        "{grid}"
        '<line x1="{l}" y1="{base}" x2="{r}" y2="{base}" class="symphra-axis"/>'
        '<text x="{tx}" y="{ty}" class="symphra-label" text-anchor="end">0</text>'
        "{times}"
        '<text x="{r}" y="{th}" class="symphra-label" text-anchor="end">UTC</text>'
        "{rects}{cuts}</svg>",
        w=WIDTH, h=HEIGHT, l=LEFT, r=WIDTH - RIGHT, base=_n(base), tx=LEFT - 4, ty=_n(base + 3),
        th=HEIGHT - 6, peak=f"{peak:,}", grid=grid, times=times, rects=rects, cuts=cuts,
    )
