"""Hand-built SVG charts for the HTML report.

Every chart is a string of inline SVG: no JavaScript, no fonts, no network.
Every data point is one element carrying ``data-chart`` and ``data-*`` attributes
with its raw values (and a ``<title>`` tooltip), so a browser test can count
the points and an analyst can hover them.  All text goes through :func:`esc`.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

FONT = 11  # px; labels are estimated at 0.6 em per character (sans-serif)
INK = "#1d2733"
MUTED = "#5f6b7a"
GRID = "#e3e7ed"

TIER_COLOURS = {
    "domestic": "#1b4f72",
    "ally": "#2e86c1",
    "partner": "#45a39a",
    "neutral": "#d4a017",
    "concern": "#c0392b",
}
EXTRA_COLOURS = ("#7d3c98", "#a04000", "#839192", "#117864", "#b03a2e", "#5b2c6f")
CASE_COLOURS = {"baseline": "#8a949f", "cost_only": "#e08a1e", "friendshored": "#1f5fa8"}
SERIES_COLOURS = ("#1f5fa8", "#e08a1e", "#2e8b57", "#c0392b", "#7d3c98", "#8c564b", "#17becf", "#7f7f7f")


def esc(text: object) -> str:
    """Escape any value for HTML/SVG text or a double-quoted attribute."""
    return html.escape(str(text), quote=True)


def num(v: float) -> str:
    """A coordinate, short."""
    return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v - round(v)) > 1e-9 else str(int(round(v)))


def attrs(d: dict[str, object]) -> str:
    """``data-x="..."`` pairs, escaped; floats keep full precision."""
    out = []
    for k, v in d.items():
        if isinstance(v, float):
            v = repr(v) if math.isfinite(v) else ""
        out.append(f' {k}="{esc(v)}"')
    return "".join(out)


def text_width(s: str, size: float = FONT) -> float:
    return 0.6 * size * len(s)


def svg(width: float, height: float, body: str, label: str, cls: str = "chart") -> str:
    """An SVG element that scales down with its container and keeps its aspect."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{esc(cls)}" viewBox="0 0 {num(width)} {num(height)}" '
        f'width="{num(width)}" height="{num(height)}" role="img" aria-label="{esc(label)}" '
        f'font-size="{FONT}">{body}</svg>'
    )


def txt(x: float, y: float, s: str, anchor: str = "start", cls: str = "", size: float | None = None,
        fill: str | None = None, weight: str | None = None) -> str:
    extra = f' class="{cls}"' if cls else ""
    extra += f' font-size="{num(size)}"' if size else ""
    extra += f' fill="{fill or INK}"'  # an attribute, so page CSS cannot override white-on-dark labels
    extra += f' font-weight="{weight}"' if weight else ""
    return f'<text x="{num(x)}" y="{num(y)}" text-anchor="{anchor}"{extra}>{esc(s)}</text>'


def tier_colour(tier: str, order: Sequence[str] = ()) -> str:
    if tier in TIER_COLOURS:
        return TIER_COLOURS[tier]
    extra = [t for t in order if t not in TIER_COLOURS]
    k = extra.index(tier) if tier in extra else sum(map(ord, tier))  # stable across runs
    return EXTRA_COLOURS[k % len(EXTRA_COLOURS)]


def case_colour(case: str) -> str:
    return CASE_COLOURS.get(case, "#6c3483")


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about n of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else [0.0]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-6:
        ticks.append(round(v, 12))
        v += step
    return ticks


def ramp(t: float, stops: Sequence[str]) -> str:
    """Colour at t in [0, 1] along hex colour stops (linear in RGB)."""
    t = min(max(t, 0.0), 1.0) * (len(stops) - 1)
    k = min(int(t), len(stops) - 2)
    f = t - k
    a, b = stops[k], stops[k + 1]
    rgb = [round(int(a[i:i + 2], 16) * (1 - f) + int(b[i:i + 2], 16) * f) for i in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


BLUES = ("#f3f6fa", "#c6dbef", "#6baed6", "#2171b5", "#08306b")
REDS = ("#fdf3f0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d")


def dark(colour: str) -> bool:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b < 140


def spread_labels(ys: list[float], gap: float, top: float, bottom: float) -> list[float]:
    """Move label centres apart by at least ``gap``, keeping them within [top, bottom] where possible."""
    order = sorted(range(len(ys)), key=lambda k: ys[k])
    out = list(ys)
    prev = -math.inf
    for k in order:
        out[k] = max(out[k], prev + gap, top)
        prev = out[k]
    nxt = math.inf
    for k in reversed(order):
        out[k] = min(out[k], nxt - gap, max(bottom, top))
        nxt = out[k]
    return out


# --------------------------------------------------------------------------- Sankey
@dataclass(frozen=True)
class Flow:
    source: str
    target: str
    value: float
    colour: str
    title: str
    data: dict[str, object] = field(default_factory=dict)


def sankey(
    flows: Sequence[Flow],
    *,
    sources: Sequence[str],
    targets: Sequence[str],
    source_labels: dict[str, str],
    target_labels: dict[str, str],
    source_colours: dict[str, str],
    scale: float,
    height: float,
    width: float = 380,
    label: str = "",
    chart: str = "sankey",
) -> str:
    """Two-column Sankey: ``sources`` on the left, ``targets`` on the right, band width = value x scale."""
    pad, node_w, top = 6.0, 10.0, 8.0
    left_w = max([text_width(s) for s in source_labels.values()] + [40]) + 10
    right_w = max([text_width(s) for s in target_labels.values()] + [30]) + 10
    x0, x1 = left_w, width - right_w - node_w
    out_tot = {s: 0.0 for s in sources}
    in_tot = {t: 0.0 for t in targets}
    for f in flows:
        out_tot[f.source] += f.value
        in_tot[f.target] += f.value

    def stack(keys, tot):
        hs = {k: max(tot[k] * scale, 1.0) for k in keys}
        span = sum(hs.values()) + pad * max(len(keys) - 1, 0)
        y = top + max(0.0, (height - 2 * top - span) / 2)
        pos = {}
        for k in keys:
            pos[k] = y
            y += hs[k] + pad
        return pos, hs

    sy, sh = stack([s for s in sources if out_tot[s] > 0], out_tot)
    ty, th = stack([t for t in targets if in_tot[t] > 0], in_tot)
    s_off = dict(sy)
    t_off = dict(ty)
    src_rank = {s: k for k, s in enumerate(sources)}
    tgt_rank = {t: k for k, t in enumerate(targets)}
    parts = []
    # Bands leave each source in target order and enter each target in source order, so they do not cross needlessly.
    by_src = sorted(flows, key=lambda f: (src_rank[f.source], tgt_rank[f.target]))
    enter: dict[tuple[str, str], float] = {}
    for f in sorted(flows, key=lambda f: (tgt_rank[f.target], src_rank[f.source])):
        enter[f.source, f.target] = t_off[f.target]
        t_off[f.target] += f.value * scale
    xm = (x0 + node_w + x1) / 2
    for f in by_src:
        h = max(f.value * scale, 0.6)
        ya = s_off[f.source]
        s_off[f.source] += f.value * scale
        yb = enter[f.source, f.target]
        a, b = x0 + node_w, x1
        d = (f"M{num(a)},{num(ya)}C{num(xm)},{num(ya)} {num(xm)},{num(yb)} {num(b)},{num(yb)}"
             f"L{num(b)},{num(yb + h)}C{num(xm)},{num(yb + h)} {num(xm)},{num(ya + h)} {num(a)},{num(ya + h)}Z")
        parts.append(f'<path class="band" d="{d}" fill="{f.colour}"{attrs({"data-chart": chart, **f.data})}>'
                     f"<title>{esc(f.title)}</title></path>")
    src_lab_y = spread_labels([sy[s] + sh[s] / 2 for s in sy], FONT + 1, top + 4, height - top - 2)
    for (s, y), ly in zip(sy.items(), src_lab_y):
        parts.append(f'<rect x="{num(x0)}" y="{num(y)}" width="{num(node_w)}" height="{num(sh[s])}" '
                     f'fill="{source_colours.get(s, MUTED)}"/>')
        parts.append(txt(x0 - 5, ly + 4, source_labels.get(s, s), "end"))
    tgt_lab_y = spread_labels([ty[t] + th[t] / 2 for t in ty], FONT + 1, top + 4, height - top - 2)
    for (t, y), ly in zip(ty.items(), tgt_lab_y):
        parts.append(f'<rect x="{num(x1)}" y="{num(y)}" width="{num(node_w)}" height="{num(th[t])}" fill="{INK}"/>')
        parts.append(txt(x1 + node_w + 5, ly + 4, target_labels.get(t, t), "start", weight="600"))
    return svg(width, height, "".join(parts), label, "chart sankey")


# --------------------------------------------------------------------------- heat map
def heatmap(
    rows: Sequence[str],
    cols: Sequence[str],
    values: dict[tuple[str, str], float],
    *,
    col_colours: dict[str, str],
    stops: Sequence[str] = BLUES,
    vmax: float = 1.0,
    fmt: Callable[[float], str] = lambda v: f"{100 * v:.0f}",
    show_min: float = 0.05,
    title_of: Callable[[str, str, float], str] = lambda r, c, v: f"{r}, {c}: {v:.3g}",
    data_of: Callable[[str, str, float], dict] = lambda r, c, v: {},
    label: str = "",
    chart: str = "heatmap",
    cell: tuple[float, float] = (22.0, 20.0),
    empty: Iterable[tuple[str, str]] = (),
) -> str:
    """Rows x columns of cells coloured by value; only cells in ``values`` are data points.

    ``empty`` cells are drawn hatched-grey (e.g. "no qualified supplier"), without data attributes.
    """
    cw, ch = cell
    left = max([text_width(r) for r in rows] + [30]) + 8
    longest = max([text_width(c, 10) for c in cols] + [0.0])
    rotate = longest > cw - 3  # long column names are set at 60 degrees instead of overlapping
    top = 26.0 if not rotate else 14.0 + longest * 0.87
    width = left + cw * len(cols) + 4 + (longest * 0.5 if rotate else 0)
    height = top + ch * len(rows) + 4
    parts = []
    for k, c in enumerate(cols):
        x = left + k * cw
        parts.append(f'<rect x="{num(x + 1)}" y="{num(top - 24)}" width="{num(cw - 2)}" height="4" '
                     f'fill="{col_colours.get(c, MUTED)}"/>' if not rotate else
                     f'<rect x="{num(x + 1)}" y="{num(top - 5)}" width="{num(cw - 2)}" height="4" '
                     f'fill="{col_colours.get(c, MUTED)}"/>')
        if rotate:
            parts.append(f'<text transform="translate({num(x + cw / 2 + 3)} {num(top - 9)}) rotate(-60)" '
                         f'font-size="10" fill="{INK}">{esc(c)}</text>')
        else:
            parts.append(txt(x + cw / 2, top - 7, c, "middle", size=10))
    for r_k, r in enumerate(rows):
        y = top + r_k * ch
        parts.append(txt(left - 6, y + ch / 2 + 4, r, "end"))
        parts.append(f'<rect x="{num(left)}" y="{num(y)}" width="{num(cw * len(cols))}" height="{num(ch)}" '
                     f'fill="{"#fafbfc" if r_k % 2 else "#ffffff"}"/>')
    empty = set(empty)
    for r_k, r in enumerate(rows):
        for c_k, c in enumerate(cols):
            x, y = left + c_k * cw, top + r_k * ch
            if (r, c) in values:
                v = values[r, c]
                colour = ramp(v / vmax if vmax > 0 else 0.0, stops)
                parts.append(
                    f'<rect class="cell" x="{num(x + 1)}" y="{num(y + 1)}" width="{num(cw - 2)}" height="{num(ch - 2)}" '
                    f'rx="2" fill="{colour}"{attrs({"data-chart": chart, **data_of(r, c, v)})}>'
                    f"<title>{esc(title_of(r, c, v))}</title></rect>"
                )
                if v >= show_min:
                    parts.append(txt(x + cw / 2, y + ch / 2 + 3.5, fmt(v), "middle", size=9,
                                     fill="#ffffff" if dark(colour) else INK))
            elif (r, c) in empty:
                parts.append(f'<rect x="{num(x + 1)}" y="{num(y + 1)}" width="{num(cw - 2)}" height="{num(ch - 2)}" '
                             f'rx="2" fill="#eceff3"/>')
    return svg(width, height, "".join(parts), label, "chart heatmap")


# --------------------------------------------------------------------------- dot plots
@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str
    values: dict[str, float]
    hollow: bool = False


def dumbbell(
    rows: Sequence[str],
    series: Sequence[Series],
    *,
    x_max: float,
    fmt: Callable[[float], str],
    refs: dict[str, float] | None = None,
    ref_label: str = "",
    vline: tuple[float, str] | None = None,
    data_of: Callable[[str, str, float], dict] = lambda row, key, v: {},
    label: str = "",
    chart: str = "dots",
    width: float = 520,
) -> str:
    """One row per category, one dot per series; a grey bar joins the dots; optional per-row reference ticks."""
    row_h = 22.0
    left = max([text_width(r) for r in rows] + [30]) + 18  # room for a ring at 0 beside its label
    right = 14.0
    top, bottom = 8.0, 30.0
    height = top + row_h * len(rows) + bottom
    x_max = x_max if x_max > 0 else 1.0
    plot_w = width - left - right

    def X(v: float) -> float:
        return left + plot_w * min(max(v, 0.0), x_max) / x_max

    parts = []
    for t in nice_ticks(0.0, x_max, 5):
        if t > x_max + 1e-12:
            continue
        parts.append(f'<line x1="{num(X(t))}" x2="{num(X(t))}" y1="{num(top)}" y2="{num(height - bottom)}" stroke="{GRID}"/>')
        parts.append(txt(X(t), height - bottom + 14, fmt(t), "middle", fill=MUTED, size=10))
    if vline is not None:
        vx = X(vline[0])
        parts.append(f'<line x1="{num(vx)}" x2="{num(vx)}" y1="{num(top)}" y2="{num(height - bottom)}" '
                     f'stroke="{INK}" stroke-dasharray="4 3"/>')
        parts.append(txt(vx, height - 3, vline[1], "middle", size=10, fill=INK))
    for k, r in enumerate(rows):
        y = top + row_h * k + row_h / 2
        parts.append(txt(left - 8, y + 4, r, "end"))
        vals = [s.values[r] for s in series if r in s.values and math.isfinite(s.values[r])]
        if len(vals) > 1:
            parts.append(f'<line x1="{num(X(min(vals)))}" x2="{num(X(max(vals)))}" y1="{num(y)}" y2="{num(y)}" '
                         f'stroke="#c9d1db" stroke-width="4" stroke-linecap="round"/>')
        if refs and r in refs and math.isfinite(refs[r]):
            rx = X(refs[r])
            parts.append(f'<line x1="{num(rx)}" x2="{num(rx)}" y1="{num(y - 8)}" y2="{num(y + 8)}" stroke="{INK}" '
                         f'stroke-width="2"><title>{esc(f"{ref_label} {fmt(refs[r])}")}</title></line>')
        # Hollow series are drawn last as rings, so a dot at the same value stays visible inside.
        for s in sorted(series, key=lambda s: s.hollow):
            v = s.values.get(r)
            if v is None or not math.isfinite(v):
                continue
            fill = "none" if s.hollow else s.colour
            radius = "7.5" if s.hollow else "5.5"
            parts.append(
                f'<circle class="dot" cx="{num(X(v))}" cy="{num(y)}" r="{radius}" fill="{fill}" stroke="{s.colour}" '
                f'stroke-width="2"{attrs({"data-chart": chart, **data_of(r, s.key, v)})}>'
                f"<title>{esc(f'{r}, {s.label}: {fmt(v)}')}</title></circle>"
            )
    return svg(width, height, "".join(parts), label, "chart dots")


# --------------------------------------------------------------------------- bars
@dataclass(frozen=True)
class Segment:
    key: str
    value: float
    colour: str
    title: str
    data: dict[str, object] = field(default_factory=dict)
    label: str = ""


def stacked_bars(
    rows: Sequence[tuple[str, Sequence[Segment]]],
    *,
    x_max: float | None = None,
    fmt: Callable[[float], str],
    total_fmt: Callable[[float], str] | None = None,
    label: str = "",
    chart: str = "bars",
    width: float = 560,
    row_h: float = 26.0,
    bar_h: float = 16.0,
) -> str:
    """Horizontal stacked bars, one row each; segment labels drawn inside where they fit."""
    left = max([text_width(r) for r, _ in rows] + [30]) + 10
    totals = [sum(max(s.value, 0.0) for s in segs) for _, segs in rows]
    right = (max([text_width(total_fmt(t)) for t in totals] + [20]) + 14) if total_fmt else 14.0
    top, bottom = 6.0, 24.0
    height = top + row_h * len(rows) + bottom
    x_max = x_max if x_max else (max(totals) if totals and max(totals) > 0 else 1.0)
    plot_w = width - left - right

    def W(v: float) -> float:
        return plot_w * max(v, 0.0) / x_max

    parts = []
    for t in nice_ticks(0.0, x_max, 4):
        if t > x_max * (1 + 1e-9):
            continue
        x = left + W(t)
        parts.append(f'<line x1="{num(x)}" x2="{num(x)}" y1="{num(top)}" y2="{num(height - bottom)}" stroke="{GRID}"/>')
        parts.append(txt(x, height - bottom + 14, fmt(t), "middle", fill=MUTED, size=10))
    for k, (r, segs) in enumerate(rows):
        y = top + row_h * k + (row_h - bar_h) / 2
        parts.append(txt(left - 8, y + bar_h / 2 + 4, r, "end"))
        x = left
        for s in segs:
            w = W(s.value)
            parts.append(f'<rect class="seg" x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(bar_h)}" '
                         f'fill="{s.colour}"{attrs({"data-chart": chart, **s.data})}><title>{esc(s.title)}</title></rect>')
            if s.label and text_width(s.label, 10) + 6 < w:
                parts.append(txt(x + w / 2, y + bar_h / 2 + 3.5, s.label, "middle", size=10,
                                 fill="#ffffff" if dark(s.colour) else INK))
            x += w
        if total_fmt:
            parts.append(txt(x + 6, y + bar_h / 2 + 4, total_fmt(totals[k]), "start", fill=INK))
    return svg(width, height, "".join(parts), label, "chart bars")


def diverging_bars(
    rows: Sequence[tuple[str, float, dict]],
    *,
    fmt: Callable[[float], str],
    label: str = "",
    chart: str = "delta",
    width: float = 440,
    pos_colour: str = "#d35400",
    neg_colour: str = "#1e8449",
) -> str:
    """Signed horizontal bars around a zero line (e.g. cost change by component)."""
    row_h, bar_h = 24.0, 14.0
    left = max([text_width(r) for r, _, _ in rows] + [30]) + 10
    top, bottom = 6.0, 8.0
    height = top + row_h * len(rows) + bottom
    m = max([abs(v) for _, v, _ in rows if math.isfinite(v)] + [1e-12])
    value_room = 78.0
    plot_w = width - left - 2 * value_room
    zero = left + value_room + plot_w / 2
    parts = [f'<line x1="{num(zero)}" x2="{num(zero)}" y1="{num(top)}" y2="{num(height - bottom)}" stroke="{MUTED}"/>']
    for k, (r, v, data) in enumerate(rows):
        y = top + row_h * k + (row_h - bar_h) / 2
        parts.append(txt(left - 8, y + bar_h / 2 + 4, r, "end"))
        w = (plot_w / 2) * abs(v) / m if math.isfinite(v) else 0.0
        x = zero if v >= 0 else zero - w
        colour = pos_colour if v >= 0 else neg_colour
        parts.append(f'<rect class="seg" x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(bar_h)}" '
                     f'fill="{colour}"{attrs({"data-chart": chart, **data})}><title>{esc(f"{r}: {fmt(v)}")}</title></rect>')
        tx = zero + w + 5 if v >= 0 else zero - w - 5
        parts.append(txt(tx, y + bar_h / 2 + 4, fmt(v), "start" if v >= 0 else "end", fill=INK, size=10))
    return svg(width, height, "".join(parts), label, "chart delta")


# --------------------------------------------------------------------------- scatter / line
@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str
    data: dict[str, object] = field(default_factory=dict)
    colour: str = "#1f5fa8"
    highlight: bool = False
    label: str = ""


def scatter(
    points: Sequence[Point],
    *,
    x_label: str,
    y_label: str,
    x_fmt: Callable[[float], str],
    y_fmt: Callable[[float], str],
    line: Sequence[tuple[float, float]] = (),
    polylines: Sequence[tuple[str, Sequence[tuple[float, float]]]] = (),
    x_ticks: Sequence[tuple[float, str]] | None = None,
    label: str = "",
    chart: str = "scatter",
    width: float = 560,
    height: float = 320,
    y_span: tuple[float, float] | None = None,
) -> str:
    """Points on linear axes with an optional grey polyline (e.g. a Pareto frontier) and coloured ones
    (``polylines``: (colour, points), e.g. one line per sweep series); highlighted points are ringed.
    ``x_ticks`` replaces the automatic x ticks by (value, label) pairs (e.g. categories)."""
    left, right, top, bottom = 70.0, 20.0, 14.0, 44.0
    xs = [p.x for p in points if math.isfinite(p.x)] or [0.0]
    ys = [p.y for p in points if math.isfinite(p.y)] or [0.0]

    def span(vs):
        lo, hi = min(vs), max(vs)
        if hi - lo < 1e-12 * max(1.0, abs(hi)):
            lo, hi = lo - max(abs(lo) * 0.05, 1e-9), hi + max(abs(hi) * 0.05, 1e-9)
        pad = (hi - lo) * 0.06
        return lo - pad, hi + pad

    x0, x1 = span(xs)
    y0, y1 = span(ys) if y_span is None else span([*y_span, *ys])  # y_span: a fixed range (e.g. 0 to 100 %)

    def X(v):
        return left + (width - left - right) * (v - x0) / (x1 - x0)

    def Y(v):
        return height - bottom - (height - top - bottom) * (v - y0) / (y1 - y0)

    parts = []
    for t, tl in (x_ticks if x_ticks is not None else [(t, x_fmt(t)) for t in nice_ticks(x0, x1, 5)]):
        if x0 <= t <= x1:
            parts.append(f'<line x1="{num(X(t))}" x2="{num(X(t))}" y1="{num(top)}" y2="{num(height - bottom)}" stroke="{GRID}"/>')
            parts.append(txt(X(t), height - bottom + 15, tl, "middle", fill=MUTED, size=10))
    for t in nice_ticks(y0, y1, 5):
        if y0 <= t <= y1:
            parts.append(f'<line x1="{num(left)}" x2="{num(width - right)}" y1="{num(Y(t))}" y2="{num(Y(t))}" stroke="{GRID}"/>')
            parts.append(txt(left - 6, Y(t) + 4, y_fmt(t), "end", fill=MUTED, size=10))
    parts.append(txt((left + width - right) / 2, height - 6, x_label, "middle", fill=INK))
    parts.append(f'<text transform="translate(14 {num((top + height - bottom) / 2)}) rotate(-90)" '
                 f'text-anchor="middle" fill="{INK}">{esc(y_label)}</text>')
    if len(line) > 1:
        pts = " ".join(f"{num(X(a))},{num(Y(b))}" for a, b in line)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{MUTED}" stroke-width="1.5"/>')
    for colour, coords in polylines:
        if len(coords) > 1:
            pts = " ".join(f"{num(X(a))},{num(Y(b))}" for a, b in coords)
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
    for p in points:
        if not (math.isfinite(p.x) and math.isfinite(p.y)):
            continue
        if p.highlight:
            parts.append(f'<circle cx="{num(X(p.x))}" cy="{num(Y(p.y))}" r="10" fill="none" stroke="{INK}" stroke-width="1.5"/>')
        parts.append(f'<circle class="dot" cx="{num(X(p.x))}" cy="{num(Y(p.y))}" r="5" fill="{p.colour}" '
                     f'stroke="#ffffff"{attrs({"data-chart": chart, **p.data})}><title>{esc(p.title)}</title></circle>')
        if p.label:
            parts.append(txt(X(p.x) + 12, Y(p.y) - 8, p.label, "start", fill=INK, weight="600"))
    return svg(width, height, "".join(parts), label, "chart scatter")


def legend(entries: Sequence[tuple[str, str]], hollow: Sequence[str] = ()) -> str:
    """An HTML legend: (label, colour) swatches."""
    items = []
    for name, colour in entries:
        style = f"border-color:{colour};background:{'#fff' if name in hollow else colour}"
        items.append(f'<span class="key"><i style="{style}"></i>{esc(name)}</span>')
    return f'<div class="legend">{"".join(items)}</div>'
