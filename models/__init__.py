"""The Pyomo formulation of Friendshore, one module per constraint family.

Each module exposes ``add_to(m, inst)``.  ``MODULES`` lists them once, in build
order: later modules may use the sets, variables and expressions of earlier
ones.  Costs are not summed here: each module registers its cost expressions in
``m.cost_terms`` and :mod:`models.objective` sums that registry.

The package knows nothing of files or the CLI; it only reads a validated
:class:`planner.instance.schema.Instance`.
"""

from __future__ import annotations

from pyomo.environ import ConcreteModel

from .registry import register_cost

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
    m = ConcreteModel(name=inst.meta.name)
    m.formulation = formulation
    m.features = FORMULATIONS[formulation]
    m.cost_terms = {}  # registry: cost component name -> Pyomo Expression
    for module in MODULES:
        module.add_to(m, inst)
    return m


__all__ = ["DEFAULT_FORMULATION", "FORMULATIONS", "MODULES", "build", "register_cost"]
