"""A chosen plan evaluated on another instance: its qualifications, builds and stockpiles held, only
the flows (and grants) re-balanced. Used by uncertainty studies to ask how the plan chosen at the
central values fares in each sample: does it still meet every cap, floor and budget, at what cost."""

from __future__ import annotations

from planner.instance.schema import Instance
from planner.solve.highs import SolveOptions, SolveResult, solve_model


def central_plan(inst: Instance, options: SolveOptions | None = None) -> tuple[SolveResult, dict | None]:
    """Solve ``inst`` and return its result and the plan's decisions (None without a solution)."""
    import models
    import models.explain as mx

    m = models.build(inst)
    res = solve_model(m, options)
    return res, (mx.plan_of(m) if res.has_solution else None)


def evaluate_plan(inst: Instance, plan: dict, options: SolveOptions | None = None) -> tuple[SolveResult, int]:
    """``plan`` held fixed on ``inst``: the result (infeasible: the plan breaks a cap, floor or budget
    there) and how many of the plan's decisions ``inst``'s model has no variable for."""
    import models

    return evaluate_in(models.build(inst), plan, options)


def evaluate_in(m, plan: dict, options: SolveOptions | None = None) -> tuple[SolveResult, int]:
    """``plan`` held fixed in the built model ``m`` of the instance to evaluate it on (a study passes
    the model it has just solved, sparing a second build); ``m``'s decisions are released afterwards,
    its variables hold the evaluated solution. Returns what :func:`evaluate_plan` returns."""
    import models.explain as mx

    missing, held = mx.fix_plan(m, plan)
    try:
        return solve_model(m, options), missing
    finally:
        for v in held:
            v.unfix()
