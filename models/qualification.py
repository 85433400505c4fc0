"""Supplier qualification: flows only from qualified countries, at a fixed cost."""

from __future__ import annotations

from pyomo.environ import Binary, Constraint, Set, Var, quicksum

from .registry import register_cost


def add_to(m, inst) -> None:
    m.Qualify = Var(m.SUPPLY_OPTIONS, domain=Binary, doc="1 if the country is a qualified supplier of the item")
    register_cost(
        m,
        "qualification",
        quicksum(m.qualification_cost_cur[k] * m.Qualify[k] for k in m.SUPPLY_OPTIONS if m.qualification_cost_cur[k]),
    )

    def flow_link(m, i, c, j):
        """Flow[i,c,j] <= min(max_capacity_u[i,c], demand_u[i,j]) * Qualify[i,c]  for (i,c,j) in ROUTES.

        No flow from an unqualified supplier.  The coefficient is the tightest
        bound the data gives (not a loose big-M), which keeps the LP relaxation strong.
        """
        return m.Flow[i, c, j] <= min(m.max_capacity_u[i, c], m.demand_u[i, j]) * m.Qualify[i, c]

    m.Flow_Link = Constraint(m.ROUTES, rule=flow_link)

    m.MIN_ORDER_OPTIONS = Set(
        dimen=2, initialize=[k for k in m.SUPPLY_OPTIONS if m.min_order_u[k] > 0], doc="options with a minimum order"
    )

    def min_order(m, i, c):
        """sum_j Flow[i,c,j] >= min_order_u[i,c] * Qualify[i,c]  for (i,c) in MIN_ORDER_OPTIONS.

        A qualified supplier is bought from at least its minimum order volume.
        """
        return quicksum(m.Flow[r] for r in m.routes_from.get((i, c), ())) >= m.min_order_u[i, c] * m.Qualify[i, c]

    m.Min_Order = Constraint(m.MIN_ORDER_OPTIONS, rule=min_order)
