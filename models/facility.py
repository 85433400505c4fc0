"""The facility-location core of a built model as plain arrays, for the Lagrangian bound
(planner/solve/lagrange.py). Read-only; not a constraint family: it names the model's components so
that nothing outside the model does.

The view exists only where the model's decisions are flows and qualifications alone (no shortage,
builds, stocks, feeds or periods). Its rows are Demand_Balance, Capacity_Limit with capacity x Qualify
and the flow bounds min(capacity, demand) x Qualify; every other row of such a model (share caps,
diversification, N-1, minimum orders) is left out, which can only lower a bound computed from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FacilityView:
    """Sites (supply options with routes), demands and routes, indexed 0..n-1."""

    site_item: np.ndarray
    """Item index of each site."""
    capacity: np.ndarray
    """Existing capacity of each site, item unit per year."""
    fixed: np.ndarray
    """Objective coefficient of each site's Qualify, currency per year."""
    demand: np.ndarray
    """Quantity of each (item, importer) demand, item unit per year."""
    demand_item: np.ndarray
    """Item index of each demand."""
    route_site: np.ndarray
    route_demand: np.ndarray
    route_cost: np.ndarray
    """Objective coefficient of each route's Flow, currency per item unit."""
    route_ub: np.ndarray
    """Most a route can carry from a qualified site: min(capacity, demand)."""
    constant: float
    """The objective's constant term."""
    site_vars: tuple = ()
    """Each site's Qualify variable (to hand a site set to the solver as decisions)."""
    demand_rows: tuple = ()
    """Each demand's Demand_Balance row (to read its dual price from a solver)."""


def is_facility_core(m) -> bool:
    """Whether the built model ``m`` is single-period and its decisions are flows and qualifications
    alone: THE test of where the view exists."""
    from pyomo.environ import Var

    if getattr(m, "built_from", None) is None or m.built_from.periods:
        return False
    return all(not len(v) or v.local_name in ("Flow", "Qualify") for v in m.component_objects(Var, descend_into=True))


def facility_view(m) -> FacilityView | None:
    """The view of the built single-period model ``m``, or None where its decisions are not flows and
    qualifications alone."""
    from pyomo.environ import value
    from pyomo.repn import generate_standard_repn

    if not is_facility_core(m):
        return None
    repn = generate_standard_repn(m.Total_Cost.expr, compute_values=True, quadratic=False)
    if repn.nonlinear_expr is not None:
        return None
    coef = {id(v): float(c) for v, c in zip(repn.linear_vars, repn.linear_coefs)}
    items = {i: n for n, i in enumerate(m.ITEMS)}
    sites = list(m.SHIPPING_OPTIONS)
    site_ix = {k: n for n, k in enumerate(sites)}
    demands = list(m.DEMANDS)
    dem_ix = {d: n for n, d in enumerate(demands)}
    routes = list(m.ROUTES)
    return FacilityView(
        site_item=np.array([items[i] for i, _ in sites], dtype=np.int64),
        capacity=np.array([value(m.capacity_u[k]) for k in sites], dtype=float),
        fixed=np.array([coef.get(id(m.Qualify[k]), 0.0) for k in sites], dtype=float),
        demand=np.array([value(m.demand_u[d]) for d in demands], dtype=float),
        demand_item=np.array([items[i] for i, _ in demands], dtype=np.int64),
        route_site=np.array([site_ix[(i, c)] for i, c, _ in routes], dtype=np.int64),
        route_demand=np.array([dem_ix[(i, j)] for i, _, j in routes], dtype=np.int64),
        route_cost=np.array([coef.get(id(m.Flow[r]), 0.0) for r in routes], dtype=float),
        route_ub=np.array([min(value(m.capacity_u[i, c]), value(m.demand_u[i, j])) for i, c, j in routes], dtype=float),
        constant=float(repn.constant),
        site_vars=tuple(m.Qualify[k] for k in sites),
        demand_rows=tuple(m.Demand_Balance[d] for d in demands),
    )
