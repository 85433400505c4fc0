"""Which parts of an optimal plan are unique: probes of the optimal face, for the golden tests.

The cost of an optimum solved to gap 0 is unique, but the plan need not be: two suppliers
at the same landed cost can split a demand in any proportion, and different HiGHS versions
may pick different splits.  A share or an HHI is compared with a golden value only where
every optimum has the same one.

The probe: fix the cost at its optimum (within a tolerance) and minimise, then maximise, a
random positive combination of a group of variables (an importer's flows of one item, an
item's qualifications and builds, the subsidies).  If two optima differ in those variables,
a random combination almost surely differs too (a measure-zero set of weights is orthogonal
to their difference), so min == max means the group is the same at every optimum.
"""

from __future__ import annotations

import random
from collections import defaultdict

from pyomo.environ import Constraint, Objective, maximize, minimize, quicksum

import models
from planner.solve.highs import SolveOptions, make_solver, solve_model

# Cost slack of the face: HiGHS' absolute gap (1e-6) plus a relative 1e-7 for rounding.
REL_TOL, ABS_TOL = 1e-7, 1e-6
EXACT = SolveOptions(rel_gap=0.0, time_limit=120)


def variable_groups(m) -> dict[tuple, list]:
    """Variables behind each KPI scope: ("pair", item, importer) -> Flow; ("item", item) -> Qualify
    and Build of the item's options; ("subsidy",) -> Build and Subsidy."""
    groups: dict[tuple, list] = defaultdict(list)
    for i, c, j in m.ROUTES:
        groups[("pair", i, j)].append(m.Flow[i, c, j])
    for i, c in m.SUPPLY_OPTIONS:
        groups[("item", i)].append(m.Qualify[i, c])
    for o in m.INVESTMENTS:
        i, _ = m.look.option_site[o]
        groups[("item", i)].append(m.Build[o])
        groups[("subsidy",)].append(m.Build[o])
    if hasattr(m, "Subsidy"):
        groups[("subsidy",)].extend(m.Subsidy.values())
    return dict(groups)


def unique_groups(inst, seed: int = 0) -> tuple[float, dict[tuple, bool]]:
    """Solve ``inst`` to gap 0, then probe each variable group: (optimum, group -> unique?)."""
    m = models.build(inst)
    opt = make_solver()
    res = solve_model(m, EXACT, solver=opt)
    assert res.status == "optimal", res
    best = res.objective
    m.Total_Cost.deactivate()
    m.Golden_Face = Constraint(expr=m.Total_Cost.expr <= best + REL_TOL * abs(best) + ABS_TOL)
    rng = random.Random(seed)
    out: dict[tuple, bool] = {}
    for key, xs in sorted(variable_groups(m).items()):
        weights = [rng.uniform(1.0, 2.0) for _ in xs]
        expr = quicksum(w * x for w, x in zip(weights, xs))
        scale = 1.0 + abs(sum(w * (x.value or 0.0) for w, x in zip(weights, xs)))
        values = []
        for sense in (minimize, maximize):
            m.Golden_Probe = Objective(expr=expr, sense=sense)
            r = solve_model(m, EXACT, solver=opt)
            assert r.status == "optimal", (key, sense, r)
            values.append(r.objective)
            m.del_component(m.Golden_Probe)
        out[key] = values[1] - values[0] <= 1e-6 * scale
    return best, out


def kpi_group(key: str) -> tuple | None:
    """The variable group a KPI key (kpi|item|importer|group) depends on; None for the cost KPIs."""
    kpi, item, importer, _ = key.split("|")
    if kpi in ("max_country_share", "hhi", "tier_share"):
        return ("pair", item, importer) if item != "all" else ("all-pairs",)
    if kpi in ("n1_coverage", "qualified_suppliers"):
        return ("item", item)
    if kpi in ("public_subsidy", "budget_used", "budget_left", "capacity_built_options"):
        return ("subsidy",)
    return None


def is_unique(groups: dict[tuple, bool], group: tuple) -> bool:
    """Whether every optimum shares the variables of ``group`` (a group without variables is trivially so)."""
    if group == ("all-pairs",):
        return all(v for k, v in groups.items() if k[0] == "pair")
    return groups.get(group, True)
