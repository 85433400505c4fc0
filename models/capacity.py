"""Existing capacity and binary capacity investments."""

from __future__ import annotations

from pyomo.environ import Binary, Constraint, Set, Var, quicksum

from .registry import Lever, register_cost, register_lever


def add_to(m, inst) -> None:
    if getattr(m, "period_block", False):
        # A period of a multi-period model: the share of the option's capacity online, set by
        # models/periods.py from the decisions; investment is costed there.
        m.Build = Var(m.INVESTMENTS, bounds=(0, 1), doc="share of the option's capacity online in the period")
    else:
        m.Build = Var(m.INVESTMENTS, domain=Binary, doc="1 if the investment option is built")
        register_cost(m, "investment", quicksum(m.capex_cur[o] * m.Build[o] for o in m.INVESTMENTS))

    def capacity_limit(m, i, c):
        """sum_j Flow[i,c,j] (+ sum_k Feed[i,c,k]) <= capacity_u[i,c] * Qualify[i,c] + sum_{o at (i,c)} added_capacity_u[o] * Build[o]
        for (i,c) in SHIPPING_OPTIONS.

        Shipments never exceed existing plus built capacity.  Multiplying the
        existing capacity by Qualify is valid (no flow without qualification)
        and tightens the relaxation.
        """
        shipped = quicksum(m.look.outflows[i, c])  # final flows, and feeds to plants in multi-tier instances
        built = quicksum(m.added_capacity_u[o] * m.Build[o] for o in m.look.options_at.get((i, c), ()))
        # Formulation "naive" leaves existing capacity plain (Flow_Link alone forbids unqualified flow).
        existing = m.capacity_u[i, c] * m.Qualify[i, c] if qual_cap else m.capacity_u[i, c]
        return shipped <= existing + built

    qual_cap = "qual_cap" in m.features
    m.SHIPPING_OPTIONS = Set(dimen=2, initialize=sorted(m.look.outflows), doc="supply options with a route or a feed route")
    m.Capacity_Limit = Constraint(m.SHIPPING_OPTIONS, rule=capacity_limit)
    # One unit more existing capacity adds Qualify (fixed at its value) to the right-hand side, or 1.
    register_lever(m, Lever("Capacity_Limit", "supply.capacity", "resource", 1.0,
                            lambda k: {"item": k[0], "country": k[1]},
                            slope=(lambda b, k: b.Qualify[k].value) if qual_cap else (lambda b, k: 1.0)))

    if "cover_cuts" in m.features and not inst.policy.allow_shortage:

        def capacity_cover(m, i):
            """sum_{(i,c) in SHIPPING_OPTIONS} (capacity_u[i,c] * Qualify[i,c] + sum_{o at (i,c)} added_capacity_u[o] * Build[o])
            >= sum_j demand_u[i,j]   for i in ITEMS.

            Aggregated capacity cover: the qualified (existing and built) capacity
            of an item covers its total demand; implied by Demand_Balance and
            Capacity_Limit, stated as one knapsack row per item for cover cuts.
            """
            sites = [k for k in m.look.countries_of.get(i, ()) if k in m.look.routes_from]
            return quicksum(
                m.capacity_u[k] * m.Qualify[k]
                + quicksum(m.added_capacity_u[o] * m.Build[o] for o in m.look.options_at.get(k, ()))
                for k in sites
            ) >= m.look.item_demand_u[i]

        m.Capacity_Cover = Constraint(m.ITEMS, rule=capacity_cover)

    def build_needs_qualify(m, o):
        """Build[o] <= Qualify[site(o)]  for o in INVESTMENTS.

        A new plant is a qualified supplier of its item: capacity is only
        counted (in flows and in N-1 cover) where the host is qualified.
        """
        return m.Build[o] <= m.Qualify[m.look.option_site[o]]

    m.Build_Needs_Qualify = Constraint(m.INVESTMENTS, rule=build_needs_qualify)
