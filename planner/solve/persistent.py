"""One built model kept with its in-memory HiGHS interface, re-solved run after run.

A study re-solves such a model whenever a run's instance has the model's structure: the model's
own re-solve API (:func:`models.update`) sets its Params, Pyomo pushes them to HiGHS, and HiGHS is
offered the previous solution as a MIP start. Everything that knows Pyomo's and highspy's inner
objects for this lives here, not in the study.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from planner.solve.highs import STALE, SolveOptions, SolveResult, make_solver, solve_model

WARM_START_USED = "MIP start solution is feasible"
"""HiGHS log line that says it accepted the offered start (HiGHS 1.15)."""
_WARM_STARTS_SAFE = {"ok": True}
"""False once HiGHS returned an offered MIP start in place of its solution in this process (seen with
HiGHS 1.16.0): later re-solves go without a start rather than solving twice."""


def _quiet_updates(opt) -> None:
    """Re-solves push Param changes explicitly (update_parameters); nothing else is re-scanned.

    Any automatic update between setSolution and run would touch the HiGHS model
    and discard the offered start.
    """
    au = opt.config.auto_updates
    for name in ("check_for_new_or_removed_constraints", "check_for_new_or_removed_vars",
                 "check_for_new_or_removed_params", "check_for_new_objective", "update_constraints", "update_vars",
                 "update_parameters", "update_named_expressions", "update_objective"):
        setattr(au, name, False)


def _logged(options: SolveOptions) -> SolveOptions:
    # The log is what tells whether HiGHS took the offered start; it is captured, never printed.
    return options.model_copy(update={"solver_options": {**options.solver_options, "output_flag": True}})


@dataclass
class PersistentModel:
    """A built model, its solver interface, the highspy object under it, and its last solution."""

    model: Any
    solver: Any
    highs: Any
    start: Any = None
    log: list[str] = field(default_factory=list)

    @classmethod
    def first(cls, inst, options: SolveOptions, stop=None) -> tuple["PersistentModel", SolveResult]:
        """Build the model of ``inst`` and solve it once, keeping everything a re-solve needs.
        ``stop()`` (optional), asked during each MIP solve of this model: True interrupts it, and the
        solve returns its best plan so far, not proven optimal (the explorer's cancel button)."""
        import models

        t0 = time.perf_counter()
        m = models.build(inst)
        build_s = time.perf_counter() - t0
        opt = make_solver()
        _quiet_updates(opt)
        if stop is not None:
            opt.set_instance(m)  # the highspy object exists from here: subscribe before the first solve
            highs = getattr(opt, "_solver_model", None)
            if highs is not None and hasattr(highs, "cbMipInterrupt"):
                highs.cbMipInterrupt.subscribe(lambda e: e.interrupt() if stop() else None)
        res = solve_model(m, _logged(options), solver=opt, build_s=build_s)
        highs = getattr(opt, "_solver_model", None)  # pyomo keeps the highspy object here; no public accessor
        kept = cls(m, opt, highs)
        if highs is not None and hasattr(highs, "cbLogging"):
            highs.cbLogging.subscribe(lambda e, log=kept.log: log.append(e.message))
        kept._remember(res)
        return kept, res

    def resolve(self, inst, options: SolveOptions) -> tuple[SolveResult, dict[str, Any]] | None:
        """Re-point the model at ``inst`` and solve again; None (nothing solved) if ``inst`` needs
        another structure. info: ``update_s`` and ``warm_start`` (none | used | rejected | stale)."""
        import models

        t0 = time.perf_counter()
        if not models.update(self.model, inst):
            return None
        if self.highs is not None:
            # Pushing a coefficient of 0 where the matrix holds none makes HiGHS log a warning
            # ("|Value| of 0 supplied to Highs::changeCoeff ... ignored") straight to the terminal,
            # outside the captured solve; it is harmless, so HiGHS stays silent while Params are
            # pushed (solve_model sets its own output options for the solve).
            self.highs.setOptionValue("output_flag", False)
        self.solver.update_parameters()
        info: dict[str, Any] = {"update_s": time.perf_counter() - t0, "warm_start": "none"}
        if self.start is not None and _WARM_STARTS_SAFE["ok"]:
            self.highs.setSolution(self.start)
            info["warm_start"] = "offered"
        self.log.clear()
        t1 = time.perf_counter()
        res = solve_model(self.model, _logged(options), solver=self.solver)
        if info["warm_start"] == "offered" and res.status == "error" and res.termination.startswith(STALE):
            # HiGHS returned the offered start, not its solution: forget both and solve this run cold.
            # Later runs of this process get no start (the behaviour belongs to the HiGHS version).
            _WARM_STARTS_SAFE["ok"] = False
            info["warm_start"] = "stale"
            self.highs.clearSolver()
            res = solve_model(self.model, _logged(options), solver=self.solver)
        wall = time.perf_counter() - t1
        # solve_model reports this run's own HiGHS time; the rest of the wall time is update and hand-off.
        res = res.model_copy(update={"handoff_s": max(wall - res.solve_s, 0.0)})
        if info["warm_start"] == "offered":
            info["warm_start"] = "used" if any(WARM_START_USED in line for line in self.log) else "rejected"
        self._remember(res)
        return res, info

    def evaluate(self, plan: dict, options: SolveOptions) -> tuple[SolveResult, int]:
        """Solve the kept model (as last re-pointed) with ``plan``'s decisions held fixed, then release
        them: the fixed-plan evaluation of an uncertainty study without a second build. The warm
        start kept for the next re-solve is this model's own last solution, not the evaluation's.
        Returns (result, how many of the plan's decisions the model has no variable for)."""
        import models.explain as mx

        missing, held = mx.fix_plan(self.model, plan)
        try:
            self.solver.update_variables(held)  # automatic updates are off (see _quiet_updates)
            return solve_model(self.model, options, solver=self.solver), missing
        finally:
            for v in held:
                v.unfix()
            self.solver.update_variables(held)

    def _remember(self, res: SolveResult) -> None:
        if res.has_solution and self.highs is not None:
            self.start = self.highs.getSolution()


class ModelCache:
    """The few most recent persistent models, keyed by (case, structure key): THE reuse rule of
    studies (one cache per worker thread) and of the explorer (one per browser session)."""

    def __init__(self, max_models: int = 4, stop=None):
        from collections import OrderedDict

        self.max_models, self.stop = max_models, stop
        self.slots: OrderedDict = OrderedDict()

    def solve(self, inst, case: str, options: SolveOptions) -> tuple[SolveResult, Any, dict[str, Any]]:
        """Solve ``inst``, re-solving a kept model of the same structure if there is one; returns
        (result, the model holding the solution, info: ``reused``, ``warm_start``, ``update_s``,
        ``kept`` the PersistentModel)."""
        import models

        info: dict[str, Any] = {"reused": False, "warm_start": "none", "update_s": 0.0}
        key = (case, models.structure_key(inst))
        kept = self.slots.get(key)
        if kept is None:
            kept, res = PersistentModel.first(inst, options, self.stop)
            info["kept"] = kept
            if res.status != "error":
                self.slots[key] = kept
                while len(self.slots) > self.max_models:
                    self.slots.popitem(last=False)
            return res, kept.model, info
        again = kept.resolve(inst, options)
        if again is None:  # the key missed a structural difference: build this one afresh
            self.slots.pop(key, None)
            return self.solve(inst, case, options)
        res, run_info = again
        self.slots.move_to_end(key)
        if res.status == "error":
            self.slots.pop(key, None)
        return res, kept.model, {**info, **run_info, "reused": True, "kept": kept}
