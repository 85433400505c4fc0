"""Report sections of a study folder (written by :mod:`planner.study`).

A study folder holds ``results.csv``/``.parquet`` (one row per run: its kind
and group, the parameters it set, status, gap and the friendshored plan's
headline KPIs), ``frontiers.csv`` (per frontier level: the measure achieved, the
cost, Pareto and knee flags) and ``study.json`` (the plan and outcome).  The
sections below draw the frontiers with their knees, the sweeps and scenarios,
and a sortable table of every run.  Each run's own tables are in
``runs/<run_id>/``, a solve folder that ``friendshore report`` turns into a full report.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from planner.report import svg as sv
from planner.report.page import HEADERS, KNOWN_TIERS, Col, Ctx, banner, esc, figure, finite, fmt_frac, section

SOLVED = ("optimal", "feasible")
PARAM_PREFIXES = ("policy.", "programmes.", "multiplier.", "supply.", "demand.", "lanes.", "investments.",
                  "countries.", "items.", "meta.")


def _results(ctx: Ctx) -> pd.DataFrame:
    return ctx.t["results"]


def _premium(r: pd.DataFrame) -> tuple[str, str, str]:
    """The premium column to plot, its axis label and a phrase: over the cost-only plan if solved, else over today."""
    for col, label, phrase in (("premium_vs_cost_only_pct", "premium vs cost-only, %",
                                "cost premium over the cost-only plan (%)"),
                               ("premium_vs_baseline_pct", "premium vs today, %", "cost premium over today's sourcing (%)"),
                               ("total_cost", "total cost", "total cost")):
        if col in r and pd.to_numeric(r[col], errors="coerce").notna().any():
            return col, label, phrase
    return "", "", ""


def _tiers(r: pd.DataFrame) -> list[str]:
    found = [c[len("max_tier_share_"):] for c in r.columns if c.startswith("max_tier_share_")]
    return [t for t in KNOWN_TIERS if t in found] + sorted(t for t in found if t not in KNOWN_TIERS)


def _params(ctx: Ctx, r: pd.DataFrame) -> list[str]:
    """Parameter columns: the keys the study plan sets, else columns named like overrides."""
    keys: list[str] = []
    for run in ctx.record.get("runs") or []:
        for k in (run.get("params") or {}) if isinstance(run, dict) else {}:
            if k in r.columns and k not in keys:
                keys.append(k)
    return keys or [c for c in r.columns if c.startswith(PARAM_PREFIXES)]


def _axes(ctx: Ctx, r: pd.DataFrame, group: str) -> list[str]:
    spec = ((ctx.record.get("spec") or {}).get("grids") or {}).get(group) or {}
    axes = [a for a in (spec.get("axes") or {}) if a in r.columns]
    if axes:
        return axes
    g = r[(r["kind"] == "grid") & (r["group"] == group)]
    return [c for c in _params(ctx, r) if g[c].nunique(dropna=True) > 1]


def _value_text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}" if finite(v) else "–"
    return str(v)


def study_header(ctx: Ctx) -> tuple[str, str, list[str]]:
    rec = ctx.record
    r = _results(ctx)
    name = rec.get("name") or ctx.folder.path.resolve().name
    status = str(rec.get("status") or "")
    unproven = int((r["status"] == "feasible").sum())
    failed = int((~r["status"].isin(SOLVED)).sum())
    if status and status != "complete":
        pill = f'<span class="pill warn">{esc(status.upper())}</span>'
    elif unproven:
        pill = f'<span class="pill warn">{unproven} NOT PROVEN OPTIMAL</span>'
    else:
        pill = f'<span class="pill">{"COMPLETE" if status else "STUDY"}</span>'
    sub = ["study"]
    if rec.get("file"):
        sub.append(f"file {rec['file']}")
    if rec.get("base"):
        sub.append(f"base {rec['base']}")
    sub.append(f"{len(r)} runs" + (f", {failed} without a solution" if failed else ""))
    if ctx.money.currency:
        sub.append(f"money in {ctx.money.currency} per year")
    return name, pill, sub


HEADERS["study"] = study_header


@section("study", "Study", order=10, kinds=("study",), needs=("results",))
def overview(ctx: Ctx) -> str:
    r = _results(ctx)
    rec = ctx.record
    parts = []
    desc = (rec.get("spec") or {}).get("description")
    if desc:
        parts.append(f'<p class="lead">{esc(desc)}</p>')
    status = rec.get("status")
    if status and status != "complete":
        missing = rec.get("missing") or []
        parts.append(banner("warn", f"<b>Study {esc(status)}</b>: {len(missing)} planned run(s) have no result yet; "
                                    f"resume the study to finish it. Charts show the runs that finished."))
    unproven = r[r["status"] == "feasible"]
    if len(unproven):
        parts.append(banner("bad", f"<b>{len(unproven)} run(s) NOT PROVEN OPTIMAL</b> (stopped by a limit with a "
                                   f"solution): their costs are upper bounds. Runs: "
                                   f"{esc(', '.join(unproven['run_id'].astype(str).tolist()[:12]))}"
                                   f"{' …' if len(unproven) > 12 else ''}."))
    failed = r[~r["status"].isin(SOLVED)]
    if len(failed):
        items = "".join(f"<li><code>{esc(x['run_id'])}</code>: {esc(x['status'])}"
                        f"{' — ' + esc(x['reason']) if isinstance(x.get('reason'), str) and x['reason'] else ''}</li>"
                        for x in failed.to_dict("records"))
        parts.append(banner("warn", f"<b>{len(failed)} run(s) without a solution</b> (left out of the charts)."
                                    f"<details><summary>which and why</summary><ul>{items}</ul></details>"))
    kinds = r["kind"].value_counts()
    col, _, label = _premium(r)
    solved = r[r["status"].isin(SOLVED)]
    cards = []

    def card(k: str, v: str, d: str = "") -> None:
        cards.append(f'<div class="kpi"><div class="k">{esc(k)}</div><div class="v">{v}</div><div class="d">{d}</div></div>')

    card("Runs", f"{len(r)}", " · ".join(f"{n} {k}" for k, n in kinds.items()))
    card("Solved", f"{len(solved)}", f"{int((r['status'] == 'optimal').sum())} proven optimal")
    if col and len(solved):
        v = pd.to_numeric(solved[col], errors="coerce")
        if v.notna().any():
            lo, hi = solved.loc[v.idxmin()], solved.loc[v.idxmax()]
            if col.endswith("_pct"):
                span = f"{v.min():+.1f} … {v.max():+.1f} %"
            else:
                span = f"{ctx.money(v.min())} … {ctx.money(v.max())}"
            card("Premium range", esc(span),
                 f"{esc(label)}; lowest {esc(lo['run_id'])}, highest {esc(hi['run_id'])}")
    fr = ctx.t.get("frontiers")
    if fr is not None and len(fr) and fr["knee"].any():
        for k in fr[fr["knee"]].to_dict("records"):
            card(f"Knee of {k['frontier']}", f"cap {_value_text(k['level'])}",
                 f"{esc(k.get('measure', 'measure'))} {_value_text(k['measure_value'])} at {esc(ctx.money(k['total_cost']))}")
    parts.append(f'<div class="cards">{"".join(cards)}</div>')
    parts.append('<p class="muted">Each run\'s own tables are in <code>runs/&lt;run_id&gt;/</code>; '
                 '<code>friendshore report</code> on that folder gives its full report.</p>')
    return "".join(parts)


@section("frontiers", "Pareto frontiers", order=20, kinds=("study",), needs=("frontiers",))
def frontiers(ctx: Ctx) -> str:
    fr = ctx.t["frontiers"]
    parts = ['<p class="lead">Least cost with the security measure capped at each level (epsilon constraint). '
             'Blue: Pareto-optimal plans, joined; grey: dominated; ringed: the knee, where a tighter cap starts to '
             'cost disproportionately more.</p>']
    m = ctx.money
    for name in dict.fromkeys(fr["frontier"]):
        f = fr[fr["frontier"] == name].sort_values("level")
        ok = f[f["status"].isin(SOLVED) & f["measure_value"].notna() & f["total_cost"].notna()]
        measure = str(f["measure"].iloc[0]) if "measure" in f and len(f) and f["measure"].iloc[0] else "measure"
        bad = f[~f.index.isin(ok.index)]
        note = (f" · no solution at level(s) {', '.join(_value_text(x) for x in bad['level'])}"
                f" ({', '.join(sorted(set(bad['status'].astype(str))))})" if len(bad) else "")
        if not len(ok):
            parts.append(f"<h3>{esc(name)}</h3><p>No level of this frontier was solved{esc(note)}.</p>")
            continue
        front = ok[ok["pareto"]].sort_values("measure_value")
        pts = []
        for x in ok.itertuples():
            pts.append(sv.Point(
                float(x.measure_value), float(x.total_cost),
                f"cap {_value_text(x.level)}: {measure} {x.measure_value:.4g}, cost {m(x.total_cost)}"
                + (" (knee)" if x.knee else "") + ("" if x.pareto else " (dominated)"),
                {"data-frontier": name, "data-run": x.run_id, "data-level": float(x.level),
                 "data-measure": float(x.measure_value), "data-cost": float(x.total_cost),
                 "data-pareto": str(bool(x.pareto)).lower(), "data-knee": str(bool(x.knee)).lower()},
                colour="#1f5fa8" if x.pareto else "#aab4c0", highlight=bool(x.knee),
                label=f"knee: cap {_value_text(x.level)}" if x.knee else ""))
        chart = sv.scatter(pts, x_label=f"{measure} achieved", y_label=f"total cost ({m.currency})" if m.currency
                           else "total cost", x_fmt=lambda v: f"{v:.3g}", y_fmt=lambda v: m(v),
                           line=list(zip(front["measure_value"], front["total_cost"])), chart="frontier",
                           label=f"frontier {name}", width=620)
        parts.append(figure(chart, f"<b>{esc(name)}</b>: least cost against {esc(measure)}{esc(note)}"))
    cols = [Col("frontier", "frontier"), Col("run_id", "run"), Col("level", "cap", "g"),
            Col("measure_value", "achieved", "num"), Col("total_cost", "total cost", "money"),
            Col("status", "status"), Col("pareto", "Pareto"), Col("knee", "knee")]
    rows = [[x[c.name] if c.name not in ("pareto", "knee") else str(bool(x[c.name])) for c in cols]
            for x in fr.to_dict("records")]
    parts.append(ctx.table("frontier_points", f"Frontier levels ({m.currency} per year)" if m.currency
                           else "Frontier levels", cols, rows, fold=40))
    return "".join(parts)


@section("sweeps", "Sweeps and scenarios", order=30, kinds=("study",), needs=("results",))
def sweeps(ctx: Ctx) -> str | None:
    r = _results(ctx)
    col, label, phrase = _premium(r)
    if not col:
        return None
    solved = r[r["status"].isin(SOLVED)]
    fmt = (lambda v: f"{v:+.2f} %") if col.endswith("_pct") else (lambda v: ctx.money(v))
    parts = [f'<p class="lead">How the friendshored plan\'s {esc(phrase)} moves with each swept parameter, and per '
             f'named scenario.</p>']
    top = []
    scen = solved[solved["kind"] == "scenario"]
    if len(scen):
        rows = [(str(x["group"]), float(x[col]), {"data-run": x["run_id"], "data-group": x["group"],
                                                  "data-value": float(x[col])})
                for x in scen.to_dict("records") if finite(x[col])]
        if rows:
            top.append(figure(sv.diverging_bars(rows, fmt=fmt, chart="scenario", width=520,
                                                label="premium per scenario"),
                              f"<b>Scenarios</b>: {esc(phrase)}"))
    tiers = _tiers(r)
    if tiers and len(solved):
        worst = tiers[-1]
        c = f"max_tier_share_{worst}"
        if c in solved and solved[c].notna().any():
            pts = [sv.Point(float(x[c]), float(x[col]), f"{x['run_id']}: {worst} {fmt_frac(x[c])}, {fmt(x[col])}",
                            {"data-run": x["run_id"], "data-share": float(x[c]), "data-value": float(x[col])},
                            colour=sv.CASE_COLOURS["friendshored"] if x["kind"] != "scenario" else "#e08a1e")
                   for x in solved.to_dict("records") if finite(x[c]) and finite(x[col])]
            if pts:
                top.append(figure(sv.scatter(pts, x_label=f"largest {worst}-tier share", y_label=label,
                                             x_fmt=lambda v: fmt_frac(v), y_fmt=fmt, chart="runs-scatter",
                                             label="every solved run", width=560, height=300),
                                  f"<b>Every solved run</b>: {esc(phrase)} against its largest {esc(worst)}-tier "
                                  f"share (orange: named scenarios)"))
    if top:
        parts.append(f'<div class="grid2">{"".join(top)}</div>')
    for group in dict.fromkeys(solved.loc[solved["kind"] == "grid", "group"]):
        g = solved[(solved["kind"] == "grid") & (solved["group"] == group)]
        axes = _axes(ctx, r, group)
        figs = []
        for axis in axes:
            others = [a for a in axes if a != axis]
            xs = g[axis]
            numeric = pd.to_numeric(xs, errors="coerce").notna().all()
            cats = list(dict.fromkeys(xs.astype(str))) if not numeric else []
            pts, lines, keys = [], [], []
            series = g.groupby(others, dropna=False, sort=True) if others else [((), g)]
            for n, (key, part) in enumerate(series):
                key = key if isinstance(key, tuple) else (key,)
                colour = sv.SERIES_COLOURS[n % len(sv.SERIES_COLOURS)]
                name = ", ".join(f"{_short(a)} = {_value_text(v)}" for a, v in zip(others, key)) or group
                keys.append((name, colour))
                coords = []
                for x in part.sort_values(axis, key=lambda s: pd.to_numeric(s, errors="coerce") if numeric else s
                                          ).to_dict("records"):
                    xv = float(x[axis]) if numeric else float(cats.index(str(x[axis])))
                    if not finite(x[col]):
                        continue
                    coords.append((xv, float(x[col])))
                    pts.append(sv.Point(xv, float(x[col]), f"{name}; {_short(axis)} = {_value_text(x[axis])}: "
                                                            f"{fmt(x[col])}",
                                        {"data-run": x["run_id"], "data-group": group, "data-axis": axis,
                                         "data-x": x[axis] if not numeric else float(x[axis]),
                                         "data-value": float(x[col])}, colour=colour))
                lines.append((colour, coords))
            chart = sv.scatter(pts, x_label=_short(axis), y_label=label, x_fmt=lambda v: f"{v:g}", y_fmt=fmt,
                               polylines=lines, x_ticks=[(float(k), c) for k, c in enumerate(cats)] if cats else None,
                               chart="sweep", label=f"{group}: premium against {axis}", width=560, height=300)
            figs.append(figure(chart, f"Against <code>{esc(axis)}</code>",
                               sv.legend(keys) if others else ""))
        if figs:
            parts.append(f"<h3>Grid {esc(group)}</h3>" + f'<div class="grid2">{"".join(figs)}</div>')
    return "".join(parts)


def _short(key: str) -> str:
    return key if key.startswith("multiplier.") else key.split(".", 1)[-1] if key.count(".") > 1 else key


@section("runs", "Runs", order=40, kinds=("study",), needs=("results",))
def runs(ctx: Ctx) -> str:
    r = _results(ctx)
    params = _params(ctx, r)
    tiers = _tiers(r)
    # The page shows the columns an analyst compares; the CSV of this table and the full results table have the rest.
    cols = [Col("run_id", "run")]
    cols += [Col(p, _short(p), "g" if pd.api.types.is_numeric_dtype(r[p]) else "text") for p in params]
    if "level" in r and r["level"].notna().any() and "level" not in params:
        cols.append(Col("level", "cap", "g"))
    cols.append(Col("status", "status"))
    for c, lab, kind in (("total_cost", "total cost", "money"), ("premium_vs_cost_only_pct", "vs cost-only", "pct"),
                         ("public_subsidy", "subsidy", "money"),
                         (f"max_tier_share_{tiers[-1]}" if tiers else "", f"max {tiers[-1]}" if tiers else "", "frac"),
                         ("min_n1_coverage", "min N-1", "frac"), ("gap", "gap", "gap")):
        if c and c in r:
            cols.append(Col(c, lab, kind))
    rows = [[x[c.name] for c in cols] for x in r.to_dict("records")]

    def mark(_: int, c: Col, v: Any) -> str:
        return "bad" if c.name == "status" and v not in ("optimal",) else ""

    return ('<p class="lead">Every run; click a column to sort. The full table (every column) is under Data.</p>'
            + ctx.table("runs", f"Runs ({ctx.money.currency} per year)" if ctx.money.currency else "Runs", cols, rows,
                        classes=mark, fold=200))



@section("two_stage", "Two-stage plans", order=26, kinds=("study",), needs=("results",))
def two_stage(ctx: Ctx) -> str | None:
    """The study's two-stage plans: one plan for every sample, its expected cost, bound and spread."""
    r = _results(ctx)
    t = r[r["kind"] == "two_stage"] if "kind" in r else r.iloc[:0]
    if not len(t):
        return None
    lead = ('<p class="lead">One plan for all the sampled scenarios: suppliers qualified, plants built and stock '
            'held once, shipments chosen per scenario; its expected cost over the equally likely samples, the '
            'best bound and the spread of its cost from the cheapest scenario to the dearest. Each plan\'s '
            '<code>first_stage</code> and <code>scenario_costs</code> tables are in its run folder.</p>')
    cols = [Col("group", "plan"), Col("run_id", "run"), Col("two_stage_method", "method"),
            Col("two_stage_samples", "scenarios", "int"), Col("status", "status"),
            Col("objective", "expected cost", "money"), Col("bound", "bound", "money"), Col("gap", "gap", "gap"),
            Col("scenario_cost_min", "cheapest scenario", "money"), Col("scenario_cost_max", "dearest scenario", "money"),
            Col("qualified_suppliers", "qualified", "int"), Col("capacity_built_options", "built", "int")]
    cols = [c for c in cols if c.name in t]

    def mark(_: int, c: Col, v: Any) -> str:
        return "bad" if c.name == "status" and v != "optimal" else ""

    return lead + ctx.table("two_stage", f"Two-stage plans ({ctx.money.currency} per year)" if ctx.money.currency
                            else "Two-stage plans", cols, [[x[c.name] for c in cols] for x in t.to_dict("records")],
                            classes=mark)


@section("uncertainty", "Uncertainty", order=25, kinds=("study",), needs=("uncertainty",))
def uncertainty(ctx: Ctx) -> str | None:
    """The Monte Carlo over the instance's ranges: KPI intervals, and how stable the plan's choices are."""
    u = ctx.t["uncertainty"]
    parts = ['<p class="lead">The plan re-optimised for each sample of the uncertain inputs (the base '
             'instance\'s <code>ranges.csv</code>): the spread of its cost, premium and shares (5th, 50th and 95th '
             'percentiles over the solved samples), and how often each plant is built and each supplier '
             'qualified. Costs are the planner\'s, net of subsidy, unless marked "with public money".</p>']
    cols = [Col("kpi", "KPI"), Col("samples", "samples", "int"), Col("mean", "mean", "g"), Col("std", "std", "g"),
            Col("p05", "5th pct", "g"), Col("p50", "median", "g"), Col("p95", "95th pct", "g"),
            Col("failed", "failed", "int")]
    parts.append(ctx.table("uncertainty", "KPIs over the samples", cols, u[[c.name for c in cols]].values.tolist()))
    ch = ctx.t.get("uncertainty_choices")
    if ch is not None and len(ch):
        # The unstable choices first: those made in some samples but not all.
        ch = ch.assign(_d=(ch["share"] - 0.5).abs()).sort_values(["_d", "kind", "id"])
        cols = [Col("kind", "kind"), Col("id", "option or supplier"), Col("share", "share of samples", "frac"),
                Col("samples", "samples", "int")]
        parts.append(ctx.table("uncertainty_choices", "How stable the choices are (least settled first)", cols,
                               ch[[c.name for c in cols]].values.tolist()))
    sens = ctx.t.get("sensitivity")
    if sens is not None and len(sens):
        sens = sens.sort_values(["kpi", "st"], ascending=[True, False])
        cols = [Col("kpi", "KPI"), Col("input", "input (range or group)"), Col("s1", "first order S1", "dec2"),
                Col("s1_conf", "± S1", "dec2"), Col("st", "total ST", "dec2"), Col("st_conf", "± ST", "dec2")]
        parts.append(ctx.table("sensitivity", "What drives each KPI: Sobol indices (SALib), with 95 % intervals",
                               cols, sens[[c.name for c in cols]].values.tolist()))
    return "".join(parts)
