"""The Pyomo formulation of Friendshore, one module per constraint family.

Each module exposes ``add_to(m, inst)``.  ``MODULES`` lists them once, in build
order: later modules may use the sets, variables and expressions of earlier
ones.  Costs are not summed here: each module registers its cost expressions in
``m.cost_terms`` and :mod:`models.objective` sums that registry.

The package knows nothing of files or the CLI; it only reads a validated
:class:`planner.schema.Instance`.
"""

from __future__ import annotations

from pyomo.environ import ConcreteModel

from .registry import register_cost

from . import (
    capacity,
    demand,
    dependence,
    diversification,
    flows,
    objective,
    qualification,
    resilience,
    sets,
    subsidies,
)

MODULES = (
    sets,  # sparse index sets and data parameters
    flows,  # Flow, purchase / transport / tariff costs
    demand,  # demand balance, optional penalised shortage
    qualification,  # Qualify, tight flow linking, minimum orders
    capacity,  # Build, capacity limits
    subsidies,  # programme subsidies and budgets
    dependence,  # country / tier / group share caps
    diversification,  # minimum number of qualified suppliers
    resilience,  # N-1 capacity cover
    objective,  # sums m.cost_terms
)


def build(inst) -> ConcreteModel:
    """Build the model of ``inst`` under its policy (``inst.policy``)."""
    m = ConcreteModel(name=inst.meta.name)
    m.cost_terms = {}  # registry: cost component name -> Pyomo Expression
    for module in MODULES:
        module.add_to(m, inst)
    return m


__all__ = ["MODULES", "build", "register_cost"]
