"""Which decisions are taken before uncertainty resolves: the first stage of a two-stage plan
(planner/solve/twostage.py). Not a constraint family: a read-only split of a built model.

Qualifying suppliers, building plants and holding strategic stock are decided now, once for every
scenario; flows, shortages, subsidy payments and crisis recourse follow each scenario's data.
"""

from __future__ import annotations

FIRST_STAGE_VARS = ("Qualify", "Build", "StrategicStock", "SharedStock")
FIRST_STAGE_COSTS = ("qualification", "investment", "stockpile", "shared_stockpile")


def first_stage(m) -> tuple[object, list]:
    """(first-stage cost expression, first-stage variable data in a fixed order) of the single-period
    model ``m``; ValueError for a multi-period model (its decisions are spread over periods)."""
    from pyomo.environ import Var

    if m.built_from.periods:
        raise ValueError("two-stage plans are built for single-period instances only")
    cost = sum(m.cost_terms[k] for k in FIRST_STAGE_COSTS if k in m.cost_terms)
    found = [m.component(name) for name in FIRST_STAGE_VARS]
    return cost, [comp[k] for comp in found if isinstance(comp, Var) for k in sorted(comp.keys())]
