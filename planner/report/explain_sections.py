"""The explanations section: what binds and what one step of each binding input costs, and the
entry prices of what the plan leaves out (the binding and entry tables of planner/analysis/explain.py)."""

from __future__ import annotations

from planner.report.page import Col, Ctx, esc, section


@section("explanations", "Explanations", order=25, needs=("kpis",))
def explanations(ctx: Ctx) -> str | None:
    b, e = ctx.t_all.get("binding"), ctx.t_all.get("entry")
    if b is None and e is None:
        return None
    multi = b is not None and "period" in b.columns
    parts = ['<p class="lead">Why the plan looks as it does. Marginal prices come from the plan\'s own LP with its '
             'qualifications and builds held as planned: each is the change in cost for one step of the input '
             '(a cap one point tighter, a floor one point higher, one unit more capacity, budget or demand), '
             f'{"in present value" if multi else "per year"}, and holds only until the plan changes shape. Entry '
             'prices re-solve the whole plan with one supplier or plant forced in.</p>']
    if b is not None and len(b):
        policy = b[b["sense"].isin(("cap", "floor"))]
        rest = b[(b["sense"] == "resource") & (b["price"].abs() > 1e-9)]
        shown = list(policy.itertuples()) + list(rest.itertuples())
        cols = ([Col("period", "period", "g")] if multi else []) + [
            Col("family", "constraint"), Col("item", "item"), Col("importer", "importer"), Col("scope", "country or group"),
            Col("level", "input", "g"), Col("slack", "slack", "num"), Col("price", "price of one step", "money"),
            Col("sentence", "in words")]
        rows = [([r.period] if multi else []) + [
            r.family, r.item if isinstance(r.item, str) else "", r.importer if isinstance(r.importer, str) else "",
            next((x for x in (r.country, r.group) if isinstance(x, str)), ""), r.level, r.slack, r.price, r.sentence]
            for r in shown]
        parts.append(ctx.table("binding", "What binds, policy first, each by the size of its price", cols, rows,
                               note=f"{len(b) - len(shown)} binding demand and zero-price rows are in binding.csv"))
    elif b is not None:
        parts.append("<p>No constraint binds: the plan is the cheapest one the capacities allow.</p>")
    if e is not None and len(e):
        ok = e.sort_values("cost_change")
        cols = [Col("kind", "kind"), Col("item", "item"), Col("country", "country"), Col("option", "option"),
                Col("shipped", "volume forced", "num"), Col("cost_change", "cost of entering", "money"),
                Col("per_unit", "per unit", "money"), Col("status", "re-solve"), Col("sentence", "in words")]
        rows = [[r.kind, r.item, r.country, r.option if isinstance(r.option, str) else "", r.shipped, r.cost_change,
                 r.per_unit, r.status, r.sentence] for r in ok.itertuples()]
        parts.append(ctx.table("entry", "Entry prices: what it costs to bring in what the plan leaves out", cols, rows))
    return "".join(parts) if len(parts) > 1 else esc("")
