"""The dashboard's chart: tasks done and failed per minute, as inline SVG.

Rendered on the server (no script, no CDN): one stacked bar per minute, done
below in green and failed above in red, with the peak on the y axis.
"""

from __future__ import annotations

from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 720, 160
LEFT, BOTTOM, TOP = 40, 20, 10


def _n(value: float) -> str:
    return f"{value:.1f}"


def throughput_svg(series: list[tuple[datetime, int, int]]) -> SafeString:
    """``series`` is (minute, done, failed), oldest first."""
    peak = max([done + failed for _, done, failed in series] + [1])
    plot_w, plot_h = WIDTH - LEFT - 5, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(series), 1)
    bars = []
    for i, (minute, done, failed) in enumerate(series):
        x = LEFT + i * step
        done_h = plot_h * done / peak
        failed_h = plot_h * failed / peak
        label = f"{minute:%H:%M} UTC: {done} done, {failed} failed"
        if done:
            bars.append((_n(x), _n(TOP + plot_h - done_h), _n(step * 0.8), _n(done_h), "symphra-done", label))
        if failed:
            bars.append((_n(x), _n(TOP + plot_h - done_h - failed_h), _n(step * 0.8), _n(failed_h),
                         "symphra-failed", label))
    rects = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{}</title></rect>',
        bars,
    )
    first, last = (series[0][0], series[-1][0]) if series else (None, None)
    return format_html(
        '<svg class="symphra-chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="Tasks done and failed per minute over the last hour">'
        '<line x1="{l}" y1="{base}" x2="{w}" y2="{base}" class="symphra-axis"/>'
        '<text x="{tx}" y="{ty}" class="symphra-label" text-anchor="end">{peak}</text>'
        '<text x="{tx}" y="{base}" class="symphra-label" text-anchor="end">0</text>'
        '<text x="{l}" y="{h}" class="symphra-label">{first}</text>'
        '<text x="{w}" y="{h}" class="symphra-label" text-anchor="end">{last} UTC</text>'
        "{rects}</svg>",
        w=WIDTH, h=HEIGHT, l=LEFT, base=TOP + plot_h, tx=LEFT - 4, ty=TOP + 8, peak=peak,
        first=f"{first:%H:%M}" if first else "", last=f"{last:%H:%M}" if last else "", rects=rects,
    )
