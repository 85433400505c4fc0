"""Baseline comparison: today's sourcing, the cost-only optimum and the friendshored optimum.

:func:`run_comparison` produces the three :class:`Solution` objects and
:func:`kpi_table` sets their key performance indicators side by side, one row
per KPI and scope, one column per case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from planner.results import solution as sol
from planner.analysis import stress as st
from planner.instance.scenarios import expected_weights, scenarios_of, spot_weights
from planner.analysis.cases import CaseSolver, cost_only, solve_model_case
from planner.instance.schema import Instance
from planner.solve.highs import SolveOptions, SolveResult

CASES = ("baseline", "cost_only", "friendshored")
ALL = "all"


@dataclass(frozen=True)
class Comparison:
    instance: Instance
    solutions: dict[str, sol.Solution | None]
    """case -> solution (None where the case has no data or no feasible solution)."""
    results: dict[str, SolveResult | None]
    """case -> solve result (None for the evaluated baseline)."""
    stress: dict[str, st.StressResult] = field(default_factory=dict)
    """case -> stress test of its sourcing against every scenario (empty without scenarios)."""
    unsolved: Any = None
    """The built model of a friendshored case without a solution, for the diagnosis to reuse."""
    plan_model: Any = None
    """The solved friendshored model, its plan loaded, for the explanations (planner/analysis/explain.py)."""

    @property
    def main(self) -> SolveResult:
        return self.results["friendshored"]

    def kpis(self) -> pd.DataFrame:
        return kpi_table(self.instance, self.solutions, self.results, stress=self.stress)


def run_comparison(inst: Instance, options: SolveOptions | None = None, with_cost_only: bool = True,
                   solve: CaseSolver | None = None) -> Comparison:
    """THE three-case sequence, for `solve`, `stress`, `network` and every study run alike: today's
    sourcing evaluated, the cost-only optimum (``with_cost_only``), the friendshored optimum, each
    sourcing stress-tested against the instance's scenarios, and the baseline costed with its
    scenario shortfalls where the expected mode prices them.

    ``solve(instance, case)`` solves one case (default: build and solve afresh); a study passes its
    persistent solver. A friendshored case without a solution leaves that case's solution None."""
    solve = solve or (lambda case_inst, case: solve_model_case(case_inst, case, options))
    results: dict[str, SolveResult | None] = {"baseline": None}
    solutions: dict[str, sol.Solution | None] = {"baseline": sol.from_baseline(inst)}
    if with_cost_only:
        results["cost_only"], solutions["cost_only"], _ = solve(cost_only(inst), "cost_only")
    results["friendshored"], solutions["friendshored"], model = solve(inst, "friendshored")
    stress = stress_cases(inst, solutions, options)
    if "baseline" in stress and (expected_weights(inst) or spot_weights(inst) or inst.lane_detours):
        # The baseline is costed like the plans: its scenario shortfalls at probability x shortage cost.
        solutions["baseline"] = sol.from_baseline(inst, scenario_short=st.shortfalls(stress["baseline"].table),
                                                  rerouted=stress["baseline"].rerouted,
                                                  spot=st.spot(stress["baseline"].table))
    return Comparison(inst, solutions, results, stress,
                      unsolved=model if solutions["friendshored"] is None else None,
                      plan_model=model if solutions["friendshored"] is not None else None)


def stress_cases(inst: Instance, solutions: dict[str, sol.Solution | None],
                 options: SolveOptions | None = None) -> dict[str, st.StressResult]:
    """Stress test of every case's sourcing against the instance's scenarios (empty if it has none).

    The scenarios are the instance's own (its policy's generators), whatever
    the case's policy: the cost-only plan is tested against the same disruptions.
    """
    scen = scenarios_of(inst)
    if not scen or inst.periods:  # multi-period plans: the model's recourse holds per period; no separate stress test yet
        return {}
    lp = SolveOptions(threads=options.threads, seed=options.seed) if options is not None else None
    return {case: st.stress(inst, st.from_solution(s), scen, lp) for case, s in solutions.items() if s is not None}


# --------------------------------------------------------------------------- KPIs
def _row(kpi: str, unit: str, item: str = ALL, importer: str = ALL, group: str = ALL) -> tuple:
    return (kpi, item, importer, group, unit)


def solution_kpis(inst: Instance, s: sol.Solution) -> dict[tuple, float]:
    """KPIs of one solution: (kpi, item, importer, group, unit) -> value; a multi-period solution's
    per-period KPIs carry the period as a sixth key."""
    if s.periods:
        return _period_kpis(inst, s)
    cur = inst.meta.currency
    out: dict[tuple, float] = {_row("total_cost", cur): s.total_cost}
    for comp, val in zip(s.costs["component"], s.costs["value"]):
        out[_row(f"cost_{comp}", cur)] = float(val)
    out[_row("public_subsidy", cur)] = float(s.investments["subsidy"].sum()) if len(s.investments) else 0.0
    _add_public(out, cur)
    out[_row("capacity_built_options", "count")] = float(s.investments["built"].sum()) if len(s.investments) else 0.0
    for p in s.programmes.itertuples():
        out[_row("budget_used", cur, group=p.programme)] = float(p.used)
        out[_row("budget_left", cur, group=p.programme)] = float(p.left)
    units = {i.id: i.unit for i in inst.items}
    if s.stockpiles is not None:
        for r in s.stockpiles.itertuples():
            out[_row("strategic_stock", units.get(r.item, ""), r.item, r.importer)] = float(r.level)

    # One pass over the allocation columns (a boolean filter per (item, importer) cost most of a
    # study run's time): volumes by (item, importer) and country, and by tier.
    a = s.allocations
    by_country: dict[tuple[str, str], dict[str, float]] = {}
    by_tier: dict[tuple[str, str], dict[str, float]] = {}
    for i, j, c, t, v in zip(a["item"], a["importer"], a["country"], a["tier"], a["volume"]):
        d = by_country.setdefault((i, j), {})
        d[c] = d.get(c, 0.0) + v
        d = by_tier.setdefault((i, j), {})
        d[t] = d.get(t, 0.0) + v
    tiers = inst.meta.tiers
    max_share = 0.0
    for (i, j), q in sorted(inst.demand_qty.items()):
        if q <= 0:
            continue
        shares = [v / q for v in by_country.get((i, j), {}).values()]
        top = float(max(shares)) if shares else 0.0
        max_share = max(max_share, top)
        out[_row("max_country_share", "fraction", i, j)] = top
        out[_row("hhi", "0-1", i, j)] = float(sum(x * x for x in shares))
        tier_vol = by_tier.get((i, j), {})
        for t in tiers:
            out[_row("tier_share", "fraction", i, j, t)] = float(tier_vol.get(t, 0.0) / q)
    out[_row("max_country_share", "fraction")] = max_share
    if s.exposure is not None:  # multi-tier: share of supply passing through each tier at any stage (pro rata)
        for r in s.exposure["exposure_tiers"].itertuples(index=False):
            out[_row("upstream_tier_share", "fraction", r.item, r.importer, r.tier)] = float(r.upstream_share)

    sup = s.suppliers
    caps: dict[str, list[float]] = {}
    for i, ok, c, b in zip(sup["item"], sup["qualified"], sup["capacity"], sup["built_capacity"]):
        if ok:
            caps.setdefault(i, []).append(c + b)
    for i, d in sorted(_item_demand(inst).items()):
        cap = caps.get(i, [])
        out[_row("qualified_suppliers", "count", i)] = float(len(cap))
        total = sum(cap)
        worst = min((total - c for c in cap), default=0.0)
        out[_row("n1_coverage", "fraction of demand", i)] = worst / d if d > 0 else float("nan")
    if len(s.shortages):
        for r in s.shortages.itertuples():
            out[_row("shortage_share", "fraction", r.item, r.importer)] = float(r.share)
    return out


def _add_public(out: dict[tuple, float], cur: str) -> None:
    """The cost counting public money: the planner's cost (net of grants) plus the grants, at the
    same discounting (``cost_subsidy`` is the grants' value, negative)."""
    out[_row("total_cost_with_public", cur)] = out[_row("total_cost", cur)] - out.get(_row("cost_subsidy", cur), 0.0)


def _period_kpis(inst: Instance, s: sol.Solution) -> dict[tuple, float]:
    """Totals over the horizon (net present cost, cumulative grants, highest dependence, the year each
    dated target is first met), then every single-period KPI of each period on its view."""
    from dataclasses import replace

    from planner.instance.periods import at_period, is_trajectory

    cur = inst.meta.currency
    out: dict[tuple, float] = {_row("total_cost", cur): s.total_cost}
    for comp, val in s.costs.groupby("component", sort=False)["value"].sum().items():
        out[_row(f"cost_{comp}", cur)] = float(val)
    inv = s.investments
    out[_row("public_subsidy", cur)] = float(inv["subsidy"].sum()) if len(inv) else 0.0
    _add_public(out, cur)
    out[_row("capacity_built_options", "count")] = float(inv["built"].sum()) if len(inv) else 0.0
    per: dict[int, dict[tuple, float]] = {}
    for p, part in s.periods.items():
        c = s.costs[s.costs["period"] == p]
        part = replace(part, costs=pd.DataFrame({"component": c["component"], "value": c["annual"]}))
        per[p] = solution_kpis(at_period(inst, p), part)
        for k, v in per[p].items():
            out[(*k, str(p))] = v
    # Highest dependence over the horizon.
    for k in {k for d in per.values() for k in d if k[0] in ("max_country_share", "tier_share")}:
        out[(f"horizon_max_{k[0]}", *k[1:])] = max(d.get(k, 0.0) for d in per.values())
    # The year each dated tier cap's final level is first met by every importer of the item.
    for name, traj in (inst.policy.tier_caps or {}).items():
        if not is_trajectory(traj):
            continue
        goal = traj[max(traj)]
        for i in sorted({i for i, _ in inst.demand_qty}):
            met = [p for p, d in per.items()
                   if all(v <= goal + 1e-9 for k, v in d.items() if k[0] == "tier_share" and k[1] == i and k[3] == name)]
            out[_row("target_first_met", "year", i, group=name)] = float(min(met)) if met else math.nan
    return out


def _item_demand(inst: Instance) -> dict[str, float]:
    tot: dict[str, float] = {}
    for (i, _), q in inst.demand_qty.items():
        tot[i] = tot.get(i, 0.0) + q
    return {i: q for i, q in tot.items() if q > 0}


def stress_kpis(inst: Instance, result: st.StressResult) -> dict[tuple, float]:
    """Resilience KPIs of one stress test: worst shortfall (counting demand the sourcing leaves
    unserved before any disruption), expected shortfall, TTS against TTR."""
    units = {i.id: i.unit for i in inst.items}
    table, unserved = result.table, result.unserved
    head = st.summary(table, unserved)
    out: dict[tuple, float] = {
        _row("worst_case_shortfall_pct", "%"): head["worst_case_shortfall_pct"],
        _row("min_tts_weeks", "weeks"): head["min_tts_weeks"],
        _row("min_ttr_weeks", "weeks"): head["min_ttr_weeks"],
        _row("min_tts_ttr_ratio", "TTS/TTR"): head["min_tts_ttr_ratio"],
        _row("scenarios_tts_below_ttr", "count"): head["scenarios_tts_below_ttr"],
    }
    expected = st.expected_shortfall(table)
    # Grouped once, not filtered per item (a study computes these for every run and case).
    worst = table.groupby("item")["shortfall_pct"].max().to_dict()
    planned = unserved.groupby("item")["shortfall_pct"].max().to_dict()
    tts = table.groupby("item")["tts_weeks"].min().to_dict()  # NaN: no scenario leaves the item short
    cover = table.groupby(["item", "importer"])["cover_weeks"].min().to_dict()
    for i in sorted(_item_demand(inst)):
        out[_row("worst_case_shortfall_pct", "%", i)] = max(float(worst.get(i, 0.0)), float(planned.get(i, 0.0)))
        out[_row("expected_shortfall", f"{units.get(i, '')} per year".strip(), i)] = expected.get(i, 0.0)
        out[_row("min_tts_weeks", "weeks", i)] = float(tts.get(i, math.nan)) if i in worst else math.nan
    demanded = _item_demand(inst)
    for (i, j), v in cover.items():
        if i in demanded:
            out[_row("min_cover_weeks", "weeks", i, j)] = float(v)
    return out


def kpi_table(
    inst: Instance, solutions: dict[str, sol.Solution | None], results: dict[str, SolveResult | None],
    stress: dict[str, st.StressResult] | None = None,
) -> pd.DataFrame:
    """One row per KPI and scope (item, importer, group); one column per case.

    Solve status, gap and bound are rows too, so the table carries them wherever it goes. The
    resilience KPIs of the stress tests given (``stress``, from :func:`run_comparison`) are rows as
    well. Nothing here solves anything.
    """
    cur = inst.meta.currency
    per_case = {c: (solution_kpis(inst, s) if s is not None else {}) for c, s in solutions.items()}
    for c, r in (stress or {}).items():
        per_case.setdefault(c, {}).update(stress_kpis(inst, r))
    # Premiums on both bases: the planner's cost (net of grants) and the cost counting public money.
    for basis in ("", "_with_public"):
        base = per_case.get("baseline", {}).get(_row(f"total_cost{basis}", cur))
        cheap = per_case.get("cost_only", {}).get(_row(f"total_cost{basis}", cur))
        for c, k in per_case.items():
            tc = k.get(_row(f"total_cost{basis}", cur))
            if tc is None:
                continue
            for ref_name, ref in (("baseline", base), ("cost_only", cheap)):
                if ref is None:
                    continue
                k[_row(f"premium_vs_{ref_name}{basis}", cur)] = tc - ref
                k[_row(f"premium_vs_{ref_name}{basis}_pct", "%")] = 100.0 * (tc - ref) / ref if ref else float("nan")
    for c, res in results.items():
        if res is None:
            continue
        k = per_case.setdefault(c, {})
        k[_row("proven_optimal", "1=yes")] = 1.0 if res.proven_optimal else 0.0
        k[_row("mip_gap", "fraction")] = res.gap if res.gap is not None else float("nan")
        k[_row("objective_bound", cur)] = res.bound if res.bound is not None else float("nan")

    keys: list[tuple] = []
    seen = set()
    for c in solutions:
        for key in per_case.get(c, {}):
            if key not in seen:
                seen.add(key)
                keys.append(key)
    order = {name: n for n, name in enumerate(_KPI_ORDER)}
    # Per-period rows (a sixth key) after the totals, period by period.
    keys.sort(key=lambda k: (k[5] if len(k) == 6 else "", order.get(k[0], len(order)), k[1] != ALL, k[1],
                             k[2] != ALL, k[2], k[3]))
    if any(len(k) == 6 for k in keys):  # a multi-period run: per-period rows, totals under period 'all'
        keys = [k if len(k) == 6 else (*k, ALL) for k in keys]
        per_case = {c: {(k if len(k) == 6 else (*k, ALL)): v for k, v in d.items()} for c, d in per_case.items()}
    df = pd.DataFrame(keys, columns=["kpi", "item", "importer", "group", "unit", "period"][:len(keys[0]) if keys else 5])
    for c in solutions:
        df[c] = [per_case.get(c, {}).get(key, math.nan) for key in keys]
    return df


_KPI_ORDER = (
    "total_cost", "total_cost_with_public", "premium_vs_baseline", "premium_vs_baseline_pct", "premium_vs_cost_only",
    "premium_vs_cost_only_pct", "premium_vs_baseline_with_public", "premium_vs_baseline_with_public_pct",
    "premium_vs_cost_only_with_public", "premium_vs_cost_only_with_public_pct", "cost_purchase", "cost_transport", "cost_tariff", "cost_qualification",
    "cost_investment", "cost_subsidy", "cost_shortage", "cost_stockpile", "cost_scenario_shortage", "public_subsidy", "capacity_built_options", "budget_used",
    "budget_left", "max_country_share", "tier_share", "upstream_tier_share", "hhi", "qualified_suppliers", "n1_coverage", "shortage_share",
    "strategic_stock", "horizon_max_max_country_share", "horizon_max_tier_share", "target_first_met",
    "worst_case_shortfall_pct", "expected_shortfall", "min_tts_weeks", "min_cover_weeks", "min_ttr_weeks",
    "min_tts_ttr_ratio", "scenarios_tts_below_ttr",
    "proven_optimal", "mip_gap", "objective_bound",
)
