"""Hand a built model to HiGHS in memory and return a typed result.

Uses ``pyomo.contrib.solver``'s HiGHS interface (no LP files on the hot path).
It is told not to raise on a non-optimal result, so a time-limited run keeps
its best solution; :class:`SolveResult` then says "feasible", never "optimal".

Numerics: volumes in tonnes and costs in currency make bounds and costs of 1e6
to 1e8, which HiGHS 1.15 flags as "excessively large".  :func:`user_scales` picks
HiGHS' ``user_bound_scale`` / ``user_objective_scale`` (powers of two) from the
model HiGHS received, and :func:`solve_model` applies them unless the caller
sets those options; HiGHS scales internally and reports the solution, objective
and bound in the model's own units.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


# The valid range of each solver setting, in one place: SolveOptions, the CLI options and study files use these.
TimeLimit = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""Seconds, a finite number > 0."""
RelGap = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
"""Relative MIP gap in [0, 1): at 1 or more any first solution would count as optimal."""
Threads = Annotated[int, Field(ge=1, le=256)]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
"""HiGHS' random_seed range."""
Switch = Literal["off", "auto", "on"]
"""A method that runs always (on), never (off) or where the benchmarks showed it pays (auto)."""
HEURISTIC_AUTO_COLUMNS = 20_000
"""``heuristic="auto"`` runs the primal heuristic on facility-location models (models.facility) with at
least this many columns. Measured (benchmarks/README.md, "Large instances"): there, with the
Lagrangian bound, it turns a 23-26 % gap after 300 s into 1.1-1.3 % (and proves one seed optimal); on
the policy-rich generated models its start slowed HiGHS (XL 52 -> 156 s to 1e-4, L +8 %, M +58 %), so
auto leaves them to HiGHS alone."""
HEURISTIC_BUDGET_S = 30.0
"""Default seconds of the primal heuristic: at most this, and at most a quarter of the time limit."""
LAGRANGE_BUDGET_S = 20.0
"""Seconds of the Lagrangian bound: at most this, and at most a quarter of the time limit."""

# HiGHS options a user may set (solver_options, a study's solver.options), with their types and ranges.
# Anything else is refused: among HiGHS' options are ones that write files (log_file, solution_file,
# write_solution_to_file, write_model_file, mip_improving_solution_file, ...) or print to our output.
_CHOICE = ("off", "choose", "on")
HIGHS_OPTIONS: dict[str, tuple[type, Any, Any]] = {
    # name: (type, low or choices, high)
    "mip_heuristic_effort": (float, 0.0, 1.0),
    "mip_abs_gap": (float, 0.0, math.inf),
    "mip_max_nodes": (int, 0, 2**31 - 1),
    "mip_max_leaves": (int, 0, 2**31 - 1),
    "mip_max_improving_sols": (int, 1, 2**31 - 1),
    "mip_feasibility_tolerance": (float, 1e-10, 1e-3),
    "primal_feasibility_tolerance": (float, 1e-10, 1e-3),
    "dual_feasibility_tolerance": (float, 1e-10, 1e-3),
    "mip_detection_level": (int, 0, 3),
    "mip_pool_soft_limit": (int, 1, 2**31 - 1),
    "mip_lp_age_limit": (int, 0, 32767),
    "simplex_strategy": (int, 0, 4),
    "user_bound_scale": (int, -50, 50),
    "user_objective_scale": (int, -50, 50),
    "presolve": (str, _CHOICE, None),
    "parallel": (str, _CHOICE, None),
    "run_crossover": (str, _CHOICE, None),
}


def check_highs_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` if every name is in :data:`HIGHS_OPTIONS` with a value of its type and range; else
    ValueError naming each bad option and what is allowed."""
    bad = []
    for name, v in options.items():
        spec = HIGHS_OPTIONS.get(name)
        if spec is None:
            bad.append(f"{name} is not an allowed HiGHS option (allowed: {', '.join(sorted(HIGHS_OPTIONS))}; "
                       "options that write files or print are never allowed)")
            continue
        kind, lo, hi = spec
        if kind is str:
            ok = isinstance(v, str) and v in lo
            want = f"one of {', '.join(lo)}"
        elif kind is int:
            ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
            want = f"a whole number in [{lo}, {hi}]"
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi
            want = f"a number in [{lo:g}, {hi:g}]"
        if not ok:
            bad.append(f"{name}: got {v!r}, expected {want}")
    if bad:
        raise ValueError("; ".join(bad))
    return options


HighsOptions = Annotated[dict[str, Any], AfterValidator(check_highs_options)]


class SolveOptions(BaseModel):
    """Options of one solve.  Defaults give reproducible runs (one thread, fixed seed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    time_limit: TimeLimit | None = None
    """Wall-clock limit of HiGHS, seconds (None = no limit)."""
    rel_gap: RelGap = 1e-4
    """Relative MIP gap at which a solution counts as optimal."""
    threads: Threads = 1
    """HiGHS threads (its MIP search is single-threaded; studies parallelise across runs)."""
    seed: Seed = 0
    """HiGHS random_seed, for reproducible runs."""
    solver_options: HighsOptions = {}
    """Further HiGHS options by name (e.g. mip_heuristic_effort)."""
    auto_scale: bool = True
    """Choose HiGHS user_bound_scale / user_objective_scale from the model (see user_scales);
    an explicit value of either in solver_options wins for that option."""
    heuristic: Switch = "auto"
    """Primal heuristic (planner/solve/heuristic.py: LP rounding, repair, local search) offered to HiGHS
    as its MIP start on a model's first solve: on, off, or auto (facility-location models of
    HEURISTIC_AUTO_COLUMNS columns or more). Its seconds count against time_limit."""
    heuristic_s: TimeLimit | None = None
    """Seconds the heuristic may take (default: HEURISTIC_BUDGET_S, at most a quarter of time_limit)."""

    lagrangian: Switch = "auto"
    """Lagrangian bound (planner/solve/lagrange.py) of models whose decisions are flows and
    qualifications alone (models/facility.py), run after the heuristic with its plan as the target:
    the reported bound is the better of HiGHS' and this one, and HiGHS stops once the two close the
    gap. auto: wherever the heuristic gave a plan; on: also turns the heuristic on; off: never."""

    def lagrange_budget(self) -> float:
        """THE rule for the Lagrangian bound's seconds."""
        return LAGRANGE_BUDGET_S if self.time_limit is None else min(LAGRANGE_BUDGET_S, self.time_limit / 4)

    def heuristic_budget(self) -> float:
        """THE rule for the heuristic's seconds."""
        if self.heuristic_s is not None:
            return self.heuristic_s if self.time_limit is None else min(self.heuristic_s, self.time_limit)
        return HEURISTIC_BUDGET_S if self.time_limit is None else min(HEURISTIC_BUDGET_S, self.time_limit / 4)


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
    """Seconds spent handing the model to HiGHS (solve wall time minus HiGHS time, minus the heuristic's
    and the Lagrangian bound's seconds)."""
    solve_s: float = 0.0
    """Seconds HiGHS ran."""
    solver: str = "highs"
    solver_version: str = ""
    user_bound_scale: int | None = None
    """HiGHS user_bound_scale of the solve: bounds and right-hand sides were multiplied by
    2**value inside HiGHS (results are in original units); None if the solve never reached HiGHS."""
    user_objective_scale: int | None = None
    """HiGHS user_objective_scale of the solve: costs were multiplied by 2**value inside HiGHS."""
    start: str = "none"
    """MIP start from the primal heuristic: none (not run, or nothing found) | accepted (offered to
    HiGHS) | discarded (failed the feasibility check, not offered)."""
    start_objective: float | None = None
    """Cost of the heuristic's plan (None without one)."""
    start_s: float = 0.0
    """Seconds the heuristic took (part of the solve's wall time, before HiGHS)."""
    start_note: str = ""
    """Why the heuristic gave no start, or what it was offered in place of."""
    lagrangian_bound: float | None = None
    """The Lagrangian bound, where computed (``bound`` is the better of it and HiGHS' own)."""
    lagrangian_s: float = 0.0
    """Seconds the Lagrangian bound took (part of the solve's wall time, before HiGHS)."""
    lagrangian_fixed: int = 0
    """Yes/no decisions the Lagrangian fixed for HiGHS (no plan cheaper than the start takes their other side)."""

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")

    @property
    def proven_optimal(self) -> bool:
        return self.status == "optimal"

    @property
    def explanation(self) -> str:
        return _EXPLAIN[self.status]


@functools.cache
def _banner_silenced() -> bool:
    """Create the process's first HiGHS object with standard output closed.

    HiGHS 1.16 prints a two-line banner to the C-level standard output when the first
    ``Highs`` object of a process is created, before any option can be set; later objects
    print nothing.  It would corrupt piped output (``solve ... | head``, ``--format json``)."""
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return True


def new_highs(threads: int = 1):
    """A fresh ``highspy.Highs`` with its output off; every HiGHS object of ours comes from here.

    ``threads`` is set explicitly: HiGHS keeps one thread scheduler per process, sized by the first
    run, and a later run asking for another number fails ("unknown" in Pyomo). An LP left at the
    default (all cores) broke every later one-thread solve of the process."""
    import highspy

    _banner_silenced()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", threads)
    return h


def highs_version() -> str:
    import highspy._core as core

    return f"{core.HIGHS_VERSION_MAJOR}.{core.HIGHS_VERSION_MINOR}.{core.HIGHS_VERSION_PATCH}"


# HiGHS 1.15 warns about |values| outside [1e-4, 1e6] ("excessively large costs / row bounds"),
# measured with highspy on one-row LPs: 9.9e5 passes, 1.1e6 warns; 1e-4 passes, 1e-5 warns.
HIGHS_SMALL, HIGHS_LARGE = 1e-4, 1e6
# After solve_model's own set_instance / update nothing has changed: skip Pyomo's second scan.
_NO_UPDATES = dict(check_for_new_or_removed_constraints=False, check_for_new_or_removed_vars=False,
                   check_for_new_or_removed_params=False, check_for_new_objective=False,
                   update_constraints=False, update_vars=False, update_parameters=False,
                   update_named_expressions=False, update_objective=False)


def _power_of_two(lo: float, hi: float) -> int:
    """Exponent k such that [lo, hi] * 2**k lies within [HIGHS_SMALL, HIGHS_LARGE]: 0 if it
    already does, else the smallest shift that does; the midpoint if the range is too wide."""
    if hi <= 0:
        return 0
    k_max = math.floor(math.log2(HIGHS_LARGE / hi))  # larger k would push hi above LARGE
    k_min = math.ceil(math.log2(HIGHS_SMALL / lo))  # smaller k would push lo below SMALL
    if k_min <= k_max:
        return min(max(0, k_min), k_max)
    return round((k_min + k_max) / 2)


def _abs_range(*arrays) -> tuple[float, float]:
    """Smallest and largest finite nonzero |value| over ``arrays`` ((0, 0) if none)."""
    import numpy as np

    a = np.abs(np.concatenate([np.asarray(x, dtype=float).ravel() for x in arrays]))
    a = a[(a > 0) & np.isfinite(a)]
    return (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)


def user_scales(h, bound_scale: int | None = None) -> tuple[int, int]:
    """(user_bound_scale, user_objective_scale) for the highspy model ``h``.

    Mirrors HiGHS' own assessment: the bound scale multiplies the bounds of continuous
    columns and all row bounds by 2**k (integer columns keep their bounds; HiGHS scales
    their costs and matrix columns instead), then the objective scale brings the costs,
    integer ones already times 2**k, within range.  Reads the arrays once (about 25 ms
    on the L benchmark model, 26k columns)."""
    import numpy as np

    lp = h.getLp()
    n = lp.num_col_
    integ = np.asarray(lp.integrality_, dtype=np.int8) != 0 if len(lp.integrality_) else np.zeros(n, bool)
    cont = ~integ
    if bound_scale is None:  # else the caller's, and the objective scale allows for it
        bound_scale = _power_of_two(*_abs_range(np.asarray(lp.col_lower_)[cont], np.asarray(lp.col_upper_)[cont],
                                                lp.row_lower_, lp.row_upper_))
    cost = np.asarray(lp.col_cost_, dtype=float) * np.where(integ, 2.0 ** bound_scale, 1.0)
    return bound_scale, _power_of_two(*_abs_range(cost))


@functools.cache
def highs_returns_scaled_mip_bound() -> bool:
    """Whether the installed HiGHS returns ``mip_dual_bound`` still multiplied by its user scales.

    Measured, not guessed from the version: a three-column integer program whose optimum is 5
    (min 3x + 2y + 7z s.t. x + y + z >= 1.5, x + z >= 0.5, integer) is solved with
    user_objective_scale -3 and user_bound_scale -1.  An unscaled bound is 5; a scaled one is
    5 * 2**-4 = 0.3125.  Measured here: HiGHS 1.15.1 returns 0.3125 (scaled), 1.16.0 returns 5;
    tests/test_solve_scaling.py pins both and checks the bound of a node-limited scaled solve.
    Costs a few milliseconds, once per process."""
    import highspy
    import numpy as np

    h = new_highs()
    idx = np.arange(3, dtype=np.int32)
    h.addVars(3, np.zeros(3), np.full(3, 10.0))
    h.changeColsCost(3, idx, np.array([3.0, 2.0, 7.0]))
    h.changeColsIntegrality(3, idx, np.array([highspy.HighsVarType.kInteger] * 3))
    h.addRow(1.5, highspy.kHighsInf, 3, idx, np.ones(3))
    h.addRow(0.5, highspy.kHighsInf, 2, np.array([0, 2], dtype=np.int32), np.ones(2))
    h.setOptionValue("user_objective_scale", -3)
    h.setOptionValue("user_bound_scale", -1)
    h.run()
    bound = float(h.getInfo().mip_dual_bound)
    if abs(bound - 5.0) <= 1e-6:
        return False
    if abs(bound - 5.0 * 2.0 ** -4) <= 1e-6:
        return True
    raise RuntimeError(f"HiGHS {highs_version()}: unexpected MIP bound {bound} of the scaling probe (5 or 0.3125 expected)")


def _unscaled_bound(opt, res, hopts: dict) -> float | None:
    """The MIP dual bound in the model's units.

    Some HiGHS versions unscale the solution and objective after user scaling but return
    ``mip_dual_bound`` still scaled: (bound - offset) * 2**(bound_scale + objective_scale)
    + offset.  Pyomo passes that value on as ``objective_bound`` for MIPs; LP bounds are the
    (unscaled) objective.  Whether the installed HiGHS does so is measured by
    :func:`highs_returns_scaled_mip_bound`."""
    bound = res.objective_bound
    h = getattr(opt, "_solver_model", None)
    if bound is None or h is None or h.getInfo().mip_node_count == -1:
        return bound
    return _unscale(h, bound, hopts)


def _unscale(h, bound: float, hopts: dict) -> float:
    """A MIP dual bound HiGHS reported for ``h`` solved with ``hopts``' user scales, in the model's units."""
    k = int(hopts.get("user_bound_scale", 0)) + int(hopts.get("user_objective_scale", 0))
    if k == 0 or not highs_returns_scaled_mip_bound():
        return bound
    offset = float(h.getLp().offset_)
    return (bound - offset) / 2.0 ** k + offset


STALE = "inconsistent solution"
"""Termination text of a solve whose returned solution does not have the reported objective."""


def _objective_value(m) -> float:
    from pyomo.environ import Objective, value

    return float(value(next(m.component_data_objects(Objective, active=True))))


def _solution_matches_objective(m, objective: float | None) -> bool:
    """Whether the solution loaded into ``m`` costs what the solver reported (to rounding)."""
    if objective is None:
        return True
    return abs(_objective_value(m) - objective) <= 1e-6 * max(1.0, abs(objective))


def make_solver():
    """A fresh HiGHS interface; keep it to re-solve a model after changing mutable Params."""
    from pyomo.contrib.solver.common.factory import SolverFactory

    _banner_silenced()  # Pyomo creates the Highs object itself
    return SolverFactory("highs")


def solve_model(m, options: SolveOptions | None = None, solver=None, build_s: float = 0.0,
                duals: dict | None = None, progress=None) -> SolveResult:
    """Solve ``m`` with HiGHS and load the best solution, if any, into it. ``progress(seconds, objective,
    bound)`` (optional) is told each new incumbent or bound, the heuristic's and Lagrangian's included
    (seconds since the hand-off began; bound the better of HiGHS' and the Lagrangian). An LP with a solution
    also fills ``duals`` (when given) with {constraint: dual}, the change of the objective per unit
    of the row's bound."""
    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC

    options = options or SolveOptions()
    opt = solver if solver is not None else make_solver()
    hopts = {"random_seed": options.seed, "output_flag": False, **options.solver_options}
    scales = {"user_bound_scale": 0, "user_objective_scale": 0}  # reset what a previous solve set
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
    start = lagrange = restore = None
    methods_s = 0.0  # seconds of the heuristic and the bound
    try:
        if hasattr(opt, "_solver_model") and hasattr(opt, "_model"):
            # Hand the model over (or update it) first, so the scales come from what HiGHS will solve.
            first = opt._model is not m
            if first:
                opt.set_instance(m)
            else:
                opt.update()
            kwargs["auto_updates"] = _NO_UPDATES
            if options.auto_scale:
                scales["user_bound_scale"], scales["user_objective_scale"] = user_scales(
                    opt._solver_model, options.solver_options.get("user_bound_scale"))
            hopts.update({k: v for k, v in scales.items() if k not in options.solver_options})
            if first and _wants_heuristic(options, m, opt._solver_model):
                # A re-solve of a persistent model is offered its previous plan instead (persistent.py).
                t_methods = time.perf_counter()
                start, lagrange, restore = _start_and_bound(m, opt, options, hopts)
                if progress is not None and start.status == "accepted":
                    progress(time.perf_counter() - t0, start.objective, None if lagrange is None else lagrange.bound)
                methods_s = time.perf_counter() - t_methods
                if options.time_limit is not None:  # the methods' seconds count against HiGHS' limit
                    kwargs["time_limit"] = max(options.time_limit - methods_s, 0.01)
        hopts.update({k: v for k, v in scales.items() if k not in options.solver_options})
        try:
            with _interrupt_quiet(), _reporting(opt, progress, t0, hopts, lagrange):
                res = opt.solve(m, **kwargs)
        finally:
            if lagrange is not None:
                _stop_at(opt._solver_model, None)  # the stop rule belongs to this solve only
            if restore is not None:  # the fixings belong to this solve only (a kept model is solved again)
                opt._solver_model.changeColsBounds(len(restore[0]), *restore)
    except Exception as exc:  # noqa: BLE001 - any solver failure becomes a typed "error" result
        return SolveResult(
            status="error", termination=f"{type(exc).__name__}: {exc}", objective=None, bound=None, gap=None,
            build_s=build_s, handoff_s=time.perf_counter() - t0, solver_version=highs_version(),
        )
    wall = time.perf_counter() - t0
    # HiGHS accumulates its run time over the runs of one object: report this run's own share.
    total = float(getattr(res.timing_info, "highs_time", None) or 0.0)
    before = getattr(opt, "_friendshore_highs_total", 0.0)
    highs_s = total - before if total >= before else total
    opt._friendshore_highs_total = total

    tc = res.termination_condition
    has_sol = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if has_sol:
        res.solution_loader.load_vars()
        if duals is not None:
            duals.update(res.solution_loader.get_duals())
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
    if start is not None and start.status == "accepted" and status == "no_solution" and _load_values(m, opt, start.values):
        # The limit stopped HiGHS before it took the start in: the heuristic's checked plan is the best known.
        has_sol, status, obj = True, "feasible", start.objective
    elif (start is not None and start.status == "accepted" and status == "feasible"
          and obj > start.objective + 1e-9 * max(1.0, abs(start.objective)) and _load_values(m, opt, start.values)):
        # HiGHS stopped by the limit with a worse plan than the checked start it was offered (it had
        # not taken the start in): never report a dearer plan than one known.
        obj = start.objective
    if start is not None and start.status == "accepted" and has_sol and not _solution_matches_objective(m, obj):
        # HiGHS 1.16.0 may hand back the offered start in place of its better solution (below): solve
        # once more without the start, the remaining time if limited.
        opt._solver_model.clearSolver()
        again = options.model_copy(update={"heuristic": "off", "time_limit": None if options.time_limit is None
                                           else max(options.time_limit - (time.perf_counter() - t0), 0.01)})
        res2 = solve_model(m, again, solver=opt, build_s=build_s, duals=duals)
        handoff = max(time.perf_counter() - t0 - res2.solve_s - methods_s, 0.0)
        return res2.model_copy(update={"start": "discarded", "start_objective": start.objective,
                                       "start_s": start.seconds, "handoff_s": handoff,
                                       "start_note": "HiGHS returned the offered start as its solution; solved again "
                                                     "without it"})
    if has_sol and not _solution_matches_objective(m, obj):
        # HiGHS 1.16.0 can hand back the MIP start it was offered instead of the better solution whose
        # objective it reports (measured: tests/test_study.py).  Never pass such a pair on.
        return SolveResult(
            status="error", termination=f"{STALE}: HiGHS reported objective {obj!r}, its solution costs "
            f"{_objective_value(m)!r}", objective=None, bound=None, gap=None, build_s=build_s,
            handoff_s=max(wall - highs_s, 0.0), solve_s=highs_s, solver_version=highs_version())
    bound = _unscaled_bound(opt, res, hopts)
    term = tc.name
    extra: dict[str, Any] = {}
    if lagrange is not None:
        extra = {"lagrangian_bound": lagrange.bound, "lagrangian_s": lagrange.seconds,
                 "lagrangian_fixed": 0 if restore is None else len(restore[0])}
        if bound is None or lagrange.bound > bound:
            bound = lagrange.bound
    gap = None
    if obj is not None and bound is not None:
        gap = abs(obj - bound) / abs(obj) if abs(obj) > 1e-9 else abs(obj - bound)
    if lagrange is not None and status == "feasible" and gap is not None and gap <= options.rel_gap:
        status, term = "optimal", f"{term}: gap closed by the Lagrangian bound"
    return SolveResult(
        status=status, termination=term, objective=obj, bound=bound, gap=gap, **extra,
        build_s=build_s, handoff_s=max(wall - highs_s - methods_s, 0.0), solve_s=highs_s,
        solver_version=".".join(str(x) for x in res.solver_version) if res.solver_version else highs_version(),
        user_bound_scale=int(hopts["user_bound_scale"]), user_objective_scale=int(hopts["user_objective_scale"]),
        **({} if start is None else {"start": start.status, "start_objective": start.objective,
                                     "start_s": start.seconds, "start_note": start.note}),
    )


def _load_values(m, opt, values) -> bool:
    """Load column ``values`` (HiGHS' order) into the variables of ``m``; whether every variable got one."""
    from pyomo.environ import Var

    col = getattr(opt, "_pyomo_var_to_solver_var_map", None) or {}
    data = [v for v in m.component_data_objects(Var) if not v.fixed]
    if not all(id(v) in col for v in data):
        return False
    for v in data:
        v.set_value(values[col[id(v)]], skip_validation=True)
    return True


def _wants_heuristic(options: SolveOptions, m, h) -> bool:
    """Whether the heuristic runs on this model: THE reading of ``SolveOptions.heuristic``."""
    if options.lagrangian == "on":
        return options.heuristic != "off"
    if options.heuristic == "auto":
        from models.facility import is_facility_core

        return h.getNumCol() >= HEURISTIC_AUTO_COLUMNS and is_facility_core(m)
    return options.heuristic == "on"


def _start_and_bound(m, opt, options: SolveOptions, hopts: dict):
    """The heuristic's start (offered to HiGHS if accepted) and, for a facility-location model, the
    Lagrangian bound and the decisions it fixes: (StartResult, BoundResult or None, the fixed columns'
    original bounds (columns, lower, upper) to restore after the solve, or None).

    With the bound, the heuristic first rounds and repairs; its plan's cost is the subgradient's target,
    and the site sets the bound's knapsacks chose are then tried as further plans before the local
    search (a Lagrangian heuristic)."""
    import numpy as np

    import models
    from models.facility import facility_view
    from planner.solve.heuristic import Heuristic
    from planner.solve.lagrange import lagrangian_bound

    h = opt._solver_model
    row_of = getattr(opt, "_pyomo_con_to_solver_con_map", None) or {}
    rows = [row_of[c] for c in models.heuristic_relaxable(m) if c in row_of]
    common = dict(threads=options.threads,
                  scales=(int(hopts.get("user_bound_scale", 0)), int(hopts.get("user_objective_scale", 0))))
    view = facility_view(m)
    col = opt._pyomo_var_to_solver_var_map
    heur = Heuristic(h, rows, budget_s=options.heuristic_budget(), **common,
                     guide=_SiteGuide(view, row_of, col, h) if view is not None else None)
    cost = heur.round()
    lagrange, seeds = None, ()
    if view is not None and cost is not None and options.lagrangian != "off":
        lagrange = lagrangian_bound(view, cost, budget_s=options.lagrange_budget(), threads=options.threads,
                                    target_gap=options.rel_gap)
        seeds = [[col[id(view.site_vars[k])] for k in plan] for plan in lagrange.plans]
        heur.pause(lagrange.seconds)  # the bound has its own budget and its own seconds
    heur.improve(seeds)
    start = heur.finish()
    restore = None
    if start.status == "accepted":
        if lagrange is not None and lagrange.bound > 0 and not any(common["scales"]):
            _stop_at(h, lagrange.bound / (1.0 - options.rel_gap))
            # Before the start is offered: changing a bound makes HiGHS forget a solution it was given.
            restore = _fix(h, view, col, lagrange, start.objective)
        n = len(start.values)
        h.setSolution(n, np.arange(n, dtype=np.int32), np.asarray(start.values, dtype=float))
    return start, lagrange, restore


def _fix(h, view, col, lagrange, upper: float):
    """Lagrangian variable fixing (planner.solve.lagrange.fixings) on HiGHS' copy of the model: the
    sites that no plan cheaper than the start's ``upper`` opens, or closes, are fixed there. Returns
    their original bounds, or None if none is fixed."""
    import numpy as np

    from planner.solve.lagrange import fixings

    if lagrange.multipliers is None:
        return None
    closed, opened = fixings(view, lagrange.multipliers, upper)
    if not len(closed) + len(opened):
        return None
    idx = np.array([col[id(view.site_vars[k])] for k in (*closed, *opened)], dtype=np.int32)
    lp = h.getLp()
    restore = (idx, np.asarray(lp.col_lower_)[idx].copy(), np.asarray(lp.col_upper_)[idx].copy())
    value = np.concatenate([np.zeros(len(closed)), np.ones(len(opened))])
    h.changeColsBounds(len(idx), idx, value, value)
    return restore


class _SiteGuide:
    """The heuristic's guide on a facility-location model (planner.solve.heuristic.Heuristic): open
    moves ranked by each site's value at the current plan's demand prices
    (planner.solve.lagrange.site_values), and plans whose sites cannot hold an item's demand skipped."""

    def __init__(self, view, row_of, col, h):
        import numpy as np

        lp = h.getLp()
        self.view, self.ints = view, np.flatnonzero(np.asarray(lp.integrality_, dtype=np.int8) != 0)
        self.rows = np.array([row_of[c] for c in view.demand_rows], dtype=np.int64)
        self.at = np.searchsorted(self.ints, np.array([col[id(v)] for v in view.site_vars], dtype=np.int64))
        self.need = np.bincount(view.demand_item, weights=view.demand, minlength=int(view.site_item.max()) + 1)

    def price(self, duals):
        import numpy as np

        from planner.solve.lagrange import site_values

        # HiGHS' row dual of a minimisation is the objective's change per unit of the row's bound: the
        # cost of one more unit of demand, the price a site's capacity earns there.
        out = np.full(len(self.ints), np.inf)
        out[self.at] = site_values(self.view, duals[self.rows])
        return out

    def covers(self, is_open) -> bool:
        import numpy as np

        v = self.view
        held = np.bincount(v.site_item, weights=v.capacity * is_open[self.at], minlength=len(self.need))
        return bool(np.all(held >= self.need * (1 - 1e-9)))


_STOPS: dict[int, Any] = {}


class _NoInterruptNote:
    """Drops Pyomo's log line about HiGHS' interrupt status: our own stop rule (_stop_at) interrupts on
    purpose, and the run is reported with its status, bound and gap."""

    def filter(self, record) -> bool:
        return "kInterrupt" not in record.getMessage()


@contextlib.contextmanager
def _reporting(opt, progress, t0: float, hopts: dict, lagrange):
    """Tell ``progress`` each incumbent and bound HiGHS finds during the solve (see solve_model)."""
    h = getattr(opt, "_solver_model", None)
    if progress is None or h is None:
        yield
        return
    floor = -math.inf if lagrange is None else lagrange.bound
    last: list = [None, None]

    def tell(e):
        d = e.data_out
        obj = d.mip_primal_bound if math.isfinite(d.mip_primal_bound) else None
        bound = _unscale(h, d.mip_dual_bound, hopts) if math.isfinite(d.mip_dual_bound) else None
        bound = floor if bound is None else max(bound, floor)
        bound = None if not math.isfinite(bound) else bound
        if [obj, bound] != last:
            last[:] = [obj, bound]
            progress(time.perf_counter() - t0, obj, bound)

    h.cbMipInterrupt.subscribe(tell)
    h.cbMipImprovingSolution.subscribe(tell)
    try:
        yield
    finally:
        h.cbMipInterrupt.unsubscribe(tell)
        h.cbMipImprovingSolution.unsubscribe(tell)


@contextlib.contextmanager
def _interrupt_quiet():
    import logging

    log, rule = logging.getLogger("pyomo.contrib.solver.solvers.highs"), _NoInterruptNote()
    log.addFilter(rule)
    try:
        yield
    finally:
        log.removeFilter(rule)


def _stop_at(h, incumbent: float | None) -> None:
    """Interrupt HiGHS' MIP search of ``h`` once its incumbent costs at most ``incumbent`` (None: remove
    the rule). Only without user scaling, where the callback's values are in the model's units."""
    old = _STOPS.pop(id(h), None)
    if old is not None:
        h.cbMipInterrupt.unsubscribe(old)
    if incumbent is None:
        return

    def stop(e, limit=incumbent):
        if e.data_out.mip_primal_bound <= limit:
            e.interrupt()

    h.cbMipInterrupt.subscribe(stop)
    _STOPS[id(h)] = stop


def build_and_solve(inst, options: SolveOptions | None = None):
    """Build the model of ``inst`` and solve it: returns (model, SolveResult)."""
    import models

    t0 = time.perf_counter()
    m = models.build(inst)
    build_s = time.perf_counter() - t0
    return m, solve_model(m, options, build_s=build_s)


MODEL_FORMATS = ("mps", "lp")
"""Formats of ``solve --write-model``: free MPS and CPLEX LP, read by HiGHS, SCIP, CBC, Gurobi, CPLEX."""


def write_model(inst, path: Path) -> None:
    """Write the model of ``inst`` to ``path`` (MPS or LP by its suffix) with readable names
    (``Flow(cobalt_AU_JP)``, ``Demand_Balance(...)``), for cross-checks with another solver.

    It is the model Friendshore hands to HiGHS, built from the same instance; its optimum is the
    run's objective (the file holds the objective's constant as a fixed variable)."""
    import models

    fmt = path.suffix.lstrip(".").lower()
    if fmt not in MODEL_FORMATS:
        raise ValueError(f"model format {fmt!r}; expected one of {MODEL_FORMATS}")
    models.build(inst).write(str(path), io_options={"symbolic_solver_labels": True})


def lp_iis(m, opt) -> tuple[list, list[str], str]:
    """Rows (ConstraintData) and variable bounds of an irreducible infeasible subset of the LP relaxation.

    Uses the HiGHS model the Pyomo interface built (private attributes of
    pyomo.contrib.solver's Highs, read defensively): integrality is dropped
    and ``getIis`` is asked for an irreducible subset.  Returns a note instead
    when none is available (the relaxation is feasible: the conflict needs
    integer choices).
    """
    import highspy
    import numpy as np

    h = getattr(opt, "_solver_model", None)
    row_map = getattr(opt, "_solver_con_to_pyomo_con_map", None)
    if h is None or row_map is None:
        return [], [], "no infeasible subset available from this solver interface"
    n = h.getNumCol()
    if n:
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                                np.array([highspy.HighsVarType.kContinuous] * n))
    strategy = int(highspy.IisStrategy.kIisStrategyFromLp)
    if h.getNumRow() <= 20000:  # the deletion filter solves one LP per row: only for modest models
        strategy |= int(highspy.IisStrategy.kIisStrategyIrreducible)
    h.setOptionValue("iis_strategy", strategy)
    status, iis = h.getIis()
    if status == highspy.HighsStatus.kError or not iis.valid_ or not len(iis.row_index_):
        return [], [], ("the LP relaxation is feasible, so the conflict comes from yes/no choices (qualification, "
                        "minimum orders, builds); no infeasible subset of rows can be shown")
    rows = [row_map[int(r)] for r in iis.row_index_ if int(r) in row_map]
    rows.sort(key=lambda c: c.name)
    # The interface maps id(VarData) -> column.
    from pyomo.environ import Var

    name_of = {id(v): v.name for v in m.component_data_objects(Var, descend_into=True)}
    col_of = {int(col): name_of.get(key) for key, col in (getattr(opt, "_pyomo_var_to_solver_var_map", {}) or {}).items()}
    cols = []
    sides = {int(highspy.IisBoundStatus.kIisBoundStatusLower): ">= its lower bound",
             int(highspy.IisBoundStatus.kIisBoundStatusUpper): "<= its upper bound",
             int(highspy.IisBoundStatus.kIisBoundStatusBoxed): "within its bounds"}
    for c, b in zip(iis.col_index_, iis.col_bound_):
        if int(b) in sides:  # other statuses: the column's bounds play no part in the conflict
            cols.append(f"{col_of.get(int(c)) or f'column {int(c)}'} {sides[int(b)]}")
    return rows, sorted(cols), ""
