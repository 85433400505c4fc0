"""Study results: Pareto frontiers with their knees, and plots (PNG and SVG).

Plots use matplotlib's object API (``Figure``, no pyplot), so no GUI backend is
ever selected and nothing global is changed: PNG is drawn by Agg, SVG by the
SVG backend.

Public API: :func:`pareto`, :func:`find_knee`, :func:`frontier_table`, :func:`write_plots`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner.results.schema import columns

if TYPE_CHECKING:
    from planner.study.plan import Study

SOLVED = ("optimal", "feasible")
REL_TOL = 1e-9
"""Costs closer than this (relative) count as equal when filtering dominated points."""


def pareto(x: list[float], y: list[float]) -> list[bool]:
    """Which points are non-dominated when both x (the measure) and y (the cost) are minimised."""
    order = sorted(range(len(x)), key=lambda n: (x[n], y[n]))
    keep = [False] * len(x)
    best = math.inf
    for n in order:
        if y[n] < best - REL_TOL * max(1.0, abs(best) if math.isfinite(best) else 1.0):
            keep[n] = True
            best = y[n]
    return keep


def find_knee(x: list[float], y: list[float]) -> tuple[int | None, list[float]]:
    """The knee of a frontier: the point farthest from the chord between its two ends.

    Both axes are first scaled to [0, 1] over the points, so the answer does not
    depend on units.  Returns (index of the knee or None, distance of every point);
    None when there are fewer than three points or all lie on the chord.
    """
    n = len(x)
    if n < 3:
        return None, [0.0] * n
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    dx, dy = xs.max() - xs.min(), ys.max() - ys.min()
    if dx <= 0 or dy <= 0:
        return None, [0.0] * n
    u, v = (xs - xs.min()) / dx, (ys - ys.min()) / dy
    first, last = int(np.argmin(xs)), int(np.argmax(xs))
    cx, cy = u[last] - u[first], v[last] - v[first]
    dist = np.abs(cx * (v - v[first]) - cy * (u - u[first])) / math.hypot(cx, cy)
    k = int(np.argmax(dist))
    if dist[k] <= 1e-9:
        return None, dist.tolist()
    return k, dist.tolist()


def frontier_table(table: pd.DataFrame, study: "Study") -> pd.DataFrame:
    """One row per frontier run: level, measure achieved, cost, status, Pareto flag and knee."""
    cols = columns("frontiers")
    if not len(table) or "kind" not in table or not (table["kind"] == "frontier").any():
        return pd.DataFrame(columns=cols)
    parts = []
    for name in study.spec.frontiers:
        f = table[(table["kind"] == "frontier") & (table["group"] == name)].copy()
        if not len(f):
            continue
        f = f.sort_values("level")
        for c in ("measure_value", "total_cost"):
            if c not in f:
                f[c] = float("nan")
        f["frontier"] = name
        f["pareto"] = False
        f["knee"] = False
        f["knee_distance"] = float("nan")
        ok = f["status"].isin(SOLVED) & f["measure_value"].notna() & f["total_cost"].notna()
        solved = f[ok]
        if len(solved):
            keep = pareto(solved["measure_value"].tolist(), solved["total_cost"].tolist())
            f.loc[solved.index, "pareto"] = keep
            front = solved[keep]
            k, dist = find_knee(front["measure_value"].tolist(), front["total_cost"].tolist())
            f.loc[front.index, "knee_distance"] = dist
            if k is not None:
                f.loc[front.index[k], "knee"] = True
        parts.append(f[cols])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


# --------------------------------------------------------------------------- plots
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "x"


def _save(fig, folder: Path, stem: str) -> list[Path]:
    out = []
    for ext in ("png", "svg"):
        path = folder / f"{stem}.{ext}"
        fig.savefig(path, dpi=120 if ext == "png" else None, bbox_inches="tight")
        out.append(path)
    return out


def _figure(w: float = 7.0, h: float = 4.5):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    return fig, fig.add_subplot(1, 1, 1)


def _premium_column(table: pd.DataFrame) -> tuple[str, str]:
    if "premium_vs_cost_only_pct" in table and table["premium_vs_cost_only_pct"].notna().any():
        return "premium_vs_cost_only_pct", "premium over the cost-only plan (%)\nsolid: planner's cost; dashed: with public money"
    return "premium_vs_baseline_pct", "premium over today's sourcing (%)\nsolid: planner's cost; dashed: with public money"


def _plot_frontier(name: str, f: pd.DataFrame, measure_title: str, currency: str, folder: Path) -> list[Path]:
    fig, ax = _figure()
    solved = f[f["status"].isin(SOLVED)]
    front = solved[solved["pareto"].astype(bool)].sort_values("measure_value")
    dominated = solved[~solved["pareto"].astype(bool)]
    ax.plot(front["measure_value"], front["total_cost"], "o-", color="tab:blue", label="Pareto frontier")
    if len(dominated):
        ax.plot(dominated["measure_value"], dominated["total_cost"], "o", color="0.7", label="dominated")
    knee = front[front["knee"].astype(bool)]
    if len(knee):
        r = knee.iloc[0]
        ax.plot([r["measure_value"]], [r["total_cost"]], "*", color="tab:red", markersize=18,
                label=f"knee (cap {r['level']:g})")
        ax.annotate(f"knee: {r['measure_value']:.3g}, {r['total_cost']:,.6g}", (r["measure_value"], r["total_cost"]),
                    textcoords="offset points", xytext=(10, 10), color="tab:red")
    for r in front.itertuples():
        ax.annotate(f"{r.level:g}", (r.measure_value, r.total_cost), textcoords="offset points", xytext=(-4, -14),
                    fontsize=7, color="0.35")
    nfail = int((~f["status"].isin(SOLVED)).sum())
    ax.set_title(f"frontier {name}: least cost vs {measure_title}" + (f"\n({nfail} level(s) without a solution)" if nfail else ""),
                 fontsize=10)
    ax.set_xlabel(f"{measure_title} (achieved; small labels: the cap)")
    ax.set_ylabel(f"total cost ({currency})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, folder, f"frontier_{_safe(name)}")


def _plot_premium(gname: str, g: pd.DataFrame, axes: list[str], col: str, label: str, folder: Path) -> list[Path]:
    out = []
    for axis in axes:
        if axis not in g:
            continue
        others = [a for a in axes if a != axis and a in g]
        fig, ax = _figure()
        groups = g.groupby(others, dropna=False, sort=False) if others else [((), g)]
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            part = part.sort_values(axis)
            lab = ", ".join(f"{_short(a)}={v}" for a, v in zip(others, key)) or gname
            line = ax.plot(part[axis], part[col], "o-", label=lab)[0]
            public = col.replace("_pct", "_with_public_pct")
            # The same runs counting public money (dashed), where grants make it differ.
            if public in part and (part[public] - part[col]).abs().max() > 1e-9:
                ax.plot(part[axis], part[public], "s--", color=line.get_color(), alpha=0.8)
        ax.set_xlabel(axis)
        ax.set_ylabel(label)
        ax.set_title(f"grid {gname}: premium vs {axis}", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, ncol=2 if len(ax.lines) > 6 else 1)
        out += _save(fig, folder, f"premium_{_safe(gname)}__{_safe(axis)}")
    return out


def _short(key: str) -> str:
    return key.split(".")[-1] if not key.startswith("multiplier.") else key


def _plot_scenarios(s: pd.DataFrame, col: str, label: str, folder: Path) -> list[Path]:
    fig, ax = _figure(max(5.0, 0.9 * len(s) + 2), 4.0)
    ax.bar(s["group"], s[col], color="tab:blue")
    ax.set_ylabel(label)
    ax.set_title("scenarios: cost premium", fontsize=10)
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, folder, "premium_scenarios")


def _run_label(r: pd.Series, keys: list[str]) -> str:
    if r["kind"] == "scenario":
        return str(r["group"])
    if r["kind"] == "frontier":
        return f"cap {r['level']:g}"
    return "\n".join(f"{_short(k)}={r[k]:g}" if isinstance(r[k], float) else f"{_short(k)}={r[k]}" for k in keys)


def _plot_tiers(group: str, g: pd.DataFrame, tiers: list[str], keys: list[str], folder: Path) -> list[Path]:
    fig, ax = _figure(max(6.0, 0.45 * len(g) + 2.5), 4.5)
    labels = [_run_label(r, keys) for _, r in g.iterrows()]
    bottom = np.zeros(len(g))
    xs = np.arange(len(g))
    for t in tiers:
        vals = g[f"spend_share_{t}"].fillna(0.0).to_numpy()
        ax.bar(xs, vals, bottom=bottom, label=t)
        bottom += vals
    ax.set_xticks(xs)
    ax.set_xticklabels([lab.replace("\n", ", ") if len(g) > 6 else lab for lab in labels],
                       fontsize=6 if len(g) > 12 else 8, rotation=90 if len(g) > 6 else 0)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of spending (purchase + transport + tariff)")
    ax.set_title(f"{group}: shares by trust tier", fontsize=10)
    ax.legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    return _save(fig, folder, f"tier_shares_{_safe(group)}")


def write_plots(table: pd.DataFrame, fronts: pd.DataFrame, study: "Study", folder: Path) -> list[Path]:
    """Frontiers with knees, premium against each grid axis, and tier shares per group; replaces ``folder``."""
    from planner.files import atomic_dir
    from planner.study.measures import MEASURES

    written: list[Path] = []
    solved = table[table["status"].isin(SOLVED)] if len(table) else table
    col, label = _premium_column(table)
    tiers = list(study.base.meta.tiers)
    with atomic_dir(folder) as stage:
        for name, fr in study.spec.frontiers.items():
            f = fronts[fronts["frontier"] == name] if len(fronts) else fronts
            if len(f):
                title = MEASURES[fr.measure.kind](fr.measure.of).title
                written += _plot_frontier(name, f, title, study.base.meta.currency, stage)
        for gname, g in study.spec.grids.items():
            part = solved[(solved["kind"] == "grid") & (solved["group"] == gname)] if len(solved) else solved
            if len(part):
                written += _plot_premium(gname, part, list(g.axes), col, label, stage)
        scen = solved[solved["kind"] == "scenario"] if len(solved) else solved
        if len(scen):
            written += _plot_scenarios(scen, col, label, stage)
        if len(solved) and all(f"spend_share_{t}" in solved for t in tiers):
            # A two-stage plan has no flows of its own: its runs have no tier shares to draw.
            tiered = solved[~solved["kind"].isin(["scenario", "two_stage"])]
            for (kind, group), g in tiered.groupby(["kind", "group"], sort=False):
                keys = list(study.spec.grids[group].axes) if kind == "grid" else []
                written += _plot_tiers(group, g, tiers, keys, stage)
            if len(scen):
                written += _plot_tiers("scenarios", scen, tiers, [], stage)
    return [folder / p.name for p in written]
