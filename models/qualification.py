"""Supplier qualification: flows only from qualified countries, at a fixed cost."""

from __future__ import annotations

from pyomo.environ import Binary, Constraint, Param, Set, Var, quicksum

from .registry import register_cost

UPDATES = {
    # Mutable Param -> its value at index k, read from the instance's inputs (models.Inputs): models.update
    # (after models/sets.py has refreshed the capacities it is computed from).
    "link_u": lambda x, k: link_coefficient(x.m, *k),
}


def link_coefficient(m, i: str, c: str, j: str) -> float:
    """Flow_Link's coefficient: the tightest bound the data gives, min(most the option could deliver,
    the importer's demand); formulation "naive" uses the item's total demand (a big-M)."""
    if "tight_link" in m.features:
        return min(m.look.max_capacity_u[i, c], m.demand_u[i, j])
    return m.look.item_demand_u[i]


def add_to(m, inst) -> None:
    m.Qualify = Var(m.SUPPLY_OPTIONS, domain=Binary, doc="1 if the country is a qualified supplier of the item")
    register_cost(
        m,
        "qualification",
        quicksum(m.qualification_cost_cur[k] * m.Qualify[k] for k in m.SUPPLY_OPTIONS if m.qualification_cost_cur[k]),
    )

    # A Param, so that a re-solve with other capacities (models.update) moves it too.
    m.link_u = Param(m.ROUTES, initialize={r: link_coefficient(m, *r) for r in m.ROUTES}, mutable=True)

    def flow_link(m, i, c, j):
        """Flow[i,c,j] <= link_u[i,c,j] * Qualify[i,c]  for (i,c,j) in ROUTES, with
        link_u = min(max_capacity_u[i,c], demand_u[i,j]).

        No flow from an unqualified supplier.  The coefficient is the tightest
        bound the data gives (not a loose big-M), which keeps the LP relaxation strong.
        """
        return m.Flow[i, c, j] <= m.link_u[i, c, j] * m.Qualify[i, c]

    m.Flow_Link = Constraint(m.ROUTES, rule=flow_link)

    if "cover_cuts" in m.features:

        def demand_cover(m, i, j):
            """sum_c link_u[i,c,j] * Qualify[i,c] >= demand_u[i,j]  for (i,j) in DEMANDS.

            The qualified suppliers reaching an importer can cover its demand: a
            knapsack row implied by Demand_Balance and Flow_Link (valid only without
            shortage), stated explicitly so the solver can derive cover cuts from it.
            """
            return quicksum(m.link_u[r] * m.Qualify[r[0], r[1]] for r in m.look.routes_to.get((i, j), ())) >= m.demand_u[i, j]

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
