"""Flows of each item from supplier countries to importers, and their costs."""

from __future__ import annotations

from pyomo.environ import NonNegativeReals, Var, quicksum

from .registry import register_cost


def add_to(m, inst) -> None:
    m.Flow = Var(m.ROUTES, domain=NonNegativeReals, doc="volume shipped, item unit per year")
    for r in m.ROUTES:
        m.look.outflows.setdefault((r[0], r[1]), []).append(m.Flow[r])
    cost = m.unit_cost_cur_per_u
    register_cost(m, "purchase", quicksum(cost[i, c] * m.Flow[i, c, j] for i, c, j in m.ROUTES))
    register_cost(m, "transport", quicksum(m.transport_cur_per_u[r] * m.Flow[r] for r in m.ROUTES))
    register_cost(
        m,
        "tariff",
        quicksum(m.tariff_frac[i, c, j] * cost[i, c] * m.Flow[i, c, j] for i, c, j in m.ROUTES if m.tariff_frac[i, c, j]),
    )
    if len(m.LICENSED):  # standing export controls that license a route (policy.export_controls)
        register_cost(m, "licence", quicksum(m.licence_cur_per_u[r] * m.Flow[r] for r in m.LICENSED))
