"""Stress test: evaluate any sourcing against every disruption scenario.

A *sourcing* is what the first stage fixes: contracted flows, qualified
suppliers, built options and stockpile levels (:class:`Sourcing`; from a
solution, today's baseline, or a solve's output folder).  :func:`stress`
solves one recourse LP over every scenario block (``planner/instance/scenarios.py``,
the same blocks the two-stage model uses) and reports, per scenario x item x
importer, the shortfall over the disruption, time-to-survive (TTS) and
time-to-recover (TTR).

The LP is lexicographic, three solves of one highspy model that only changes
costs and bounds, so the numbers do not depend on the solver's choice among ties:

1. minimise, per block, the largest shortfall share of any importer (fairness:
   an importer is never starved to spare another), then
2. the block's total shortfall with those shares kept (this equals the least
   total shortfall at all: in a network with a single super-source,
   max-min fair flows are maximum flows), then
3. the stockpile drawn, with each importer's shortfall kept, so crisis supply
   is used first and the stockpiles last; the rates left are the supply rates
   TTS is computed from.

Volumes are the same as the model's (``planner/instance/scenarios.py``): the crisis
supply of a supplier is its contracted volume (final flows and feeds to plants)
plus ``surge`` x its spare qualified capacity, times (1 - loss), times
duration / 52.

Multi-tier sourcings get the model's second-stage physics (``models/recourse.py``,
chain blocks from :func:`planner.instance.scenarios.chain_recourse`, the one rule both use, applied to
the sourcing): plants draw crisis feeds of their upstream-touched inputs from any
surviving qualified supplier of the input over open feed lanes, each supplier
within its own crisis supply (shared between its importers and the plants it
feeds), and a plant ships at most what its feeds make through the bill of
materials.  Inputs the scenario leaves untouched are not limiting, as in the
model.  When one scenario couples several blocks (a chain shares input
suppliers), a phase 0 first minimises the largest shortfall share over all of
them, so no importer is starved to spare another item's.

TTS of an importer (Simchi-Levi et al., 2015): with weekly demand
w = demand / 52, crisis supply received at the weekly rate r = received /
duration and a stockpile S, demand is fully met for TTS = S / (w - r) weeks
when r < w; when r >= w it never runs short and TTS is reported as
:data:`~planner.instance.scenarios.TTS_CAP_WEEKS` (520).  TTS counts only where the scenario
leaves a shortfall: a row without one has no TTS (NaN, shown as "none"), and is never flagged.
A row with a shortfall is flagged when TTS < TTR: the importer runs out before supply recovers.
Weeks of cover = (stock + crisis supply received over the disruption) / weekly demand, for every row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InstanceError, NoSolutionError, Problem
from planner.instance.scenarios import (TTS_CAP_WEEKS, WEEKS_PER_YEAR, Block, ChainRecourse, blocks, chain_recourse,
                                        response, scenarios_of)
from planner.instance.schema import Instance, Scenario
from planner.analysis.sourcing import (Sourcing, baseline, from_run_dir, from_solution,  # noqa: F401  (API)
                                       sourcing_for)
from planner.results.schema import columns
from planner.results.solution import EPS
from planner.solve import matrix
from planner.solve.highs import SolveOptions

COLUMNS = columns("stress")
"""Columns of the stress table; volumes are over the disruption (annual x duration / 52), in the item's unit."""
UNSERVED_COLUMNS = columns("unserved")
"""Columns of the unserved table: demand a sourcing leaves unmet in normal times (per year, in the
item's unit), as a plan with ``allow_shortage`` may; every scenario leaves it unmet too."""
PROFILE_COLUMNS = columns("profile")
"""Columns of the weekly profile table; volumes per week of the disruption, in the item's unit."""
TOL = 1e-7
"""Slack kept when the fairest largest shortfall share is fixed for the next solve."""
NOISE = 1e-7
"""Shortfalls below this share of the crisis demand are solver noise and reported as 0."""
RATE_TOL = 1e-6
"""A supply rate within this share of the demand rate counts as keeping up (TTS = cap)."""


@dataclass(frozen=True)
class StressResult:
    sourcing: str
    scenarios: tuple[Scenario, ...]
    table: pd.DataFrame
    """One row per scenario x item x importer the scenario touches (columns :data:`COLUMNS`)."""
    status: str
    build_s: float = 0.0
    solve_s: float = 0.0
    unserved: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=UNSERVED_COLUMNS))
    """Item x importer pairs the sourcing leaves short before any disruption (columns
    :data:`UNSERVED_COLUMNS`): no scenario needs to touch them for them to be short."""
    profile: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROFILE_COLUMNS))
    rerouted: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    """(scenario, item, supplier, importer) -> volume sent over the route's detour (priced in the expected modes)."""
    """Week by week, per scenario x item x importer of :attr:`table`: demand, what arrived, what the
    stockpile served and what went short (columns :data:`PROFILE_COLUMNS`)."""


# --------------------------------------------------------------------------- the recourse LP
def contracted(src: Sourcing) -> dict[tuple[str, str], float]:
    """(item, supplier) -> its contracted volume per year: final flows and feeds to plants."""
    shipped: dict[tuple[str, str], float] = {}
    for (i, c, _), v in (*src.flows.items(), *src.feeds.items()):
        if v > EPS:
            shipped[i, c] = shipped.get((i, c), 0.0) + v
    return shipped


def crisis_supply(inst: Instance, src: Sourcing) -> dict[tuple[str, str], float]:
    """(item, supplier) -> what it can ship in a crisis per year: contracted + surge x spare qualified capacity.

    The same quantity as the model's CrisisSupply: contracted = final flows and
    feeds to plants (multi-tier), so spare capacity is what is left after all
    of it; spare capacity is never negative (a baseline may buy above a
    supplier's capacity).
    """
    shipped = contracted(src)
    added: dict[tuple[str, str], float] = {}
    for o in inst.investments:
        if o.option in src.built:
            added[o.item, o.country] = added.get((o.item, o.country), 0.0) + o.capacity
    out = {}
    for k in set(shipped) | set(src.qualified):
        row = inst.supply_by_key[k]
        qualified_cap = (row.capacity if k in src.qualified else 0.0) + added.get(k, 0.0)
        f = shipped.get(k, 0.0)
        out[k] = f + row.surge * max(qualified_cap - f, 0.0)
    return out


def stock_levels(inst: Instance, src: Sourcing) -> dict[tuple[str, str], float]:
    return {k: max(r.existing, src.stock.get(k, r.existing)) for k, r in inst.stock_by_key.items()}


def stress(inst: Instance, src: Sourcing, scenarios: Iterable[Scenario] | None = None,
           options: SolveOptions | None = None) -> StressResult:
    """Evaluate ``src`` against ``scenarios`` (default: the instance's, table and generated)."""
    scen = tuple(scenarios_of(inst) if scenarios is None else scenarios)
    left_short = unserved(inst, src)
    rate = crisis_supply(inst, src)
    dem = {k: q for k, q in inst.demand_qty.items() if q > 0}
    routes = [(i, c, j) for (i, c, j) in inst.open_lanes if (i, c) in rate and (i, j) in dem]
    found = blocks(inst, scen, routes)
    up = None
    if inst.chain.multi_tier:  # chain blocks replace the plain ones of the same (scenario, item), as in the model
        up = chain_recourse(inst, scen, set(rate), {i for i, _ in dem})
        keys = {b.key for b in up.blocks}
        order = {s.id: n for n, s in enumerate(scen)}
        found = sorted([b for b in found if b.key not in keys] + up.blocks,
                       key=lambda b: (order[b.scenario.id], b.item))
    if not found:
        return StressResult(src.name, scen, pd.DataFrame(columns=COLUMNS), "optimal", unserved=left_short)
    t0 = time.perf_counter()
    shared = {r.id: (r, max(r.existing, src.shared.get(r.id, r.existing))) for r in inst.shared_stock}
    lp = _RecourseLP(found, rate, dem, stock_levels(inst, src), up, inst, contracted(src), src.flows, shared)
    build_s = time.perf_counter() - t0
    solve_s = lp.solve(options or SolveOptions(), src.name)

    rows, weekly = [], []
    for (b, j), k in lp.cell.items():
        blk = found[b]
        s, i = blk.scenario, blk.item
        need = lp.need[k]
        got_p = [lp.received(b, j, lp.phase_of[x][1], x) for x in lp.phases_of[k]]
        got = float(sum(got_p))
        from_shared = float(sum(lp.x[col] for x in lp.phases_of[k] for col in lp.sd_of.get(x, ())))
        held = lp.held[k] + from_shared  # its own stockpile and what it drew from shared ones
        draw = float(sum(lp.x[lp.draw0 + x] for x in lp.phases_of[k])) + from_shared
        short = max(need - got - draw, 0.0)
        short = 0.0 if short <= NOISE * need else short
        w = dem[i, j] / WEEKS_PER_YEAR
        r = got / s.duration_weeks
        short_row = short > 0
        prof = profile(blk.phases, got_p, w, held)
        # What its own contracts deliver (what survives, on lanes open in each phase); the rest was bought in the crisis.
        own = sum(ph.tau * blk.surviving[c] * src.flows.get((i, c, j), 0.0) for ph in blk.phases
                  for c, jj in blk.routes if jj == j and blk.open_in(c, j, ph))
        via = sum(float(lp.x[a]) for a, _, bb, _, jj in lp.detour_arcs if bb == b and jj == j) + sum(
            v for (bb, _, jj, _), v in lp.detour_fixed.items() if bb == b and jj == j)
        tts = prof.tts if short_row else math.nan
        rows.append({
            "scenario": s.id, "name": s.name, "item": i, "importer": j, "duration_weeks": s.duration_weeks,
            "ttr_weeks": s.ttr_weeks, "probability": s.probability, "demand": need, "received": got,
            "drawdown": draw, "stock": held, "shortfall": short, "shortfall_pct": 100.0 * short / need,
            "demand_per_week": w, "supply_per_week": r, "tts_weeks": tts,
            "cover_weeks": (held + got) / w if w > 0 else math.nan,
            "tts_below_ttr": bool(short_row and tts < s.ttr_weeks - 1e-9), "rerouted": via,
            "spot": max(got - own, 0.0) if got - own > NOISE * need else 0.0,
        })
        weekly += [{"scenario": s.id, "item": i, "importer": j, **wk} for wk in prof.weeks]
    return StressResult(src.name, scen, pd.DataFrame(rows, columns=COLUMNS), "optimal", build_s, solve_s, left_short,
                        pd.DataFrame(weekly, columns=PROFILE_COLUMNS), lp.rerouted(found))


def unserved(inst: Instance, src: Sourcing) -> pd.DataFrame:
    """Demand the sourcing's contracted flows leave unmet in normal times, per item x importer."""
    got: dict[tuple[str, str], float] = {}
    for (i, _, j), v in src.flows.items():
        got[i, j] = got.get((i, j), 0.0) + v
    rows = []
    for (i, j), q in sorted(inst.demand_qty.items()):
        short = q - got.get((i, j), 0.0)
        if q > 0 and short > 1e-6 * q:  # solver tolerances, not a plan's choice
            rows.append({"item": i, "importer": j, "demand": q, "received": q - short, "shortfall": short,
                         "shortfall_pct": 100.0 * short / q})
    return pd.DataFrame(rows, columns=UNSERVED_COLUMNS)


class _RecourseLP:
    """The stress LP of all blocks, built as arrays and solved with highspy directly.

    The model is a plain network LP and changes only its costs and bounds
    between the lexicographic solves, so it is passed to HiGHS once, in bulk
    (Pyomo's per-constraint hand-off took seconds at 200 scenarios).

    Every block is split into the response clock's phases (``Block.phases``; one without a clock).
    Columns: X (crisis supply on an arc in a phase: pool or supplier -> importer), F (multi-tier:
    crisis feed supplier -> plant country), Draw and Short per cell-phase (block, importer, phase),
    Z (largest shortfall share) and T (total shortfall / block demand) per block, W (largest
    shortfall share) per group of blocks one scenario couples.  Rows:
    Cap: sum_j X + sum_k F <= tau_p * surviving * (contracted + f_p * surge x spare), f_p the phase's share;
    Contract: X on a lane outside the sharing group <= tau_p * surviving * its contracted flow (a bound);
    Bom: sum_{o uses i at k} q[o,i] * (X and F out of (o, k)) <= sum_c F[i,c,k];
    Served: sum X + Draw + Short = tau_p * demand - (in the delay) contracted volumes that survive on open lanes;
    Stock: sum_p Draw <= stock;  Share: sum_p Short <= Z * tau * demand;
    Total: T * block demand = sum Short;  Group: Z <= W.
    """

    def __init__(self, found: list[Block], rate: dict, dem: dict, stock: dict, up: ChainRecourse | None = None,
                 inst: Instance | None = None, shipped: dict | None = None, flows: dict | None = None,
                 shared: dict | None = None):
        shipped, flows = shipped or {}, flows or {}
        shared = shared or {}  # shared stockpile id -> (row, level)
        inf = matrix.INF

        def avail(i, c, f):  # crisis supply with the share f of its surge
            return rate[i, c] if f == 1 else (1 - f) * shipped.get((i, c), 0.0) + f * rate[i, c]

        arcs, caps, arc_upper = [], [], []
        node_of: dict[tuple[str, str, str], int] = {}  # (scenario, item, supplier) of a chain's single phase -> node
        self.fixed: dict[tuple[int, str, int], float] = {}  # (block, importer, phase) -> delay receipts
        self.detour_fixed: dict[tuple[int, str, str, int], float] = {}  # (block, supplier, importer, phase) -> of them
        self.detour_arcs: list[tuple[int, float, int, str, str]] = []  # (arc, cost, block, supplier, importer)
        for b, blk in enumerate(found):
            for p, ph in enumerate(blk.phases):
                f = ph.level * blk.spare_share
                if ph.delay:  # contracted volumes on their own open lanes, what survives of them
                    for c, j in blk.routes:
                        if not blk.open_in(c, j, ph):
                            continue
                        key = (b, j, p)
                        got = ph.tau * blk.surviving[c] * flows.get((blk.item, c, j), 0.0)
                        self.fixed[key] = self.fixed.get(key, 0.0) + got
                        if (c, j) in blk.opens:
                            self.detour_fixed[b, c, j, p] = got
                    continue
                if blk.pooled:  # one pool node per phase; exact because every survivor reaches every importer
                    if blk.surviving:
                        caps.append(ph.tau * sum(v * avail(blk.item, c, f) for c, v in blk.surviving.items()))
                        for j in blk.importers:
                            arcs.append((b, len(caps) - 1, j, p))
                            arc_upper.append(inf)
                    continue
                here: dict[str, int] = {}
                for c, v in blk.surviving.items():
                    if len(blk.phases) == 1 and (blk.scenario.id, blk.item, c) in node_of:
                        here[c] = node_of[blk.scenario.id, blk.item, c]  # a chain shares its supplier nodes
                        continue
                    caps.append(ph.tau * v * avail(blk.item, c, f))
                    here[c] = len(caps) - 1
                    if len(blk.phases) == 1:
                        node_of[blk.scenario.id, blk.item, c] = here[c]
                for c, j in blk.routes:
                    if not blk.open_in(c, j, ph):  # a rerouted route before its detour delivers
                        continue
                    if (c, j) in blk.opens:
                        self.detour_arcs.append((len(arcs), blk.detour_cost[c, j], b, c, j))
                    arcs.append((b, here[c], j, p))
                    arc_upper.append(ph.tau * blk.surviving[c] * flows.get((blk.item, c, j), 0.0)
                                     if (c, j) in blk.contract_routes else inf)
        feeds = []  # (supplier node, (scenario, input, plant country))
        if up is not None:
            scen = {b.scenario.id: b.scenario for b in up.blocks}
            for (sid, i, c), v in up.limits.items():
                if (sid, i, c) not in node_of:  # suppliers that only feed plants in the scenario
                    caps.append(up.tau[sid] * v * avail(i, c, response(inst, scen[sid], i).spare_share))
                    node_of[sid, i, c] = len(caps) - 1
            feeds = [(node_of[sid, i, c], (sid, i, k)) for sid, i, c, k in up.feeds]
        self.cell = {(b, j): k for k, (b, j) in enumerate((b, j) for b, blk in enumerate(found) for j in blk.importers)}
        cells = list(self.cell)
        self.need = [found[b].tau * dem[found[b].item, j] for b, j in cells]
        self.held = [stock.get((found[b].item, j), 0.0) for b, j in cells]
        # Cell-phases: (cell, phase) in order, with the phase's demand.
        self.phase_of = [(k, p) for k, (b, _) in enumerate(cells) for p in range(len(found[b].phases))]
        self.phase_need = [found[cells[k][0]].phases[p].tau * dem[found[cells[k][0]].item, cells[k][1]]
                           for k, p in self.phase_of]
        total = [0.0] * len(found)
        for (b, _), q in zip(cells, self.need):
            total[b] += q
        self.total = total
        # Blocks one scenario couples (chain blocks share input suppliers): one largest share over all of them.
        by_scen: dict[str, list[int]] = {}
        chained = {b.key for b in up.blocks} if up is not None else set()
        for b, blk in enumerate(found):
            if blk.key in chained:
                by_scen.setdefault(blk.scenario.id, []).append(b)
        groups = [bs for bs in by_scen.values() if len(bs) > 1]
        n_arc, n_feed, n_cp, n_blk = len(arcs), len(feeds), len(self.phase_of), len(found)
        n_flow = n_arc + n_feed
        self.draw0, self.short0 = n_flow, n_flow + n_cp
        self.z0, self.t0 = n_flow + 2 * n_cp, n_flow + 2 * n_cp + n_blk
        self.w0 = self.t0 + n_blk
        # Shared stockpiles: a column per (cell-phase, stock) of a member; one release row per (block, stock).
        self.sd0 = self.w0 + len(groups)
        self.shared_cols: list[tuple[int, str]] = []  # (cell-phase, stock id) per column
        cells0 = list(self.cell)
        member_share = {k: inst.shared_members(r) for k, (r, _) in shared.items()} if inst is not None else {}
        for x, (k, _) in enumerate(self.phase_of):
            b, j = cells0[k]
            for sid, (r, _) in shared.items():
                if r.item == found[b].item and j in member_share[sid]:
                    self.shared_cols.append((x, sid))
        self.n = self.sd0 + len(self.shared_cols)
        self.n_blk, self.n_cp, self.n_group = n_blk, n_cp, len(groups)
        self.arcs_into: dict = {}  # (block, importer, phase) -> arc columns
        by_node: dict = {}
        for a, (b, node, j, p) in enumerate(arcs):
            self.arcs_into.setdefault((b, j, p), []).append(a)
            by_node.setdefault(node, []).append(a)
        feeds_in: dict = {}
        for f, (node, key) in enumerate(feeds):
            by_node.setdefault(node, []).append(n_arc + f)
            feeds_in.setdefault(key, []).append(n_arc + f)
        rows: list[matrix.Row] = []
        for node, cols in by_node.items():
            rows.append((-inf, caps[node], cols, [1.0] * len(cols)))
        if up is not None:
            q = inst.chain.inputs_of
            for (sid, i, k), outs in up.bom.items():
                cols, vals = [], []
                for o in outs:
                    out_cols = by_node.get(node_of.get((sid, o, k)), [])
                    cols += out_cols
                    vals += [q[o][i]] * len(out_cols)
                fin = feeds_in.get((sid, i, k), [])
                rows.append((-inf, 0.0, cols + fin, vals + [-1.0] * len(fin)))
        sd_of: dict[int, list[int]] = {}  # cell-phase -> its shared-draw columns
        release: dict[tuple[int, str], list[int]] = {}  # (block, stock) -> columns
        pro_rata: dict[tuple[int, str, str], list[int]] = {}  # (block, member, stock) -> columns
        for n_sd, (x, sid) in enumerate(self.shared_cols):
            col = self.sd0 + n_sd
            b, j = cells0[self.phase_of[x][0]]
            sd_of.setdefault(x, []).append(col)
            release.setdefault((b, sid), []).append(col)
            pro_rata.setdefault((b, j, sid), []).append(col)
        for (b, sid), cols in release.items():  # a coordinated release: at most the level, between the members
            rows.append((-inf, shared[sid][1], cols, [1.0] * len(cols)))
        for (b, j, sid), cols in pro_rata.items():  # pro rata to demand: at most the member's share
            if shared[sid][0].release == "pro_rata":
                rows.append((-inf, member_share[sid][j] * shared[sid][1], cols, [1.0] * len(cols)))
        self.sd_of = sd_of
        self.rhs = []
        phases_of: dict[int, list[int]] = {}
        for x, (k, p) in enumerate(self.phase_of):
            b, j = cells[k]
            # The delay's receipts are fixed; what they exceed of the phase's demand (a plan's surplus) is not served.
            rhs = max(self.phase_need[x] - self.fixed.get((b, j, p), 0.0), 0.0)
            self.rhs.append(rhs)
            cols = self.arcs_into.get((b, j, p), []) + [self.draw0 + x, self.short0 + x] + sd_of.get(x, [])
            rows.append((rhs, rhs, cols, [1.0] * len(cols)))
            phases_of.setdefault(k, []).append(x)
        members: dict = {}
        for k, (b, _) in enumerate(cells):
            xs = phases_of[k]
            rows.append((-inf, self.held[k], [self.draw0 + x for x in xs], [1.0] * len(xs)))
            rows.append((-inf, 0.0, [self.short0 + x for x in xs] + [self.z0 + b], [1.0] * len(xs) + [-self.need[k]]))
            members.setdefault(b, []).extend(self.short0 + x for x in xs)
        self.phases_of = phases_of
        for b in range(n_blk):
            rows.append((0.0, 0.0, [self.t0 + b] + members[b], [total[b]] + [-1.0] * len(members[b])))
        for g, bs in enumerate(groups):
            rows += [(-inf, 0.0, [self.z0 + b, self.w0 + g], [1.0, -1.0]) for b in bs]
        upper = np.full(self.n, inf)
        upper[:n_arc] = arc_upper
        self.h = matrix.lp(np.zeros(self.n), upper, rows)
        self.x = np.zeros(self.n)

    def received(self, b: int, j: str, p: int, x: int) -> float:
        """What importer j received in phase p of block b (cell-phase x): recourse arcs plus the delay's receipts."""
        got = float(sum(self.x[a] for a in self.arcs_into.get((b, j, p), ())))
        return got + min(self.fixed.get((b, j, p), 0.0), self.phase_need[x])

    def _costs(self, cost: np.ndarray) -> None:
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), cost)

    def _run(self, phase: int, name: str) -> float:
        t0 = time.perf_counter()
        self.h.run()
        if not matrix.optimal(self.h):
            raise NoSolutionError(f"the stress LP of {name} ended {matrix.status_text(self.h)} in phase {phase}")
        self.x = np.array(self.h.getSolution().col_value)
        return time.perf_counter() - t0

    def _fix(self, lo: int, hi: int, upper: np.ndarray) -> None:
        idx = np.arange(lo, hi, dtype=np.int32)
        self.h.changeColsBounds(len(idx), idx, np.zeros(len(idx)), upper)

    def solve(self, options: SolveOptions, name: str) -> float:
        """The lexicographic solves; returns the seconds spent in HiGHS."""
        h = self.h
        h.setOptionValue("random_seed", options.seed)
        h.setOptionValue("threads", options.threads)
        cost = np.zeros(self.n)
        spent = 0.0
        if self.n_group:  # 0. the fairest largest shortfall share over the blocks a scenario couples
            cost[self.w0:] = 1.0
            self._costs(cost)
            spent += self._run(0, name)
            self._fix(self.w0, self.n, self.x[self.w0:] + TOL)
            cost[:] = 0.0
        cost[self.z0:self.t0] = 1.0  # 1. the fairest largest shortfall share per block
        self._costs(cost)
        spent += self._run(1, name)
        self._fix(self.z0, self.t0, self.x[self.z0:self.t0] + TOL)
        cost[:] = 0.0
        cost[self.t0:self.w0] = 1.0  # 2. the least total shortfall within those shares
        self._costs(cost)
        spent += self._run(2, name)
        # 3. the least stockpile drawn, each importer's shortfall kept exactly (drawdown may not buy its way out).
        self._fix(self.short0, self.z0, np.maximum(self.x[self.short0:self.z0], 0.0))
        cost[:] = 0.0
        cells = list(self.cell)
        for x, (k, _) in enumerate(self.phase_of):
            cost[self.draw0 + x] = 1.0 / self.total[cells[k][0]]
            for col in self.sd_of.get(x, ()):
                cost[col] = 1.0 / self.total[cells[k][0]]
        self._costs(cost)
        spent += self._run(3, name)
        if self.detour_arcs:  # 4. the least detour freight, with every shortfall and stock drawn kept
            self._fix(self.draw0, self.short0, np.maximum(self.x[self.draw0:self.short0], 0.0))
            sd = np.arange(self.sd0, self.n, dtype=np.int32)
            if len(sd):
                self.h.changeColsBounds(len(sd), sd, np.zeros(len(sd)), np.maximum(self.x[self.sd0:], 0.0))
            cost[:] = 0.0
            for a, c, *_ in self.detour_arcs:
                cost[a] = c
            self._costs(cost)
            spent += self._run(4, name)
        return spent

    def rerouted(self, found: list[Block]) -> dict[tuple[str, str, str, str], float]:
        """(scenario, item, supplier, importer) -> volume sent over the detour (arcs and the delay's receipts)."""
        out: dict = {}
        for a, _, b, c, j in self.detour_arcs:
            k = (found[b].scenario.id, found[b].item, c, j)
            out[k] = out.get(k, 0.0) + float(self.x[a])
        for (b, c, j, p), v in self.detour_fixed.items():
            k = (found[b].scenario.id, found[b].item, c, j)
            out[k] = out.get(k, 0.0) + v
        return {k: v for k, v in out.items() if v > EPS}


@dataclass(frozen=True)
class Profile:
    weeks: list[dict]
    """One dict per week of the disruption: week, demand, received, drawdown, shortfall, served_pct."""
    tts: float
    """Weeks until demand is first not fully met (the stockpile runs dry in a gap); the cap if never."""


def profile(phases, received: list[float], demand_per_week: float, stock: float) -> Profile:
    """The week-by-week picture of one importer in one block, from what arrived in each phase.

    Within a phase every rate is constant, so what arrives in it arrives at a steady weekly rate;
    the stockpile fills each gap as it appears (drawn as soon as needed, the same total the LP
    draws: stock is one pool over the phases). Weeks are 1..ceil(duration), the last one possibly
    partial (its demand then covers the part of the week the disruption lasts)."""
    w = demand_per_week
    segs = []  # (start, end, supply rate, draw rate) with the draw split where the stock runs dry
    left, tts = stock, TTS_CAP_WEEKS
    for ph, got in zip(phases, received):
        r = min(got / ph.weeks, w) if ph.weeks > 0 else 0.0
        gap = w - r
        if gap <= RATE_TOL * w or ph.weeks <= 0:
            segs.append((ph.start, ph.end, r, 0.0))
            continue
        lasts = left / gap
        if lasts >= ph.weeks:
            segs.append((ph.start, ph.end, r, gap))
            left -= gap * ph.weeks
        else:
            if lasts > 0:
                segs.append((ph.start, ph.start + lasts, r, gap))
            segs.append((ph.start + lasts, ph.end, r, 0.0))
            tts = min(tts, ph.start + lasts)
            left = 0.0
    end = phases[-1].end if phases else 0.0
    out = []
    for n in range(1, math.ceil(end - 1e-9) + 1):
        a, b = n - 1.0, min(float(n), end)
        got = draw = 0.0
        for s0, s1, r, d in segs:
            o = max(0.0, min(b, s1) - max(a, s0))
            got, draw = got + r * o, draw + d * o
        need = w * (b - a)
        short = max(need - got - draw, 0.0)
        short = 0.0 if short <= NOISE * need else short
        out.append({"week": n, "demand": need, "received": got, "drawdown": draw, "shortfall": short,
                    "served_pct": 100.0 * (need - short) / need if need > 0 else 100.0})
    return Profile(out, tts)


# --------------------------------------------------------------------------- summaries
def summary(table: pd.DataFrame, unserved: pd.DataFrame | None = None) -> dict[str, float]:
    """Headline numbers of a stress table (all items together).

    The worst case counts demand the sourcing leaves ``unserved`` in normal times: every scenario
    leaves it short too, touched or not (``unserved_pct`` is the largest such share alone)."""
    planned = float(unserved["shortfall_pct"].max()) if unserved is not None and len(unserved) else 0.0
    if table.empty:
        return {"worst_case_shortfall_pct": planned, "unserved_pct": planned, "min_tts_weeks": math.nan,
                "min_ttr_weeks": math.nan, "min_tts_ttr_ratio": math.nan, "scenarios_tts_below_ttr": 0.0}
    short = table[table["tts_weeks"].notna()]  # TTS counts only rows with a shortfall (NaN: none)
    return {
        "worst_case_shortfall_pct": max(float(table["shortfall_pct"].max()), planned),
        "unserved_pct": planned,
        "min_tts_weeks": float(short["tts_weeks"].min()) if len(short) else math.nan,
        "min_ttr_weeks": float(table["ttr_weeks"].min()),
        "min_tts_ttr_ratio": float((short["tts_weeks"] / short["ttr_weeks"]).min()) if len(short) else math.nan,
        "scenarios_tts_below_ttr": float(table.loc[table["tts_below_ttr"].astype(bool), "scenario"].nunique()),
    }


def expected_shortfall(table: pd.DataFrame) -> dict[str, float]:
    """item -> sum over scenarios of probability x shortfall (item unit per year)."""
    if table.empty:
        return {}
    return (table["probability"] * table["shortfall"]).groupby(table["item"]).sum().astype(float).to_dict()


def spot(table: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """(scenario, item, importer) -> crisis supply received beyond the importer's own contracts (the spot premium's base)."""
    if "spot" not in table:
        return {}
    return {(s, i, j): float(v) for s, i, j, v in zip(table["scenario"], table["item"], table["importer"],
                                                       table["spot"]) if v > 0}


def shortfalls(table: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """(scenario, item, importer) -> shortfall, the form :func:`planner.results.solution.account` prices."""
    return {(s, i, j): float(v) for s, i, j, v in zip(table["scenario"], table["item"], table["importer"],
                                                       table["shortfall"]) if v > 0}


# --------------------------------------------------------------------------- the `stress` command
def scenario_table(scenarios: Iterable[Scenario]) -> pd.DataFrame:
    """The scenarios evaluated (table and generated), one row each."""
    rows = [{"scenario": s.id, "name": s.name, "countries": ";".join(s.countries),
             "chokepoints": ";".join(s.chokepoints), "items": ";".join(s.items), "loss": s.loss,
             "duration_weeks": s.duration_weeks, "ttr_weeks": s.ttr_weeks, "probability": s.probability}
            for s in scenarios]
    return pd.DataFrame(rows, columns=columns("scenarios"))


def run(inst: Instance, which: str, options: SolveOptions | None = None) -> StressResult:
    """Stress the chosen sourcing against every scenario of ``inst`` (table and generated)."""
    scen = scenarios_of(inst)
    if not scen:
        raise InstanceError([Problem("scenarios.csv", expected="no scenarios to evaluate; expected a scenarios table "
                                     "in the instance or generators (--scenarios n1,n2,chokepoints)")])
    return stress(inst, sourcing_for(inst, which, options), scen, options)


def record(inst: Instance, result: StressResult, *, instance_path: str, files_hash: str, instance_hash: str,
           overrides: dict, variant: str | None, options: SolveOptions) -> dict:
    """run.json of a stress run: inputs, sourcing, scenario count, status and headline numbers."""
    from planner.results.provenance import provenance

    return {
        "command": "stress",
        **provenance(name=inst.meta.name, instance_path=instance_path, files_hash=files_hash,
                     instance_hash=instance_hash, overrides=overrides, variant=variant,
                     options=options.model_dump(mode="json")),
        "sourcing": result.sourcing, "scenarios": len(result.scenarios), "rows": len(result.table),
        "status": result.status, "summary": summary(result.table, result.unserved),
        "expected_shortfall": expected_shortfall(result.table),
        "timing": {"build_s": result.build_s, "solve_s": result.solve_s},
    }


def write(out: Path, result: StressResult, rec: dict, formats: Iterable[str]) -> None:
    """stress, scenarios and unserved tables (every format) and run.json, atomically."""
    from planner.results.export import write_outputs

    write_outputs(Path(out), {"stress": result.table, "profile": result.profile,
                              "scenarios": scenario_table(result.scenarios), "unserved": result.unserved}, rec, formats)



