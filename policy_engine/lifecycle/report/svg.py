"""Inline SVG charts drawn by hand: horizontal bars, stacked columns per day, stacked bars, a timeline strip.

Every function returns an ``<svg>`` element as text, ready to inline in HTML. Labels are escaped; numbers
are formatted with a fixed precision, so the same data always gives the same bytes. Hover titles
(``<title>``) carry exact values; no script is needed to read them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

__all__ = ["PALETTE", "bar_chart", "color_map", "nice_scale", "stacked_bars", "stacked_columns",
           "timeline_strip"]

PALETTE: Final = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16",
                  "#64748b", "#d97706", "#0d9488", "#7c3aed")
FONT: Final = "font-family='system-ui, sans-serif' font-size='12'"
AXIS: Final = "#94a3b8"
GRID: Final = "#e2e8f0"


def _f(x: float) -> str:
    """A coordinate with at most one decimal, without a trailing '.0'."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def color_map(names: Sequence[str]) -> dict[str, str]:
    """A fixed colour per name (sorted, so both sides of a comparison agree)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(names)))}


def nice_scale(maximum: int) -> tuple[int, int]:
    """``(top, step)``: an axis top >= ``maximum`` and a round tick step (1, 2, 5 x 10^k), about 4 ticks."""
    if maximum <= 0:
        return 1, 1
    raw = max(1.0, maximum / 4)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return int(step * math.ceil(maximum / step)), int(step)


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' "
            f"height='{height}' role='img' aria-label='{escape(label)}' {FONT}>" + "".join(body) + "</svg>")


def _empty(width: int, label: str) -> str:
    return _svg(width, 40, label, [f"<text x='8' y='24' fill='{AXIS}'>nothing to show</text>"])


def bar_chart(items: Sequence[tuple[str, int]], label: str, color: str = PALETTE[0], width: int = 520,
              scale_top: int | None = None) -> str:
    """Horizontal bars, one per ``(name, value)``, in the given order; ``scale_top``: the largest value the scale
    must hold (charts shown side by side pass the same one, so their bars compare)."""
    if not items:
        return _empty(width, label)
    left, bar_h, gap = 170, 18, 6
    plot = width - left - 50
    top_value, _ = nice_scale(max([v for _, v in items] + [scale_top or 0]))
    height = len(items) * (bar_h + gap) + gap
    body: list[str] = []
    for i, (name, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = plot * value / top_value
        body.append(f"<text x='{left - 6}' y='{y + 13}' text-anchor='end'>{escape(_clip(name, 26))}</text>"
                    f"<rect x='{left}' y='{y}' width='{_f(w)}' height='{bar_h}' fill='{color}' rx='2'>"
                    f"<title>{escape(name)}: {value}</title></rect>"
                    f"<text x='{_f(left + w + 4)}' y='{y + 13}'>{value}</text>")
    return _svg(width, height, label, body)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


LEGEND_ROW = 16


def _legend(names: Sequence[str], colors: Mapping[str, str], x: int, y: int, width: int) -> tuple[list[str], int]:
    """Legend entries, wrapped onto more rows when they do not fit in ``width``; also the extra height used."""
    out: list[str] = []
    start = x
    for name in names:
        step = 24 + 7 * len(name)
        if x > start and x + step > width:
            x, y = start, y + LEGEND_ROW
        out.append(f"<rect x='{x}' y='{y - 9}' width='10' height='10' fill='{colors[name]}'/>"
                   f"<text x='{x + 14}' y='{y}'>{escape(name)}</text>")
        x += step
    rows_extra = (y - 12) // LEGEND_ROW * LEGEND_ROW
    return out, rows_extra


def stacked_columns(labels: Sequence[str], series: Mapping[str, Sequence[int]], colors: Mapping[str, str],
                    label: str, width: int = 560, height: int = 240, scale_top: int | None = None) -> str:
    """Stacked columns: one column per label (e.g. a day), one stacked segment per series (e.g. channel);
    ``scale_top``: the largest column total the y-axis must hold (shared by charts shown side by side)."""
    names = [n for n in sorted(series) if any(series[n])]
    if not labels or not names:
        return _empty(width, label)
    left, right, top, bottom = 40, 10, 24, 34
    body, extra = _legend(names, colors, left, 12, width - right)
    top += extra
    height += extra
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(series[n][i] for n in names) for i in range(len(labels))]
    top_value, step = nice_scale(max([*totals, scale_top or 0]))
    for tick in range(0, top_value + 1, step):
        y = top + plot_h - plot_h * tick / top_value
        body.append(f"<line x1='{left}' x2='{width - right}' y1='{_f(y)}' y2='{_f(y)}' stroke='{GRID}'/>"
                    f"<text x='{left - 4}' y='{_f(y + 4)}' text-anchor='end' fill='{AXIS}'>{tick}</text>")
    slot = plot_w / len(labels)
    bar_w = max(1.0, slot * 0.7)
    every = max(1, math.ceil(len(labels) / 12))
    for i, day in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for name in names:
            value = series[name][i]
            if not value:
                continue
            h = plot_h * value / top_value
            y -= h
            body.append(f"<rect x='{_f(x)}' y='{_f(y)}' width='{_f(bar_w)}' height='{_f(h)}' "
                        f"fill='{colors[name]}'><title>{escape(day)} {escape(name)}: {value}</title></rect>")
        if i % every == 0:
            body.append(f"<text x='{_f(x + bar_w / 2)}' y='{height - bottom + 14}' text-anchor='middle' "
                        f"fill='{AXIS}'>{escape(day)}</text>")
    axis_y = top + plot_h
    body.append(f"<line x1='{left}' x2='{width - right}' y1='{axis_y}' y2='{axis_y}' stroke='{AXIS}'/>")
    return _svg(width, height, label, body)


def stacked_bars(rows: Sequence[tuple[str, Mapping[str, int]]], colors: Mapping[str, str], label: str,
                 width: int = 560, scale_top: int | None = None) -> str:
    """Horizontal stacked bars: one bar per row (e.g. a stage), segments per key (e.g. a segment); ``scale_top``:
    the largest bar the scale must hold (shared by charts shown side by side)."""
    if not rows:
        return _empty(width, label)
    names = sorted({k for _, parts in rows for k, v in parts.items() if v})
    left, bar_h, gap, top = 130, 18, 6, 22
    plot = width - left - 50
    top_value, _ = nice_scale(max([sum(parts.values()) for _, parts in rows] + [scale_top or 0]))
    body, extra = _legend(names, colors, left, 12, width - 10)
    top += extra
    for i, (row, parts) in enumerate(rows):
        y = top + gap + i * (bar_h + gap)
        x = float(left)
        body.append(f"<text x='{left - 6}' y='{y + 13}' text-anchor='end'>{escape(_clip(row, 18))}</text>")
        for name in names:
            value = parts.get(name, 0)
            if not value:
                continue
            w = plot * value / top_value
            body.append(f"<rect x='{_f(x)}' y='{y}' width='{_f(w)}' height='{bar_h}' fill='{colors[name]}'>"
                        f"<title>{escape(row)} / {escape(name)}: {value}</title></rect>")
            x += w
        body.append(f"<text x='{_f(x + 4)}' y='{y + 13}'>{sum(parts.values())}</text>")
    height = top + len(rows) * (bar_h + gap) + gap
    return _svg(width, height, label, body)


def timeline_strip(days: Sequence[str], lanes: Sequence[str], marks: Mapping[tuple[int, str], int],
                   held: Sequence[bool], colors: Mapping[str, str], label: str, width: int = 560) -> str:
    """One lane per channel, one column per day: a dot where contacts were made, grey where a hold was on."""
    if not days:
        return _empty(width, label)
    left, lane_h, top = 70, 16, 4
    slot = (width - left - 8) / len(days)
    height = top + max(1, len(lanes)) * lane_h + 18
    body: list[str] = []
    for i, is_held in enumerate(held):
        if is_held:
            body.append(f"<rect x='{_f(left + i * slot)}' y='{top}' width='{_f(slot)}' "
                        f"height='{max(1, len(lanes)) * lane_h}' fill='#e5e7eb'><title>{escape(days[i])}: "
                        "hold</title></rect>")
    for j, lane in enumerate(lanes):
        y = top + j * lane_h + lane_h / 2
        body.append(f"<text x='{left - 6}' y='{_f(y + 4)}' text-anchor='end'>{escape(lane)}</text>"
                    f"<line x1='{left}' x2='{width - 8}' y1='{_f(y)}' y2='{_f(y)}' stroke='{GRID}'/>")
        for i in range(len(days)):
            n = marks.get((i, lane), 0)
            if n:
                body.append(f"<circle cx='{_f(left + (i + 0.5) * slot)}' cy='{_f(y)}' r='{min(6, 3 + n)}' "
                            f"fill='{colors.get(lane, PALETTE[0])}'><title>{escape(days[i])} {escape(lane)}: "
                            f"{n}</title></circle>")
    every = max(1, math.ceil(len(days) / 8))
    base = top + max(1, len(lanes)) * lane_h + 13
    for i in range(0, len(days), every):
        body.append(f"<text x='{_f(left + (i + 0.5) * slot)}' y='{base}' text-anchor='middle' fill='{AXIS}'>"
                    f"{escape(days[i])}</text>")
    return _svg(width, height, label, body)
