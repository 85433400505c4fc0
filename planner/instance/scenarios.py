"""Disruption scenarios: the table's and the generated ones, and what each one hits.

Both the two-stage model (``models/recourse.py``) and the stress test
(``planner/analysis/stress.py``) see a scenario through the same :class:`Block`s, so the
plan is built and checked against exactly the same disruption:

* a **block** is one (scenario, item) whose supply the scenario touches: some
  supplier of the item loses capacity, or some route of the item passes a
  blocked chokepoint; blocks a scenario does not touch are served as planned
  and get no rows at all (this is what keeps 200 scenarios small);
* within a block, ``surviving[c]`` = 1 - loss of supplier c, and ``routes``
  are the (c, j) pairs still open (lane not blocked, supplier not wholly lost);
* a block is **pooled** when every surviving supplier reaches every importer
  of the item: then any split of the surviving supply among importers is
  possible and one pooled row per block replaces a row per supplier and a
  variable per route (exact, not an approximation).

Time base: the plan is annual; a scenario lasting d weeks involves
``d / 52`` of a year's demand and capacity (:data:`WEEKS_PER_YEAR`).

The response clock (``policy.crisis``, a scenario's own columns; :func:`response`, THE rule)
splits a block's duration into phases (:class:`Phase`): a delay in which only contracted supply
on open lanes and stockpiles serve demand, a ramp (a staircase of at most
:data:`MAX_RAMP_STEPS` equal steps whose levels average the linear ramp) and the rest at the
full surge level. Within a phase every rate is constant, so a phase's totals are exact; the
model and the stress test use the same phases. A crisis-sharing group restricts which
(supplier, importer) pairs may move spare capacity: the others carry their contracted volume alone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from planner.instance.schema import ALL, Instance, Scenario

WEEKS_PER_YEAR = 52.0
TTS_CAP_WEEKS = 520.0
"""Time-to-survive is reported at most as this (ten years): 'never runs out' within any sensible horizon."""
GENERATORS = ("n1", "n2", "chokepoints")
MAX_RAMP_STEPS = 4
"""The ramp is a staircase of at most this many equal steps (keeps the model a few phases per block)."""


# --------------------------------------------------------------------------- which scenarios
def generated(inst: Instance) -> list[Scenario]:
    """The scenarios that ``policy.scenario_generators`` asks for, with deterministic ids.

    n1: every country with a supply row of an item in demand; n2: every pair
    of the ``top_k`` countries with the largest share of any item's existing
    capacity; chokepoints: every chokepoint named on a lane.
    """
    pol = inst.policy
    gen = pol.generator
    common = dict(items=(ALL,), loss=gen.loss, duration_weeks=gen.duration_weeks, recovery_weeks=gen.recovery_weeks,
                  probability=gen.probability)
    names = {c.code: c.name for c in inst.countries}
    demanded = inst.chain.closure(i for (i, _), q in inst.demand_qty.items() if q > 0)  # multi-tier: inputs too
    out: list[Scenario] = []
    if "n1" in pol.scenario_generators:
        for c in sorted({s.country for s in inst.supply if s.item in demanded}):
            out.append(Scenario.model_construct(id=f"n1:{c}", name=f"loss of {names[c]}", countries=(c,),
                                                chokepoints=(), **common))
    if "n2" in pol.scenario_generators:
        for a, b in itertools.combinations(top_suppliers(inst, gen.top_k), 2):
            out.append(Scenario.model_construct(id=f"n2:{a}+{b}", name=f"loss of {names[a]} and {names[b]}",
                                                countries=(a, b), chokepoints=(), **common))
    if "chokepoints" in pol.scenario_generators:
        for cp in sorted({cp for ln in inst.lanes for cp in ln.chokepoints}):
            out.append(Scenario.model_construct(id=f"chokepoint:{cp}", name=f"{cp} blocked", countries=(),
                                                chokepoints=(cp,), **common))
    return out


def top_suppliers(inst: Instance, k: int) -> list[str]:
    """The k countries with the largest share of any demanded item's existing capacity (ties by code)."""
    demanded = inst.chain.closure(i for (i, _), q in inst.demand_qty.items() if q > 0)  # multi-tier: inputs too
    total: dict[str, float] = {}
    for s in inst.supply:
        if s.item in demanded:
            total[s.item] = total.get(s.item, 0.0) + s.capacity
    best: dict[str, float] = {}
    for s in inst.supply:
        if total.get(s.item, 0.0) > 0:
            best[s.country] = max(best.get(s.country, 0.0), s.capacity / total[s.item])
    ranked = sorted((c for c, v in best.items() if v > 0), key=lambda c: (-best[c], c))
    return sorted(ranked[:k])


def scenarios_of(inst: Instance) -> tuple[Scenario, ...]:
    """The table's scenarios then the generated ones (a generated id already in the table is skipped)."""
    seen = {s.id for s in inst.scenarios}
    return tuple(inst.scenarios) + tuple(s for s in generated(inst) if s.id not in seen)


def model_scenarios(inst: Instance) -> tuple[Scenario, ...]:
    """Scenarios the optimisation model must hedge against (none when ``scenario_mode`` is off)."""
    return () if inst.policy.scenario_mode == "off" else scenarios_of(inst)


def loss_of(s: Scenario, item: str, country: str) -> float:
    """Capacity loss of ``country``'s supply of ``item`` in scenario ``s``, fraction."""
    return s.loss if country in s.countries and s.hits(item) else 0.0


def route_blocked(s: Scenario, item: str, chokepoints: frozenset[str]) -> bool:
    return bool(chokepoints) and s.hits(item) and not chokepoints.isdisjoint(s.chokepoints)


# --------------------------------------------------------------------------- response clock
@dataclass(frozen=True)
class Phase:
    """A stretch of a disruption in which every rate is constant."""

    start: float
    """Weeks from the start of the disruption."""
    end: float
    level: float
    """Share of the surge (spare capacity x spare share) available: 0 in the delay, 1 after the ramp."""
    delay: bool = False
    """True in the response delay: only contracted volumes on their own lanes arrive."""

    @property
    def weeks(self) -> float:
        return self.end - self.start

    @property
    def tau(self) -> float:
        """Fraction of a year the phase lasts."""
        return self.weeks / WEEKS_PER_YEAR


@dataclass(frozen=True)
class Response:
    """How one (scenario, item) is answered: the clock and the coalition's share of spare capacity."""

    delay_weeks: float = 0.0
    ramp_weeks: float = 0.0
    spare_share: float = 1.0
    sharing: frozenset[str] | None = None
    """Members of the crisis-sharing group (None: everyone shares)."""

    def phases(self, duration: float) -> tuple[Phase, ...]:
        """The phases of a disruption of ``duration`` weeks (one phase at level 1 without a clock)."""
        out: list[Phase] = []
        d = self.delay_weeks
        if d > 0:
            out.append(Phase(0.0, min(d, duration), 0.0, delay=True))
        r = self.ramp_weeks
        if r > 0:
            n = min(MAX_RAMP_STEPS, max(1, math.ceil(r - 1e-9)))
            for k in range(n):
                a, b = d + k * r / n, d + (k + 1) * r / n
                if a < duration:
                    out.append(Phase(a, min(b, duration), (k + 0.5) / n))
        if d + r < duration:
            out.append(Phase(d + r, duration, 1.0))
        return tuple(p for p in out if p.weeks > 0)

    def shares(self, supplier: str, importer: str) -> bool:
        """True if spare capacity may move from ``supplier`` to ``importer`` in a crisis."""
        return self.sharing is None or (supplier in self.sharing and importer in self.sharing)


def split(phases: tuple[Phase, ...], cuts) -> tuple[Phase, ...]:
    """``phases`` cut at the given times (weeks), so that every rerouted route opens at a phase's start."""
    out: list[Phase] = []
    for ph in phases:
        edges = [ph.start, *sorted({t for t in cuts if ph.start + 1e-9 < t < ph.end - 1e-9}), ph.end]
        out += [Phase(a, b, ph.level, ph.delay) for a, b in zip(edges, edges[1:])]
    return tuple(out)


def spot_weights(inst: Instance) -> dict[tuple[str, str], float]:
    """(scenario, item) -> probability x spot_premium in the expected modes, where positive: THE price of one unit
    an importer receives in a crisis beyond its own surviving contracts (the model's ``Spot``, the stress test's
    ``spot`` column)."""
    if inst.policy.scenario_mode not in ("expected", "both"):
        return {}
    items = sorted({i for (i, _), q in inst.demand_qty.items() if q > 0})
    prem = {i: inst.policy.for_item(i).spot_premium or 0.0 for i in items}
    return {(s.id, i): s.probability * prem[i] for s in model_scenarios(inst) for i in items
            if s.probability * prem[i] > 0}


def reroute_weight(inst: Instance, s: Scenario, cost: float) -> float:
    """THE price of one unit sent over a detour in scenario ``s``: probability x the detour's extra cost in the
    expected modes (the robust mode asks only that demand be served), else 0."""
    return s.probability * cost if inst.policy.scenario_mode in ("expected", "both") else 0.0


def response(inst: Instance, s: Scenario, item: str) -> Response:
    """THE rule of the response clock: the scenario's own columns win over ``policy.crisis``, and the
    item's ``spare_share`` over the policy-wide one."""
    rule = inst.policy.crisis
    share = s.spare_share if s.spare_share is not None else inst.policy.for_item(item).spare_share
    group = rule.sharing_group
    return Response(rule.delay_weeks if s.delay_weeks is None else s.delay_weeks,
                    rule.ramp_weeks if s.ramp_weeks is None else s.ramp_weeks,
                    1.0 if share is None else share,
                    inst.members(group) if group else None)


# --------------------------------------------------------------------------- blocks
@dataclass(frozen=True)
class Block:
    """One (scenario, item) that the scenario touches, with what survives of its supply."""

    scenario: Scenario
    item: str
    importers: tuple[str, ...]
    """Importers with positive demand of the item."""
    surviving: dict[str, float]
    """Supplier country -> 1 - loss, for suppliers with something left and at least one open route."""
    routes: tuple[tuple[str, str], ...]
    """Open (supplier, importer) pairs of surviving suppliers."""
    pooled: bool
    """True if every surviving supplier reaches every importer with spare capacity in every phase (one pooled
    capacity row per phase is exact)."""
    phases: tuple[Phase, ...] = ()
    """The response clock's phases over the duration (:meth:`Response.phases`)."""
    spare_share: float = 1.0
    """Share of the surviving spare capacity the coalition gets."""
    contract_routes: frozenset[tuple[str, str]] = frozenset()
    """Open routes outside the crisis-sharing group: they carry their contracted volume alone."""
    opens: dict[tuple[str, str], float] = field(default_factory=dict)
    """Rerouted routes (their lane blocked, its alternative open) -> weeks until supply on the detour arrives."""
    detour_cost: dict[tuple[str, str], float] = field(default_factory=dict)
    """Rerouted routes -> extra freight per unit on the detour."""
    group_pool: bool = False
    """With a sharing group: every surviving member supplier reaches every member importer, so the model pools
    the members (one row per phase; outsiders' lanes carry their contracts); the stress test stays route by route."""
    pool_suppliers: tuple[str, ...] = ()
    """Suppliers of the model's pool: every survivor (pooled) or the members (group_pool)."""
    pool_importers: tuple[str, ...] = ()
    """Importers of the model's pool: every importer (pooled) or the members (group_pool)."""

    def open_in(self, supplier: str, importer: str, phase: Phase) -> bool:
        """True if the route carries supply in ``phase`` (a rerouted one once its detour delivers)."""
        return self.opens.get((supplier, importer), 0.0) <= phase.start + 1e-9

    @property
    def key(self) -> tuple[str, str]:
        return (self.scenario.id, self.item)

    @property
    def tau(self) -> float:
        """Fraction of a year the disruption lasts (duration / 52)."""
        return self.scenario.duration_weeks / WEEKS_PER_YEAR


def blocks(inst: Instance, scenarios: Iterable[Scenario], routes: Iterable[tuple[str, str, str]],
           items: set[str] | None = None, loss: Callable[[Scenario, str, str], float] | None = None) -> list[Block]:
    """Blocks of ``scenarios`` over the given (item, country, importer) routes.

    ``routes`` are those a plan may use: the model passes its ROUTES, the
    stress test the routes of the sourcing's suppliers.  Only items in
    ``items`` (default: all) are considered.  ``loss(scenario, item, country)``
    replaces :func:`loss_of` (the stress test of a multi-tier sourcing passes
    losses propagated from upstream stages, ``planner/results/exposure.py``).
    """
    by_item: dict[str, list[tuple[str, str]]] = {}
    for i, c, j in routes:
        if items is None or i in items:
            by_item.setdefault(i, []).append((c, j))
    importers_of: dict[str, list[str]] = {}
    for (i, j), q in sorted(inst.demand_qty.items()):
        if q > 0:
            importers_of.setdefault(i, []).append(j)
    chokes = inst.lane_chokepoints
    detours = inst.lane_detours
    out: list[Block] = []
    for s in scenarios:
        for i in sorted(by_item):
            if not s.hits(i) and loss is None:  # an upstream loss may touch an item the scenario does not name
                continue
            pairs = by_item[i]
            suppliers = sorted({c for c, _ in pairs})
            lost = {c: (loss or loss_of)(s, i, c) for c in suppliers}
            blocked = {(c, j) for c, j in pairs if route_blocked(s, i, chokes.get((i, c, j), frozenset()))}
            if not blocked and not any(lost.values()):
                continue  # untouched: served as planned
            # A blocked route whose lane lists an alternative the scenario leaves open is rerouted: it stays
            # open, its supply arriving after the detour's extra days, at the detour's extra cost.
            rerouted = {(c, j): detours[i, c, j] for c, j in blocked
                        if (i, c, j) in detours and not route_blocked(s, i, detours[i, c, j][2])}
            blocked -= set(rerouted)
            open_routes = tuple(sorted((c, j) for c, j in pairs if (c, j) not in blocked and lost[c] < 1.0))
            live = sorted({c for c, _ in open_routes})
            imps = tuple(importers_of.get(i, ()))
            reach: dict[str, set[str]] = {}
            for c, j in open_routes:
                reach.setdefault(c, set()).add(j)
            resp = response(inst, s, i)
            opens = {k: d[1] / 7.0 for k, d in rerouted.items() if k in open_routes}
            phases = split(resp.phases(s.duration_weeks), opens.values())
            contract = frozenset((c, j) for c, j in open_routes if not resp.shares(c, j))
            # The delay adds no variables (its receipts are contracts), so it never stops pooling.
            pooled = all(reach[c] >= set(imps) for c in live) and not contract and not opens
            group_pool, pool_s, pool_j = False, tuple(live), imps
            if not pooled and resp.sharing is not None and not opens:
                pool_s = tuple(c for c in live if c in resp.sharing)
                pool_j = tuple(j for j in imps if j in resp.sharing)
                # No member importer: nothing to pool (members' contracts to outsiders stay route by route).
                group_pool = bool(pool_j) and all(reach[c] >= set(pool_j) for c in pool_s)
            out.append(Block(s, i, imps, {c: 1.0 - lost[c] for c in live}, open_routes, pooled, phases,
                             resp.spare_share, contract, opens,
                             {k: d[0] for k, d in rerouted.items() if k in open_routes}, group_pool,
                             pool_s if (pooled or group_pool) else (), pool_j if (pooled or group_pool) else ()))
    return out


@dataclass
class ChainRecourse:
    """What multi-tier scenarios add to the second stage: chain blocks, their inputs' feeds,
    supplier limits and bill-of-materials rows. Pure data: the model (``models/recourse.py``) and
    the stress test (``planner/analysis/stress.py``) both build their recourse from it."""

    blocks: list[Block] = field(default_factory=list)
    """Chain blocks: (scenario, item) with an upstream-touched input or fed to such plants; never pooled."""
    inputs: set[tuple[str, str]] = field(default_factory=set)
    """(scenario, input) fed over the scenario."""
    feeds: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(scenario, input, surviving supplier, plant country) open feed routes."""
    limits: dict[tuple[str, str, str], float] = field(default_factory=dict)
    """(scenario, item, supplier) -> surviving share (1 - loss) of every supplier shipping in a chain block."""
    bom: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    """(scenario, touched input, plant country) -> outputs whose crisis output the input's feeds limit."""
    tau: dict[str, float] = field(default_factory=dict)
    """scenario -> duration / 52."""


def chain_recourse(inst: Instance, scenarios: Iterable[Scenario], live: set[tuple[str, str]], items: set[str],
                   matters: Callable[[Scenario, str], bool] | None = None) -> ChainRecourse:
    """Chain blocks of ``items`` over the supply options ``live`` (item, country), per scenario: THE
    rule of the multi-tier second stage.

    Per scenario s, an item is *touched* if one of its live options loses capacity or one of its
    final routes or feed routes is blocked, and *upstream-touched* (set U_s) if it or any input
    upstream of it is. An item of ``items`` in U_s (and, if given, ``matters(s, item)``) with an
    upstream-touched input, or feeding a plant of an item in U_s, is a chain block: modelled route
    by route (never pooled), its plants limited through the bill of materials by their touched
    inputs, fed from surviving suppliers over open feed lanes. Items outside U_s get nothing.

    The model passes the options that can ship (its outflows) and the items with a floor or a cost;
    the stress test passes the sourcing's options (qualified or contracted: the others have no
    crisis supply) and every demanded item.
    """
    chain = inst.chain
    wanted = chain.closure(items)
    options: dict[str, list[str]] = {}
    for i, c in sorted(live):
        if i in wanted:
            options.setdefault(i, []).append(c)
    importers: dict[str, list[str]] = {}
    for (i, j), q in sorted(inst.demand_qty.items()):
        if q > 0:
            importers.setdefault(i, []).append(j)
    routes_from: dict[tuple[str, str], list[str]] = {}  # (item, origin) -> importers on a lane
    for i, c, j in sorted(inst.open_lanes):
        if c in options.get(i, ()) and j in importers.get(i, ()):
            routes_from.setdefault((i, c), []).append(j)
    plants_using: dict[tuple[str, str], list[str]] = {}  # (input, plant country) -> live outputs there
    for o, k in sorted(live):
        if o in wanted:
            for i in chain.inputs_of.get(o, {}):
                plants_using.setdefault((i, k), []).append(o)
    feeds_from: dict[tuple[str, str], list[str]] = {}  # (input, origin) -> plant countries on a feed lane
    for i, c, k in sorted(chain.feed_routes):
        if (i, k) in plants_using and c in options.get(i, ()):
            feeds_from.setdefault((i, c), []).append(k)
    out = ChainRecourse()
    for s in scenarios:
        def closed(i, c, k, s=s):  # a final route's or a feed route's lane is closed by the scenario
            return route_blocked(s, i, chain.chokepoints(i, c, k))

        touched = {i for i, cs in options.items()
                   if any(loss_of(s, i, c) > 0 for c in cs)
                   or any(closed(i, c, j) for c in cs for j in routes_from.get((i, c), ()))
                   or any(closed(i, c, k) for c in cs for k in feeds_from.get((i, c), ()))}
        if not touched:
            continue
        upt: set[str] = set()
        for i in chain.item_order:  # inputs first
            if i in options and (i in touched or any(x in upt for x in chain.inputs_of.get(i, {}))):
                upt.add(i)
        fed = {i for (i, _), outs in plants_using.items() if i in upt and any(o in upt for o in outs)}
        chained = [o for o in sorted(upt & items) if o in importers and (matters is None or matters(s, o))
                   and (o in fed or any(x in upt for x in chain.inputs_of.get(o, {})))]
        if not chained:
            continue
        out.tau[s.id] = s.duration_weeks / WEEKS_PER_YEAR
        for o in chained:
            routes = tuple(sorted((c, j) for c in options[o] for j in routes_from.get((o, c), ())
                                  if loss_of(s, o, c) < 1.0 and not closed(o, c, j)))
            surviving = {c: 1.0 - loss_of(s, o, c) for c in sorted({c for c, _ in routes})}
            # Chains take one phase (checks refuse a clock or a sharing group on multi-tier instances).
            out.blocks.append(Block(s, o, tuple(importers[o]), surviving, routes, False,
                                    (Phase(0.0, s.duration_weeks, 1.0),), response(inst, s, o).spare_share))
            out.limits.update({(s.id, o, c): v for c, v in surviving.items()})
        # Plants of items in U_s that have an open way out in this scenario: their touched inputs are fed.
        shipping = {(o, c) for (sid, o, c) in out.limits if sid == s.id}
        for item in reversed(chain.item_order):  # outputs first: a plant is fed only if it has a way out
            if item not in fed:
                continue
            for c in options[item]:
                if loss_of(s, item, c) >= 1.0:
                    continue
                arcs = [(item, c, k) for k in feeds_from.get((item, c), ()) if not closed(item, c, k)
                        and any(o in upt and (o, k) in shipping for o in plants_using[item, k])]
                if arcs:
                    out.feeds += [(s.id, *a) for a in arcs]
                    out.limits[(s.id, item, c)] = 1.0 - loss_of(s, item, c)
                    shipping.add((item, c))
                    out.inputs.add((s.id, item))
        for (i, k), outs in sorted(plants_using.items()):
            limited = [o for o in outs if i in upt and o in upt and (o, k) in shipping]
            if limited:
                out.bom[(s.id, i, k)] = limited
    return out


def expected_weights(inst: Instance) -> dict[tuple[str, str], float]:
    """(scenario, item) -> probability x scenario_shortage_cost, when the expected mode is on (else empty)."""
    pol = inst.policy
    if pol.scenario_mode not in ("expected", "both"):
        return {}
    items = sorted({i for (i, _), q in inst.demand_qty.items() if q > 0})
    cost = {i: pol.for_item(i).scenario_shortage_cost or 0.0 for i in items}
    # Not only the items a scenario names: in a multi-tier chain a scenario on ore makes the metal
    # downstream short (a chain block), and that shortfall is priced in the model too.
    return {(s.id, i): s.probability * cost[i] for s in model_scenarios(inst) for i in items
            if s.probability * cost[i] > 0}
