"""Server-rendered SVG charts for the dashboard: no JavaScript, no front-end build. Pure:
data in, an SVG string out, every text escaped.

    bars("Points by month", ["2026-04", "2026-05"], {"issued": [9500, 1200]})
    line("Cost share", months, {"share": [0.01, 0.03]}, band=(0.02, 0.05), percent=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

W, H = 560, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 44
COLOURS = ("#2b6cb0", "#dd6b20", "#718096", "#38a169", "#805ad5", "#d53f8c")


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.1f}%"
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:,.0f}"


def _frame(title: str, labels: Sequence[str], top: float, percent: bool, kind: str) -> list[str]:
    plot_h = H - TOP - BOTTOM
    out = [
        f'<svg class="chart" data-chart="{escape(kind)}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {W} {H}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="600">{escape(title)}</text>',
    ]
    for k in range(5):
        value = top * k / 4
        y = TOP + plot_h - plot_h * k / 4
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{escape(_fmt(value, percent))}</text>"
        )
    step = (W - LEFT - RIGHT) / max(1, len(labels))
    every = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + step * (i + 0.5)
            out.append(
                f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" font-size="11" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return out


def _legend(series: Sequence[str]) -> list[str]:
    out = []
    x = LEFT
    for i, name in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        out.append(f'<rect x="{x}" y="{H - 16}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="{H - 7}" font-size="11">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def _top(values: Sequence[float]) -> float:
    peak = max([0.0, *values])
    return peak * 1.1 if peak > 0 else 1.0


def bars(title: str, labels: Sequence[str], series: dict[str, Sequence[float]]) -> str:
    """Grouped bars, one group per label."""
    top = _top([v for vs in series.values() for v in vs])
    out = _frame(title, labels, top, False, "bars")
    plot_h = H - TOP - BOTTOM
    step = (W - LEFT - RIGHT) / max(1, len(labels))
    width = step * 0.8 / max(1, len(series))
    for s, (name, values) in enumerate(series.items()):
        colour = COLOURS[s % len(COLOURS)]
        for i, value in enumerate(values):
            h = plot_h * max(0.0, value) / top
            x = LEFT + step * i + step * 0.1 + width * s
            out.append(
                f'<rect class="bar" data-series="{escape(name)}" data-value="{value:g}" '
                f'x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{width:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(name)} {escape(labels[i])}: {value:,.0f}'
                "</title></rect>"
            )
    return "\n".join([*out, *_legend(list(series)), "</svg>"])


def line(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    band: tuple[float, float] | None = None,
    target: float | None = None,
    percent: bool = False,
) -> str:
    """Lines with points; an optional shaded band (the 2–5% cost band) or target line."""
    known = [v for vs in series.values() for v in vs if v is not None]
    extra = [band[1]] if band else []
    top = _top([*known, *extra, *([target] if target is not None else [])])
    out = _frame(title, labels, top, percent, "line")
    plot_h = H - TOP - BOTTOM
    step = (W - LEFT - RIGHT) / max(1, len(labels))

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    if band:
        out.append(
            f'<rect class="band" x="{LEFT}" y="{y(band[1]):.1f}" '
            f'width="{W - LEFT - RIGHT}" height="{y(band[0]) - y(band[1]):.1f}" '
            'fill="#c6f6d5" opacity="0.6"/>'
        )
    if target is not None:
        out.append(
            f'<line class="target" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(target):.1f}" '
            f'y2="{y(target):.1f}" stroke="#38a169" stroke-dasharray="4 3"/>'
        )
    for s, (name, values) in enumerate(series.items()):
        colour = COLOURS[s % len(COLOURS)]
        points = [(LEFT + step * (i + 0.5), y(v), v) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for px, py, v in points:
            out.append(
                f'<circle class="point" data-series="{escape(name)}" data-value="{v:g}" '
                f'cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"><title>'
                f"{escape(_fmt(v, percent))}</title></circle>"
            )
    return "\n".join([*out, *_legend(list(series)), "</svg>"])
