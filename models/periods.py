"""Multi-period planning: one block of the single-period formulation per period, linked over time.

Each period p is a Pyomo block ``m.Period[p]`` built by the same families as a single-period model,
from the period's view of the instance (``planner.instance.periods.at_period``: that period's
demand, capacity, prices, scenarios and policy levels, and only the investment options that can be
online in it).  Inside a block ``Build[o]`` is not a decision but the share of o's capacity
available in p (continuous); investment, its cost and the programmes' grants live here, on the
decision periods:

    BuildAt[o,d]  binary, 1 if option o is decided in period d          (o,d) in DECISIONS
    Subsidy[o,g,d] >= 0   grant of programme g to o decided in d        (o,g,d) in GRANTS
                          (per year in service if annualised, once if overnight)

Objective: sum_p weight_p * (sum of block p's cost registry)  +  sum_{o,d} capex_pv[o,d] * BuildAt[o,d]
           - sum_{o,g,d} grant_pv[o,g,d] * Subsidy[o,g,d],
with weight_p the discounted years of p; capex_pv the present value of the capex payments (annualised:
capex * sum of weight_p over the periods in service; overnight: factor_d * overnight cost), and grant_pv
that of one unit of grant (annualised: the same sum of weights; overnight: factor_d).
"""

from __future__ import annotations

from pyomo.environ import Binary, Block, Constraint, NonNegativeReals, Objective, Set, Var, minimize, quicksum

from planner.instance.periods import at_period, horizon

from .lookups import Lookups
from .registry import Lever, register_lever


def build(inst, formulation: str, features: frozenset[str], modules):
    from pyomo.environ import ConcreteModel

    if "n1_coef" in features:  # its coefficient reduction assumes binary Build, not an online share
        raise ValueError("formulation with n1_coef is single-period only; expected another formulation")
    h = horizon(inst)
    m = ConcreteModel(name=inst.meta.name)
    m.formulation, m.features, m.built_from = formulation, features, inst
    m.cost_terms = {}
    m.PERIODS = Set(initialize=list(h.ids), ordered=True, doc="planning periods (first year of each)")
    m.Period = Block(m.PERIODS)
    views = {}
    for p in h.ids:
        b = m.Period[p]
        b.features, b.cost_terms, b.look, b.period_block = features, {}, Lookups(), True
        views[p] = at_period(inst, p)
        for module in modules:
            if module.__name__.rsplit(".", 1)[-1] in ("objective", "subsidies"):
                continue
            module.add_to(b, views[p])
    m.look_views = views
    add_links(m, inst, h)
    return m


def add_links(m, inst, h) -> None:
    ids = list(h.ids)
    prev = {p: ids[n - 1] for n, p in enumerate(ids) if n}
    options = {o.option: o for o in inst.investments}
    allowed = set()
    for p in ids:
        allowed |= set(m.Period[p].INVESTMENTS)
    m.DECISIONS = Set(dimen=2, initialize=[(o, d) for o in sorted(allowed) for d in h.decisions(options[o])],
                      doc="(option, period) in which the option may be decided and would produce within the horizon")
    m.BuildAt = Var(m.DECISIONS, domain=Binary, doc="1 if the option is decided in the period")
    online = {(o, d): h.online(options[o], d) for o, d in m.DECISIONS}

    by_option: dict = {}
    for o, d in m.DECISIONS:
        by_option.setdefault(o, []).append(d)

    def build_once(m, o):
        """sum_d BuildAt[o,d] <= 1  for o with a decision period: an option is built at most once."""
        return quicksum(m.BuildAt[o, d] for d in by_option[o]) <= 1

    m.OPTIONS_DECIDED = Set(initialize=sorted(by_option))
    m.Build_Once = Constraint(m.OPTIONS_DECIDED, rule=build_once)

    def online_def(m, p, o):
        """Period[p].Build[o] = sum_d online_frac[o,d,p] * BuildAt[o,d]  for (p,o) with o in Period[p].INVESTMENTS.

        The share of o's capacity available in p: ramp_up in its first period online
        (decision + lead time), 1 afterwards, 0 after its lifetime.
        """
        return m.Period[p].Build[o] == quicksum(online[o, d][p] * m.BuildAt[o, d]
                                                for d in by_option.get(o, ()) if p in online[o, d])

    m.ONLINE = Set(dimen=2, initialize=[(p, o) for p in ids for o in m.Period[p].INVESTMENTS])
    m.Online_Def = Constraint(m.ONLINE, rule=online_def)

    def qualify_lasts(m, p, i, c):
        """Period[p].Qualify[i,c] >= Period[prev(p)].Qualify[i,c]  for (p,i,c) with the option in both periods.

        Qualification, once obtained, lasts (its yearly upkeep is paid in every period held).
        """
        return m.Period[p].Qualify[i, c] >= m.Period[prev[p]].Qualify[i, c]

    m.QUALIFY_LINKS = Set(dimen=3, initialize=[(p, *k) for p in ids[1:] for k in m.Period[p].SUPPLY_OPTIONS
                                                if k in m.Period[prev[p]].SUPPLY_OPTIONS])
    m.Qualify_Lasts = Constraint(m.QUALIFY_LINKS, rule=qualify_lasts)

    def stock_kept(m, p, i, j):
        """Period[p].StrategicStock[i,j] >= Period[prev(p)].StrategicStock[i,j]: stockpiles are built up, never sold."""
        return m.Period[p].StrategicStock[i, j] >= m.Period[prev[p]].StrategicStock[i, j]

    m.STOCK_LINKS = Set(dimen=3, initialize=[(p, *k) for p in ids[1:] for k in m.Period[p].STOCKS])
    m.Stock_Kept = Constraint(m.STOCK_LINKS, rule=stock_kept)

    def shared_kept(m, p, k):
        """Period[p].SharedStock[k] >= Period[prev(p)].SharedStock[k]: shared stockpiles too are never sold."""
        return m.Period[p].SharedStock[k] >= m.Period[prev[p]].SharedStock[k]

    m.SHARED_LINKS = Set(dimen=2, initialize=[(p, k) for p in ids[1:] for k in m.Period[p].SHARED_STOCKS
                                              if k in m.Period[prev[p]].SHARED_STOCKS])
    m.Shared_Kept = Constraint(m.SHARED_LINKS, rule=shared_kept)

    # Ramp limit on switching: a route's volume moves at most max_shift x the later period's demand.
    shift = []
    for p in ids[1:]:
        b, a = m.Period[p], m.Period[prev[p]]
        for r in sorted(set(b.ROUTES) | set(a.ROUTES)):
            s = m.look_views[p].policy.for_item(r[0]).max_shift
            if s is not None and (r[0], r[2]) in b.DEMANDS:
                shift.append((p, *r))
    limit = {k: m.look_views[k[0]].policy.for_item(k[1]).max_shift * m.Period[k[0]].demand_u[k[1], k[3]] for k in shift}

    def vol(b, r):
        return b.Flow[r] if r in b.ROUTES else 0

    def shift_up(m, p, i, c, j):
        """Period[p].Flow[i,c,j] - Period[prev(p)].Flow[i,c,j] <= max_shift[i] * Period[p].demand_u[i,j]  for (p,i,c,j) in SHIFTS."""
        return vol(m.Period[p], (i, c, j)) - vol(m.Period[prev[p]], (i, c, j)) <= limit[p, i, c, j]

    def shift_down(m, p, i, c, j):
        """Period[prev(p)].Flow[i,c,j] - Period[p].Flow[i,c,j] <= max_shift[i] * Period[p].demand_u[i,j]  for (p,i,c,j) in SHIFTS."""
        return vol(m.Period[prev[p]], (i, c, j)) - vol(m.Period[p], (i, c, j)) <= limit[p, i, c, j]

    m.SHIFTS = Set(dimen=4, initialize=shift, doc="(period, item, country, importer) routes under a ramp limit")
    m.Shift_Up = Constraint(m.SHIFTS, rule=shift_up)
    m.Shift_Down = Constraint(m.SHIFTS, rule=shift_down)

    # Programmes. Grants follow the capex payments: annualised, a share of the annual capex every year
    # in service; overnight, a share of the overnight cost in the decision period. A fiscal year's
    # money bounds what is paid in it (carry-over: the running totals).
    progs = {}
    for p in ids:
        for g in m.look_views[p].programmes:
            progs.setdefault(g.id, {})[p] = g
    elig = {}
    for o, d in m.DECISIONS:
        for g in options[o].programmes:
            row = progs.get(g, {}).get(d)
            if row is not None and row.rate > 0:
                elig[o, g, d] = row.rate * h.payment(options[o], d)
    m.GRANTS = Set(dimen=3, initialize=sorted(elig), doc="(option, programme, decision period) eligible grants")
    m.Subsidy = Var(m.GRANTS, domain=NonNegativeReals,
                    doc="grant to an option decided in the period: currency per year in service (annualised) or once")
    # The payment rule is Horizon's: grant -> {period: units paid}, and the present value of one unit.
    m.grant_pay = {k: h.payments(options[k[0]], k[2]) for k in elig}
    m.grant_pv = {k: h.unit_pv(options[k[0]], k[2]) for k in elig}

    def grant_limit(m, o, g, d):
        """Subsidy[o,g,d] <= rate[g,d] * cost[o,d] * BuildAt[o,d]  for (o,g,d) in GRANTS,
        cost = annual capex (annualised) or overnight cost (overnight)."""
        return m.Subsidy[o, g, d] <= elig[o, g, d] * m.BuildAt[o, d]

    m.Grant_Limit = Constraint(m.GRANTS, rule=grant_limit)
    stack: dict = {}
    for o, g, d in elig:
        stack.setdefault((o, d), []).append(g)

    def no_stacking(m, o, d):
        """sum_g Subsidy[o,g,d] <= max_g rate[g,d] * cost[o,d] * BuildAt[o,d]  for (o,d) in STACKED: programmes do not stack."""
        return quicksum(m.Subsidy[o, g, d] for g in stack[o, d]) <= max(elig[o, g, d] for g in stack[o, d]) * m.BuildAt[o, d]

    m.STACKED = Set(dimen=2, initialize=sorted(k for k, v in stack.items() if len(v) > 1))
    m.Grant_No_Stacking = Constraint(m.STACKED, rule=no_stacking)

    paid_in: dict = {}  # (programme, period) -> [(grant, years paid)]
    for k, when in m.grant_pay.items():
        for p, n in when.items():
            paid_in.setdefault((k[1], p), []).append((k, n))
    rows = [(g, p) for g in sorted(progs) for p in ids if any(gg == g and pp <= p for gg, pp in paid_in)]

    def budget(m, g, p):
        """sum_{grants paid in p} years_paid * Subsidy <= budget[g,p] * years[p]  for (g,p) in BUDGETS;
        with carry_over both sides sum over the periods up to p: each fiscal year's money, or the money voted so far."""
        carry = any(r.carry_over for r in progs[g].values())
        ps = [q for q in ids if q <= p] if carry else [p]
        money = sum(progs[g][q].budget * h.years[q] for q in ps if q in progs[g])
        return quicksum(n * m.Subsidy[k] for q in ps for k, n in paid_in.get((g, q), ())) <= money

    m.BUDGETS = Set(dimen=2, initialize=rows, doc="(programme, period) budget rows")
    m.Programme_Budget = Constraint(m.BUDGETS, rule=budget)
    # One currency unit more in a (programme, period) row's money: slope 1; priced in present value.
    register_lever(m, Lever("Programme_Budget", "programmes.budget", "resource", 1.0,
                            lambda k: {"group": k[0], "period": k[1]}, slope=lambda b, k: 1.0))

    capex = {k: h.capex_present(options[k[0]], k[1]) for k in m.DECISIONS}
    m.capex_pv = capex
    m.weights = {p: h.weight(p) for p in ids}
    m.factors = {p: h.factor(p) for p in ids}
    m.Cost_investment = quicksum(capex[k] * m.BuildAt[k] for k in m.DECISIONS)
    m.Cost_subsidy = -quicksum(m.grant_pv[k] * m.Subsidy[k] for k in m.GRANTS)
    m.Total_Cost = Objective(
        expr=quicksum(m.weights[p] * quicksum(m.Period[p].cost_terms.values()) for p in ids)
        + m.Cost_investment + m.Cost_subsidy, sense=minimize)
