"""One study run, as a worker executes it: derive the instance, solve, tabulate.

A worker (the study's own process, or a Dask worker process) keeps, per thread,
a few *persistent slots*: a built Pyomo model with its HiGHS interface, keyed
by the instance's :func:`models.structure_key`.  When a run's instance differs from a
slot's only in values held by mutable Params (programme rates and budgets,
share caps, minimum suppliers, N-1 levels), the Params are updated in place,
HiGHS is offered the slot's previous solution as a MIP start, and the model is
re-solved; any other difference (a cap switched on or off, a cost changed, a
tier excluded) changes the key, and the model is built anew.

Public API: :class:`RunTask`, :class:`RunOutcome`, :class:`Scale`,
:func:`execute_run`, :func:`derive_instance`, :func:`apply_scales`,
:func:`solve_case`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import ValidationError

from planner.analysis.cases import CostOnlyCache
from planner.instance.checks import check_feasibility
from planner.errors import InstanceError, Problem
from planner.instance.schema import ALL, TABLES, Instance
from planner.solve.highs import SolveOptions, SolveResult, solve_model
from planner.solve.persistent import ModelCache

MAX_SLOTS = 4
"""Persistent models kept per worker thread (least recently used dropped)."""
MAX_REFERENCES = 32
"""Cost-only solutions cached per worker thread, by instance hash."""

# --------------------------------------------------------------------------- tasks and outcomes
@dataclass(frozen=True)
class Scale:
    """Multiply a numeric column of the rows that match every filter by ``factor``."""

    name: str
    table: str
    column: str
    filters: tuple[tuple[str, tuple[str, ...]], ...]
    """(filter, accepted values): item, country, importer, tier, option, programme."""
    factor: float = 1.0


FILTER_COLUMNS: dict[str, dict[str, str]] = {
    "item": {"supply": "item", "demand": "item", "lanes": "item", "investments": "item", "programmes": "items"},
    "country": {"supply": "country", "lanes": "origin", "investments": "country", "programmes": "funding_country"},
    "importer": {"demand": "importer", "lanes": "importer"},
    "tier": {"supply": "country", "lanes": "origin", "investments": "country"},
    "option": {"investments": "option"},
    "programme": {"programmes": "id"},
}
"""Multiplier filter -> table -> the column it tests (tier: the tier of that column's country)."""
SCALABLE_TABLES = ("supply", "demand", "lanes", "investments", "programmes")


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run, apart from the (scattered) base instance."""

    run_id: str
    delta: dict[str, Any]
    """Overrides relative to the study's common base (scenario, grid or frontier values)."""
    overrides: dict[str, Any]
    """All overrides relative to the base instance files (recorded in run.json)."""
    scales: tuple[Scale, ...]
    options: SolveOptions
    persistent: bool = True
    compare: bool = True
    tables: bool = True
    """Return the full result tables (a run folder); False returns the summary row only."""
    measure: Any = None
    """A frontier measure (planner.study.measures.Measure) whose value goes into the row, or None."""
    base_path: str = ""
    files_hash: str = ""
    variant: str | None = None
    study: dict[str, Any] = field(default_factory=dict)
    """Study context recorded in run.json (name, kind, group, params)."""
    command: tuple[str, ...] = ()
    plan: dict | None = None
    """Uncertainty samples: the plan chosen at the central values, evaluated on this run's instance."""
    two_stage: Any = None
    """A two-stage run's settings (planner.study.spec.TwoStageSpec), or None."""


@dataclass
class RunOutcome:
    """A finished run: its row of the study table, and its tables for the run folder."""

    run_id: str
    row: dict[str, Any]
    tables: dict[str, pd.DataFrame] | None = None
    record: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.row.get("status") in ("optimal", "feasible")


class Rejected(Exception):
    """The run's instance was rejected before solving (status 'invalid' or 'infeasible')."""

    def __init__(self, status: str, reason: str, columns: dict[str, Any] | None = None):
        super().__init__(reason)
        self.status, self.reason, self.columns = status, reason, columns or {}
        """columns: what the run's row can still say (who counts as a friend under its definition)."""


# --------------------------------------------------------------------------- instances
def _row_matches(inst: Instance, s: Scale, row) -> bool:
    for name, wanted in s.filters:
        column = FILTER_COLUMNS[name][s.table]
        value = getattr(row, column)
        if name == "tier":
            value = inst.tier_of.get(value)
        if isinstance(value, tuple):  # programmes.items: eligible for the item, or for every item
            if not (set(value) & set(wanted) or ALL in value):
                return False
        elif value not in wanted:
            return False
    return True


def apply_scales(inst: Instance, scales: tuple[Scale, ...] | list[Scale]) -> Instance:
    """``inst`` with each multiplier applied (rows re-validated); raises InstanceError naming the multiplier."""
    update: dict[str, tuple] = {}
    for s in scales:
        if s.factor == 1.0:
            continue
        cls = TABLES[s.table]
        rows = list(update.get(s.table, getattr(inst, s.table)))
        for n, r in enumerate(rows):
            old = getattr(r, s.column)
            if old is None or not _row_matches(inst, s, r):
                continue
            new = old * s.factor
            try:
                rows[n] = cls.model_validate({**r.model_dump(), s.column: new})
            except ValidationError as e:
                msg = e.errors(include_url=False)[0]["msg"]
                key = ":".join(str(getattr(r, c)) for c in cls.key)
                raise InstanceError([Problem(f"multiplier.{s.name}", None, f"{s.table}.{s.column}", f"{new:g}",
                                             f"row {key}: {old:g} x {s.factor:g} is invalid ({msg}); "
                                             "expected a factor that keeps the value valid")]) from None
        update[s.table] = tuple(rows)
    return inst.replace(**update) if update else inst


def derive_instance(base: Instance, delta: dict[str, Any], scales=()) -> Instance:
    """The run's instance: ``delta`` overrides on ``base``, then the multipliers, then the plain-infeasibility checks.

    Raises :class:`Rejected` ('invalid' for a bad value, 'infeasible' for a policy
    that the checks of :func:`planner.instance.checks.check_feasibility` show cannot hold).
    """
    from planner.instance.io import apply_overrides

    # The plain feasibility checks run once, below, on the final instance (after the multipliers).
    try:
        inst = apply_overrides(base, delta, prechecked=True, feasibility=False)
    except InstanceError as e:
        raise Rejected("invalid", _reason(e.problems)) from None
    try:
        inst = apply_scales(inst, scales)
    except InstanceError as e:
        raise Rejected("invalid", _reason(e.problems)) from None
    problems = check_feasibility(inst, "instance.yaml", "demand.csv", {})
    if problems:
        raise Rejected("infeasible", "rejected before solving: " + _reason(problems), tier_members(inst))
    return inst


def tier_members(inst: Instance) -> dict[str, str]:
    """members_<tier>: the countries in each trust tier (countries.csv's, or policy.trust's), ';'-joined."""
    return {f"members_{t}": ";".join(sorted(c for c, x in inst.tier_of.items() if x == t)) for t in inst.meta.tiers}


def _reason(problems: list[Problem]) -> str:
    return "; ".join(str(p) for p in problems)


# --------------------------------------------------------------------------- structure
# --------------------------------------------------------------------------- persistent solves
_LOCAL = threading.local()
_PROCESS_LOCK = threading.Lock()
"""One run at a time per process: Pyomo's HiGHS interface captures output by redirecting the
process's file descriptors, so two solves in threads of one process break each other.  Parallelism
comes from processes (local workers, or Dask workers started with one thread each)."""


def _state() -> threading.local:
    if not hasattr(_LOCAL, "cache"):
        _LOCAL.cache = ModelCache(MAX_SLOTS)
        _LOCAL.references = CostOnlyCache(MAX_REFERENCES)
    return _LOCAL


def reset_worker_state() -> None:
    """Forget this thread's persistent models and cached cost-only solutions."""
    for name in ("cache", "references"):
        if hasattr(_LOCAL, name):
            delattr(_LOCAL, name)


def solve_case(inst: Instance, case: str, options: SolveOptions, persistent: bool) -> tuple[SolveResult, Any, dict]:
    """Solve ``inst``; returns (result, model holding the solution, info).

    Persistent: this thread's :class:`planner.solve.persistent.ModelCache` re-solves a kept model of
    the same structure (the few most recent per worker). info: ``reused`` (a kept model was
    re-solved), ``warm_start`` (none | used | rejected | stale), ``update_s`` (seconds to push the
    Param changes), ``kept`` (the persistent model).
    """
    import models

    if not persistent:
        t0 = time.perf_counter()
        m = models.build(inst)
        return solve_model(m, options, build_s=time.perf_counter() - t0), m, \
            {"reused": False, "warm_start": "none", "update_s": 0.0}
    return _state().cache.solve(inst, case, options)


# --------------------------------------------------------------------------- one run
def _failed(task: RunTask, status: str, reason: str, started: float, extra: dict | None = None) -> RunOutcome:
    row = {"run_id": task.run_id, "status": status, "reason": reason, **(extra or {})}
    row.update(_stamp(started))
    return RunOutcome(task.run_id, row)


def _stamp(started: float) -> dict[str, Any]:
    return {"run_s": time.time() - started, "worker": f"{socket.gethostname()}:{os.getpid()}",
            "finished_utc": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}


def execute_run(task: RunTask, base: Instance) -> RunOutcome:
    """Run one study run; never raises for a run that fails (its row says why)."""
    started = time.time()
    try:
        with _PROCESS_LOCK:
            return _execute(task, base, started)
    except Exception as exc:  # noqa: BLE001 - a failing run is recorded, the study goes on
        return _failed(task, "error", f"{type(exc).__name__}: {exc}", started)


def _execute(task: RunTask, base: Instance, started: float) -> RunOutcome:
    from planner.analysis.compare import run_comparison
    from planner.analysis.run import result_tables, run_record
    from planner.instance.io import instance_hash
    from planner.results import solution as sol

    t0 = time.perf_counter()
    try:
        inst = derive_instance(base, task.delta, task.scales)
    except Rejected as r:
        return _failed(task, r.status, r.reason, started, {"derive_s": time.perf_counter() - t0, **r.columns})
    derive_s = time.perf_counter() - t0
    if task.two_stage is not None:
        return _execute_two_stage(task, inst, started, derive_s)

    info: dict[str, Any] = {"update_s": 0.0, "reused": False, "warm_start": "none", "cost_only_s": 0.0}
    solved: dict[str, Any] = {}  # the friendshored case's model (and kept persistent model), for the plan evaluation

    def solve(case_inst: Instance, case: str):
        """The study's way to solve a case: its persistent models, and cost-only solutions cached
        by instance (every run of a study varying only the policy shares one)."""
        t1 = time.perf_counter()
        if case == "cost_only":
            got = _state().references.get(
                case_inst, lambda ci: solve_case(ci, "cost_only", task.options, task.persistent)[:2])
            info["cost_only_s"] = time.perf_counter() - t1
            return (*got, None)  # the cached case's model is not kept
        res, m, run_info = solve_case(case_inst, case, task.options, task.persistent)
        info.update(run_info)
        solved.update(model=m, kept=run_info.get("kept"))
        # A persistent model stays in the cache: it is not handed out for a diagnosis to relax.
        return res, (sol.from_model(m, case_inst, res, case) if res.has_solution else None), \
            (None if task.persistent else m)

    # The one three-case sequence of `solve` (planner.analysis.compare), stress tests included.
    cmp = run_comparison(inst, task.options, with_cost_only=task.compare, solve=solve)
    res = cmp.main
    solutions = cmp.solutions
    timing = {"derive_s": derive_s, "cost_only_s": info["cost_only_s"], "build_s": res.build_s,
              "update_s": info["update_s"], "handoff_s": res.handoff_s, "highs_s": res.solve_s,
              "reused": info["reused"], "warm_start": info["warm_start"],
              "mode": "persistent" if task.persistent else "rebuild"}
    base_row = {"objective": res.objective, "bound": res.bound, "gap": res.gap, "termination": res.termination}
    if not res.has_solution:
        return _failed(task, res.status, f"{res.explanation} (HiGHS: {res.termination})", started,
                       {**base_row, **timing})

    t2 = time.perf_counter()
    tables = result_tables(cmp)
    row = {"run_id": task.run_id, "status": res.status, "reason": "" if res.proven_optimal else res.explanation,
           "proven_optimal": res.proven_optimal, **base_row,
           **summary_kpis(inst, tables["kpis"], solutions["friendshored"])}
    if task.measure is not None:
        row["measure"] = task.measure.label
        row["measure_value"] = task.measure.value(tables["kpis"], solutions["friendshored"], inst)
    record = None
    if task.tables:
        record = run_record(cmp, instance_path=task.base_path, files_hash=task.files_hash,
                            instance_hash=instance_hash(inst), overrides=task.overrides, variant=task.variant,
                            options=task.options, started=started)
        record["command"] = list(task.command)
        record["study"] = {**task.study, "run_id": task.run_id,
                           "multipliers": {s.name: s.factor for s in task.scales}, **timing}
    if task.plan is not None:
        row.update(_plan_evaluation(task, solved, res))
    timing["tables_s"] = time.perf_counter() - t2
    row.update(timing)
    row.update(_stamp(started))
    return RunOutcome(task.run_id, row, tables if task.tables else None, record)


def _execute_two_stage(task: RunTask, inst: Instance, started: float, derive_s: float) -> RunOutcome:
    """A two-stage plan (planner/study/twostage.py): one run, its first-stage decisions and scenario
    costs as the run folder's tables. Progressive hedging runs on this process alone (one MPI rank)."""
    from planner.study.twostage import record, run_two_stage, summary

    run = run_two_stage(inst, task.two_stage, task.options)
    row = {"run_id": task.run_id, **summary(run), "derive_s": derive_s}
    if run.result.status not in ("optimal", "feasible"):
        row["reason"] = run.result.note or f"two-stage plan: {run.result.status}"
    rec = None
    if task.tables:
        rec = {**record(run, inst, instance_path=task.base_path, files_hash=task.files_hash,
                        overrides=task.overrides, variant=task.variant, options=task.options, command=task.command),
               "study": {**task.study, "run_id": task.run_id, "multipliers": {s.name: s.factor for s in task.scales}}}
    row.update(_stamp(started))
    return RunOutcome(task.run_id, row, run.tables if task.tables else None, rec)


def _plan_evaluation(task: RunTask, solved: dict[str, Any], res: SolveResult) -> dict[str, float]:
    """The central plan held fixed on this sample (planner/analysis/evaluate.py), in the model the
    sample was just solved in: no second build. Last in the run, as it overwrites that model's values."""
    from planner.analysis.evaluate import evaluate_in

    t0 = time.perf_counter()
    kept = solved.get("kept")
    ev, missing = (kept.evaluate(task.plan, task.options) if kept is not None
                   else evaluate_in(solved["model"], task.plan, task.options))
    return {"plan_s": time.perf_counter() - t0, "plan_holds": 1.0 if ev.has_solution and not missing else 0.0,
            "plan_cost": ev.objective if ev.has_solution else float("nan"),
            "plan_regret": ev.objective - res.objective if ev.has_solution else float("nan")}


def summary_kpis(inst: Instance, kpis: pd.DataFrame, solution) -> dict[str, Any]:
    """The friendshored plan's headline KPIs as flat columns of the study table (a multi-period run:
    the horizon's totals, and tier shares at their highest over the periods)."""
    every = kpis
    if "period" in kpis.columns:
        kpis = kpis[kpis["period"] == "all"]
    k = {(r.kpi, r.item, r.importer, r.group): r.friendshored for r in kpis.itertuples() if r.friendshored == r.friendshored}
    cmpcol = {(r.kpi, r.item, r.importer, r.group): r for r in kpis.itertuples()}

    def get(kpi, item="all", importer="all", group="all"):
        return k.get((kpi, item, importer, group), float("nan"))

    out: dict[str, Any] = {
        "total_cost": get("total_cost"),
        "baseline_cost": getattr(cmpcol.get(("total_cost", "all", "all", "all")), "baseline", float("nan")),
        "cost_only_cost": getattr(cmpcol.get(("total_cost", "all", "all", "all")), "cost_only", float("nan")),
        "premium_vs_baseline": get("premium_vs_baseline"),
        "premium_vs_baseline_pct": get("premium_vs_baseline_pct"),
        "premium_vs_cost_only": get("premium_vs_cost_only"),
        "premium_vs_cost_only_pct": get("premium_vs_cost_only_pct"),
        # The same counting public money (the planner's cost plus the grants).
        "total_cost_with_public": get("total_cost_with_public"),
        "premium_vs_baseline_with_public": get("premium_vs_baseline_with_public"),
        "premium_vs_baseline_with_public_pct": get("premium_vs_baseline_with_public_pct"),
        "premium_vs_cost_only_with_public_pct": get("premium_vs_cost_only_with_public_pct"),
        "public_subsidy": get("public_subsidy"),
        "capacity_built_options": get("capacity_built_options"),
        "max_country_share": get("max_country_share"),
    }
    for p in inst.programmes:
        out[f"budget_used_{p.id}"] = get("budget_used", group=p.id)
    shares = every[every["kpi"] == "tier_share"]
    for t in inst.meta.tiers:
        v = shares.loc[shares["group"] == t, "friendshored"]
        out[f"max_tier_share_{t}"] = float(v.max()) if len(v) else float("nan")
    a = solution.allocations
    spend = a["purchase"] + a["transport"] + a["tariff"]
    total = float(spend.sum())
    by_tier = spend.groupby(a["tier"]).sum()
    for t in inst.meta.tiers:
        out[f"spend_share_{t}"] = float(by_tier.get(t, 0.0)) / total if total > 0 else float("nan")
    hhi = kpis.loc[kpis["kpi"] == "hhi", "friendshored"]
    out["max_hhi"] = float(hhi.max()) if len(hhi) else float("nan")
    n1 = kpis.loc[kpis["kpi"] == "n1_coverage", "friendshored"]
    out["min_n1_coverage"] = float(n1.min()) if len(n1) else float("nan")
    q = kpis.loc[kpis["kpi"] == "qualified_suppliers", "friendshored"]
    out["qualified_suppliers"] = float(q.sum()) if len(q) else float("nan")
    # Who counts as a friend in this run (policy.trust may derive the tiers), and who the plan buys from.
    out.update(tier_members(inst))
    out["supplier_countries"] = ";".join(sorted(set(a.loc[a["volume"] > 1e-9, "country"])))
    return out
