"""Existing capacity and binary capacity investments."""

from __future__ import annotations

from pyomo.environ import Binary, Constraint, Set, Var, quicksum

from .registry import register_cost


def add_to(m, inst) -> None:
    m.Build = Var(m.INVESTMENTS, domain=Binary, doc="1 if the investment option is built")
    register_cost(m, "investment", quicksum(m.capex_cur[o] * m.Build[o] for o in m.INVESTMENTS))

    def capacity_limit(m, i, c):
        """sum_j Flow[i,c,j] <= capacity_u[i,c] * Qualify[i,c] + sum_{o at (i,c)} added_capacity_u[o] * Build[o]
        for (i,c) in SHIPPING_OPTIONS.

        Shipments never exceed existing plus built capacity.  Multiplying the
        existing capacity by Qualify is valid (no flow without qualification)
        and tightens the relaxation.
        """
        shipped = quicksum(m.Flow[r] for r in m.routes_from[i, c])
        built = quicksum(m.added_capacity_u[o] * m.Build[o] for o in m.options_at.get((i, c), ()))
        return shipped <= m.capacity_u[i, c] * m.Qualify[i, c] + built

    m.SHIPPING_OPTIONS = Set(dimen=2, initialize=sorted(m.routes_from), doc="supply options with at least one route")
    m.Capacity_Limit = Constraint(m.SHIPPING_OPTIONS, rule=capacity_limit)

    def build_needs_qualify(m, o):
        """Build[o] <= Qualify[site(o)]  for o in INVESTMENTS.

        A new plant is a qualified supplier of its item: capacity is only
        counted (in flows and in N-1 cover) where the host is qualified.
        """
        return m.Build[o] <= m.Qualify[m.option_site[o]]

    m.Build_Needs_Qualify = Constraint(m.INVESTMENTS, rule=build_needs_qualify)
