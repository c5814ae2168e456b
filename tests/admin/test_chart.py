"""The dashboard's per-minute chart stays readable, bursts included."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from symphra_django.admin.chart import compact, nice_scale, scale_peak, throughput_svg

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def hour(counts: dict[int, tuple[int, int]]) -> list[tuple[datetime, int, int]]:
    """Sixty minutes from 09:00, (done, failed) as given, else none."""
    return [(START + timedelta(minutes=m), *counts.get(m, (0, 0))) for m in range(60)]


def bar_heights(svg: str, kind: str) -> list[float]:
    return [float(h) for h in re.findall(rf'height="([\d.]+)" class="symphra-{kind}"', svg)]


def y_labels(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]+)</text>', svg)


def test_the_y_axis_goes_to_a_round_number_in_three_or_four_steps():
    assert nice_scale(1) == (1, 1)
    assert nice_scale(7) == (8, 2)
    assert nice_scale(42) == (60, 20)
    assert nice_scale(1234) == (1500, 500)
    assert nice_scale(99_999) == (100_000, 25_000)
    for peak in range(1, 5000, 37):
        top, step = nice_scale(peak)
        assert top >= peak and top % step == 0 and top // step <= 4


def test_axis_labels_are_short():
    assert [compact(n) for n in (0, 950, 1000, 2500, 12_000, 1_500_000)] == ["0", "950", "1k", "2.5k", "12k", "1.5M"]


def test_a_steady_hour_is_scaled_to_its_busiest_minute():
    svg = str(throughput_svg(hour({m: (20 + m % 5, 1) for m in range(60)})))
    assert y_labels(svg)[:-2] == ["10", "20", "30"]
    assert "symphra-burst" not in svg


def test_a_burst_does_not_flatten_the_other_minutes():
    counts = dict.fromkeys(range(60), (20, 0))
    counts[30] = (12_400, 300)
    svg = str(throughput_svg(hour(counts)))
    assert scale_peak([20] * 59 + [12_700]) == 20
    assert y_labels(svg)[:-2] == ["5", "10", "15", "20"]
    done = bar_heights(svg, "done")
    assert min(done) > 100, "an ordinary minute fills the plot, not a pixel"
    assert re.search(r'class="symphra-label symphra-burst" text-anchor="middle">12.7k</text>', svg)
    assert "09:30 UTC: 12,400 done, 300 failed" in svg


def test_a_minute_with_a_single_task_stays_visible_beside_a_busy_one():
    svg = str(throughput_svg(hour({10: (1, 0), 11: (0, 1), 20: (5000, 0), 21: (4000, 0), 22: (4500, 0)})))
    assert min(bar_heights(svg, "done")) >= 1 and min(bar_heights(svg, "failed")) >= 1
    assert len(bar_heights(svg, "done")) == 4


def test_every_tenth_minute_is_named_on_the_time_axis():
    svg = str(throughput_svg(hour({})))
    assert re.findall(r'text-anchor="middle">(\d\d:\d\d)</text>', svg) == [f"09:{m:02}" for m in range(0, 60, 10)]
