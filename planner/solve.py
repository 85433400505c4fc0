"""Hand a built model to HiGHS in memory and return a typed result.

Uses ``pyomo.contrib.solver``'s HiGHS interface (no LP files on the hot path).
It is told not to raise on a non-optimal result, so a time-limited run keeps
its best solution; :class:`SolveResult` then says "feasible", never "optimal".
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["optimal", "feasible", "infeasible", "unbounded", "infeasible_or_unbounded", "no_solution", "error"]

_EXPLAIN = {
    "optimal": "proven optimal within the relative gap tolerance",
    "feasible": "NOT PROVEN OPTIMAL: a limit stopped the solver; the best solution found is reported with its gap",
    "infeasible": "infeasible: no sourcing satisfies every constraint of the policy",
    "unbounded": "unbounded: the cost can fall without limit (check for negative costs)",
    "infeasible_or_unbounded": "infeasible or unbounded (the solver could not tell which)",
    "no_solution": "no feasible solution was found before a limit stopped the solver",
    "error": "the solver failed",
}


class SolveOptions(BaseModel):
    """Options of one solve.  Defaults give reproducible runs (one thread, fixed seed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    time_limit: float | None = Field(default=None, gt=0)
    """Wall-clock limit of HiGHS, seconds (None = no limit)."""
    rel_gap: float = Field(default=1e-4, ge=0)
    """Relative MIP gap at which a solution counts as optimal."""
    threads: int = Field(default=1, ge=1)
    """HiGHS threads (its MIP search is single-threaded; studies parallelise across runs)."""
    seed: int = Field(default=0, ge=0)
    """HiGHS random_seed, for reproducible runs."""
    solver_options: dict[str, Any] = {}
    """Further HiGHS options by name (e.g. mip_heuristic_effort)."""


class SolveResult(BaseModel):
    """The outcome of one solve, carried into every output."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    status: Status
    """optimal | feasible (not proven optimal) | infeasible | unbounded | infeasible_or_unbounded | no_solution | error."""
    termination: str
    """The solver interface's termination condition, verbatim."""
    objective: float | None
    """Cost of the solution found, currency per year (None without a solution)."""
    bound: float | None
    """Best proven lower bound on the cost, currency per year."""
    gap: float | None
    """Relative gap |objective - bound| / |objective| (0 when proven optimal at zero gap)."""
    build_s: float = 0.0
    """Seconds spent building the Pyomo model."""
    handoff_s: float = 0.0
    """Seconds spent handing the model to HiGHS (solve wall time minus HiGHS time)."""
    solve_s: float = 0.0
    """Seconds HiGHS ran."""
    solver: str = "highs"
    solver_version: str = ""

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")

    @property
    def proven_optimal(self) -> bool:
        return self.status == "optimal"

    @property
    def explanation(self) -> str:
        return _EXPLAIN[self.status]


def highs_version() -> str:
    import highspy

    h = highspy.Highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def make_solver():
    """A fresh HiGHS interface; keep it to re-solve a model after changing mutable Params."""
    from pyomo.contrib.solver.common.factory import SolverFactory

    return SolverFactory("highs")


def solve_model(m, options: SolveOptions | None = None, solver=None, build_s: float = 0.0) -> SolveResult:
    """Solve ``m`` with HiGHS and load the best solution, if any, into it."""
    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC

    options = options or SolveOptions()
    opt = solver if solver is not None else make_solver()
    hopts = {"random_seed": options.seed, "output_flag": False, **options.solver_options}
    kwargs: dict[str, Any] = dict(
        threads=options.threads,
        rel_gap=options.rel_gap,
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
        solver_options=hopts,
    )
    if options.time_limit is not None:
        kwargs["time_limit"] = options.time_limit
    t0 = time.perf_counter()
    try:
        res = opt.solve(m, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any solver failure becomes a typed "error" result
        return SolveResult(
            status="error", termination=f"{type(exc).__name__}: {exc}", objective=None, bound=None, gap=None,
            build_s=build_s, handoff_s=time.perf_counter() - t0, solver_version=highs_version(),
        )
    wall = time.perf_counter() - t0
    highs_s = float(getattr(res.timing_info, "highs_time", None) or 0.0)

    tc = res.termination_condition
    has_sol = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if has_sol:
        res.solution_loader.load_vars()
    if tc == TC.convergenceCriteriaSatisfied and has_sol:
        status: Status = "optimal"
    elif has_sol:
        status = "feasible"
    elif tc == TC.provenInfeasible:
        status = "infeasible"
    elif tc == TC.unbounded:
        status = "unbounded"
    elif tc == TC.infeasibleOrUnbounded:
        status = "infeasible_or_unbounded"
    elif tc == TC.error:
        status = "error"
    else:
        status = "no_solution"

    obj = res.incumbent_objective if has_sol else None
    bound = res.objective_bound
    gap = None
    if obj is not None and bound is not None:
        gap = abs(obj - bound) / abs(obj) if abs(obj) > 1e-9 else abs(obj - bound)
    return SolveResult(
        status=status, termination=tc.name, objective=obj, bound=bound, gap=gap,
        build_s=build_s, handoff_s=max(wall - highs_s, 0.0), solve_s=highs_s,
        solver_version=".".join(str(x) for x in res.solver_version) if res.solver_version else highs_version(),
    )


def build_and_solve(inst, options: SolveOptions | None = None):
    """Build the model of ``inst`` and solve it: returns (model, SolveResult)."""
    import models

    t0 = time.perf_counter()
    m = models.build(inst)
    build_s = time.perf_counter() - t0
    return m, solve_model(m, options, build_s=build_s)
