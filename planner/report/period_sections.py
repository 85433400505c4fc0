"""The trajectory section of a multi-period run: dependence, spend, builds and budgets by period."""

from __future__ import annotations

from planner.report import svg as sv
from planner.report.page import ALL, Col, Ctx, figure, section


def lines(series: dict[str, list[tuple[int, float]]], colour, label: str, target: list[tuple[int, float]] = ()) -> str:
    """A line chart of shares (0 to 1) over periods, one line per series, the dated target dashed."""
    xs = sorted({x for pts in series.values() for x, _ in pts} | {x for x, _ in target})
    if not xs:
        return ""
    w, h, left, top, bottom = 560.0, 240.0, 48.0, 14.0, 30.0
    span = max(xs[-1] - xs[0], 1)

    def px(x):
        return left + (w - left - 110) * (x - xs[0]) / span

    def py(v):
        return top + (h - top - bottom) * (1 - v)

    body = []
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line x1="{left}" x2="{w - 110}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#e3e6ea"/>')
        body.append(sv.txt(left - 6, py(t) + 4, f"{t:.0%}", anchor="end"))
    for x in xs:
        body.append(sv.txt(px(x), h - 10, str(x), anchor="middle"))
    if target:
        pts = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in target)
        body.append(f'<polyline points="{pts}" fill="none" stroke="#c0392b" stroke-dasharray="5 4" stroke-width="2"/>')
        body.append(sv.txt(w - 104, py(target[-1][1]) + 4, "target", fill="#c0392b"))
    for name, pts in series.items():
        path = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour(name)}" stroke-width="2.5" '
                    f'data-series="{sv.esc(name)}"/>')
        body += [f'<circle cx="{px(x):.1f}" cy="{py(v):.1f}" r="3.5" fill="{colour(name)}"><title>{sv.esc(name)} '
                 f'{x}: {v:.1%}</title></circle>' for x, v in pts]
        if pts:
            body.append(sv.txt(px(pts[-1][0]) + 8, py(pts[-1][1]) + 4, name))
    return sv.svg(w, h, "".join(body), label)


@section("trajectory", "Trajectory over the periods", order=15, needs=("kpis",))
def trajectory(ctx: Ctx) -> str | None:
    if not ctx.periods:
        return None
    k, worst = ctx.kpis_all, ctx.worst_tier
    per = k[k["period"] != ALL]
    parts = [f'<p class="lead">How the plan moves from period to period ({", ".join(map(str, ctx.periods))}); the '
             f'other sections show the plan of the last period, {ctx.periods[-1]}, and the horizon\'s present-value '
             f'totals.</p>']
    # 1. The least trusted tier's highest share in any importer's supply of any item, against its dated target.
    share = per[(per["kpi"] == "tier_share") & (per["group"] == worst)]
    series = {ctx.label(c): [(int(p), float(g[c].max())) for p, g in share.groupby("period")] for c in ctx.cases}
    levels = (ctx.policy.get("tier_caps") or {}).get(worst)
    target = []
    if isinstance(levels, dict):
        for p in ctx.periods:
            dated = [float(v) for y, v in sorted(levels.items(), key=lambda kv: int(kv[0])) if int(y) <= p]
            if dated:
                target.append((p, dated[-1]))
    colours = {ctx.label(c): sv.case_colour(c) for c in ctx.cases}
    rows = [[c, p, v] for c, pts in series.items() for p, v in pts]
    parts.append(figure(lines(series, colours.get, f"{worst} share by period", target),
                        f"Highest {worst}-tier share of any importer's supply, by period"
                        + ctx.download("trajectory_share", ["case", "period", "share"], rows)))
    # 2. Dependence against the dated target, per item (friendshored plan).
    if target and "friendshored" in ctx.cases:
        goal = dict(target)
        trows = []
        for (i, p), g in share.groupby(["item", "period"]):
            trows.append([i, int(p), goal.get(int(p), float("nan")), float(g["friendshored"].max()),
                          float(g["baseline"].max()) if "baseline" in g else float("nan")])
        parts.append(ctx.table("trajectory_targets", f"{worst} share against the dated cap (highest over importers)",
                               [Col("item", "item"), Col("period", "period", "g"), Col("cap", "cap", "frac"),
                                Col("friendshored", "friendshored", "frac"), Col("baseline", "baseline", "frac")],
                               trows))
    # 3. Spend per period: cost per year by case, public grants and the private remainder.
    costs = ctx.t_all.get("costs")
    if costs is not None and "annual" in costs:
        srows = []
        for (c, p), g in costs[costs["case"].isin(ctx.cases)].groupby(["case", "period"]):
            grants = -float(g.loc[g["component"] == "subsidy", "annual"].sum())
            total = float(g["annual"].sum())
            srows.append([ctx.label(c), int(p), total, grants, total + grants, float(g["value"].sum())])
        parts.append(ctx.table("trajectory_spend", "Spend per period: cost per year, public grants and the private "
                               "remainder (planner's cost before grants), present value",
                               [Col("case", "case"), Col("period", "period", "g"), Col("cost", "cost per year", "money"),
                                Col("public", "public grants", "money"), Col("private", "private before grants", "money"),
                                Col("present_value", "present value", "money")], srows))
    # 4. Build timeline and budgets.
    inv = ctx.t_all.get("investments")
    if inv is not None and "online_from" in inv:
        b = inv[inv["built"] & inv["case"].isin(ctx.cases)]
        if len(b):
            parts.append(ctx.table("trajectory_builds", "Build timeline: decided, online (ramping up), capacity",
                                   [Col("case", "case"), Col("option", "option"), Col("country", "country"),
                                    Col("decided", "decided", "g"), Col("online_from", "online from", "g"),
                                    Col("capacity", "capacity", "num"), Col("subsidy", "grants", "money")],
                                   [[ctx.label(r["case"]), r["option"], r["country"], r["period"], r["online_from"],
                                     r["capacity"], r["subsidy"]] for r in b.to_dict("records")]))
    progs = ctx.t_all.get("programmes")
    if progs is not None and "period" in progs and len(progs):
        g = progs[progs["case"] == "friendshored"] if "friendshored" in ctx.cases else progs.iloc[0:0]
        if len(g):
            parts.append(ctx.table("trajectory_budgets", "Budget use per fiscal period (friendshored plan)",
                                   [Col("programme", "programme"), Col("period", "period", "g"),
                                    Col("budget", "money voted", "money"), Col("used", "paid", "money"),
                                    Col("left", "left", "money")],
                                   [[r["programme"], r["period"], r["budget"], r["used"], r["left"]]
                                    for r in g.to_dict("records")]))
    return "".join(parts)
