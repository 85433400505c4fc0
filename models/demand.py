"""Demand balance, with a penalised shortage only where the policy allows it."""

from __future__ import annotations

from pyomo.environ import Constraint, NonNegativeReals, Var, quicksum

from .registry import Lever, register_cost, register_lever


def add_to(m, inst) -> None:
    pol = inst.policy
    if pol.allow_shortage:
        m.Shortage = Var(m.DEMANDS, domain=NonNegativeReals, doc="unmet demand, item unit per year")
        register_cost(m, "shortage", pol.shortage_penalty * quicksum(m.Shortage[d] for d in m.DEMANDS))

    def demand_balance(m, i, j):
        """sum_c Flow[i,c,j] (+ Shortage[i,j]) = demand_u[i,j]  for (i,j) in DEMANDS.

        Every importer's demand for every item is met exactly, from supply or,
        if the policy allows it, from a penalised shortage.
        """
        served = quicksum(m.Flow[r] for r in m.look.routes_to.get((i, j), ()))
        if pol.allow_shortage:
            served += m.Shortage[i, j]
        return served == m.demand_u[i, j]

    m.Demand_Balance = Constraint(m.DEMANDS, rule=demand_balance)
    # One unit more demand moves the right-hand side by one: the dual is the marginal cost of supply.
    register_lever(m, Lever("Demand_Balance", "demand.quantity", "demand", 1.0,
                            lambda k: {"item": k[0], "importer": k[1]}, slope=lambda b, k: 1.0))
