"""The cases a comparison solves, one at a time: the cost-only policy and the solve of one case.

Kept apart from :mod:`planner.analysis.compare` so the stress test can solve the optimized
sourcing it evaluates without importing the comparison that calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from planner.instance.schema import Instance, Policy
from planner.results import solution as sol
from planner.solve.highs import SolveOptions, SolveResult, build_and_solve

CaseSolver = Callable[[Instance, str], tuple[SolveResult, "sol.Solution | None", Any]]
"""Solve one case of an instance: (instance, case name) -> (result, solution or None, the model).
The default builds and solves afresh (:func:`solve_model_case`); a study passes its persistent solver."""


def cost_only(inst: Instance) -> Instance:
    """The same instance with every security constraint off (shortage rules kept, and the trust rule:
    who counts as a friend is a definition, not a constraint, so every case reports the same tiers).
    Export controls are law, not the planner's choice: every case obeys them; the crisis response is a
    fact about the world, kept too."""
    p = inst.policy
    off = Policy.security_off().model_copy(
        update={"allow_shortage": p.allow_shortage, "shortage_penalty": p.shortage_penalty, "trust": p.trust,
                "export_controls": p.export_controls, "crisis": p.crisis}
    )
    return inst.with_policy(off)


def solve_model_case(inst: Instance, case: str, options: SolveOptions | None = None):
    """Build and solve one case: returns (SolveResult, Solution or None, the model)."""
    m, res = build_and_solve(inst, options)
    return res, (sol.from_model(m, inst, res, case) if res.has_solution else None), m


def solve_case(inst: Instance, case: str, options: SolveOptions | None = None):
    """Build and solve one case: returns (SolveResult, Solution or None)."""
    res, s, _ = solve_model_case(inst, case, options)
    return res, s


class CostOnlyCache:
    """Cost-only solutions by instance hash: the cost-only plan depends on the data, not on the policy
    (:func:`cost_only` strips it), so every study run or explorer move that varies only the policy
    shares one solve. THE reuse rule of studies (one per worker thread) and the explorer (one per session)."""

    def __init__(self, max_items: int = 16):
        from collections import OrderedDict

        self.max_items = max_items
        self.items: OrderedDict = OrderedDict()

    def get(self, case_inst: Instance, solve) -> tuple:
        """(result, Solution or None) of the cost-only instance ``case_inst``; ``solve(case_inst)`` returns
        (result, model holding the solution) and runs only on a miss."""
        from planner.instance.io import instance_hash

        h = instance_hash(case_inst)
        if h not in self.items:
            res, m = solve(case_inst)
            self.items[h] = (res, sol.from_model(m, case_inst, res, "cost_only") if res.has_solution else None)
            while len(self.items) > self.max_items:
                self.items.popitem(last=False)
        self.items.move_to_end(h)
        return self.items[h]
