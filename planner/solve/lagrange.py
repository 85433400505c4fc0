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
    multipliers: np.ndarray | None = None
    """The demand multipliers u of the best bound (for :func:`fixings`)."""


STALL = 30
"""Steps without a better bound after which the step size halves: on the 100 x 1,000 benchmark (seed 0)
15 stopped at 69,942 after 5 s, 30 reaches 69,955 after 8 s (HiGHS' root LP bound: about 69,968)."""
GRID = 2000
"""Steps of the knapsacks' capacity grid: each remaining requirement is cut into this many steps and every
capacity rounded up to whole steps, which can only make covering easier (the value stays a lower bound)."""


class _Knapsacks:
    """The per-item covering knapsacks min { sum rho_k y_k : sum cap_k y_k >= D_item, y binary }, solved by
    dynamic programming on a capacity grid rounded in the bound's favour."""

    def __init__(self, view, threads: int = 1):
        self.cap = view.capacity
        total = np.bincount(view.demand_item, weights=view.demand, minlength=int(view.site_item.max()) + 1)
        self.groups = [(np.flatnonzero(view.site_item == i), float(total[i])) for i in np.unique(view.site_item)]

    def solve(self, rho: np.ndarray) -> tuple[float, np.ndarray]:
        """(a lower bound on the knapsacks' optimum, a choice of sites attaining it on the grid: the
        relaxation's solution, whose shortfalls give the subgradient)."""
        y = np.zeros(len(rho))
        value = 0.0
        for sites, demand in self.groups:
            v, chosen = self.item(sites, demand, rho)
            if not np.isfinite(v):
                return np.inf, y  # the item's capacity cannot cover its demand
            y[chosen] = 1.0
            value += v
        return value, y

    def item(self, sites: np.ndarray, demand: float, rho: np.ndarray) -> tuple[float, np.ndarray]:
        """One item's knapsack over ``sites``: (a lower bound on its optimum, inf if they cannot cover
        ``demand``; the sites chosen on the grid)."""
        take = sites[rho[sites] <= 0]  # free or profitable sites are always taken
        value = float(rho[take].sum())
        need = demand - float(self.cap[take].sum())
        if need <= 1e-9 * max(1.0, demand):
            return value, take
        rest = sites[rho[sites] > 0]
        if not len(rest):
            return np.inf, take
        step = need / GRID
        w = np.minimum(np.ceil(self.cap[rest] / step - 1e-9).astype(np.int64), GRID)
        f = np.full(GRID + 1, np.inf)  # f[c]: least cost of sites covering at least c steps
        f[0] = 0.0
        chose = np.zeros((len(rest), GRID + 1), dtype=bool)
        for n, (wk, rk) in enumerate(zip(w, rho[rest])):
            shifted = np.concatenate([np.zeros(min(wk, GRID + 1)), f[:max(GRID + 1 - wk, 0)]]) + rk
            better = shifted < f
            chose[n] = better
            f = np.where(better, shifted, f)
        if not np.isfinite(f[GRID]):
            return np.inf, take
        picked, c = [], GRID
        for n in range(len(rest) - 1, -1, -1):  # walk back through the choices
            if c > 0 and chose[n, c]:
                picked.append(rest[n])
                c = max(c - int(w[n]), 0)
        return value + float(f[GRID]), np.concatenate([take, np.asarray(picked, dtype=take.dtype)])

    def covering(self, y: np.ndarray, rho: np.ndarray) -> np.ndarray:
        """``y`` with the cheapest further sites added where its capacity, rounded up on the grid, falls
        short of an item's demand: a plan that can be feasible (``y`` itself stays the subgradient's)."""
        y = y.copy()
        for sites, demand in self.groups:
            for k in sites[np.argsort(np.where(y[sites] > 0, -np.inf, rho[sites]), kind="stable")]:
                if float(self.cap[sites][y[sites] > 0].sum()) >= demand:
                    break
                y[k] = 1.0
        return y


def _sites(view, u: np.ndarray):
    """rho_k (fixed cost + best continuous knapsack value) and each route's volume in it."""
    rc = view.route_cost - u[view.route_demand]
    neg = np.flatnonzero(rc < 0)  # only routes with a negative reduced cost can carry volume
    x = np.zeros(len(rc))
    if not len(neg):
        return view.fixed.copy(), x
    o = neg[np.lexsort((rc[neg], view.route_site[neg]))]
    s, r, ub = view.route_site[o], rc[o], view.route_ub[o]
    cs = np.cumsum(ub)
    first = np.searchsorted(s, s, side="left")
    before = (cs - ub) - (cs[first] - ub[first])  # volume of cheaper routes of the same site
    xs = np.clip(view.capacity[s] - before, 0.0, ub)
    x[o] = xs
    return view.fixed + np.bincount(s, weights=xs * r, minlength=len(view.capacity)), x


def site_values(view, u: np.ndarray) -> np.ndarray:
    """rho_k of every site at demand prices ``u``: its fixed cost plus the best use of its capacity
    (negative: the site would pay for itself at these prices)."""
    return _sites(view, u)[0]


def lagrangian_bound(view, upper: float, budget_s: float = 10.0, threads: int = 1, target_gap: float = 0.0,
                     max_iterations: int = 2000, keep_plans: int = 15) -> BoundResult:
    """Subgradient search for the best L(u) within ``budget_s`` seconds, stepping towards ``upper``
    (the cost of a known plan); stops early once (upper - L) / |upper| <= ``target_gap``."""
    t0 = time.perf_counter()
    ks = _Knapsacks(view, threads)
    # Start: each demand priced at its cheapest route (every reduced cost >= 0, so L = constant +
    # sum u D + the cheapest capacity cover).
    u = np.full(len(view.demand), np.inf)
    np.minimum.at(u, view.route_demand, view.route_cost)
    u[~np.isfinite(u)] = 0.0
    best, first, step, stall, it, best_u = -np.inf, None, 2.0, 0, 0, u.copy()
    plans: dict[tuple[int, ...], float] = {}
    while it < max_iterations and time.perf_counter() - t0 < budget_s:
        it += 1
        rho, x = _sites(view, u)
        kbound, y = ks.solve(rho)
        value = view.constant + float(u @ view.demand) + kbound
        first = value if first is None else first
        if not np.isfinite(value):
            break  # a knapsack without a solution: total capacity cannot cover demand
        key = tuple(np.flatnonzero(ks.covering(y, rho) > 0.5).tolist())
        plans[key] = max(plans.get(key, -np.inf), value)
        if best == -np.inf or value > best + 1e-12 * max(1.0, abs(best)):
            best, stall, best_u = value, 0, u.copy()
        else:
            stall += 1
            if stall >= STALL:
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
                       first=float(first if first is not None else -np.inf), plans=tuple(ranked),
                       multipliers=best_u)


def fixings(view, u: np.ndarray, upper: float) -> tuple[np.ndarray, np.ndarray]:
    """(sites that every plan cheaper than ``upper`` leaves closed, sites that every such plan opens):
    Lagrangian variable fixing. For each site the bound L(u) is recomputed with its decision forced
    the other way; where that bound exceeds ``upper`` (the cost of a known plan, which therefore
    takes the site's present side), no plan at or below ``upper`` takes the other side. Fixing them
    keeps every such plan, so the optimum and any bound proven on the smaller model stand."""
    ks = _Knapsacks(view)
    rho, _ = _sites(view, u)
    base = view.constant + float(u @ view.demand)
    values, chosen = [], []
    for sites, demand in ks.groups:
        v, c = ks.item(sites, demand, rho)
        values.append(v)
        chosen.append(set(c.tolist()))
    total = float(np.sum(values))
    if not np.isfinite(total):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    closed, opened = [], []
    margin = 1e-9 * max(1.0, abs(upper))
    for (sites, demand), v, c in zip(ks.groups, values, chosen):
        for k in sites:
            others = sites[sites != k]
            if k in c:  # forced closed: the knapsack without it
                alt, _ = ks.item(others, demand, rho)
                if base + total - v + alt > upper + margin:
                    opened.append(int(k))
            else:  # forced open: its value, and the rest cover what its capacity leaves
                alt, _ = ks.item(others, demand - float(view.capacity[k]), rho)
                if base + total - v + float(rho[k]) + alt > upper + margin:
                    closed.append(int(k))
    return np.asarray(closed, dtype=np.int64), np.asarray(opened, dtype=np.int64)
