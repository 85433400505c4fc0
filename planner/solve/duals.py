"""The fixed-plan LP: every integer decision held at its value in the loaded solution, the rest
re-optimised as an LP, so its duals read as local marginal prices (valid until the plan changes shape).

The model is given back as it was: domains, fixings and every variable's value are restored, so
tables read from it before and after agree.
"""

from __future__ import annotations

from pyomo.environ import Reals, Var

from planner.solve.highs import SolveOptions, SolveResult, solve_model


def fixed_plan_duals(m, options: SolveOptions | None = None, solver=None, implied=()) -> tuple[SolveResult, dict]:
    """Solve ``m`` with its integer variables fixed at their (rounded) loaded values and the rows
    ``implied`` by the others once they are fixed left out; returns the LP's result and its duals
    {constraint: d objective / d bound}."""
    variables = list(m.component_data_objects(Var, descend_into=True))
    saved = [(v, v.value, v.fixed, v.domain) for v in variables]  # VarData is not hashable
    duals: dict = {}
    dropped = [c for c in implied if c.active]
    try:
        for c in dropped:
            c.deactivate()
        for v in variables:
            if v.is_integer() and not v.fixed and v.value is not None:
                x = float(round(v.value))
                v.domain = Reals  # continuous, so HiGHS solves an LP and reports duals
                v.fix(x)
        res = solve_model(m, (options or SolveOptions()).model_copy(update={"time_limit": None}),
                          solver=solver, duals=duals)
    finally:
        for c in dropped:
            c.activate()
        for v, x, fixed, domain in saved:
            v.domain = domain
            v.set_value(x, skip_validation=True)
            if fixed:
                v.fix()
            else:
                v.unfix()
    return res, duals


def snapshot(m) -> list:
    """Every variable's value, for :func:`restore` after re-solves that must leave the plan loaded."""
    return [(v, v.value) for v in m.component_data_objects(Var, descend_into=True)]


def restore(m, values: list) -> None:
    for v, x in values:
        v.set_value(x, skip_validation=True)
