"""A primal heuristic for the sourcing MIP, offered to HiGHS as its MIP start.

The model's core is a capacitated facility location problem (qualify a supplier at a fixed cost,
ship within its capacity), where branch-and-bound with generic heuristics can hold a poor incumbent
for minutes. This module works on the model HiGHS received (its arrays, any instance, every policy
row) and knows nothing of sets or instances:

1. **Relax**: the LP relaxation, without the rows the model names as mere tightenings for this
   purpose (``models.heuristic_relaxable``: the flow-link rows; with them the LP of a 100 x 1,000
   facility-location model takes a minute, without them under a second).
2. **Round**: open (set to 1) every yes/no decision the relaxation sets to 1, then **repair** by
   opening more, the ones the relaxation uses most first, in growing batches, until the model with
   those decisions fixed (every row kept) has a solution.
3. **Local search**: close, open and swap decisions, ranked by their reduced costs in the fixed
   model's LP, re-solving that LP (warm, on one persistent highspy object) for each move; a move is
   kept when it lowers the cost. First improvement, within a time budget.
4. **Check**: the final point is checked against every row and bound of the model HiGHS received
   (row activities recomputed from the matrix, binaries exactly 0 or 1). A point that fails is
   discarded, never offered.

Only models whose integer columns are all binary are handled; others get no start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

StartStatus = Literal["accepted", "discarded", "none"]

FEAS_TOL = 1e-6
"""Most a row or bound may be violated, relative to max(1, |its bound|), for a start to be offered."""


@dataclass(frozen=True)
class StartResult:
    """What the heuristic found, for the solve's record."""

    status: StartStatus
    """accepted (offered to HiGHS) | discarded (a point was found but failed the check) | none."""
    objective: float | None
    """Cost of the start, in the model's units (None without one)."""
    seconds: float
    evaluations: int
    """Fixed-decision LPs solved (repair and local search)."""
    opened_rounding: int
    """Decisions set to 1 after rounding and repair."""
    opened_final: int
    """Decisions set to 1 in the start."""
    note: str = ""
    values: tuple[float, ...] | None = None
    """Column values of the start, in HiGHS' column order (None unless accepted)."""


def _continuous(h, ints: np.ndarray) -> None:
    import highspy

    h.changeColsIntegrality(len(ints), ints, np.array([highspy.HighsVarType.kContinuous] * len(ints)))


def violation(lp, x: np.ndarray) -> tuple[float, str]:
    """Largest relative violation of a row, a bound or integrality by ``x`` in the HiGHS model ``lp``
    (a ``HighsLp``), and where it is ("" if none)."""
    import highspy
    from scipy.sparse import csc_matrix, csr_matrix

    a = lp.a_matrix_
    shape = (lp.num_row_, lp.num_col_)
    arrays = (np.asarray(a.value_), np.asarray(a.index_), np.asarray(a.start_))
    mat = csr_matrix(arrays, shape=shape) if a.format_ == highspy.MatrixFormat.kRowwise else csc_matrix(arrays, shape=shape)
    act = mat @ x

    def rel(over, bound):
        return np.where(np.isfinite(bound), over / np.maximum(1.0, np.abs(np.where(np.isfinite(bound), bound, 0.0))), 0.0)

    worst, where = 0.0, ""
    checks = [
        ("row", rel(np.asarray(lp.row_lower_) - act, np.asarray(lp.row_lower_))),
        ("row", rel(act - np.asarray(lp.row_upper_), np.asarray(lp.row_upper_))),
        ("column", rel(np.asarray(lp.col_lower_) - x, np.asarray(lp.col_lower_))),
        ("column", rel(x - np.asarray(lp.col_upper_), np.asarray(lp.col_upper_))),
    ]
    integ = np.asarray(lp.integrality_, dtype=np.int8) != 0 if len(lp.integrality_) else np.zeros(len(x), bool)
    checks.append(("integrality", np.where(integ, np.abs(x - np.round(x)), 0.0)))
    for kind, v in checks:
        if v.size and float(v.max()) > worst:
            worst, where = float(v.max()), f"{kind} {int(v.argmax())}"
    return worst, where


class _Fixed:
    """The model with every yes/no decision fixed, as one persistent LP: each evaluation changes the
    decisions' bounds and re-solves from the last basis."""

    def __init__(self, lp, ints: np.ndarray, scales: tuple[int, int], threads: int, drop=np.zeros(0, np.int32)):
        from planner.solve.highs import new_highs

        self.h = new_highs(threads)
        self.h.passModel(lp)
        _continuous(self.h, ints)
        if len(drop):
            self.h.deleteRows(len(drop), drop)
        self.kept = np.setdiff1d(np.arange(lp.num_row_), drop)  # original index of each remaining row
        self.num_row = lp.num_row_
        self.h.setOptionValue("user_bound_scale", scales[0])
        self.h.setOptionValue("user_objective_scale", scales[1])
        self.ints, self.count, self.limit = ints, 0, None

    def solve(self, is_open: np.ndarray, capped: bool = True):
        """(objective, column values, reduced costs of the decisions, row duals by the model's row
        index, NaN for rows left out) or None if infeasible or, once
        a first point is found and ``capped``, if the LP needs far more simplex iterations than that
        one did (a local move; a whole new plan, as a seed, is solved without the cap)."""
        import highspy

        v = is_open.astype(float)
        self.h.changeColsBounds(len(self.ints), self.ints, v, v)
        if self.limit is not None:
            self.h.setOptionValue("simplex_iteration_limit", self.limit if capped else 2**31 - 1)
        self.h.run()
        self.count += 1
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        if self.limit is None:
            # Proving a move infeasible (closing a site the others cannot replace) took up to 10x the
            # iterations of a feasible re-solve on the facility-location benchmark: cap the later ones.
            self.limit = 2 * int(self.h.getInfo().simplex_iteration_count) + 1000
        sol = self.h.getSolution()
        x = np.asarray(sol.col_value)
        duals = np.full(self.num_row, np.nan)
        duals[self.kept] = np.asarray(sol.row_dual)
        return float(self.h.getInfo().objective_function_value), x, np.asarray(sol.col_dual)[self.ints], duals


class Heuristic:
    """The heuristic in phases on one budget, so that a caller can work between them (the Lagrangian
    bound runs after :meth:`round` and hands its plans to :meth:`improve`):

        heur = Heuristic(h, rows, budget_s=30)
        cost = heur.round()          # the rounded, repaired plan's cost (None if none was found)
        heur.improve(seeds)          # the seeds tried, then the local search
        start = heur.finish()        # solved with every row, checked: a StartResult

    ``h``: the highspy object of the MIP (left unchanged); ``relaxable_rows``: row indices left out
    of the rounding LP and the search; ``moves``: candidates of each kind (close, open; swaps pair
    the best few) tried per round of the search; ``guide``: None, or an object with ``price(row
    duals)``, per yes/no decision an estimate of what opening it would change in cost (lower is
    better; it ranks the open moves instead of the decisions' own reduced costs), and ``covers(open)``,
    False for a plan that cannot be feasible (it is not solved)."""

    def __init__(self, h, relaxable_rows=(), budget_s: float = 10.0, moves: int = 8, scales: tuple[int, int] = (0, 0),
                 threads: int = 1, guide=None):
        self.t0 = time.perf_counter()
        self.guide = guide
        self.lp, self.budget, self.moves, self.scales, self.threads = h.getLp(), budget_s, moves, scales, threads
        lp = self.lp
        integ = np.asarray(lp.integrality_, dtype=np.int8) != 0 if len(lp.integrality_) else np.zeros(lp.num_col_, bool)
        self.ints = np.flatnonzero(integ).astype(np.int32)
        self.lo, self.hi = np.asarray(lp.col_lower_)[self.ints], np.asarray(lp.col_upper_)[self.ints]
        self.rows = np.asarray(sorted(set(relaxable_rows)), dtype=np.int32)
        self.best = self.best_open = self.fixed = None
        self.opened, self.note, self.paused = 0, "", 0.0
        if not len(self.ints):
            self.note = "no yes/no decisions"
        elif np.any(self.lo < 0) or np.any(self.hi > 1):
            self.note = "integer decisions other than yes/no"

    def _left(self) -> bool:
        return time.perf_counter() - self.t0 < self.budget + self.paused

    def pause(self, seconds: float) -> None:
        """Seconds spent on other work between phases: neither the heuristic's budget nor its time."""
        self.paused += seconds

    def round(self) -> float | None:
        """Phases 1 and 2: the rounding LP, rounding and repair; the plan's cost (rows left out) or None."""
        import highspy

        from planner.solve.highs import new_highs

        if self.note:
            return None
        lo, hi, ints = self.lo, self.hi, self.ints
        r = new_highs(self.threads)
        r.passModel(self.lp)
        _continuous(r, ints)
        r.setOptionValue("user_bound_scale", self.scales[0])
        r.setOptionValue("user_objective_scale", self.scales[1])
        if len(self.rows):
            r.deleteRows(len(self.rows), self.rows)
        r.setOptionValue("time_limit", max(self.budget, 0.1))
        r.run()
        if r.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            self.note = f"rounding LP: {r.modelStatusToString(r.getModelStatus())}"
            return None
        y = np.asarray(r.getSolution().col_value)[ints]
        y = np.clip(np.where(hi > lo, y, lo), 0.0, 1.0)
        del r
        # The decisions the LP sets to 1 (or fixed at 1), then the ones it uses most. The search solves
        # the fixed model without the relaxable rows too (implied once the decisions are 0 or 1 in the
        # default formulation; the LP is 4x faster without them); finish() solves with every row.
        self.fixed = fixed = _Fixed(self.lp, ints, self.scales, self.threads, self.rows)
        is_open = (y >= 1.0 - 1e-6) | (lo >= 1.0)
        order = [k for k in np.lexsort((np.arange(len(y)), -y)) if not is_open[k] and hi[k] >= 1.0]
        best = fixed.solve(is_open)
        batch = 1
        while best is None and order and self._left():
            for k in order[:batch]:
                is_open[k] = True
            order = order[batch:]
            batch *= 2
            best = fixed.solve(is_open)
        if best is None:
            self.note = "no feasible rounding found" + ("" if order else " (every decision open)")
            return None
        self.best, self.best_open, self.opened = best, is_open.copy(), int(is_open.sum())
        return best[0]

    def improve(self, seeds=()) -> None:
        """Phase 3: ``seeds`` (plans, each the integer columns set to 1, the others 0) tried, then the
        local search from the best plan: first improvement among close, open and swap moves, tried in
        the order of a first-order estimate of their effect (reduced costs, or the guide's prices),
        the neighbourhood widened while none improves (with a guide), until every move is tried or the
        budget ends."""
        if self.best is None:
            return
        fixed, lo, hi = self.fixed, self.lo, self.hi
        for cols in seeds:
            if not self._left():
                break
            cand_open = np.isin(self.ints, np.asarray(cols, dtype=np.int64)) | (lo >= 1.0)
            cand = fixed.solve(cand_open, capped=False)
            if cand is not None and cand[0] < self.best[0]:
                self.best, self.best_open = cand, cand_open

        def better(cand) -> bool:
            return cand is not None and cand[0] < self.best[0] - 1e-9 * max(1.0, abs(self.best[0]))

        width = self.moves
        seen: set[bytes] = set()  # plans evaluated: a move tried before gives the same LP
        while self._left():
            rc, is_open = self.best[2], self.best_open
            can_close = np.flatnonzero(is_open & (lo < 1.0))
            can_open = np.flatnonzero(~is_open & (hi >= 1.0))
            # A closed decision's reduced cost prices its capacity at the dearest demand it could serve:
            # on facility-location models the guide's estimate (the site's best use of its capacity
            # at the plan's demand prices) ranks the open moves far better.
            gain = rc if self.guide is None else self.guide.price(self.best[3])
            close = can_close[np.argsort(-rc[can_close], kind="stable")][:width]
            open_ = can_open[np.argsort(gain[can_open], kind="stable")][:width]
            few = max(2, width // 2)
            tries = [(j,) for j in close] + [(k,) for k in open_] + [(j, k) for j in close[:few] for k in open_[:few]]
            # Most promising first, by first-order estimates: closing j changes the cost by about -rc_j
            # (its fixed cost saved, its capacity's earnings lost), opening k by gain_k.
            est = {t: sum(-rc[j] if is_open[j] else gain[j] for j in t) for t in tries}
            tries.sort(key=lambda t: est[t])
            improved = False
            for move in tries:
                if not self._left():
                    break
                cand_open = is_open.copy()
                for k in move:
                    cand_open[k] = not cand_open[k]
                key = np.packbits(cand_open).tobytes()
                if key in seen:
                    continue
                seen.add(key)
                if self.guide is not None and not self.guide.covers(cand_open):
                    continue
                cand = fixed.solve(cand_open)
                if better(cand):
                    self.best, self.best_open, improved = cand, cand_open, True
                    break
            if improved:
                width = self.moves
            elif self.guide is None or 2 * few > max(len(can_close), len(can_open)):
                # A local optimum among the moves tried. Without a guide the ranking is weak and a wider
                # look spent the whole budget on generated models for plans 0.06-0.5 % better, which
                # HiGHS finds on its own (benchmarks/README.md, "Large instances").
                break
            else:
                width *= 2  # none better among the best-ranked moves: look further while time is left

    def finish(self) -> StartResult:
        """Phase 4: the chosen decisions solved with every row, the point checked against every row,
        bound and integrality of the model as HiGHS received it; discarded if it fails."""
        def done(status: StartStatus, note: str, best=None) -> StartResult:
            ok = best is not None and status == "accepted"
            return StartResult(status=status, objective=None if best is None else best[0],
                               seconds=time.perf_counter() - self.t0 - self.paused,
                               evaluations=0 if self.fixed is None else self.fixed.count,
                               opened_rounding=self.opened,
                               opened_final=0 if self.best_open is None else int(self.best_open.sum()),
                               note=note, values=tuple(best[1].tolist()) if ok else None)

        if self.best is None:
            return done("none", self.note)
        full = _Fixed(self.lp, self.ints, self.scales, self.threads)
        final = full.solve(self.best_open)
        self.fixed.count += full.count
        if final is None:
            return done("none", "the searched decisions have no solution with every row")
        x = final[1].copy()
        x[self.ints] = self.best_open.astype(float)
        worst, where = violation(self.lp, x)
        if worst > FEAS_TOL:
            return done("discarded", f"violates {where} by {worst:.2e} (relative)", (final[0], x))
        return done("accepted", "", (final[0], x))


def find_start(h, relaxable_rows=(), budget_s: float = 10.0, moves: int = 8, scales: tuple[int, int] = (0, 0),
               threads: int = 1, seeds=()) -> StartResult:
    """A feasible plan for the MIP in the highspy object ``h`` (left unchanged), by rounding, repair,
    ``seeds`` and local search within ``budget_s`` seconds (the phases of :class:`Heuristic`)."""
    heur = Heuristic(h, relaxable_rows, budget_s, moves, scales, threads)
    heur.round()
    heur.improve(seeds)
    return heur.finish()
