"""N-1 resilience: losing any one supplier country leaves enough qualified capacity."""

from __future__ import annotations

from pyomo.environ import Constraint, NonNegativeReals, Param, Set, Var, quicksum, value

from .registry import Lever, register_lever

UPDATES = {"n1_beta_frac": lambda x, k: x.ip[k].n1_beta}
"""Mutable Param -> its value at index k, read from the instance's inputs (models.Inputs): models.update."""


def add_to(m, inst) -> None:
    pol = inst.policy
    beta = {i: pol.for_item(i).n1_beta for i in m.ITEMS}
    beta = {i: b for i, b in beta.items() if b}
    m.N1_ITEMS = Set(initialize=sorted(beta))
    m.n1_beta_frac = Param(m.N1_ITEMS, initialize=beta, mutable=True)
    m.N1_LOSSES = Set(dimen=2, initialize=[s for s in m.SUPPLY_OPTIONS if s[0] in beta], doc="(item, lost country)")

    # Formulation flag "n1_coef": coefficient reduction of N1_Cover.  Every term is a nonnegative
    # coefficient times a binary (Qualify, Build), so a coefficient a can be replaced by min(a, b),
    # b = beta * item demand, without changing the integer points (one term at or above b already
    # satisfies the row; otherwise no coefficient changed) while the LP relaxation only gets tighter.
    # b depends on the item alone, so one aggregate per item still serves every lost country.  The
    # reduction uses beta's build-time value: it stays valid if beta falls, not if it rises, so
    # studies that change n1_beta_frac in place must rebuild (docs/formulation.md, "Modelling choices").
    reduced = "n1_coef" in m.features
    rhs_u = {i: beta[i] * m.look.item_demand_u[i] for i in beta}

    def coef(i, a):
        # Reduced: a number (the structure key keeps capacities exact under n1_coef); else the Param itself.
        return min(value(a), rhs_u[i]) if reduced else a

    # One aggregate per item keeps each N-1 row short: O(countries) nonzeros
    # per item instead of O(countries^2) if every row summed all the others.
    m.QualifiedCap = Var(m.N1_ITEMS, domain=NonNegativeReals,
                         doc="qualified capacity of the item (each term at most beta * demand under n1_coef), unit per year")

    def qualified_capacity(i, c):
        return coef(i, m.capacity_u[i, c]) * m.Qualify[i, c] + quicksum(
            coef(i, m.added_capacity_u[o]) * m.Build[o] for o in m.look.options_at.get((i, c), ())
        )

    def qualified_cap_def(m, i):
        """QualifiedCap[i] = sum_c (capacity_u[i,c] * Qualify[i,c] + sum_{o at (i,c)} added_capacity_u[o] * Build[o])
        for i in N1_ITEMS.

        Total qualified capacity (existing and built) of the item.  Under the
        formulation flag n1_coef every coefficient a is min(a, n1_beta_frac[i] * sum_j demand_u[i,j])
        (beta at build time): the capacity the N-1 rows can credit.
        """
        return m.QualifiedCap[i] == quicksum(qualified_capacity(i, c) for (_, c) in m.look.countries_of[i])

    m.Qualified_Cap_Def = Constraint(m.N1_ITEMS, rule=qualified_cap_def)

    def n1_cover(m, i, lost):
        """QualifiedCap[i] - (capacity_u[i,lost] * Qualify[i,lost] + sum_{o at (i,lost)} added_capacity_u[o] * Build[o])
        >= n1_beta_frac[i] * sum_j demand_u[i,j]   for (i, lost) in N1_LOSSES.

        If any one supplier country is lost, the qualified capacity elsewhere
        still covers beta of the item's total demand (coefficients reduced to
        min(a, beta * demand) under n1_coef, as in Qualified_Cap_Def).
        """
        return m.QualifiedCap[i] - qualified_capacity(i, lost) >= m.n1_beta_frac[i] * m.look.item_demand_u[i]

    m.N1_Cover = Constraint(m.N1_LOSSES, rule=n1_cover)
    register_lever(m, Lever("N1_Cover", "policy.n1_beta", "floor", 0.01, lambda k: {"item": k[0], "country": k[1]},
                            param="n1_beta_frac", key=lambda k: k[0]))
