"""A Lagrangian lower bound for models whose core is capacitated facility location.

Relax every demand row (sum of an importer's flows = its demand) with a multiplier u_d and add the
valid knapsack row "qualified capacity of an item covers its total demand". For fixed u the problem
splits: each site's best use of its capacity is a continuous knapsack (ship to the demands whose
reduced cost c_r - u_d is negative, cheapest first, up to min(capacity, demand) each), giving rho_k =
fixed cost + that value; then a 0-1 covering knapsack per item chooses the sites:

    L(u) = constant + sum_d u_d D_d + sum_items min { sum_k rho_k y_k : sum_k cap_k y_k >= D_item, y binary }.

Every L(u) is a lower bound on the MIP (a relaxation, exactly solved: the site problems by sorting,
the knapsacks by HiGHS, whose proven dual bound is what is added). Without the knapsack row L equals
the LP bound of the strong formulation at best (each site problem is linear in its Qualify); the
knapsack is what lifts it above (Cornuejols, Sridharan and Thizy 1991). The multipliers follow
subgradient steps of Polyak's rule towards an upper bound, the cost of a known plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoundResult:
    bound: float
    """Best L(u) found, in the model's units (a proven lower bound on the optimum)."""
    iterations: int
    seconds: float
    first: float
    """L at the starting multipliers."""
    plans: tuple[tuple[int, ...], ...] = ()
    """Site sets (view indices) the knapsacks chose at the best multipliers seen, best first: plans
    that cover every item's demand, for the primal heuristic to start from."""


class _Knapsacks:
    """One HiGHS model of the per-item covering knapsacks, re-solved with new costs."""

    def __init__(self, view, threads: int):
        import highspy

        from planner.solve.highs import new_highs

        self.h = new_highs(threads)
        n = len(view.capacity)
        self.idx = np.arange(n, dtype=np.int32)
        self.h.addVars(n, np.zeros(n), np.ones(n))
        self.h.changeColsIntegrality(n, self.idx, np.array([highspy.HighsVarType.kInteger] * n))
        total = np.bincount(view.demand_item, weights=view.demand, minlength=int(view.site_item.max()) + 1)
        for i in np.unique(view.site_item):
            cols = np.flatnonzero(view.site_item == i).astype(np.int32)
            self.h.addRow(float(total[i]), highspy.kHighsInf, len(cols), cols, view.capacity[cols])
        self.h.setOptionValue("mip_rel_gap", 0.0)
        self.h.setOptionValue("mip_abs_gap", 0.0)

    def solve(self, rho: np.ndarray) -> tuple[float, np.ndarray]:
        """(proven lower bound of the knapsacks' optimum, their best y)."""
        self.h.changeColsCost(len(rho), self.idx, rho)
        self.h.run()
        info = self.h.getInfo()
        y = np.round(np.asarray(self.h.getSolution().col_value)) if info.primal_solution_status else np.zeros(len(rho))
        return float(info.mip_dual_bound), y


def _sites(view, u: np.ndarray):
    """rho_k (fixed cost + best continuous knapsack value) and each route's volume in it."""
    rc = view.route_cost - u[view.route_demand]
    o = np.lexsort((rc, view.route_site))
    s, r = view.route_site[o], rc[o]
    ub = np.where(r < 0, view.route_ub[o], 0.0)
    cs = np.cumsum(ub)
    first = np.searchsorted(s, s, side="left")
    before = (cs - ub) - (cs[first] - ub[first])  # volume of cheaper routes of the same site
    xs = np.clip(view.capacity[s] - before, 0.0, ub)
    value = np.bincount(s, weights=xs * r, minlength=len(view.capacity))
    x = np.empty_like(xs)
    x[o] = xs
    return view.fixed + value, x


def lagrangian_bound(view, upper: float, budget_s: float = 10.0, threads: int = 1, target_gap: float = 0.0,
                     max_iterations: int = 2000, keep_plans: int = 6) -> BoundResult:
    """Subgradient search for the best L(u) within ``budget_s`` seconds, stepping towards ``upper``
    (the cost of a known plan); stops early once (upper - L) / |upper| <= ``target_gap``."""
    t0 = time.perf_counter()
    ks = _Knapsacks(view, threads)
    # Start: each demand priced at its cheapest route (every reduced cost >= 0, so L = constant +
    # sum u D + the cheapest capacity cover).
    u = np.full(len(view.demand), np.inf)
    np.minimum.at(u, view.route_demand, view.route_cost)
    u[~np.isfinite(u)] = 0.0
    best, first, step, stall, it = -np.inf, None, 2.0, 0, 0
    plans: dict[tuple[int, ...], float] = {}
    while it < max_iterations and time.perf_counter() - t0 < budget_s:
        it += 1
        rho, x = _sites(view, u)
        kbound, y = ks.solve(rho)
        value = view.constant + float(u @ view.demand) + kbound
        first = value if first is None else first
        if not np.isfinite(value):
            break  # a knapsack without a solution: total capacity cannot cover demand
        key = tuple(np.flatnonzero(y > 0.5).tolist())
        plans[key] = max(plans.get(key, -np.inf), value)
        if best == -np.inf or value > best + 1e-12 * max(1.0, abs(best)):
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 15:
                step, stall = step / 2, 0
        if step < 1e-4 or (upper - best) <= target_gap * max(1.0, abs(upper)):
            break
        g = view.demand - np.bincount(view.route_demand, weights=x * y[view.route_site], minlength=len(view.demand))
        norm = float(g @ g)
        if norm <= 1e-18:
            break  # the relaxed solution meets every demand: L(u) is the optimum of the relaxation
        u = u + step * max(upper - value, 1e-9 * max(1.0, abs(upper))) / norm * g
    ranked = sorted(plans, key=lambda k: -plans[k])[:keep_plans]
    return BoundResult(bound=float(best), iterations=it, seconds=time.perf_counter() - t0,
                       first=float(first if first is not None else -np.inf), plans=tuple(ranked))
