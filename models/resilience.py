"""N-1 resilience: losing any one supplier country leaves enough qualified capacity."""

from __future__ import annotations

from pyomo.environ import Constraint, NonNegativeReals, Param, Set, Var, quicksum


def add_to(m, inst) -> None:
    pol = inst.policy
    beta = {i: pol.for_item(i).n1_beta for i in m.ITEMS}
    beta = {i: b for i, b in beta.items() if b}
    m.N1_ITEMS = Set(initialize=sorted(beta))
    m.n1_beta_frac = Param(m.N1_ITEMS, initialize=beta, mutable=True)
    m.N1_LOSSES = Set(dimen=2, initialize=[s for s in m.SUPPLY_OPTIONS if s[0] in beta], doc="(item, lost country)")

    # One aggregate per item keeps each N-1 row short: O(countries) nonzeros
    # per item instead of O(countries^2) if every row summed all the others.
    m.QualifiedCap = Var(m.N1_ITEMS, domain=NonNegativeReals, doc="qualified capacity of the item, unit per year")

    def qualified_capacity(i, c):
        return m.capacity_u[i, c] * m.Qualify[i, c] + quicksum(
            m.added_capacity_u[o] * m.Build[o] for o in m.options_at.get((i, c), ())
        )

    def qualified_cap_def(m, i):
        """QualifiedCap[i] = sum_c (capacity_u[i,c] * Qualify[i,c] + sum_{o at (i,c)} added_capacity_u[o] * Build[o])
        for i in N1_ITEMS.

        Total qualified capacity (existing and built) of the item.
        """
        return m.QualifiedCap[i] == quicksum(qualified_capacity(i, c) for (_, c) in m.countries_of[i])

    m.Qualified_Cap_Def = Constraint(m.N1_ITEMS, rule=qualified_cap_def)

    def n1_cover(m, i, lost):
        """QualifiedCap[i] - (capacity_u[i,lost] * Qualify[i,lost] + sum_{o at (i,lost)} added_capacity_u[o] * Build[o])
        >= n1_beta_frac[i] * sum_j demand_u[i,j]   for (i, lost) in N1_LOSSES.

        If any one supplier country is lost, the qualified capacity elsewhere
        still covers beta of the item's total demand.
        """
        return m.QualifiedCap[i] - qualified_capacity(i, lost) >= m.n1_beta_frac[i] * m.item_demand_u[i]

    m.N1_Cover = Constraint(m.N1_LOSSES, rule=n1_cover)
