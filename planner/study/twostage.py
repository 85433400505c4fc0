"""Two-stage plans under the instance's uncertainty ranges (``friendshore two-stage``).

The scenarios are samples of ranges.csv (Latin hypercube, the uncertainty study's own sampler,
equally likely); the plan qualifies suppliers, builds plants and holds stock once for all of them
(planner/solve/twostage.py, on mpi-sppy). Every MPI rank runs this; rank 0 writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from planner.instance.io import apply_overrides
from planner.instance.schema import Instance
from planner.results.schema import columns
from planner.solve.highs import SolveOptions
from planner.solve.twostage import PH_ITERATIONS, TwoStageResult, solve_two_stage
from planner.study.uncertainty import chosen, draw


@dataclass
class TwoStageRun:
    result: TwoStageResult
    samples: list[dict[str, float]]
    tables: dict[str, pd.DataFrame]


def scenarios_of(inst: Instance, samples: int, seed: int, ranges: list[str] | None = None):
    """({name: (probability, instance)}, the samples as override dicts): ``samples`` LHS draws of the
    instance's ranges (all, or those named), each equally likely."""
    rs = chosen(inst.ranges, ranges)
    if not rs:
        raise ValueError("the instance has no uncertainty ranges (ranges.csv) to draw scenarios from")
    drawn = draw(rs, samples, "lhs", seed)
    return {f"s{k + 1}": (1.0 / len(drawn), apply_overrides(inst, o)) for k, o in enumerate(drawn)}, drawn


def run_two_stage(inst: Instance, samples: int, seed: int, method: str, options: SolveOptions,
                  iterations: int = PH_ITERATIONS, ranges: list[str] | None = None) -> TwoStageRun:
    scen, drawn = scenarios_of(inst, samples, seed, ranges)
    res = solve_two_stage(scen, method, options, iterations)
    rows = []
    for name, v in res.first_stage.items():
        var, _, idx = name.partition("[")
        decision = "qualify" if var == "Qualify" else "build" if var == "Build" else "stock"
        rows.append((decision, var, idx.rstrip("]"), v))
    first = pd.DataFrame(rows, columns=columns("first_stage"))
    costs = pd.DataFrame([(name, p, res.scenario_costs.get(name), json.dumps(o, sort_keys=True))
                          for (name, (p, _)), o in zip(scen.items(), drawn)], columns=columns("scenario_costs"))
    return TwoStageRun(res, drawn, {"first_stage": first, "scenario_costs": costs})
