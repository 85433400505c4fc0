"""Solutions as tidy tables, with one cost accounting for solved and baseline sourcing.

A :class:`Solution` is built from plain data (flows, qualified suppliers,
built options, subsidies) by :func:`account`, whether those came from a solved
model (:func:`from_model`) or from today's sourcing (:func:`from_baseline`).
So the baseline and the optimised plans are costed by the same code, and the
tests check that this accounting sums to the model's objective.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from planner.errors import InconsistentResultError
from planner.results.exposure import baseline_feeds, exposure_tables
from planner.instance.scenarios import expected_weights, reroute_weight, scenarios_of, spot_weights
from planner.instance.schema import Instance
from planner.results.schema import columns
from planner.solve.highs import SolveResult

EPS = 1e-7  # volumes below this are solver noise, not shipments

FEED_COLUMNS = columns("feeds")
"""Columns of the feeds table (multi-tier): an input shipped from a supplier country to a plant's country."""
FEED_COMPONENTS = ("feed_purchase", "feed_transport", "feed_tariff")
"""Cost components of multi-tier instances (added to the costs table only there)."""

COST_COMPONENTS = ("purchase", "transport", "tariff", "qualification", "investment", "subsidy", "shortage", "stockpile",
                   "scenario_shortage")
OPTIONAL_COMPONENTS = ("shared_stockpile", "licence", "scenario_reroute", "scenario_spot")
"""Cost components only where the instance has what they cost (shared stockpiles, licensed routes)."""


@dataclass(frozen=True)
class Solution:
    """One sourcing plan, costed.  Every table is tidy, keyed by string columns."""

    case: str
    """baseline | cost_only | friendshored (or a study run id)."""
    result: SolveResult | None
    """The solve's status, objective, bound and gap; None for an evaluated baseline."""
    allocations: pd.DataFrame
    suppliers: pd.DataFrame
    investments: pd.DataFrame
    programmes: pd.DataFrame
    shortages: pd.DataFrame
    costs: pd.DataFrame
    notes: tuple[str, ...] = field(default=())
    stockpiles: pd.DataFrame | None = None
    """item, importer, existing, level, added, max_stock, holding_cost, cost (one row per stock row)."""
    feeds: pd.DataFrame | None = None
    """Multi-tier only: inputs shipped to plants (item, country, tier, destination, destination_tier, volume, costs)."""
    exposure: dict[str, pd.DataFrame] | None = None
    """Multi-tier only: exposure, exposure_tiers, exposure_stages tables (planner/results/exposure.py)."""
    periods: dict[int, "Solution"] | None = None
    """Multi-period only: period -> that period's accounting on its view (planner/results/periods.py)."""
    shared_stockpiles: pd.DataFrame | None = None
    """Shared stockpiles, one row per (stockpile, member): the level and the member's part of the holding cost."""

    @property
    def total_cost(self) -> float:
        return float(self.costs["value"].sum())

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "allocations": self.allocations,
            "suppliers": self.suppliers,
            "investments": self.investments,
            "programmes": self.programmes,
            "shortages": self.shortages,
            "costs": self.costs,
        } | ({"stockpiles": self.stockpiles} if self.stockpiles is not None else {}) \
          | ({"feeds": self.feeds} if self.feeds is not None else {}) | (self.exposure or {}) \
          | ({"shared_stockpiles": self.shared_stockpiles} if self.shared_stockpiles is not None else {})


def account(
    inst: Instance,
    case: str,
    flows: dict[tuple[str, str, str], float],
    qualified: set[tuple[str, str]],
    built: set[str],
    subsidy: dict[tuple[str, str], float],
    shortage: dict[tuple[str, str], float],
    result: SolveResult | None = None,
    notes: tuple[str, ...] = (),
    stock: dict[tuple[str, str], float] | None = None,
    scenario_short: dict[tuple[str, str, str], float] | None = None,
    feeds: dict[tuple[str, str, str], float] | None = None,
    online: dict[str, float] | None = None,
    shared: dict[str, float] | None = None,
    rerouted: dict[tuple[str, str, str, str], float] | None = None,
    spot: dict[tuple[str, str, str], float] | None = None,
) -> Solution:
    """Cost a sourcing plan.  ``flows`` maps (item, country, importer) -> volume.

    ``stock`` maps (item, importer) -> stockpile level (default: the existing
    stockpiles), ``shared`` a shared stockpile id -> its level (default: existing); ``scenario_short`` maps (scenario, item, importer) -> volume
    short in that scenario, priced at probability x scenario_shortage_cost
    when the policy's expected mode is on.
    """
    tier = inst.tier_of
    sup = inst.supply_by_key
    lanes = inst.lane_for
    dem = inst.demand_qty
    penalty = inst.policy.shortage_penalty

    rows = []
    for (i, c, j), v in sorted(flows.items()):
        if v <= EPS:
            continue
        s = sup[i, c]
        transport, tariff = lanes.get((i, c, j), (0.0, 0.0))
        q = dem.get((i, j), 0.0)
        rows.append(
            {
                "item": i, "importer": j, "country": c, "tier": tier[c], "volume": v,
                "share": v / q if q > 0 else 0.0, "unit_cost": s.unit_cost,
                "purchase": s.unit_cost * v, "transport": transport * v, "tariff": tariff * s.unit_cost * v,
            }
        )
    alloc = pd.DataFrame(rows, columns=columns("allocations"))

    chain = inst.chain
    feeds = feeds or {}
    feed_rows = []
    for (i, c, k), v in sorted(feeds.items()):
        if v <= EPS:
            continue
        s = sup[i, c]
        transport, tariff = chain.route_terms(i, c, k) or (0.0, 0.0)
        feed_rows.append({"item": i, "country": c, "tier": tier[c], "destination": k, "destination_tier": tier[k],
                          "volume": v, "unit_cost": s.unit_cost, "purchase": s.unit_cost * v,
                          "transport": transport * v, "tariff": tariff * s.unit_cost * v})
    feed_table = pd.DataFrame(feed_rows, columns=FEED_COLUMNS)

    shipped = _shipped({**flows, **{(i, c, ("feed", k)): v for (i, c, k), v in feeds.items()}})
    added: dict[tuple[str, str], float] = {}
    for o in inst.investments:
        if o.option in built:
            # A period of a multi-period plan may have only a share of it online (ramp-up).
            share = online.get(o.option, 1.0) if online is not None else 1.0
            added[o.item, o.country] = added.get((o.item, o.country), 0.0) + o.capacity * share
    sup_rows = []
    for (i, c), s in sorted(sup.items()):
        is_q = (i, c) in qualified
        if not is_q and shipped.get((i, c), 0.0) <= EPS:
            continue
        cap = s.capacity + added.get((i, c), 0.0)
        sup_rows.append(
            {
                "item": i, "country": c, "tier": tier[c], "qualified": is_q,
                "qualification_cost": s.qualification_cost if is_q else 0.0,
                "capacity": s.capacity, "built_capacity": added.get((i, c), 0.0),
                "shipped": shipped.get((i, c), 0.0),
                "utilisation": shipped.get((i, c), 0.0) / cap if cap > 0 else float("nan"),
            }
        )
    suppliers = pd.DataFrame(sup_rows, columns=columns("suppliers"))

    inv_rows = []
    for o in inst.investments:
        paid = sum(v for (oo, _), v in subsidy.items() if oo == o.option)
        funders = ";".join(p for (oo, p), v in sorted(subsidy.items()) if oo == o.option and v > EPS)
        b = o.option in built
        inv_rows.append(
            {
                "option": o.option, "item": o.item, "country": o.country, "tier": tier[o.country], "built": b,
                "capacity": o.capacity, "capex": o.capex if b else 0.0, "subsidy": paid,
                "net_cost": (o.capex if b else 0.0) - paid, "programmes": funders,
            }
        )
    investments = pd.DataFrame(inv_rows, columns=columns("investments"))

    prog_rows = []
    for p in inst.programmes:
        used = sum(v for (_, pp), v in subsidy.items() if pp == p.id)
        prog_rows.append(
            {"programme": p.id, "funding_country": p.funding_country, "rate": p.rate, "budget": p.budget,
             "used": used, "left": p.budget - used}
        )
    programmes = pd.DataFrame(prog_rows, columns=columns("programmes"))

    short_rows = [
        {"item": i, "importer": j, "volume": v, "share": v / dem[i, j] if dem.get((i, j)) else 0.0,
         "penalty": penalty * v}
        for (i, j), v in sorted(shortage.items()) if v > EPS
    ]
    shortages = pd.DataFrame(short_rows, columns=columns("shortages"))

    stock_rows = []
    for (i, j), r in sorted(inst.stock_by_key.items()):
        level = max(r.existing, (stock or {}).get((i, j), r.existing))
        stock_rows.append({"item": i, "importer": j, "existing": r.existing, "level": level,
                           "added": level - r.existing, "max_stock": r.max_stock, "holding_cost": r.holding_cost,
                           "cost": r.holding_cost * level})
    stockpiles = pd.DataFrame(stock_rows, columns=columns("stockpiles"))
    shared_rows = []
    for r in inst.shared_stock:
        members = inst.shared_members(r)
        level = max(r.existing, (shared or {}).get(r.id, r.existing))
        key = members if r.cost_split == "demand" else {j: 1.0 / len(members) for j in members}
        for j, part in key.items():  # the stated key splits the holding cost between the members
            shared_rows.append({"id": r.id, "item": r.item, "group": r.group, "importer": j, "existing": r.existing,
                                "level": level, "added": level - r.existing, "max_stock": r.max_stock,
                                "holding_cost": r.holding_cost, "cost_share": part, "cost": part * r.holding_cost * level})
    shared_table = pd.DataFrame(shared_rows, columns=columns("shared_stockpiles"))
    weights = expected_weights(inst) if scenario_short else {}
    expected = sum(weights.get((sc, i), 0.0) * v for (sc, i, _), v in (scenario_short or {}).items() if v > EPS)

    values = {
        "purchase": alloc["purchase"].sum(),
        "transport": alloc["transport"].sum(),
        "tariff": alloc["tariff"].sum(),
        "qualification": suppliers["qualification_cost"].sum(),
        "investment": investments["capex"].sum(),
        "subsidy": -investments["subsidy"].sum(),
        "shortage": shortages["penalty"].sum(),
        "stockpile": stockpiles["cost"].sum(),
        "scenario_shortage": expected,
    }
    if inst.shared_stock:  # the model's term covers stockpiles with members; the others cost nothing here either
        values["shared_stockpile"] = shared_table["cost"].sum()
    if inst.lane_detours and inst.policy.scenario_mode in ("expected", "both"):
        # The model's term: probability x detour cost x the volume its recourse (or the stress test) sent over it.
        scen = {sc.id: sc for sc in scenarios_of(inst)}
        detours = inst.lane_detours
        values["scenario_reroute"] = sum(reroute_weight(inst, scen[sc], detours[i, c, j][0]) * v
                                         for (sc, i, c, j), v in (rerouted or {}).items() if v > EPS)
    sw = spot_weights(inst)
    if sw:  # the model's term: probability x spot premium x what was bought beyond the importer's own contracts
        values["scenario_spot"] = sum(sw.get((sc, i), 0.0) * v for (sc, i, _), v in (spot or {}).items() if v > EPS)
    licence = inst.licence_for
    if licence:  # the same component the model registers when an export control licenses a route
        values["licence"] = sum(licence.get((i, c, j), 0.0) * v for (i, c, j), v in flows.items() if v > EPS)
    if chain.multi_tier:
        values.update({f"feed_{k}": feed_table[k].sum() for k in ("purchase", "transport", "tariff")})
    costs = pd.DataFrame({"component": list(values), "value": [float(v) for v in values.values()]},
                         columns=columns("costs"))
    multi = chain.multi_tier
    exposure = exposure_tables(inst, flows, feeds) if multi else None
    return Solution(case, result, alloc, suppliers, investments, programmes, shortages, costs, notes, stockpiles,
                    feed_table if multi else None, exposure,
                    shared_stockpiles=shared_table if inst.shared_stock else None)


def from_model(m, inst: Instance, result: SolveResult, case: str) -> Solution:
    """Read the solution loaded in a solved model ``m``."""
    if not result.has_solution:
        raise ValueError(f"no solution to read: {result.status}")
    if inst.periods:
        from planner.results import periods

        return periods.from_model(m, inst, result, case)
    flows = {k: v for k, v in m.Flow.extract_values().items() if v is not None}
    qualified = {k for k, v in m.Qualify.extract_values().items() if v is not None and v > 0.5}
    built = {k for k, v in m.Build.extract_values().items() if v is not None and v > 0.5}
    subsidy = {k: v for k, v in m.Subsidy.extract_values().items() if v is not None and v > EPS}
    shortage = {}
    if hasattr(m, "Shortage"):
        shortage = {k: v for k, v in m.Shortage.extract_values().items() if v is not None}
    stock = {k: v for k, v in m.StrategicStock.extract_values().items() if v is not None} \
        if hasattr(m, "StrategicStock") else None
    short = {k: v for k, v in m.ScenarioShort.extract_values().items() if v is not None} \
        if hasattr(m, "ScenarioShort") else None
    feeds = {k: v for k, v in m.Feed.extract_values().items() if v is not None} if hasattr(m, "Feed") else None
    shared = {k: v for k, v in m.SharedStock.extract_values().items() if v is not None} \
        if hasattr(m, "SharedStock") else None
    from pyomo.environ import value

    rerouted = {k: value(e) for k, e in m.look.rerouted.items()}
    spot = {k: v for k, v in m.Spot.extract_values().items() if v is not None} if hasattr(m, "Spot") else None
    s = account(inst, case, flows, qualified, built, subsidy, shortage, result, stock=stock, scenario_short=short,
                feeds=feeds, shared=shared, rerouted=rerouted, spot=spot)
    check_costs_match(s, result)
    return s


def check_costs_match(s: "Solution", result: SolveResult) -> None:
    """Raise unless the summed cost table of a solved case equals the solver's objective.

    Both come from the same solution, so they agree to rounding whatever the gap; a difference
    means the tables were computed from values that are not the solution HiGHS reported (a stale
    persistent model, an accounting bug) and the run must not be reported."""
    if result.objective is None:
        return
    tol = 1e-6 * max(1.0, abs(result.objective))
    if abs(s.total_cost - result.objective) > tol:
        raise InconsistentResultError(
            f"{s.case}: the cost table sums to {s.total_cost!r} but the solver's objective is "
            f"{result.objective!r}; the result is not reported")


def baseline_flows(inst: Instance) -> dict[tuple[str, str, str], float]:
    """Today's sourcing as volumes: shares are applied to the importer's demand."""
    dem = inst.demand_qty
    flows: dict[tuple[str, str, str], float] = {}
    for b in inst.today:
        if (b.item, b.importer) not in dem:  # multi-tier: a row splitting a plant's input (baseline_feeds)
            continue
        v = b.volume if b.volume is not None else (b.share or 0.0) * dem.get((b.item, b.importer), 0.0)
        flows[b.item, b.country, b.importer] = flows.get((b.item, b.country, b.importer), 0.0) + v
    return flows


def from_baseline(inst: Instance, scenario_short: dict[tuple[str, str, str], float] | None = None,
                  rerouted: dict[tuple[str, str, str, str], float] | None = None,
                  spot: dict[tuple[str, str, str], float] | None = None) -> Solution | None:
    """Cost today's sourcing with the same accounting (None if the instance has no baseline).

    Every country that supplies today counts as qualified; no investment is built;
    the stockpiles are the existing ones.  ``scenario_short`` (from the stress
    test of this sourcing) prices its scenario shortfalls in the expected mode, ``rerouted`` its detours.
    Baseline volumes above a supplier's capacity are kept (it is today's fact)
    and flagged in the notes.
    """
    if not inst.today:
        return None
    if inst.periods:
        from planner.results import periods

        return periods.from_baseline(inst)
    flows = baseline_flows(inst)
    qualified = {(i, c) for (i, c, _), v in flows.items() if v > EPS}
    served: dict[tuple[str, str], float] = {}
    for (i, _, j), v in flows.items():
        served[i, j] = served.get((i, j), 0.0) + v
    feeds, notes = baseline_feeds(inst, flows)  # multi-tier: plants' inputs (else none)
    qualified |= {(i, c) for (i, c, _), v in feeds.items() if v > EPS}
    for (i, c), v in sorted(_shipped({**flows, **{(i, c, ("feed", k)): v for (i, c, k), v in feeds.items()}}).items()):
        cap = inst.supply_by_key[i, c].capacity
        if v > cap + 1e-6 * max(1.0, cap):
            notes.append(f"baseline buys {v:g} of {i} from {c}, above its capacity {cap:g}")
    shortage = {k: q - served.get(k, 0.0) for k, q in inst.demand_qty.items() if q - served.get(k, 0.0) > 1e-6 * q}
    for (i, j), v in sorted(shortage.items()):
        notes.append(f"baseline leaves {v:g} of {i} demand in {j} unserved")
    return account(inst, "baseline", flows, qualified, set(), {}, {}, None, tuple(notes), scenario_short=scenario_short,
                   feeds=feeds, rerouted=rerouted, spot=spot)


def _shipped(flows: dict[tuple[str, str, str], float]) -> dict[tuple[str, str], float]:
    """(item, country) -> total volume shipped to all importers."""
    out: dict[tuple[str, str], float] = {}
    for (i, c, _), v in flows.items():
        out[i, c] = out.get((i, c), 0.0) + max(v, 0.0)
    return out
