"""Multi-period solutions: each period costed by the single-period accounting on its view, the
investments and grants costed on their decision periods, every table with a leading ``period``.

The costs table holds one row per period and component: ``annual`` is the undiscounted money per
year of the period (for overnight capex and grants: the lump paid in the period), ``value`` its
present value; the values sum to the objective (:func:`planner.results.solution.check_costs_match`).
"""

from __future__ import annotations

import pandas as pd

from planner.instance.periods import at_period, horizon
from planner.instance.schema import Instance
from planner.results import solution as sol
from planner.results.schema import columns
from planner.solve.highs import SolveResult

OPERATING = ("purchase", "transport", "tariff", "licence", "qualification", "shortage", "stockpile", "shared_stockpile",
             "scenario_shortage", "scenario_reroute", "scenario_spot",
             "feed_purchase", "feed_transport", "feed_tariff")


def _values(var) -> dict:
    return {k: v for k, v in var.extract_values().items() if v is not None}


def from_model(m, inst: Instance, result: SolveResult, case: str) -> sol.Solution:
    """Read the solution loaded in a solved multi-period model ``m`` (models/periods.py)."""
    h = horizon(inst)
    built_at = {k for k, v in _values(m.BuildAt).items() if v > 0.5}
    # Grants as money paid per period: (option, programme, decision) -> {period: amount}.
    grants = {k: {p: n * v for p, n in m.grant_pay[k].items()} for k, v in _values(m.Subsidy).items() if v > sol.EPS}
    parts = {}
    from pyomo.environ import value

    for p in h.ids:
        b, view = m.Period[p], m.look_views[p]
        online = _values(b.Build)
        parts[p] = sol.account(
            view, case, _values(b.Flow), {k for k, v in _values(b.Qualify).items() if v > 0.5},
            {o for o, v in online.items() if v > sol.EPS}, {},
            _values(b.Shortage) if hasattr(b, "Shortage") else {}, result,
            stock=_values(b.StrategicStock) if hasattr(b, "StrategicStock") else None,
            scenario_short=_values(b.ScenarioShort) if hasattr(b, "ScenarioShort") else None,
            feeds=_values(b.Feed) if hasattr(b, "Feed") else None, online=online,
            shared=_values(b.SharedStock) if hasattr(b, "SharedStock") else None,
            rerouted={k: value(e) for k, e in b.look.rerouted.items()},
            spot=_values(b.Spot) if hasattr(b, "Spot") else None)
    s = combine(inst, case, parts, built_at, grants, result)
    sol.check_costs_match(s, result)
    return s


def from_baseline(inst: Instance) -> sol.Solution | None:
    """Today's sourcing held over the horizon, volumes following each period's demand (business as usual)."""
    parts = {}
    for p in horizon(inst).ids:
        s = sol.from_baseline(at_period(inst, p))
        if s is None:
            return None
        parts[p] = s
    return combine(inst, "baseline", parts, set(), {}, None)


def _stack(parts: dict[int, pd.DataFrame]) -> pd.DataFrame:
    frames = [f.assign(period=p)[["period", *f.columns]] for p, f in parts.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def combine(inst: Instance, case: str, parts: dict[int, sol.Solution], built_at: set, grants: dict,
            result: SolveResult | None) -> sol.Solution:
    h = horizon(inst)
    options = {o.option: o for o in inst.investments}
    tier = inst.tier_of
    # Investments: one row per option, on its decision period.
    decided = {o: d for o, d in built_at}
    inv_rows = []
    for o in inst.investments:
        d = decided.get(o.option)
        paid = sum(sum(w.values()) for (oo, _, _), w in grants.items() if oo == o.option)
        capex = h.capex_present(o, d) if d is not None else 0.0
        pv_grant = sum(h.money_pv(p, x) for (oo, _, _), w in grants.items() if oo == o.option for p, x in w.items())
        inv_rows.append({"period": d, "option": o.option, "item": o.item, "country": o.country,
                         "tier": tier[o.country], "built": d is not None, "capacity": o.capacity, "capex": capex,
                         "subsidy": paid, "net_cost": capex - pv_grant,
                         "programmes": ";".join(sorted({g for (oo, g, _), v in grants.items() if oo == o.option})),
                         "online_from": h.first_online(o, d) if d is not None else None})
    investments = pd.DataFrame(inv_rows, columns=columns("investments", periods=True))
    investments["period"] = investments["period"].astype("Int64")
    investments["online_from"] = investments["online_from"].astype("Int64")

    # Programmes: money and grants per fiscal period.
    prog_rows = []
    for p in h.ids:
        for g in parts[p].programmes.itertuples():
            used = sum(w.get(p, 0.0) for (_, gg, _), w in grants.items() if gg == g.programme)
            money = g.budget * h.years[p]
            prog_rows.append({"period": p, "programme": g.programme, "funding_country": g.funding_country,
                              "rate": g.rate, "budget": money, "used": used, "left": money - used})
    programmes = pd.DataFrame(prog_rows, columns=columns("programmes", periods=True))

    cost_rows = []
    for p in h.ids:
        own = dict(zip(parts[p].costs["component"], parts[p].costs["value"]))
        for c in sol.COST_COMPONENTS + sol.OPTIONAL_COMPONENTS + sol.FEED_COMPONENTS:
            if c not in own and c not in ("investment", "subsidy"):
                continue
            if c in ("investment", "subsidy"):  # money on the payment rule (Horizon), paid in p
                if c == "investment":
                    cash = sum(h.capex_cash(options[o], d).get(p, 0.0) for o, d in built_at)
                else:
                    cash = -sum(w.get(p, 0.0) for w in grants.values())
                pv, annual = h.money_pv(p, cash), h.money_annual(p, cash)
            else:
                annual = float(own[c])
                pv = annual * h.weight(p)
            cost_rows.append({"period": p, "component": c, "value": float(pv), "annual": float(annual)})
    costs = pd.DataFrame(cost_rows, columns=columns("costs", periods=True))

    first = next(iter(parts.values()))
    stock = {p: s.stockpiles for p, s in parts.items() if s.stockpiles is not None}
    feeds = {p: s.feeds for p, s in parts.items() if s.feeds is not None}
    shared = {p: s.shared_stockpiles for p, s in parts.items() if s.shared_stockpiles is not None}
    exposure = None
    if first.exposure is not None:
        exposure = {name: _stack({p: s.exposure[name] for p, s in parts.items()}) for name in first.exposure}
    return sol.Solution(
        case, result,
        _stack({p: s.allocations for p, s in parts.items()}),
        _stack({p: s.suppliers for p, s in parts.items()}),
        investments, programmes,
        _stack({p: s.shortages for p, s in parts.items()}),
        costs,
        tuple(f"{p}: {n}" for p, s in parts.items() for n in s.notes),
        _stack(stock) if stock else None,
        _stack(feeds) if feeds else None,
        exposure,
        periods=parts,
        shared_stockpiles=_stack(shared) if shared else None,
    )
