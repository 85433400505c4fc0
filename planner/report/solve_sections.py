"""The sections of a solve's report: headline, flows, dependence, investments, resilience, stress
test, exposure, feeds, diagnosis and the data downloads. Each is registered with
:func:`planner.report.page.section` and renders only when its tables exist."""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import pandas as pd

from planner.report import svg as sv
from planner.report.page import (Col, Ctx, override_text, banner, banners, figure, finite, fmt_frac, fmt_num, fmt_share,
                                 section)
from planner.report.svg import esc

def _pair(ctx: Ctx, values: dict[str, float], fmt: Callable[[float], str]) -> str:
    """'98 % → 70 %' from the reference case (baseline, else cost-only) to the friendshored case."""
    ref = next((c for c in ("baseline", "cost_only") if c in ctx.cases and finite(values.get(c))), None)
    now = values.get("friendshored")
    if ref is None:
        return esc(fmt(now))
    return f'<span class="from">{esc(fmt(values[ref]))} →</span> {esc(fmt(now))}'


def _ref_name(ctx: Ctx) -> str:
    return "today" if "baseline" in ctx.cases else "cost-only"


@section("headline", "Headline", order=10, needs=("kpis",))
def headline(ctx: Ctx) -> str:
    m = ctx.money
    fs = "friendshored"
    cases = ctx.cases
    tc = {c: ctx.kpi("total_cost", c) for c in cases}
    p_co, p_co_pct = ctx.kpi("premium_vs_cost_only", fs), ctx.kpi("premium_vs_cost_only_pct", fs)
    p_b, p_b_pct = ctx.kpi("premium_vs_baseline", fs), ctx.kpi("premium_vs_baseline_pct", fs)
    share = {c: ctx.kpi("max_country_share", c) for c in cases}
    worst = ctx.worst_tier
    tier = {c: ctx.overall("tier_share", c, "max", worst) for c in cases} if worst else {}
    n1 = {c: ctx.overall("n1_coverage", c, "min") for c in cases}
    n1_item = ctx.per_item("n1_coverage", fs, "min")
    weakest = min(n1_item, key=n1_item.get) if n1_item else ""
    subsidy = ctx.kpi("public_subsidy", fs)
    built = ctx.kpi("capacity_built_options", fs)
    capex = ctx.kpi("cost_investment", fs)

    # One paragraph an analyst can paste.
    s = [f"The friendshored plan costs <b>{esc(m(tc.get(fs)))}</b> a year"]
    if finite(p_co):
        s.append(f"; that is <b>{esc(m(p_co, True))}</b> ({p_co_pct:+.2f} %) against the cheapest plan without "
                 f"security constraints")
    if finite(p_b):
        word = "more" if p_b > 0 else "less"
        s.append(f", and {esc(m(abs(p_b)))} ({abs(p_b_pct):.2f} %) {word} than today's sourcing")
    s.append(" (the planner's cost, net of subsidy). ")
    pub, pub_b = ctx.kpi("total_cost_with_public", fs), ctx.kpi("premium_vs_baseline_with_public_pct", fs)
    if finite(subsidy) and subsidy > 0 and finite(pub):
        s.append(f"Counting the public money as well, it costs <b>{esc(m(pub))}</b>"
                 + (f" ({pub_b:+.2f} % against today's sourcing)" if finite(pub_b) else "") + ". ")
    ref = "baseline" if "baseline" in cases else ("cost_only" if "cost_only" in cases else None)
    refname = "today" if ref == "baseline" else "in the cost-only plan"
    if ref and finite(share.get(ref)) and finite(share.get(fs)):
        cap = ctx.cap("country_share_cap")
        s.append(f"The largest dependence on any one country, over items and importers, goes from "
                 f"{fmt_frac(share[ref])} {refname} to <b>{fmt_frac(share[fs])}</b>"
                 + (f" (cap {fmt_frac(cap)})" if finite(cap) else ""))
        if worst and finite(tier.get(ref)) and finite(tier.get(fs)):
            s.append(f"; the largest {esc(worst)}-tier share from {fmt_frac(tier[ref])} to <b>{fmt_frac(tier[fs])}</b>")
        s.append(". ")
        # Multi-tier: what passes through the worst tier at any stage upstream, beside the direct share.
        up = {c: ctx.overall("upstream_tier_share", c, "max", worst) for c in (ref, fs)} if worst else {}
        if finite(up.get(fs)) and finite(up.get(ref)):
            s.append(f"Upstream, counting every stage, the largest share passing through the {esc(worst)} tier goes "
                     f"from {fmt_frac(up[ref])} {refname} to <b>{fmt_frac(up[fs])}</b>"
                     + (" (more than the direct share: the dependence sits upstream)"
                        if up[fs] > tier.get(fs, 0.0) + 1e-9 else "") + ". ")
    if finite(built) and built > 0:
        s.append(f"{int(built)} capacity investment{'s are' if built != 1 else ' is'} built "
                 f"({esc(m(capex))} a year annualised), {esc(m(subsidy))} of it paid by public programmes.")
    elif finite(built):
        s.append("No new capacity is built.")
    summary = f'<p class="summary">{"".join(s)}</p>'

    cards = []

    def card(k: str, v: str, d: str = "") -> None:
        cards.append(f'<div class="kpi"><div class="k">{esc(k)}</div><div class="v">{v}</div>'
                     f'<div class="d">{d}</div></div>')

    others = " · ".join(f"{esc(ctx.label(c).split(' (')[0].lower())} {esc(m(tc[c]))}" for c in cases if c != fs)
    card("Annual cost (planner's, net of subsidy)", esc(m(tc.get(fs))), others)
    if finite(pub) and finite(subsidy) and subsidy > 0:
        card("Cost with public money", esc(m(pub)), "planner's cost plus the grants"
             + (f"; {pub_b:+.2f} % against today's sourcing" if finite(pub_b) else ""))
    if finite(p_co):
        card("Price of security", esc(m(p_co, True)), f"{p_co_pct:+.2f} % over the cost-only optimum")
    if finite(p_b):
        card("Versus today", esc(m(p_b, True)), f"{p_b_pct:+.2f} % against today's sourcing")
    card("Largest one-country share", _pair(ctx, share, fmt_frac),
         "any item and importer" + (f"; cap {fmt_frac(ctx.cap('country_share_cap'))}"
                                    if finite(ctx.cap("country_share_cap")) else ""))
    if worst:
        tcap = (ctx.policy.get("tier_caps") or {}).get(worst)
        card(f"Largest {worst}-tier share", _pair(ctx, tier, fmt_frac),
             "any item and importer" + (f"; cap {fmt_frac(tcap)}" if finite(tcap) else ""))
    if any(finite(v) for v in n1.values()):
        card("Weakest N-1 coverage", _pair(ctx, n1, fmt_frac),
             "capacity left after losing the largest supplier, share of demand"
             + (f" ({esc(weakest)})" if weakest else ""))
    if finite(subsidy) and (subsidy > 0 or (finite(built) and built > 0)):
        card("Public subsidy", esc(m(subsidy)), f"{int(built) if finite(built) else 0} investment(s) built"
             + (f", capex {esc(m(capex))}" if finite(capex) and capex > 0 else ""))

    # The comparison table, raw values in the CSV.
    cur = ctx.money.currency
    rows: list[list[Any]] = []

    def add(measure: str, unit: str, vals: dict[str, Any]) -> None:
        rows.append([measure, unit] + [vals.get(c, math.nan) for c in cases])

    add("total cost (planner's, net of subsidy)", cur, tc)
    add("total cost with public money", cur, {c: ctx.kpi("total_cost_with_public", c) for c in cases})
    for kname, label, unit in (("premium_vs_baseline", "premium vs baseline", cur),
                               ("premium_vs_baseline_pct", "premium vs baseline, %", "%"),
                               ("premium_vs_cost_only", "premium vs cost-only", cur),
                               ("premium_vs_cost_only_pct", "premium vs cost-only, %", "%"),
                               ("premium_vs_baseline_with_public", "premium vs baseline, with public money", cur),
                               ("premium_vs_baseline_with_public_pct", "premium vs baseline, with public money, %", "%"),
                               ("premium_vs_cost_only_with_public", "premium vs cost-only, with public money", cur),
                               ("premium_vs_cost_only_with_public_pct", "premium vs cost-only, with public money, %",
                                "%")):
        vals = {c: ctx.kpi(kname, c) for c in cases}
        if any(finite(v) for v in vals.values()):
            add(label, unit, vals)
    costs = ctx.t.get("costs")
    if costs is not None:
        for comp in dict.fromkeys(costs["component"]):
            vals = {c: float(costs[(costs["case"] == c) & (costs["component"] == comp)]["value"].sum()) for c in cases}
            if not any(finite(v) and v != 0 for v in vals.values()):
                continue  # a component no plan pays (e.g. shortage) is noise here; the CSV of costs has it
            add(f"cost: {comp}", cur, vals)
    add("public subsidy", cur, {c: ctx.kpi("public_subsidy", c) for c in cases})
    for (_, _, g) in ctx.kpi_rows("budget_used"):
        add(f"budget used: {g}", cur, {c: ctx.kpi("budget_used", c, group=g) for c in cases})
    add("largest one-country share", "fraction", share)
    if worst:
        add(f"largest {worst}-tier share", "fraction", tier)
    add("largest HHI (item, importer)", "0-1", {c: ctx.overall("hhi", c) for c in cases})
    add("weakest N-1 coverage", "fraction of demand", n1)
    add("qualified suppliers", "count", {c: sum(ctx.per_item("qualified_suppliers", c).values()) for c in cases})
    add("capacity options built", "count", {c: ctx.kpi("capacity_built_options", c) for c in cases})
    add("status", "", {c: ctx.status(c)[0] for c in cases})
    add("MIP gap", "fraction", {c: ctx.status(c)[1] for c in cases})
    # What the large-instance methods found (docs/large-instances.md), where they ran.
    rec = {c: v for c, v in (ctx.record.get("cases") or {}).items() if isinstance(v, dict)}

    def method(c: str, part: str, key: str, when=lambda d: True) -> float:
        d = rec.get(c, {}).get(part) or {}
        v = d.get(key) if when(d) else None
        return float(v) if finite(v) else math.nan

    bounds = {c: float(rec[c]["bound"]) if finite(rec.get(c, {}).get("bound")) else math.nan for c in cases}
    if any(finite(v) for v in bounds.values()):
        add("best bound", cur, bounds)
    starts = {c: method(c, "start", "objective", lambda d: d.get("status") == "accepted") for c in cases}
    if any(finite(v) for v in starts.values()):
        add("heuristic start (offered to HiGHS)", cur, starts)
    lags = {c: method(c, "lagrangian", "bound") for c in cases}
    if any(finite(v) for v in lags.values()):
        add("Lagrangian bound", cur, lags)
        add("decisions fixed by it", "count", {c: method(c, "lagrangian", "fixed") for c in cases})

    def kind_of(unit: str) -> str:
        return {"fraction": "frac", "fraction of demand": "frac", "%": "pct", "": "text", "count": "int"}.get(unit, "num")

    cols = [Col("measure", "measure"), Col("unit", "unit")] + [Col(c, ctx.label(c), "num") for c in cases]
    # Format per row (units differ by row): pre-format via a per-row kind.
    html_rows = []
    for r in rows:
        k = kind_of(r[1]) if r[0] != "MIP gap" else "gap"
        html_rows.append((r, k))
    title = " vs ".join(ctx.label(c).split(" (")[0] for c in cases) + (f" ({cur} per year)" if cur else "")
    table = _mixed_table(ctx, "comparison", title, cols, html_rows)

    # What the premium is made of: cost change by component.
    bridges = []
    bridge_rows: list[list[Any]] = []
    if costs is not None and fs in cases:
        for ref_case in ("cost_only", "baseline"):
            if ref_case not in cases:
                continue
            deltas = []
            for comp in dict.fromkeys(costs["component"]):
                a = float(costs[(costs["case"] == fs) & (costs["component"] == comp)]["value"].sum())
                b = float(costs[(costs["case"] == ref_case) & (costs["component"] == comp)]["value"].sum())
                if abs(a) > 0 or abs(b) > 0:
                    deltas.append((comp, a - b, {"data-component": comp, "data-ref": ref_case, "data-delta": a - b}))
            bridge_rows += [[ref_case, comp, d] for comp, d, _ in deltas]
            if deltas and any(abs(d) > 1e-9 * max(1.0, abs(tc.get(fs, 0.0))) for _, d, _ in deltas):
                chart = sv.diverging_bars(deltas, fmt=lambda v: m(v, True), chart=f"bridge-{ref_case}",
                                          label=f"cost change by component, friendshored minus {ref_case}")
                bridges.append(figure(chart, f"<b>Friendshored minus {esc(ctx.label(ref_case).lower())}</b>, "
                                             f"by cost component (per year; subsidy is negative when received)"))
    side = ""
    if bridges:
        dl = ctx.download("premium_by_component", ["reference", "component", "friendshored_minus_reference"],
                          bridge_rows)
        side = f'<div><h3>What the premium is made of{dl}</h3>{"".join(bridges)}</div>'
    return (banners(ctx) + summary + f'<div class="cards">{"".join(cards)}</div>'
            + f'<div class="split"><div>{table}</div>{side}</div>')


def _mixed_table(ctx: Ctx, tid: str, caption: str, cols: list[Col], rows: list[tuple[list[Any], str]]) -> str:
    """A table whose rows have different units: each row formats its case cells with its own kind."""
    ctx.register(tid, [c.name for c in cols], [r for r, _ in rows], f"{tid}.csv")
    # The unit column is in the CSV; on the page the caption names the currency and shares show as %.
    head = "".join(f'<th class="{"n" if k >= 2 else ""}" scope="col">{esc(c.label)}</th>'
                   for k, c in enumerate(cols) if k != 1)
    body = []
    for r, kind in rows:
        cells = [f"<td>{esc(r[0])}</td>"]
        for v in r[2:]:
            if kind == "text" or not finite(v):
                bad = ' class="n bad"' if kind == "text" and v not in ("optimal", "evaluated") else ' class="n"'
                cells.append(f'<td{bad} data-v="">{esc("–" if not isinstance(v, str) else v)}</td>')
            else:
                cells.append(f'<td class="n" data-v="{esc(repr(float(v)))}">{esc(ctx.fmt(v, kind))}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="tblhead"><span class="cap">{esc(caption)}</span>'
            f'<button class="dl" type="button" data-download="{esc(tid)}" title="Download as CSV">CSV</button></div>'
            f'<div class="tblwrap"><table class="t" data-table="{esc(tid)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _tier_legend(ctx: Ctx, tiers: list[str] | None = None) -> str:
    return sv.legend([(t, ctx.tier_colour(t)) for t in (tiers or ctx.tiers)])


def _case_legend(ctx: Ctx, cases: list[str]) -> str:
    return sv.legend([(ctx.label(c), sv.case_colour(c)) for c in cases], hollow=[ctx.label("cost_only")])


def _map_grid(cols: list[str]) -> str:
    """Heat maps side by side while they stay legible; one above the other when there are many countries."""
    return "grid2" if len(cols) <= 24 else "stack"


def _country_order(ctx: Ctx, df: pd.DataFrame) -> list[str]:
    """Countries by trust tier (most trusted first), then code."""
    rank = {t: k for k, t in enumerate(ctx.tiers)}
    tier_of = dict(zip(df["country"], df["tier"]))
    return sorted(tier_of, key=lambda c: (rank.get(tier_of[c], len(rank)), c))


@section("flows", "Flows", order=20, needs=("allocations",))
def flows(ctx: Ctx) -> str:
    a = ctx.t["allocations"]
    a = a[a["case"].isin(ctx.cases)]
    items = sorted(set(a["item"]))
    importers = sorted(set(a["importer"]))
    tabs, panels = [], []
    # Split once (the explorer redraws this on every move): (item, case) -> its allocations.
    parts = {k: g for k, g in a.groupby(["item", "case"], sort=False)}
    for n, item in enumerate(items):
        by_case = {c: parts.get((item, c), a.iloc[0:0]) for c in ctx.cases}
        totals = {c: float(df["volume"].sum()) for c, df in by_case.items()}
        n_src = max([df["country"].nunique() for df in by_case.values()] + [len(importers), 1])
        height = max(170.0, n_src * (sv.FONT + 3) + 40)
        usable = height - 16 - 6 * (n_src - 1)
        scale = usable / max(max(totals.values(), default=0.0), 1e-12)
        figs = []
        for case, df in by_case.items():
            if not len(df):
                figs.append(f'<figure><figcaption><b>{esc(ctx.label(case))}</b>: no flows</figcaption></figure>')
                continue
            order = _country_order(ctx, df)
            vol_c = df.groupby("country")["volume"].sum()
            tot = float(df["volume"].sum())
            rank = {t: k for k, t in enumerate(ctx.tiers)}
            tier_of = dict(zip(df["country"], df["tier"]))
            order = sorted(order, key=lambda c: (rank.get(tier_of[c], 99), -vol_c[c], c))
            flows_ = [sv.Flow(
                r["country"], r["importer"], float(r["volume"]), ctx.tier_colour(r["tier"]),
                f"{r['country']} ({r['tier']}) → {r['importer']}: {fmt_num(r['volume'])} "
                f"({fmt_frac(r['share'], 1)} of {r['importer']}'s {item} demand)",
                {"data-case": case, "data-item": item, "data-country": r["country"], "data-importer": r["importer"],
                 "data-tier": r["tier"], "data-volume": float(r["volume"])},
            ) for r in df.to_dict("records")]
            chart = sv.sankey(
                flows_, sources=order, targets=importers,
                source_labels={c: f"{c} {fmt_share(vol_c[c] / tot)}" for c in order},
                target_labels={j: j for j in importers},
                source_colours={c: ctx.tier_colour(tier_of[c]) for c in order},
                scale=scale, height=height, label=f"{item} flows, {ctx.label(case)}",
            )
            worst = ctx.worst_tier
            wshare = float(df[df["tier"] == worst]["volume"].sum()) / tot if worst and tot > 0 else math.nan
            n_sup = df["country"].nunique()
            cap = (f"<b>{esc(ctx.label(case))}</b> · {n_sup} supplier {'country' if n_sup == 1 else 'countries'}"
                   + (f" · {esc(worst)} {fmt_frac(wshare)}" if worst else ""))
            figs.append(figure(chart, cap))
        sel = "true" if n == 0 else "false"
        tabs.append(f'<button type="button" role="tab" data-tab="{esc(item)}" aria-selected="{sel}">{esc(item)}</button>')
        panels.append(f'<div class="tab-panel" data-group="flows" data-panel="{esc(item)}"{"" if n == 0 else " hidden"}>'
                      f'<div class="grid3">{"".join(figs)}</div></div>')
    return ('<p class="lead">Where each importer buys each item: supplier countries (left, share of the item\'s '
            'supply) to importers (right); band width is volume, colour the supplier\'s trust tier. The plans '
            'share one scale per item. Hover a band for its volume.</p>'
            + _tier_legend(ctx) + f'<div class="tabs" data-tabs="flows" role="tablist">{"".join(tabs)}</div>'
            + "".join(panels))


@section("dependence", "Dependence", order=30, needs=("allocations",))
def dependence(ctx: Ctx) -> str:
    a = ctx.t["allocations"]
    a = a[a["case"].isin(ctx.cases)]
    parts = ['<p class="lead">How concentrated supply is: by trust tier, by country and per item. Shares are of '
             'volume; the tier split weights items by purchase spend.</p>']

    # Spend by trust tier.
    rows = []
    spend_rows: list[list[Any]] = []
    tiers_present = [t for t in ctx.tiers if t in set(a["tier"])]
    for case in ctx.cases:
        df = a[a["case"] == case]
        tot = float(df["purchase"].sum())
        if tot <= 0:
            continue
        by = df.groupby("tier")["purchase"].sum()
        segs = [sv.Segment(t, float(by.get(t, 0.0)) / tot, ctx.tier_colour(t),
                           f"{ctx.label(case)}: {t} {fmt_frac(by.get(t, 0.0) / tot, 1)} of purchase spend",
                           {"data-case": case, "data-tier": t, "data-share": float(by.get(t, 0.0)) / tot},
                           fmt_frac(by.get(t, 0.0) / tot)) for t in tiers_present]
        rows.append((ctx.label(case), segs))
        spend_rows += [[case, t, float(by.get(t, 0.0)), float(by.get(t, 0.0)) / tot] for t in tiers_present]
    if rows:
        dl = ctx.download("spend_by_tier", ["case", "tier", "purchase", "share"], spend_rows)
        parts.append(figure(sv.stacked_bars(rows, x_max=1.0, fmt=fmt_frac, chart="tier-spend", width=760,
                                            label="purchase spend by trust tier"),
                            f"<b>Purchase spend by trust tier of the supplier country</b>{dl}",
                            _tier_legend(ctx, tiers_present)))

    # Heat maps of country shares per item.
    items = sorted(set(a["item"]))
    cols = _country_order(ctx, a)
    tier_of = dict(zip(a["country"], a["tier"]))
    maps = {}
    share_rows: list[list[Any]] = []
    for case in ctx.cases:
        df = a[a["case"] == case]
        tot = df.groupby("item")["volume"].sum()
        vol = df.groupby(["item", "country"])["volume"].sum()
        values = {(i, c): float(v) / float(tot[i]) for (i, c), v in vol.items() if tot[i] > 0}
        share_rows += [[case, i, c, tier_of[c], v] for (i, c), v in sorted(values.items())]
        maps[case] = figure(sv.heatmap(
            items, cols, values, col_colours={c: ctx.tier_colour(tier_of[c]) for c in cols},
            title_of=lambda r, c, v, case=case: f"{ctx.label(case)}: {c} supplies {fmt_frac(v, 1)} of {r}",
            data_of=lambda r, c, v, case=case: {"data-case": case, "data-item": r, "data-country": c, "data-share": v},
            chart="share-map", label=f"country shares per item, {ctx.label(case)}"),
            f"<b>{esc(ctx.label(case))}</b>: each country's share of the item's supply (%, all importers)")
    side = [maps[c] for c in ("baseline", "friendshored") if c in maps]
    rest = [maps[c] for c in maps if c not in ("baseline", "friendshored")]
    dl = ctx.download("country_shares", ["case", "item", "country", "tier", "share"], share_rows)
    parts.append(f"<h3>Country shares per item{dl}</h3>" + _tier_legend(ctx, [t for t in ctx.tiers if t in set(tier_of.values())])
                 + f'<div class="{_map_grid(cols)}">{"".join(side)}</div>')
    if rest:
        parts.append(f'<details><summary>Show the same map for: {esc(", ".join(ctx.label(c) for c in maps if c not in ("baseline", "friendshored")))}</summary>'
                     f'<div class="{_map_grid(cols)}">{"".join(rest)}</div></details>')

    # Per item: largest one-country share and HHI (worst importer).
    dots = []
    item_rows = sorted(ctx.per_item("hhi", ctx.cases[0]).keys() | set(items))
    for kname, title, ref in (("max_country_share", "Largest one-country share per item (worst importer)",
                               "country_share_cap"),
                              ("hhi", "HHI per item (worst importer; 1 = a single supplier country)", None)):
        series = [sv.Series(c, ctx.label(c), sv.case_colour(c), ctx.per_item(kname, c), hollow=c == "cost_only")
                  for c in ctx.cases]
        refs = {i: ctx.cap(ref, i) for i in item_rows} if ref else None
        chart = sv.dumbbell(item_rows, series, x_max=1.0, fmt=fmt_frac if kname != "hhi" else (lambda v: f"{v:.2f}"),
                            refs=refs, ref_label="cap", chart=f"dots-{kname}",
                            data_of=lambda r, k, v, kname=kname: {"data-case": k, "data-item": r, "data-kpi": kname,
                                                                  "data-value": v},
                            label=title)
        dots.append(figure(chart, f"<b>{esc(title)}</b>" + (" · black tick: policy cap" if ref and refs and
                                                             any(finite(v) for v in refs.values()) else "")))
    parts.append("<h3>Concentration per item</h3>" + _case_legend(ctx, ctx.cases) + f'<div class="grid2">{"".join(dots)}</div>')

    # Table, raw values downloadable.
    worst = ctx.worst_tier
    short = {"baseline": "today", "cost_only": "cost-only", "friendshored": "friendshored"}
    cols_t = [Col("item", "item")]
    for c in ctx.cases:
        cols_t.append(Col(f"max_country_share_{c}", short.get(c, c), "frac"))
    if worst:
        for c in ctx.cases:
            cols_t.append(Col(f"{worst}_share_{c}", short.get(c, c), "frac"))
    for c in ctx.cases:
        cols_t.append(Col(f"hhi_{c}", short.get(c, c), "dec2"))
    n = len(ctx.cases)
    groups = [("", 1), ("largest one-country share", n)] + ([(f"{worst}-tier share", n)] if worst else []) + [("HHI", n)]
    trows = []
    per = {(k, c): ctx.per_item(k, c) for k in ("max_country_share", "hhi") for c in ctx.cases}
    tiers_ = {c: ctx.per_item("tier_share", c, "max", worst) for c in ctx.cases} if worst else {}
    for i in item_rows:
        r: list[Any] = [i] + [per["max_country_share", c].get(i, math.nan) for c in ctx.cases]
        if worst:
            r += [tiers_[c].get(i, math.nan) for c in ctx.cases]
        r += [per["hhi", c].get(i, math.nan) for c in ctx.cases]
        trows.append(r)
    parts.append(ctx.table("dependence", "Dependence per item (worst importer)", cols_t, trows, groups=groups))
    return "".join(parts)


@section("investments", "Investments and subsidies", order=40, needs=("investments",))
def investments(ctx: Ctx) -> str | None:
    inv = ctx.t["investments"]
    inv = inv[inv["case"].isin(ctx.cases)]
    built = inv[inv["built"]]
    progs = ctx.t.get("programmes")
    progs = progs[progs["case"].isin(ctx.cases)] if progs is not None else None
    if not len(built) and (progs is None or not len(progs)):
        return None
    m = ctx.money
    parts = ['<p class="lead">Capacity built where, who pays (public subsidy vs the private remainder, per year, '
             'annualised) and how much of each programme\'s budget is used.</p>']
    if len(built):
        rows = []
        for r in built.sort_values(["case", "capex"], ascending=[True, False]).to_dict("records"):
            name = f"{r['option']} · {r['country']}" + ("" if r["case"] == "friendshored" else f" ({ctx.label(r['case'])})")
            common = {"data-case": r["case"], "data-option": r["option"]}
            rows.append((name, [
                sv.Segment("public", r["subsidy"], "#1f5fa8", f"{r['option']}: public subsidy {m(r['subsidy'])}",
                           {**common, "data-part": "public", "data-value": r["subsidy"]}, m(r["subsidy"])),
                sv.Segment("private", r["net_cost"], "#a9b4c2", f"{r['option']}: private cost {m(r['net_cost'])}",
                           {**common, "data-part": "private", "data-value": r["net_cost"]}, m(r["net_cost"])),
            ]))
        parts.append(figure(sv.stacked_bars(rows, fmt=lambda v: m(v), total_fmt=lambda v: m(v), chart="invest",
                                            width=760, label="investments: public vs private cost"),
                            "<b>Built capacity: annualised capex split into public subsidy and private cost</b>",
                            sv.legend([("public subsidy", "#1f5fa8"), ("private (net) cost", "#a9b4c2")])))
        cols = [Col("case", "case"), Col("option", "option"), Col("item", "item"), Col("country", "country"),
                Col("tier", "tier"), Col("capacity", "capacity", "num"), Col("capex", "capex", "money"),
                Col("subsidy", "public", "money"), Col("net_cost", "private", "money"),
                Col("programmes", "programmes")]
        parts.append(ctx.table("investments_built", f"Investments built ({m.currency} per year)", cols,
                               [[r[c.name] for c in cols] for r in built.to_dict("records")]))
    else:
        parts.append('<p>No capacity investment is built in any plan.</p>')
    if progs is not None and len(progs):
        solved = progs[progs["case"] != "baseline"]
        rows = []
        for r in solved.to_dict("records"):
            common = {"data-case": r["case"], "data-programme": r["programme"]}
            frac = r["used"] / r["budget"] if r["budget"] > 0 else math.nan
            rows.append((f"{r['programme']} · {ctx.label(r['case'])}", [
                sv.Segment("used", r["used"], "#1f5fa8", f"{r['programme']}: used {m(r['used'])} ({fmt_frac(frac)})",
                           {**common, "data-part": "used", "data-value": r["used"]}, fmt_frac(frac)),
                sv.Segment("left", max(r["left"], 0.0), "#dfe6ee", f"{r['programme']}: left {m(r['left'])}",
                           {**common, "data-part": "left", "data-value": r["left"]}),
            ]))
        if rows:
            parts.append(figure(sv.stacked_bars(rows, fmt=lambda v: m(v), total_fmt=lambda v: m(v), chart="budget",
                                                width=760, label="programme budgets used"),
                                "<b>Programme budget per year: used vs left</b>",
                                sv.legend([("used", "#1f5fa8"), ("left", "#dfe6ee")])))
        cols = [Col("case", "case"), Col("programme", "programme")]
        if "funding_country" in progs:
            cols.append(Col("funding_country", "funder"))
        if "rate" in progs:
            cols.append(Col("rate", "max rate", "frac"))
        cols += [Col("budget", "budget", "money"), Col("used", "used", "money"), Col("left", "left", "money")]
        parts.append(ctx.table("programmes_use", f"Programmes ({m.currency} per year)", cols,
                               [[r[c.name] for c in cols] for r in progs.to_dict("records")]))
    return "".join(parts)


def n1_scenarios(ctx: Ctx) -> pd.DataFrame:
    """One row per (case, item, lost supplier): qualified capacity left after losing it, against demand.

    Demand is taken from a solved plan (volume shipped plus shortage, which equals demand there), so the
    baseline is measured against the same demand even if today's sourcing does not meet it.  The smallest
    coverage per (case, item) is the n1_coverage KPI.
    """
    sup, a = ctx.t["suppliers"], ctx.t["allocations"]
    sh = ctx.t.get("shortages")
    demand: dict[str, float] = {}
    for case in ("friendshored", "cost_only", "baseline"):
        if case not in ctx.cases:
            continue
        df = a[a["case"] == case]
        d = df.groupby("item")["volume"].sum().to_dict()
        if sh is not None and len(sh):
            for i, v in sh[sh["case"] == case].groupby("item")["volume"].sum().items():
                d[i] = d.get(i, 0.0) + v
        for i, v in d.items():
            demand.setdefault(i, float(v))
    rows = []
    for case in ctx.cases:
        q = sup[(sup["case"] == case) & sup["qualified"]]
        for item, g in q.groupby("item"):
            caps = dict(zip(g["country"], g["capacity"] + g["built_capacity"]))
            total = sum(caps.values())
            d = demand.get(item, math.nan)
            for c in sorted(caps):
                left = total - caps[c]
                cov = left / d if d and d > 0 else math.nan
                rows.append({"case": case, "item": item, "lost_country": c, "tier": g[g["country"] == c]["tier"].iloc[0],
                             "lost_capacity": caps[c], "capacity_left": left, "demand": d, "coverage": cov,
                             "shortfall": max(0.0, 1.0 - cov) if finite(cov) else math.nan})
    return pd.DataFrame(rows, columns=["case", "item", "lost_country", "tier", "lost_capacity", "capacity_left",
                                       "demand", "coverage", "shortfall"])


@section("resilience", "Resilience", order=50, needs=("suppliers", "allocations"))
def resilience(ctx: Ctx) -> str | None:
    items = ctx.items()
    n1 = {c: ctx.per_item("n1_coverage", c, "min") for c in ctx.cases}
    parts = ['<p class="lead">N-1: if the largest qualified supplier country of an item fails, how much of demand '
             'can the remaining qualified capacity (including new builds) still cover?</p>']
    if any(n1.values()):
        rows = sorted(set().union(*[set(v) for v in n1.values()]))
        vmax = max([v for d in n1.values() for v in d.values()] + [1.0])
        series = [sv.Series(c, ctx.label(c), sv.case_colour(c), n1[c], hollow=c == "cost_only") for c in ctx.cases]
        refs = {i: ctx.cap("n1_beta", i) for i in rows}
        chart = sv.dumbbell(rows, series, x_max=min(vmax * 1.05, 3.0), fmt=fmt_frac, refs=refs,
                            ref_label="required", vline=(1.0, "full demand"), chart="n1",
                            data_of=lambda r, k, v: {"data-case": k, "data-item": r, "data-value": v},
                            label="N-1 coverage per item")
        has_refs = any(finite(v) and v > 0 for v in refs.values())
        parts.append(figure(chart, "<b>N-1 coverage per item</b>: qualified capacity left after losing the largest "
                                   "supplier, as a share of demand" + (" · black tick: required β" if has_refs else ""),
                            _case_legend(ctx, ctx.cases)))
    sc = n1_scenarios(ctx)
    if len(sc):
        maps = []
        countries = sorted(set(sc["lost_country"]), key=lambda c: (
            {t: k for k, t in enumerate(ctx.tiers)}.get(dict(zip(sc["lost_country"], sc["tier"]))[c], 99), c))
        tier_of = dict(zip(sc["lost_country"], sc["tier"]))
        for case in [c for c in ("baseline", "friendshored") if c in ctx.cases] or ctx.cases[:1]:
            df = sc[sc["case"] == case]
            values = {(r["item"], r["lost_country"]): r["shortfall"] for r in df.to_dict("records")
                      if finite(r["shortfall"])}
            chart = sv.heatmap(
                sorted(set(items) | set(df["item"])), countries, values,
                col_colours={c: ctx.tier_colour(tier_of[c]) for c in countries}, stops=sv.REDS, show_min=0.005,
                title_of=lambda r, c, v, case=case: f"{ctx.label(case)}: losing {c} leaves {fmt_frac(v, 1)} of {r} "
                                                    f"demand without qualified capacity",
                data_of=lambda r, c, v, case=case: {"data-case": case, "data-item": r, "data-country": c,
                                                    "data-shortfall": v},
                chart="n1-shortfall", label=f"N-1 shortfall per scenario, {ctx.label(case)}")
            maps.append(figure(chart, f"<b>{esc(ctx.label(case))}</b>: demand not covered by the remaining qualified "
                                      f"capacity if one supplier country is lost (% of demand; 0 = covered)"))
        parts.append("<h3>Shortfall per loss scenario</h3>" + f'<div class="{_map_grid(countries)}">{"".join(maps)}</div>')
        cols = [Col("case", "case"), Col("item", "item"), Col("lost_country", "lost country"), Col("tier", "tier"),
                Col("lost_capacity", "lost capacity", "num"), Col("capacity_left", "capacity left", "num"),
                Col("demand", "demand", "num"), Col("coverage", "coverage", "frac"),
                Col("shortfall", "shortfall", "frac")]
        parts.append(ctx.table("n1_scenarios", "N-1 loss scenarios (qualified suppliers)", cols,
                               sc[[c.name for c in cols]].values.tolist()))
    return "".join(parts)


def stress_summary(ctx: Ctx) -> pd.DataFrame:
    """One row per case x scenario: worst shortfall %, least TTS, TTR and whether any importer runs out first."""
    df = ctx.t["stress"]
    df = df[df["case"].isin(ctx.cases)]
    rows = []
    order = {c: k for k, c in enumerate(ctx.cases)}
    for (case, scen), g in df.groupby(["case", "scenario"], sort=False):
        worst = g.sort_values(["shortfall_pct", "tts_weeks"], ascending=[False, True], kind="stable").iloc[0]
        rows.append({"case": case, "scenario": scen, "name": str(worst["name"]),
                     "worst_shortfall_pct": float(g["shortfall_pct"].max()),
                     "worst_item": worst["item"], "worst_importer": worst["importer"],
                     "min_tts_weeks": float(g["tts_weeks"].min()),
                     "ttr_weeks": float(g["ttr_weeks"].max()),
                     "tts_below_ttr": bool(g["tts_below_ttr"].any())})
    out = pd.DataFrame(rows, columns=["case", "scenario", "name", "worst_shortfall_pct", "worst_item",
                                      "worst_importer", "min_tts_weeks", "ttr_weeks", "tts_below_ttr"])
    return out.sort_values(["scenario", "case"], key=lambda s: s.map(order) if s.name == "case" else s,
                           kind="stable").reset_index(drop=True)


@section("stress", "Disruption stress test", order=55, needs=("stress",))
def stress_section(ctx: Ctx) -> str | None:
    sm = stress_summary(ctx)
    if not len(sm):
        return None
    scen = list(dict.fromkeys(sm["scenario"]))
    series = [sv.Series(c, ctx.label(c), sv.case_colour(c),
                        {r["scenario"]: r["worst_shortfall_pct"] / 100 for r in sm[sm["case"] == c].to_dict("records")},
                        hollow=c == "cost_only") for c in ctx.cases if c in set(sm["case"])]
    beta = ctx.cap("scenario_beta")
    chart = sv.dumbbell(scen, series, x_max=1.0, fmt=fmt_frac, chart="stress",
                        refs={s: 1 - beta for s in scen} if finite(beta) else None, ref_label="allowed (1 − β)",
                        data_of=lambda r, k, v: {"data-case": k, "data-scenario": r, "data-value": v},
                        label="Worst shortfall per disruption scenario")
    dl = ctx.download("stress_chart", ["case", "scenario", "worst_shortfall_pct"],
                      sm[["case", "scenario", "worst_shortfall_pct"]].values.tolist())
    flagged = sm[sm["tts_below_ttr"]]
    lead = ('<p class="lead">Each scenario is replayed against each plan (contracts, qualified suppliers, builds and '
            'stockpiles fixed): crisis supply is shared fairly among importers, stockpiles drawn last. '
            'Time-to-survive (TTS) is how long demand is fully met where the scenario leaves a shortfall; '
            'time-to-recover (TTR) how long the disruption takes to heal. '
            + (f'<b class="bad">{len(flagged)} case × scenario pair{"s" if len(flagged) != 1 else ""} run out before '
               f'recovery (TTS &lt; TTR).</b>' if len(flagged) else "Every importer lasts until recovery.") + '</p>')
    cols = [Col("case", "case"), Col("scenario", "scenario"), Col("name", "what happens"),
            Col("worst_shortfall_pct", "worst shortfall", "pct"), Col("worst", "worst hit (item / importer)"),
            Col("min_tts_weeks", "min TTS (wk)", "num"), Col("ttr_weeks", "TTR (wk)", "g"),
            Col("tts_below_ttr", "TTS < TTR")]
    # TTS counts only where the scenario leaves a shortfall: "none" otherwise, never 0.
    rows = [[r["case"], r["scenario"], r["name"], r["worst_shortfall_pct"],
             f"{r['worst_item']} / {r['worst_importer']}" if r["worst_shortfall_pct"] > 0 else "–",
             r["min_tts_weeks"] if finite(r["min_tts_weeks"]) else "none (no shortfall)", r["ttr_weeks"], "yes" if r["tts_below_ttr"] else "no"] for r in sm.to_dict("records")]

    def flag(_k: int, c: Col, v: Any) -> str:
        return "bad" if (c.name == "tts_below_ttr" and v == "yes") or (
            c.name == "worst_shortfall_pct" and finite(v) and finite(beta) and v > 100 * (1 - beta) + 1e-6) else ""

    table = ctx.table("stress_scenarios", "Stress test per scenario (worst importer)", cols, rows, classes=flag,
                      note="A TTS of 520 weeks means supply keeps up: the importer never runs out. The full table "
                           "(every scenario × item × importer) is under Data and run.")
    cap = ("<b>Worst shortfall per scenario</b>: largest share of crisis demand any importer misses"
           + (" · black tick: allowed by the robust level (1 − β)" if finite(beta) else "") + dl)
    return lead + figure(chart, cap, _case_legend(ctx, [s.key for s in series])) + table



PROFILES_SHOWN = 4
"""The weekly profiles drawn: the (scenario, item, importer) rows with the largest shortfall in any case."""


@section("profile", "Served demand week by week", order=56, needs=("profile", "stress"))
def profile_section(ctx: Ctx) -> str | None:
    """Weekly served-demand curves of the worst-hit rows, one line per case (issue 20): time-to-survive is
    where a curve first leaves 100 %, and the response clock's delay and ramp show as steps."""
    st_ = ctx.t["stress"]
    st_ = st_[st_["case"].isin(ctx.cases) & (st_["shortfall"] > 0)]
    if not len(st_):
        return None
    prof = ctx.t["profile"]
    prof = prof[prof["case"].isin(ctx.cases)]
    worst = (st_.groupby(["scenario", "item", "importer"], sort=False)["shortfall_pct"].max()
             .sort_values(ascending=False, kind="stable").head(PROFILES_SHOWN))
    figs = []
    for (scen, item, imp), pct in worst.items():
        rows = prof[(prof["scenario"] == scen) & (prof["item"] == item) & (prof["importer"] == imp)]
        pts, lines = [], []
        for case in ctx.cases:
            g = rows[rows["case"] == case].sort_values("week")
            if not len(g):
                continue
            colour = sv.case_colour(case)
            coords = list(zip(g["week"].astype(float), g["served_pct"].astype(float)))
            lines.append((colour, coords))
            pts += [sv.Point(w, v, f"{ctx.label(case)}, week {int(w)}: {v:.1f} % served", colour=colour,
                             data={"data-case": case, "data-week": int(w), "data-value": v}) for w, v in coords]
        chart = sv.scatter(pts, x_label="week of the disruption", y_label="demand served, %",
                           x_fmt=lambda v: f"{v:g}", y_fmt=lambda v: f"{v:.0f} %", polylines=lines, chart="profile",
                           label=f"served demand week by week: {scen}, {item}, {imp}", width=420, height=240,
                           y_span=(0.0, 100.0))
        figs.append(figure(chart, f"<b>{esc(scen)}</b>: {esc(item)} for {esc(imp)} (worst {pct:.1f} % short)"))
    c = ctx.policy.get("crisis") or {}
    bits = ([f"a {c['delay_weeks']:.3g}-week delay"] if c.get("delay_weeks") else []) + \
        ([f"a {c['ramp_weeks']:.3g}-week ramp"] if c.get("ramp_weeks") else []) + \
        ([f"spare capacity shared only within {c['sharing_group']}"] if c.get("sharing_group") else [])
    rule = ", ".join(bits) if bits else "instant and world-wide (no delay, no ramp, everyone shares)"
    lead = ('<p class="lead">Share of each week\'s demand met, for the rows the disruptions hit hardest. '
            'Until the response delay ends only stockpiles and contracted supply arrive; spare capacity then '
            'ramps up to its surge level. The full table (every scenario, item, importer and week) is under '
            'Data and run.' + f" Response: {esc(rule)}.</p>")
    legend = _case_legend(ctx, [c for c in ctx.cases if c in set(prof["case"])])
    return lead + legend + '<div class="grid2">' + "".join(figs) + "</div>"


@section("exposure", "Upstream exposure", order=60, needs=("exposure",))
def exposure_section(ctx: Ctx) -> str | None:
    df = ctx.t["exposure"]
    cases = [c for c in ("baseline", "friendshored") if c in ctx.cases and (df["case"] == c).any()] or \
        [c for c in ctx.cases if (df["case"] == c).any()][:1]
    if not cases:
        return None
    tier_rank = {t: k for k, t in enumerate(ctx.tiers)}
    parts = ['<p class="lead">How much of each importer\'s supply would be lost if a country stopped supplying at '
             '<b>every</b> stage (upstream share: mines and processing included, each plant mixing its inputs pro '
             'rata), next to the share bought from it directly (all a last-tier view sees).</p>']
    charts = []
    for case in cases:
        d = df[df["case"] == case].copy()
        d["_r"] = d["tier"].map(lambda t: tier_rank.get(t, 99))
        d = d.sort_values(["importer", "item", "_r", "upstream_share", "country"],
                          ascending=[True, True, False, False, True], kind="stable")
        labels = [f"{r['importer']} · {r['item']} · {r['country']}" for r in d.to_dict("records")]
        key = dict(zip(labels, d.to_dict("records")))
        series = [sv.Series("direct_share", "direct (last tier)", "#9aa5b1", dict(zip(labels, d["direct_share"])),
                            hollow=True),
                  sv.Series("upstream_share", "upstream (any stage)", "#c0392b",
                            dict(zip(labels, d["upstream_share"])))]
        chart = sv.dumbbell(labels, series, x_max=1.0, fmt=fmt_frac, chart="exposure",
                            data_of=lambda r, k, v, case=case: {
                                "data-case": case, "data-importer": key[r]["importer"], "data-item": key[r]["item"],
                                "data-country": key[r]["country"], "data-measure": k, "data-value": v},
                            label=f"Direct and upstream exposure, {ctx.label(case)}")
        charts.append(figure(chart, f"<b>{esc(ctx.label(case))}</b>: share of supply exposed to each country"))
    legend = sv.legend([("direct (last tier)", "#9aa5b1"), ("upstream (any stage)", "#c0392b")],
                       hollow=["direct (last tier)"])
    parts.append(f'<div class="{_map_grid(cases)}">{"".join(charts)}</div>{legend}')
    cols = [Col("case", "case"), Col("importer", "importer"), Col("item", "item"), Col("country", "country"),
            Col("tier", "tier"), Col("direct_share", "direct share", "frac"),
            Col("upstream_share", "upstream share", "frac")]
    shown = df[df["case"].isin(cases)]
    parts.append(ctx.table("exposure_shown", "Direct vs upstream exposure (charted cases)", cols,
                           shown[[c.name for c in cols]].values.tolist(),
                           note="Upstream share ≥ direct share: material bought from an ally may have been mined "
                                "or processed in the country. Every case is in the exposure table under Data and run."))
    return "".join(parts)


def feed_bars(ctx: Ctx) -> pd.DataFrame:
    """Feeds per case x input item x origin country (summed over destinations), charted cases only."""
    df = ctx.t["feeds"]
    df = df[df["case"].isin(ctx.cases) & (df["volume"] > 0)]
    g = df.groupby(["case", "item", "country", "tier"], sort=False, as_index=False)["volume"].sum()
    total = g.groupby(["case", "item"])["volume"].transform("sum")
    g["share"] = g["volume"] / total
    order = {c: k for k, c in enumerate(ctx.cases)}
    tier_rank = {t: k for k, t in enumerate(ctx.tiers)}
    g["_c"], g["_t"] = g["case"].map(order), g["tier"].map(lambda t: tier_rank.get(t, 99))
    g = g.sort_values(["item", "_c", "_t", "volume", "country"], ascending=[True, True, True, False, True],
                      kind="stable")
    return g.drop(columns=["_c", "_t"]).reset_index(drop=True)


@section("feeds", "Inputs per stage", order=65, needs=("feeds",))
def feeds_section(ctx: Ctx) -> str | None:
    g = feed_bars(ctx)
    if not len(g):
        return None
    parts = ['<p class="lead">What the plants buy upstream: each input (one row per plan) split by the country '
             'that supplies it, coloured by trust tier. A last-tier view of the same plan sees none of this.</p>']
    units = {}
    if "items" in ctx.t:
        units = dict(zip(ctx.t["items"]["id"], ctx.t["items"]["unit"]))
    for item in list(dict.fromkeys(g["item"])):
        d = g[g["item"] == item]
        rows = []
        for case in [c for c in ctx.cases if (d["case"] == c).any()]:
            segs = [sv.Segment(r["country"], r["share"], ctx.tier_colour(r["tier"]),
                               f"{ctx.label(case)}: {r['country']} ({r['tier']}) supplies {fmt_num(r['volume'])} "
                               f"{units.get(item, '')} ({fmt_frac(r['share'], 1)}) of the {item} fed to plants",
                               {"data-case": case, "data-item": item, "data-country": r["country"],
                                "data-volume": r["volume"]}, label=r["country"])
                    for r in d[d["case"] == case].to_dict("records")]
            rows.append((ctx.label(case), segs))
        chart = sv.stacked_bars(rows, x_max=1.0, fmt=fmt_frac, chart="feeds", label=f"{item} fed to plants")
        parts.append(figure(chart, f"<b>{esc(item)}</b> fed to plants, share by supplying country"))
    parts.append(_tier_legend(ctx, [t for t in ctx.tiers if t in set(g["tier"])]))
    cols = [Col("case", "case"), Col("item", "input"), Col("country", "supplier"), Col("tier", "tier"),
            Col("volume", "volume", "num"), Col("share", "share", "frac")]
    parts.append(ctx.table("feeds_by_origin", "Inputs fed to plants, per supplying country", cols,
                           g[[c.name for c in cols]].values.tolist(),
                           note="Per plant and lane: the feeds table under Data and run."))
    return "".join(parts)


@section("diagnosis", "No feasible plan", order=10, kinds=("infeasible",), needs=("diagnosis",))
def diagnosis(ctx: Ctx) -> str:
    d = ctx.t["diagnosis"]
    msgs = "".join(f"<li>{esc(m)}</li>" for m in d["message"] if m)
    cols = [Col("constraint", "constraint"), Col("item", "item"), Col("importer", "importer"), Col("group", "group"),
            Col("limit", "limit", "g"), Col("needed", "needed", "g"), Col("shortfall", "shortfall", "g"),
            Col("unit", "unit")]
    return (banner("bad", f"<b>No feasible plan.</b> The policy cannot all hold: {len(d)} policy level"
                          f"{'s' if len(d) != 1 else ''} must give way. Changing each as below, together, makes the "
                          f"plan feasible.")
            + (f"<ul>{msgs}</ul>" if msgs else "")
            + ctx.table("diagnosis", "Conflicting policy levels", cols, [[r[c.name] for c in cols]
                                                                        for r in d.to_dict("records")]))


@section("data", "Data and run", order=90, kinds=("solve", "study", "infeasible"))
def data_section(ctx: Ctx) -> str:
    items = []
    for name, df in ctx.t.items():
        tid = f"src-{name}"
        ctx.register_df(tid, df, f"{name}.csv")
        src = ctx.folder.files.get(name, "")
        origin = "" if src == f"{name}.csv" else f" · from {src}"
        items.append(f'<li><code>{esc(name)}</code><span class="meta">{len(df):,} rows · {len(df.columns)} columns'
                     f'{esc(origin)}</span>'
                     f'<button class="dl" type="button" data-download="{esc(tid)}">CSV</button></li>')
    rec = ctx.record
    if ctx.folder.kind == "study":
        pairs = [("study", rec.get("name")), ("study file", rec.get("file")), ("base instance", rec.get("base")),
                 ("status", rec.get("status")), ("runs planned", len(rec.get("runs") or []) or None),
                 ("ran in the last call", rec.get("ran")), ("resumed (done before)", rec.get("resumed")),
                 ("wall time", f"{rec['wall_s']:.1f} s" if finite(rec.get("wall_s")) else None),
                 ("study file SHA-256", rec.get("study_sha256")), ("base files SHA-256", rec.get("base_files_sha256"))]
        what, missing = "study.json", "This folder has no study.json."
    else:
        inst = rec.get("instance") or {}
        solver = rec.get("solver") or {}
        timing = rec.get("timing") or {}
        pairs = [("instance", inst.get("name")), ("instance path", inst.get("path")), ("variant", rec.get("variant")),
                 ("overrides", ", ".join(f"{a}={override_text(b)}" for a, b in (rec.get("overrides") or {}).items())),
                 ("solver", f"{solver.get('name', '')} {solver.get('version', '')}".strip()),
                 ("options", ", ".join(f"{a}={b}" for a, b in (rec.get("options") or {}).items() if b not in (None, {}))),
                 ("started (UTC)", timing.get("started_utc")),
                 ("wall time", f"{timing['wall_s']:.1f} s" if finite(timing.get("wall_s")) else None),
                 ("input files SHA-256", inst.get("files_sha256")), ("instance SHA-256", inst.get("instance_sha256"))]
        what, missing = "run.json", "This folder has no run.json."
    kv = [f"<tr><td>{esc(k)}</td><td><code>{esc(v)}</code></td></tr>" for k, v in pairs if v not in (None, "")]
    run = (f'<h3>Run</h3><div class="tblwrap"><table class="t kv"><tbody>{"".join(kv)}</tbody></table></div>'
           f'<details><summary>{what} in full</summary><pre class="json">{esc(json.dumps(rec, indent=2, default=str))}'
           f'</pre></details>') if rec else f'<p class="muted">{missing}</p>'
    return ('<p class="lead">Every table of the output folder, as CSV. The report is built from these files only.</p>'
            f'<ul class="files">{"".join(items)}</ul>' + run)


