"""Two-stage plans under the instance's uncertainty ranges (``friendshore two-stage``, ``solve
--two-stage``, a study's ``two_stage:`` runs).

The scenarios are samples of ranges.csv (Latin hypercube, the uncertainty study's own sampler,
equally likely); the plan qualifies suppliers, builds plants and holds stock once for all of them
(planner/solve/twostage.py, on mpi-sppy). Every MPI rank runs this; rank 0 writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from planner.instance.io import apply_overrides
from planner.instance.schema import Instance
from planner.results.schema import columns
from planner.solve.highs import SolveOptions
from planner.solve.twostage import TwoStageResult, solve_two_stage
from planner.study.spec import TwoStageSpec
from planner.study.uncertainty import chosen, draw


@dataclass
class TwoStageRun:
    result: TwoStageResult
    spec: TwoStageSpec
    samples: list[dict[str, float]]
    tables: dict[str, pd.DataFrame]


def refusal(inst: Instance) -> tuple[str, str] | None:
    """(file, what is expected) when no two-stage plan can be made for ``inst``, else None: THE rule
    of what a two-stage plan needs, for the commands and for study files."""
    if inst.periods:
        return "periods.csv", "expected a single-period instance: two-stage plans do not split periods"
    if not inst.ranges:
        return "ranges.csv", "expected uncertainty ranges to draw scenarios from (docs/studies.md)"
    return None


def scenarios_of(inst: Instance, spec: TwoStageSpec):
    """({name: (probability, instance)}, the samples as override dicts): ``spec.samples`` LHS draws of
    the instance's ranges (all, or those named), each equally likely."""
    rs = chosen(inst.ranges, spec.ranges)
    if not rs:
        raise ValueError("the instance has no uncertainty ranges (ranges.csv) to draw scenarios from")
    drawn = draw(rs, spec.samples, "lhs", spec.seed)
    return {f"s{k + 1}": (1.0 / len(drawn), apply_overrides(inst, o)) for k, o in enumerate(drawn)}, drawn


def run_two_stage(inst: Instance, spec: TwoStageSpec, options: SolveOptions) -> TwoStageRun:
    scen, drawn = scenarios_of(inst, spec)
    res = solve_two_stage(scen, spec.method, options, spec.iterations)
    rows = []
    for name, v in res.first_stage.items():
        var, _, idx = name.partition("[")
        decision = "qualify" if var == "Qualify" else "build" if var == "Build" else "stock"
        rows.append((decision, var, idx.rstrip("]"), v))
    first = pd.DataFrame(rows, columns=columns("first_stage"))
    costs = pd.DataFrame([(name, p, res.scenario_costs.get(name), json.dumps(o, sort_keys=True))
                          for (name, (p, _)), o in zip(scen.items(), drawn)], columns=columns("scenario_costs"))
    return TwoStageRun(res, spec, drawn, {"first_stage": first, "scenario_costs": costs})


def record(run: TwoStageRun, inst: Instance, *, instance_path: str, files_hash: str, overrides: dict,
           variant: str | None, options: SolveOptions, command: list[str]) -> dict[str, Any]:
    """The run.json of a two-stage plan (the command's and a study run's): provenance, the settings
    and what the solve found."""
    from planner.instance.io import instance_hash
    from planner.results.provenance import provenance

    r = run.result
    return {**provenance(name=inst.meta.name, instance_path=instance_path, files_hash=files_hash,
                         instance_hash=instance_hash(inst), overrides=overrides, variant=variant,
                         options=options.model_dump(mode="json")),
            "command": list(command),
            "two_stage": {**run.spec.model_dump(mode="json"), "iterations_done": r.iterations, "ranks": r.ranks},
            "status": r.status, "proven_optimal": r.status == "optimal", "objective": r.objective,
            "bound": r.bound, "gap": r.gap, "note": r.note, "seconds": r.seconds}


def summary(run: TwoStageRun) -> dict[str, Any]:
    """A two-stage plan as flat columns of a study table: status, expected cost, bound, gap, the
    spread of its cost over the scenarios and the first-stage decisions it takes."""
    r = run.result
    first = run.tables["first_stage"]
    taken = first[first["value"] > 0.5] if len(first) else first
    costs = pd.to_numeric(run.tables["scenario_costs"]["cost"], errors="coerce")
    return {"status": r.status, "reason": r.note, "proven_optimal": r.status == "optimal",
            "objective": r.objective, "bound": r.bound, "gap": r.gap, "total_cost": r.objective,
            "two_stage_method": r.method, "two_stage_samples": len(run.samples),
            "two_stage_iterations": r.iterations, "two_stage_s": r.seconds,
            "scenario_cost_min": float(costs.min()) if costs.notna().any() else float("nan"),
            "scenario_cost_max": float(costs.max()) if costs.notna().any() else float("nan"),
            "qualified_suppliers": float((taken["decision"] == "qualify").sum()),
            "capacity_built_options": float((taken["decision"] == "build").sum())}
