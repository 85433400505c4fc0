"""Sparse index sets and data parameters.

Every set holds only combinations that exist in the data (a supply row, a
usable lane, a positive demand), so no later module loops over a dense product.
Countries in tiers excluded by the policy get no supply option at all.

Unit suffixes: ``_u`` item unit (per year), ``_cur`` currency (per year),
``_cur_per_u`` currency per item unit, ``_frac`` fraction.
"""

from __future__ import annotations

from pyomo.environ import Param, Set, value

UPDATES = {
    # Mutable Param -> its value at index k, read from the instance's inputs (models.Inputs): models.update.
    # Capacities, prices and capex vary across an uncertainty study's samples; the structure key says
    # when a capacity is structure instead (multi-tier chains, N-2 generators, formulation n1_coef).
    "capacity_u": lambda x, k: x.inst.supply_by_key[k].capacity,
    "unit_cost_cur_per_u": lambda x, k: x.inst.supply_by_key[k].unit_cost,
    "capex_cur": lambda x, k: x.option[k].capex,
}


def add_to(m, inst) -> None:
    pol = inst.policy
    excluded = set(pol.exclude_tiers)
    tier = inst.tier_of
    demand = {k: q for k, q in inst.demand_qty.items() if q > 0}
    allowed = {k: s for k, s in inst.supply_by_key.items() if tier[s.country] not in excluded}
    routes = {k: v for k, v in inst.open_lanes.items() if (k[0], k[1]) in allowed and (k[0], k[2]) in demand}
    chain_items = inst.chain.closure(i for i, _ in demand)  # multi-tier: the inputs upstream of demanded items too
    # An option for an item nobody needs (a period before its demand starts) has nothing to do.
    options = [o for o in inst.investments if (o.item, o.country) in allowed and o.item in chain_items]
    prog = {p.id: p for p in inst.programmes}

    m.ITEMS = Set(initialize=sorted({i for i, _ in demand}), doc="items with positive demand")
    m.DEMANDS = Set(dimen=2, initialize=sorted(demand), doc="(item, importer) with positive demand")
    m.SUPPLY_OPTIONS = Set(
        dimen=2,
        initialize=sorted(k for k in allowed if k[0] in chain_items),
        doc="(item, country) supply rows of allowed tiers",
    )
    m.ROUTES = Set(dimen=3, initialize=sorted(routes), doc="(item, country, importer) usable routes")
    m.INVESTMENTS = Set(initialize=[o.option for o in options], doc="investment options in allowed countries")
    m.PROGRAMMES = Set(initialize=sorted(prog), doc="subsidy programmes")
    m.FUNDING = Set(
        dimen=2,
        initialize=[(o.option, p) for o in options for p in o.programmes if p in prog],
        doc="(option, programme) eligible pairs",
    )

    m.demand_u = Param(m.DEMANDS, initialize=demand)
    m.capacity_u = Param(m.SUPPLY_OPTIONS, initialize={k: allowed[k].capacity for k in m.SUPPLY_OPTIONS}, mutable=True)
    m.unit_cost_cur_per_u = Param(m.SUPPLY_OPTIONS, initialize={k: allowed[k].unit_cost for k in m.SUPPLY_OPTIONS},
                                  mutable=True)
    m.qualification_cost_cur = Param(
        m.SUPPLY_OPTIONS, initialize={k: allowed[k].qualification_cost for k in m.SUPPLY_OPTIONS}
    )
    m.min_order_u = Param(m.SUPPLY_OPTIONS, initialize={k: allowed[k].min_order for k in m.SUPPLY_OPTIONS})
    m.transport_cur_per_u = Param(m.ROUTES, initialize={k: routes[k][0] for k in m.ROUTES})
    m.tariff_frac = Param(m.ROUTES, initialize={k: routes[k][1] for k in m.ROUTES})
    licence = inst.licence_for  # export controls that license a route (forbidden ones are not in ROUTES)
    m.LICENSED = Set(dimen=3, initialize=[r for r in m.ROUTES if r in licence], doc="routes that need a licence")
    m.licence_cur_per_u = Param(m.LICENSED, initialize={r: licence[r] for r in m.LICENSED})
    m.added_capacity_u = Param(m.INVESTMENTS, initialize={o.option: o.capacity for o in options})
    m.capex_cur = Param(m.INVESTMENTS, initialize={o.option: o.capex for o in options}, mutable=True)
    m.look.option_site = {o.option: (o.item, o.country) for o in options}

    # Lookups used by several families; plain dicts keep the build fast.
    m.look.routes_from = _group(m.ROUTES, lambda r: (r[0], r[1]))  # (item, country) -> routes
    # (item, country) -> every variable shipping out of the option: final flows (flows.py) and, in multi-tier
    # instances, feeds to plants (bom.py); capacity and minimum-order rows sum it.
    m.look.outflows = {}
    m.look.routes_to = _group(m.ROUTES, lambda r: (r[0], r[2]))  # (item, importer) -> routes
    m.look.options_at = _group(m.INVESTMENTS, lambda o: m.look.option_site[o])  # (item, country) -> options
    m.look.countries_of = _group(m.SUPPLY_OPTIONS, lambda k: k[0])  # item -> supply options
    refresh(m)
    m.look.item_demand_u = {}
    for (i, _), q in demand.items():
        m.look.item_demand_u[i] = m.look.item_demand_u.get(i, 0.0) + q


def refresh(m) -> None:
    """Look-ups derived from the Params' current values (again after models.update sets them)."""
    # Most an option could ever deliver: existing plus every investment.
    m.look.max_capacity_u = {
        k: value(m.capacity_u[k]) + sum(m.added_capacity_u[o] for o in m.look.options_at.get(k, ()))
        for k in m.SUPPLY_OPTIONS
    }


def _group(index, key) -> dict:
    out: dict = {}
    for k in index:
        out.setdefault(key(k), []).append(k)
    return out
