"""Two-stage plans over scenarios, on mpi-sppy: the extensive form, or progressive hedging over MPI.

First stage (models/stages.py): which suppliers to qualify, which plants to build, what stock to
hold, once for every scenario; second stage: each scenario's flows and shortages under its own data.
The expected cost sum_s p_s cost_s is minimised.

* ``ef``: mpi-sppy builds the extensive form (one copy of the model per scenario, first-stage
  decisions tied together) and Friendshore's own HiGHS path solves it (status, bound, gap as any
  solve).
* ``ph``: mpi-sppy's progressive hedging (Rockafellar and Wets 1991) decomposes by scenario;
  scenarios are spread over the MPI ranks (``mpiexec -n 2 friendshore two-stage ...``). Its
  consensus first stage, rounded, is then held fixed and every scenario solved by HiGHS: the plan's
  expected cost is the reported objective. The bound is PH's trivial bound (each scenario solved on
  its own, the wait-and-see value), lowered by the subproblems' relative gap so that it stays valid.

mpi-sppy imports mpi4py and prints a line when first imported; both stay inside this module.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from dataclasses import dataclass, field
from typing import Literal

from planner.solve.highs import SolveOptions, solve_model

Method = Literal["ef", "ph"]
PH_ITERATIONS = 50
PH_RHO = 1.0
"""PH's penalty weight per unit of a first-stage decision's cost scale (rho = PH_RHO x the decision's
objective coefficient, at least 1); the default of mpi-sppy's examples for cost-proportional rho."""


@dataclass
class TwoStageResult:
    method: str
    status: str
    """optimal | feasible | no_solution | infeasible | error (as SolveResult's)."""
    objective: float | None
    """Expected cost of the plan: first stage plus the probability-weighted second stage."""
    bound: float | None
    gap: float | None
    first_stage: dict[str, float] = field(default_factory=dict)
    """First-stage variable name -> value in the plan."""
    scenario_costs: dict[str, float] = field(default_factory=dict)
    """Scenario -> cost of the plan in that scenario."""
    iterations: int = 0
    seconds: float = 0.0
    ranks: int = 1
    note: str = ""


def mpi_rank() -> int:
    """This process's MPI rank (0 when not started by mpiexec)."""
    _, MPI = _quiet_import()
    return int(MPI.COMM_WORLD.Get_rank())


def _quiet_import():
    with contextlib.redirect_stdout(io.StringIO()):  # "Initializing mpi-sppy" goes to standard output
        import mpisppy.utils.sputils as sputils
        from mpisppy import MPI
    return sputils, MPI


@contextlib.contextmanager
def _fd1_silenced():
    """C-level standard output closed: HiGHS, driven by mpi-sppy's persistent interface, prints a
    warning straight to it for each zero coefficient pushed; our output stays clean."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _creator(scenarios: dict):
    """mpi-sppy's scenario_creator over {name: (probability, instance)}."""

    def create(name: str):
        import models
        from models.stages import first_stage

        sputils, _ = _quiet_import()
        p, inst = scenarios[name]
        m = models.build(inst)
        cost, nonants = first_stage(m)
        sputils.attach_root_node(m, cost, nonants)
        m._mpisppy_probability = p
        return m

    return create


def solve_two_stage(scenarios: dict, method: Method = "ef", options: SolveOptions | None = None,
                    iterations: int = PH_ITERATIONS) -> TwoStageResult:
    """Solve the two-stage problem over ``scenarios`` {name: (probability, Instance)}; every rank of
    an MPI run calls this with the same arguments and gets the same result."""
    options = options or SolveOptions()
    t0 = time.perf_counter()
    names = list(scenarios)
    if not names:
        raise ValueError("no scenarios")
    total = sum(p for p, _ in scenarios.values())
    if not math.isclose(total, 1.0, rel_tol=1e-9):
        raise ValueError(f"scenario probabilities sum to {total}, expected 1")
    if method == "ef":
        return _ef(scenarios, names, options, t0)
    if method == "ph":
        return _ph(scenarios, names, options, iterations, t0)
    raise ValueError(f"unknown method {method!r}; expected ef or ph")


def _ef(scenarios, names, options, t0) -> TwoStageResult:
    sputils, _ = _quiet_import()
    ef = sputils.create_EF(names, _creator(scenarios))
    res = solve_model(ef, options.model_copy(update={"heuristic": "off"}))
    first: dict[str, float] = {}
    costs: dict[str, float] = {}
    if res.has_solution:
        from pyomo.environ import value

        for name in names:
            block = getattr(ef, name)
            costs[name] = float(value(block.Total_Cost))
            if not first:
                for node in block._mpisppy_node_list:
                    first = {v.getname(fully_qualified=True, relative_to=block): float(v.value)
                             for v in node.nonant_vardata_list}
        expected = sum(scenarios[n][0] * c for n, c in costs.items())
        if abs(expected - res.objective) > 1e-7 * max(1.0, abs(res.objective)):
            # The scenario costs must add up to the objective reported: never a number that does not.
            return TwoStageResult("ef", "error", None, None, None, first, costs, seconds=time.perf_counter() - t0,
                                  note=f"scenario costs sum to {expected!r}, the solver reported {res.objective!r}")
    return TwoStageResult("ef", res.status, res.objective, res.bound, res.gap, first, costs,
                          seconds=time.perf_counter() - t0)


def _ph(scenarios, names, options, iterations, t0) -> TwoStageResult:
    from pyomo.environ import value

    sputils, MPI = _quiet_import()
    comm = MPI.COMM_WORLD
    with contextlib.redirect_stdout(io.StringIO()), _fd1_silenced():
        import mpisppy.opt.ph

        ph_options = {
            "solver_name": "appsi_highs", "PHIterLimit": iterations, "defaultPHrho": PH_RHO, "convthresh": 1e-6,
            "verbose": False, "display_progress": False, "display_timing": False, "asynchronousPH": False,
            "solver_options_layers": [sputils.solver_options_layer("default", {
                "mip_rel_gap": options.rel_gap, "threads": options.threads, "random_seed": options.seed,
                **({"time_limit": options.time_limit} if options.time_limit is not None else {})})],
            # HiGHS solves no mixed-integer quadratic programs: the proximal terms are linearised
            # (exactly for yes/no decisions, by tangent cuts for stock levels).
            "linearize_binary_proximal_terms": True, "linearize_proximal_terms": True,
            "proximal_linearization_tolerance": 1e-3,
        }
        ph = mpisppy.opt.ph.PH(ph_options, names, _creator(scenarios), mpicomm=comm)
        _, _, trivial = ph.ph_main()
    # The consensus plan: each first-stage decision's average over the scenarios, binaries rounded,
    # within the decision's bounds.
    local = ph.local_scenarios
    any_s = next(iter(local.values()))
    xbar = {}
    for node in any_s._mpisppy_node_list:
        for i, v in enumerate(node.nonant_vardata_list):
            x = float(value(any_s._mpisppy_model.xbars[(node.name, i)]))
            if v.is_binary():
                x = float(round(x))
            # An average of values at a bound can fall a rounding error outside it: project it back.
            xbar[i] = min(max(x, v.lb if v.lb is not None else 0.0), v.ub if v.ub is not None else math.inf)
    # Hold it fixed and solve each of this rank's scenarios afresh with HiGHS (PH changed the objectives
    # of its own copies); gather sum p * cost over the ranks.
    import models
    from models.stages import first_stage

    local_cost, local_costs, feasible = 0.0, {}, 1
    for name in local:
        p, inst = scenarios[name]
        m = models.build(inst)
        for i, v in enumerate(first_stage(m)[1]):
            v.fix(xbar[i])
        r = solve_model(m, options.model_copy(update={"heuristic": "off", "lagrangian": "off"}))
        if not r.has_solution:
            feasible = 0
            continue
        local_costs[name] = float(r.objective)
        local_cost += p * float(r.objective)
    total = comm.allreduce(local_cost, op=MPI.SUM)
    ok = comm.allreduce(feasible, op=MPI.MIN)
    costs = {k: v for part in comm.allgather(local_costs) for k, v in part.items()}
    first = {v.name: xbar[i] for node in any_s._mpisppy_node_list for i, v in enumerate(node.nonant_vardata_list)}
    bound = None
    if trivial is not None and math.isfinite(trivial):
        bound = float(trivial) - options.rel_gap * abs(float(trivial))
    if not ok:
        return TwoStageResult("ph", "no_solution", None, bound, None, first, costs, iterations=int(ph._PHIter),
                              seconds=time.perf_counter() - t0, ranks=comm.Get_size(),
                              note="the consensus first stage has no feasible second stage in some scenario")
    gap = abs(total - bound) / abs(total) if bound is not None and abs(total) > 1e-9 else None
    status = "optimal" if gap is not None and gap <= options.rel_gap else "feasible"
    return TwoStageResult("ph", status, float(total), bound, gap, first, costs, iterations=int(ph._PHIter),
                          seconds=time.perf_counter() - t0, ranks=comm.Get_size())
