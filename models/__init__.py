"""The Pyomo formulation of Friendshore, one module per constraint family.

Each module exposes ``add_to(m, inst)``.  ``MODULES`` lists them once, in build
order: later modules may use the sets, variables and expressions of earlier
ones.  Costs are not summed here: each module registers its cost expressions in
``m.cost_terms`` and :mod:`models.objective` sums that registry.

The package knows nothing of files or the CLI; it only reads a validated
:class:`planner.instance.schema.Instance`.
"""

from __future__ import annotations

from functools import cached_property

from pyomo.environ import ConcreteModel

from .lookups import Lookups
from .registry import register_cost
from .structure import structure_key

from . import (
    bom,
    capacity,
    demand,
    dependence,
    diversification,
    flows,
    objective,
    qualification,
    recourse,
    resilience,
    sets,
    stockpile,
    subsidies,
    upstream,
)

MODULES = (
    sets,  # sparse index sets and data parameters
    flows,  # Flow, purchase / transport / tariff costs
    bom,  # multi-tier: Feed of inputs to plants, their costs, bill-of-materials balance (empty for single tier)
    demand,  # demand balance, optional penalised shortage
    qualification,  # Qualify, tight flow linking, minimum orders
    capacity,  # Build, capacity limits
    subsidies,  # programme subsidies and budgets
    dependence,  # country / tier / group share caps
    upstream,  # multi-tier: Feed_Link, stage and upstream caps on tagged flows
    diversification,  # minimum number of qualified suppliers
    resilience,  # N-1 capacity cover
    stockpile,  # StrategicStock and its holding cost
    recourse,  # per-scenario recourse: crisis supply, drawdown, robust floor / expected shortage cost
    objective,  # sums m.cost_terms
)


# Formulation variants: the same feasible set and optimum, written more or less
# tightly.  Modules read ``m.features`` (a frozenset of the flags below); the
# default is the fastest measured (benchmarks/README.md, "Formulation strength").
#   tight_link   Flow_Link coefficient min(max capacity, demand), not the item's total demand
#   qual_cap     Capacity_Limit: existing capacity * Qualify, not plain existing capacity
#   capped_link  Country_Share_Cap: Flow <= cap * demand * Qualify (the cap also links)
#   cover_cuts   Demand_Cover and Capacity_Cover rows (aggregated capacity-cover inequalities)
#   n1_coef      N-1 rows: each capacity coefficient a is min(a, beta * item demand); valid only for the
#                beta the model was built with (a re-solve with a larger n1_beta_frac needs a rebuild)
_TIGHT = frozenset({"tight_link", "qual_cap"})
FORMULATIONS: dict[str, frozenset[str]] = {
    "naive": frozenset(),
    "tight": _TIGHT,
    "capped": _TIGHT | {"capped_link"},
    "cover": _TIGHT | {"cover_cuts"},
    "capped_cover": _TIGHT | {"capped_link", "cover_cuts"},
    "tight_n1": _TIGHT | {"n1_coef"},
}
DEFAULT_FORMULATION = "tight"


def build(inst, formulation: str = DEFAULT_FORMULATION) -> ConcreteModel:
    """Build the model of ``inst`` under its policy (``inst.policy``).

    ``formulation`` names an entry of :data:`FORMULATIONS`; every one has the
    same optimum, they differ in LP-relaxation strength and solve time.
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"unknown formulation {formulation!r}; expected one of {', '.join(FORMULATIONS)}")
    if inst.periods:  # one block of this formulation per period, linked over time (models/periods.py)
        from . import periods

        return periods.build(inst, formulation, FORMULATIONS[formulation], MODULES)
    m = ConcreteModel(name=inst.meta.name)
    m.formulation = formulation
    m.features = FORMULATIONS[formulation]
    m.cost_terms = {}  # registry: cost component name -> Pyomo Expression
    m.look = Lookups()  # the plain-dict look-ups the families share (models/lookups.py)
    # The instance the model was built from (never re-pointed): models.update compares structure
    # keys with it, computed only then (a key costs about 6 % of a build: no cost when not re-solving).
    m.built_from = inst
    for module in MODULES:
        module.add_to(m, inst)
    return m


class Inputs:
    """What the families' ``UPDATES`` setters read (``setter(x, k)``): the instance, the model being
    re-pointed, and look-ups of the instance made once per update."""

    def __init__(self, m, inst):
        self.m, self.inst = m, inst

    @cached_property
    def ip(self) -> dict:
        """item -> its effective policy."""
        return {i: self.inst.policy.for_item(i) for i in self.m.ITEMS}

    @cached_property
    def prog(self) -> dict:
        """programme id -> programme."""
        return {p.id: p for p in self.inst.programmes}

    @cached_property
    def option(self) -> dict:
        """investment option id -> option."""
        return {o.option: o for o in self.inst.investments}

    @cached_property
    def scenario(self) -> dict:
        """scenario id -> scenario (table and generated)."""
        from planner.instance.scenarios import model_scenarios

        return {s.id: s for s in model_scenarios(self.inst)}

    @cached_property
    def spot(self) -> dict:
        """(scenario, item) -> probability x spot premium (planner.instance.scenarios.spot_weights)."""
        from planner.instance.scenarios import spot_weights

        return spot_weights(self.inst)

    @cached_property
    def weights(self) -> dict:
        """(scenario, item) -> probability x shortage cost (planner.instance.scenarios.expected_weights)."""
        from planner.instance.scenarios import expected_weights

        return expected_weights(self.inst)


def update(m, inst) -> bool:
    """Re-point the built model ``m`` at ``inst``, which differs from the instance it was built
    from only in values that live in mutable Params (a study's structure key says when); the
    public re-solve API, as Calliope's ``update_input``. Nothing outside this package names a Param.

    Another structure (:func:`structure_key` differs) returns False and changes nothing: build
    ``inst`` afresh then. Params of a family's ``UPDATES`` are set from ``inst`` directly, family by
    family in build order, each family's ``refresh(m)`` (look-ups derived from its Params) after its
    own; if the model has a mutable Param no family can set (the stage and upstream caps), every one
    is copied from a scratch build of ``inst`` instead, so no value can go stale (and False if that
    build's shape differs).
    """
    from pyomo.environ import Param

    if m.built_from.periods or inst.periods:
        return False  # multi-period models are rebuilt (their blocks hold per-period views)
    if not hasattr(m, "built_key"):
        m.built_key = _key(m.built_from, m.features)
    if _key(inst, m.features) != m.built_key:
        return False
    owner = {name: module for module in MODULES for name in getattr(module, "UPDATES", {})}
    # Empty Params (a family with no rows here, as the multi-tier caps of a single-tier model) need no setter.
    mutable = [p for p in m.component_objects(Param) if p.mutable and len(p)]
    if not all(p.local_name in owner for p in mutable):
        if not _copy_from(build(inst, m.formulation), m):
            return False
        _refresh(m)
        return True
    x = Inputs(m, inst)
    by_module: dict = {}
    for p in mutable:
        by_module.setdefault(owner[p.local_name], []).append(p)
    for module in MODULES:
        for p in by_module.get(module, ()):
            setter = module.UPDATES[p.local_name]
            for k in p:
                p[k] = setter(x, k)
        if hasattr(module, "refresh"):
            module.refresh(m)
    return True


def heuristic_relaxable(m) -> list:
    """Rows the primal heuristic (planner/solve/heuristic.py) may leave out of its rounding and search
    LPs: ``Flow_Link``, a tightening that Capacity_Limit (capacity x Qualify) and Demand_Balance imply
    once Qualify is 0 or 1. Its final plan is solved and checked with every row, so a row named here
    wrongly costs plan quality, never feasibility."""
    return list(m.Flow_Link.values()) if hasattr(m, "Flow_Link") and "qual_cap" in m.features else []


def _refresh(m) -> None:
    """Every family's look-ups derived from Param values, recomputed."""
    for module in MODULES:
        if hasattr(module, "refresh"):
            module.refresh(m)


def _key(inst, features: frozenset[str]) -> str:
    # n1_coef writes n1_beta and capacities into the N-1 rows' coefficients: there they are structure,
    # not Param values.
    return structure_key(inst, frozenset({"n1_beta", "supply.capacity"}) if "n1_coef" in features else frozenset())


def _shape(m) -> tuple[int, int]:
    """(variables, constraints): a cheap check that two models have one structure."""
    from pyomo.environ import Constraint, Var

    return (sum(1 for _ in m.component_data_objects(Var)), sum(1 for _ in m.component_data_objects(Constraint)))


def _copy_from(fresh, m) -> bool:
    from pyomo.environ import Param, value

    if _shape(fresh) != _shape(m):
        return False
    pairs = []
    for p in fresh.component_objects(Param):
        if not p.mutable:
            continue
        target = m.component(p.local_name)
        if target is None or set(target.keys()) != set(p.keys()):
            return False
        pairs.append((p, target))
    for p, target in pairs:
        for k in p:
            target[k] = value(p[k])
    return True


__all__ = ["DEFAULT_FORMULATION", "FORMULATIONS", "MODULES", "Inputs", "build", "heuristic_relaxable", "register_cost",
           "structure_key", "update"]
