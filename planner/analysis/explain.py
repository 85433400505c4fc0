"""Explain a solved plan: what binds and what each binding input costs at the margin (the
fixed-plan LP's duals, models/explain.py), and what it would take to bring in a supplier or a plant
the plan leaves out (entry prices: re-solves with the entry forced).

Marginal prices are local: the integer decisions (qualifications, builds) are held as the plan has
them, so a price holds until the plan changes shape. Entry prices re-solve the whole MIP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from planner.instance.schema import Instance
from planner.results.schema import columns
from planner.solve.duals import fixed_plan_duals, restore, snapshot
from planner.solve.highs import SolveOptions, SolveResult, make_solver, solve_model

ORDER = {"cap": 0, "floor": 0, "resource": 1, "demand": 2}
"""Policy rows first, then capacity and budgets, then the marginal cost of demand."""
DEFAULT_ENTRY_TOP = 2
"""Entry prices: the cheapest suppliers and options left out, per item."""
DEFAULT_ENTRY_SHARE = 0.01
"""Entry prices: the share of the item's total demand a left-out supplier is made to ship."""


@dataclass(frozen=True)
class Explanation:
    binding: pd.DataFrame
    entry: pd.DataFrame
    lp: SolveResult | None
    """The fixed-plan LP the prices come from (None: not computed)."""
    note: str = ""


def money(x: float, cur: str) -> str:
    """A readable amount: 'USD 0.9 m', 'USD 3.2 k', 'USD 41'."""
    if " " in cur.strip():  # a scaled currency ("USD thousand", "JPY million"): the number as it is
        return f"{x:,.0f} {cur}" if abs(x) >= 1000 else f"{x:,.3g} {cur}"
    a = abs(x)
    for div, suffix in ((1e9, " bn"), (1e6, " m"), (1e3, " k")):
        if a >= div:
            return f"{cur} {x / div:,.3g}{suffix}"
    return f"{cur} {x:,.3g}"


def _what(r) -> str:
    f, g = r["family"], r.get("group")
    return {"Tier_Share_Cap": f"'{g}'-tier cap", "Group_Share_Cap": f"'{g}' group cap",
            "Country_Share_Cap": f"single-country cap ({r.get('country')})",
            "Stage_Share_Cap": f"stage cap '{g}'", "Upstream_Share_Cap": f"upstream cap '{g}'"}.get(f, f)


def sentence(r, inst: Instance, multi: bool) -> str:
    """The row's price in plain words, in the user's units."""
    cur, units = inst.meta.currency, {i.id: i.unit for i in inst.items}
    when = f" in {r['period']}" if multi and r.get("period") is not None else ""
    per = " (present value)" if multi else " a year"
    p, item, imp = r["price"], r.get("item"), r.get("importer")
    unit = units.get(item, "unit")
    f = r["family"]
    if r["sense"] == "cap":
        return f"tightening the {_what(r)} on {item} for {imp}{when} by 1 point costs {money(p, cur)}{per}"
    if f == "N1_Cover":
        return f"raising N-1 cover of {item} (losing {r.get('country')}){when} by 1 point costs {money(p, cur)}{per}"
    if r["sense"] == "floor":
        return (f"raising the scenario floor of {item} for {imp} in '{r.get('group')}'{when} by 1 point costs "
                f"{money(p, cur)}{per}")
    if f == "Capacity_Limit":
        return f"1 {unit} a year more capacity of {item} in {r.get('country')}{when} saves {money(-p, cur)}{per}"
    if f == "Programme_Budget":
        return f"the {r.get('group')} budget{when} is worth {-p:.3g} {cur} per {cur} at the margin"
    return f"1 {unit} a year more demand for {item} in {imp}{when} costs {money(p, cur)}{per}"


def binding_table(inst: Instance, m, plan: SolveResult, options: SolveOptions | None = None
                  ) -> tuple[pd.DataFrame, SolveResult]:
    """The binding rows of ``m`` (solved, its plan loaded) with their marginal prices, policy first,
    each group by the size of its price; and the fixed-plan LP they come from."""
    import models.explain as mx

    lp, duals = fixed_plan_duals(m, options, implied=mx.implied_when_fixed(m))
    rows = mx.lever_rows(m, duals) if lp.has_solution else []
    multi = bool(inst.periods)
    for r in rows:
        r["sentence"] = sentence(r, inst, multi)
        r["case"], r["status"], r["gap"] = "friendshored", plan.status, plan.gap
    df = pd.DataFrame(rows, columns=columns("binding", periods=multi))
    if len(df):
        order = df["sense"].map(ORDER)
        df = df.assign(_o=order, _a=-df["price"].abs()).sort_values(["_o", "_a"], kind="stable")
        df = df.drop(columns=["_o", "_a"]).reset_index(drop=True)
    return df, lp


def entry_table(inst: Instance, m, plan: SolveResult, solution, options: SolveOptions | None = None,
                top: int = DEFAULT_ENTRY_TOP, share: float = DEFAULT_ENTRY_SHARE) -> pd.DataFrame:
    """Entry prices of the ``top`` cheapest suppliers and build options per item that the plan leaves out:
    the change in total cost when each is forced in (a supplier to ship ``share`` of the item's demand,
    an option to be built), by re-solving the same model with the one extra bound."""
    import models.explain as mx

    cols = columns("entry")
    if top <= 0 or inst.periods or plan.objective is None:
        return pd.DataFrame(columns=cols)
    demand: dict[str, float] = {}
    for d in inst.demand:
        demand[d.item] = demand.get(d.item, 0.0) + d.quantity
    used = solution.suppliers.set_index(["item", "country"])["shipped"].to_dict()
    built = set(solution.investments.loc[solution.investments["built"].astype(bool), "option"])
    cand: list[tuple] = []
    for item in sorted(demand):
        sup = sorted((s for s in inst.supply if s.item == item and used.get((s.item, s.country), 0.0) <= 1e-9),
                     key=lambda s: (s.unit_cost, s.country))[:top]
        cand += [("supplier", item, s.country, "") for s in sup]
        opts = sorted((o for o in inst.investments if o.item == item and o.option not in built),
                      key=lambda o: (o.capex / o.capacity if o.capacity else math.inf, o.option))[:top]
        cand += [("option", item, o.country, o.option) for o in opts]
    values = snapshot(m)
    opt = make_solver()
    rows = []
    try:
        for kind, item, country, option in cand:
            if kind == "supplier":
                forced = mx.force_supplier(m, item, country, share * demand[item])
                if forced is None:
                    continue
                amount, undo = forced
            else:
                undo = mx.force_option(m, option)
                if undo is None:
                    continue
                amount = float("nan")
            try:
                res = solve_model(m, options, solver=opt)
                vol = mx.shipped(m, item, country) if kind == "supplier" and res.has_solution else float("nan")
            finally:
                undo()
            delta = res.objective - plan.objective if res.objective is not None else float("nan")
            rows.append({"case": "friendshored", "kind": kind, "item": item, "country": country, "option": option, "forced": amount,
                         "shipped": vol, "cost_change": delta,
                         "per_unit": delta / vol if kind == "supplier" and vol and vol == vol else float("nan"),
                         "status": res.status, "gap": res.gap})
    finally:
        restore(m, values)
    df = pd.DataFrame(rows, columns=[c for c in cols if c != "sentence"])
    cur, units = inst.meta.currency, {i.id: i.unit for i in inst.items}
    df["sentence"] = [_entry_sentence(r, cur, units, inst) for r in df.to_dict("records")]
    return df[cols]


def _entry_sentence(r, cur: str, units: dict, inst: Instance) -> str:
    per = "" if inst.periods else " a year"
    if r["status"] not in ("optimal", "feasible"):
        return f"{r['item']} from {r['country']}: cannot be brought in under the policy ({r['status']})"
    if r["kind"] == "supplier":
        return (f"forcing {r['country']} to supply {r['shipped']:,.4g} {units.get(r['item'], '')} of {r['item']} "
                f"raises the cost by {money(r['cost_change'], cur)}{per} ({money(r['per_unit'], cur)} per "
                f"{units.get(r['item'], 'unit')}, qualification included): its price gap to the plan")
    return f"building {r['option']} ({r['item']} in {r['country']}) costs {money(r['cost_change'], cur)}{per} more"


def explain(inst: Instance, m, plan: SolveResult, solution, options: SolveOptions | None = None,
            top: int = DEFAULT_ENTRY_TOP, share: float = DEFAULT_ENTRY_SHARE) -> Explanation:
    """Binding rows with their prices and the entry prices of the plan in ``m`` (left as it was)."""
    values = snapshot(m)
    try:
        binding, lp = binding_table(inst, m, plan, options)
    finally:
        restore(m, values)
    note = ""
    if lp.objective is not None and plan.objective is not None and \
            abs(lp.objective - plan.objective) > 1e-6 * max(1.0, abs(plan.objective)):
        note = (f"the fixed-plan LP costs {lp.objective:,.6g}, the plan {plan.objective:,.6g}: the plan's "
                f"continuous part was within its gap of optimal; prices are those of the LP")
    entry = entry_table(inst, m, plan, solution, options, top, share)
    return Explanation(binding, entry, lp, note)
