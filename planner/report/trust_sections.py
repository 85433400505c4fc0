"""Who counts as a friend: the tiers a trust rule derived in a solve, and a study's definitions side
by side (the tiers table of planner/analysis/trust.py; the members_<tier> and supplier_countries
columns of a study's results)."""

from __future__ import annotations

import pandas as pd

from planner.report import svg as sv
from planner.report.page import Col, Ctx, esc, figure, finite, fmt_frac, section

SOLVED = ("optimal", "feasible")


@section("friends", "Who counts as a friend", order=4, needs=("tiers",))
def solve_friends(ctx: Ctx) -> str | None:
    t = ctx.t_all.get("tiers")
    if t is None or not len(t):
        return None
    rec = ctx.record.get("trust") or {}
    parts = [f'<p class="lead">The tiers of this run come from a rule, not from countries.csv: '
             f'{esc(rec.get("rule_text", ""))}. Voting with the anchors in the UN General Assembly (data to '
             'January 2020) is a proxy for alignment, not trust itself.</p>']
    for note in rec.get("notes") or []:
        parts.append(f'<p class="warn">{esc(note)}</p>')
    cols = [Col("code", "country"), Col("name", "name"), Col("table_tier", "countries.csv"),
            Col("score", "score", "dec2"), Col("percentile", "percentile", "dec2"), Col("votes", "votes", "int"),
            Col("tier", "tier"),
            Col("basis", "why")]
    rows = [[r.code, r.name, r.table_tier, r.score, r.percentile, r.votes, r.tier, r.basis] for r in t.itertuples()]
    moved = int((t["tier"] != t["table_tier"]).sum())
    parts.append(ctx.table("tiers", f"Tiers under the rule ({moved} differ from countries.csv)", cols, rows))
    return "".join(parts)


def _members(r: pd.DataFrame) -> list[str]:
    return [c for c in r.columns if c.startswith("members_")]


@section("study-friends", "Who counts as a friend", order=27, kinds=("study",), needs=("results",))
def study_friends(ctx: Ctx) -> str | None:
    r = ctx.t["results"]
    cols = _members(r)
    if not cols:
        return None
    if r[cols].astype(str).drop_duplicates().shape[0] < 2:
        return None  # every run has the same tiers: nothing to compare
    tiers = [c[len("members_"):] for c in cols]
    worst = tiers[-1]
    prem = next((c for c in ("premium_vs_cost_only_pct", "premium_vs_baseline_pct") if c in r), None)
    share = f"max_tier_share_{worst}"
    parts = [f'<p class="lead">Each run\'s definition of a friend (its trust tiers), what its plan costs and how much '
             f'it still takes from the {esc(worst)} tier. A definition is a policy choice: results that flip between '
             'close definitions are fragile.</p>']
    pts, dep = [], []
    rows = []
    for x in r.to_dict("records"):
        label = x["group"] if x["kind"] == "scenario" else x["run_id"]
        n_top = len([c for c in str(x[cols[0]]).split(";") if c and c != "nan"])
        rows.append([label, *[str(x[c]).replace(";", ", ") if isinstance(x[c], str) else "" for c in cols],
                     x.get(prem, float("nan")) if prem else float("nan"), x.get(share, float("nan")),
                     str(x.get("supplier_countries", "")).replace(";", ", "), x["status"]])
        n_worst = len([c for c in str(x[cols[-1]]).split(";") if c and c != "nan"])
        if x["status"] in SOLVED and finite(x.get(share)):
            dep.append(sv.Point(float(n_worst), float(x[share]), f"{label}: {n_worst} {worst}, largest {worst} share "
                                f"{fmt_frac(x[share])}", {"data-run": x["run_id"], "data-members": n_worst,
                                                          "data-share": float(x[share])},
                                colour=sv.CASE_COLOURS["friendshored"] if x["kind"] != "scenario" else "#e08a1e"))
        if x["status"] in SOLVED and prem and finite(x.get(prem)):
            pts.append(sv.Point(float(n_top), float(x[prem]), f"{label}: {n_top} {tiers[0]}, {x[prem]:+.2f} %",
                                {"data-run": x["run_id"], "data-allies": n_top, "data-value": float(x[prem])},
                                colour=sv.CASE_COLOURS["friendshored"] if x["kind"] != "scenario" else "#e08a1e",
                                label=str(label) if x["kind"] == "scenario" else ""))
    head = [Col("run", "definition")] + [Col(c, t) for c, t in zip(cols, tiers)] + [
        Col("premium", "premium", "pct"), Col("share", f"largest {worst} share", "frac"), Col("suppliers", "plan buys from"),
        Col("status", "status")]
    figs = []
    if pts:
        figs.append(figure(sv.scatter(pts, x_label=f"countries in the {tiers[0]} tier", y_label="premium, %",
                                      x_fmt=lambda v: f"{v:g}", y_fmt=lambda v: f"{v:+.2f} %", chart="friends",
                                      label="who counts as a friend against the premium", width=520, height=300),
                           f"<b>Cost</b>: each run's number of {esc(tiers[0])}-tier countries against its premium "
                           "(orange: named definitions)"))
    if dep:
        figs.append(figure(sv.scatter(dep, x_label=f"countries in the {worst} tier", y_label=f"largest {worst} share",
                                      x_fmt=lambda v: f"{v:g}", y_fmt=lambda v: fmt_frac(v), chart="friends-dependence",
                                      label="who counts as a friend against dependence", width=520, height=300),
                           f"<b>Dependence</b>: each run's number of {esc(worst)}-tier countries against the largest "
                           f"share any importer still takes from them"))
    if figs:
        parts.append(f'<div class="grid2">{"".join(figs)}</div>')
    parts.append(ctx.table("friends", "Definitions side by side", head, rows))
    return "".join(parts)
