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

    tight = "tight_link" in m.features

    def link_u(i, c, j):
        # The tightest bound the data gives; formulation "naive" uses the item's total demand (a big-M).
        return min(m.look.max_capacity_u[i, c], m.demand_u[i, j]) if tight else m.look.item_demand_u[i]

    def flow_link(m, i, c, j):
        """Flow[i,c,j] <= min(max_capacity_u[i,c], demand_u[i,j]) * Qualify[i,c]  for (i,c,j) in ROUTES.

        No flow from an unqualified supplier.  The coefficient is the tightest
        bound the data gives (not a loose big-M), which keeps the LP relaxation strong.
        """
        return m.Flow[i, c, j] <= link_u(i, c, j) * m.Qualify[i, c]

    m.Flow_Link = Constraint(m.ROUTES, rule=flow_link)

    if "cover_cuts" in m.features:

        def demand_cover(m, i, j):
            """sum_c min(max_capacity_u[i,c], demand_u[i,j]) * Qualify[i,c] >= demand_u[i,j]  for (i,j) in DEMANDS.

            The qualified suppliers reaching an importer can cover its demand: a
            knapsack row implied by Demand_Balance and Flow_Link (valid only without
            shortage), stated explicitly so the solver can derive cover cuts from it.
            """
            return quicksum(link_u(*r) * m.Qualify[r[0], r[1]] for r in m.look.routes_to.get((i, j), ())) >= m.demand_u[i, j]

        covered = [] if inst.policy.allow_shortage else list(m.DEMANDS)
        m.Demand_Cover = Constraint(covered, rule=demand_cover)

    m.MIN_ORDER_OPTIONS = Set(
        dimen=2, initialize=[k for k in m.SUPPLY_OPTIONS if m.min_order_u[k] > 0], doc="options with a minimum order"
    )

    def min_order(m, i, c):
        """sum_j Flow[i,c,j] (+ sum_k Feed[i,c,k]) >= min_order_u[i,c] * Qualify[i,c]  for (i,c) in MIN_ORDER_OPTIONS.

        A qualified supplier is bought from at least its minimum order volume.
        """
        return quicksum(m.look.outflows.get((i, c), ())) >= m.min_order_u[i, c] * m.Qualify[i, c]

    m.Min_Order = Constraint(m.MIN_ORDER_OPTIONS, rule=min_order)
