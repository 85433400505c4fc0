"""Disruption scenarios: the table's and the generated ones, and what each one hits.

Both the two-stage model (``models/recourse.py``) and the stress test
(``planner/stress.py``) see a scenario through the same :class:`Block`s, so the
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
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from planner.instance.schema import ALL, Instance, Scenario

WEEKS_PER_YEAR = 52.0
TTS_CAP_WEEKS = 520.0
"""Time-to-survive is reported at most as this (ten years): 'never runs out' within any sensible horizon."""
GENERATORS = ("n1", "n2", "chokepoints")


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
    """True if every surviving supplier reaches every importer (one pooled capacity row is exact)."""

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
    losses propagated from upstream stages, ``planner/exposure.py``).
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
            open_routes = tuple(sorted((c, j) for c, j in pairs if (c, j) not in blocked and lost[c] < 1.0))
            live = sorted({c for c, _ in open_routes})
            imps = tuple(importers_of.get(i, ()))
            reach: dict[str, set[str]] = {}
            for c, j in open_routes:
                reach.setdefault(c, set()).add(j)
            pooled = all(reach[c] >= set(imps) for c in live)
            out.append(Block(s, i, imps, {c: 1.0 - lost[c] for c in live}, open_routes, pooled))
    return out


def expected_weights(inst: Instance) -> dict[tuple[str, str], float]:
    """(scenario, item) -> probability x scenario_shortage_cost, when the expected mode is on (else empty)."""
    pol = inst.policy
    if pol.scenario_mode not in ("expected", "both"):
        return {}
    items = sorted({i for (i, _), q in inst.demand_qty.items() if q > 0})
    cost = {i: pol.for_item(i).scenario_shortage_cost or 0.0 for i in items}
    return {(s.id, i): s.probability * cost[i] for s in model_scenarios(inst) for i in items
            if s.hits(i) and s.probability * cost[i] > 0}
