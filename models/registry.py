"""The registries: modules add named cost expressions (the objective sums them) and levers (the
inputs their rows price, read by models/explain.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyomo.environ import Expression


def register_cost(m, name: str, expr) -> None:
    """Add cost component ``name`` (currency per year) to ``m.cost_terms``.

    The expression is also stored as ``m.Cost_<name>`` so reports can evaluate
    each component after the solve.
    """
    if name in m.cost_terms:
        raise ValueError(f"cost term {name!r} registered twice")
    comp = Expression(expr=expr)
    m.add_component(f"Cost_{name}", comp)
    m.cost_terms[name] = comp


@dataclass(frozen=True)
class Lever:
    """How one user input enters a constraint family's rows, so its dual reads as a price.

    ``sense`` says which way the input tightens the plan: "cap" (a smaller value is tighter: share
    caps), "floor" (a larger value is tighter: N-1 and scenario cover), "resource" (more of it is
    looser: capacity, budgets) or "demand" (more of it costs: the demand balance).  The price of one
    ``step`` of the input is dual x slope x step, where slope = d(bound - body)/d(input) at the
    solution: read off the rows themselves by nudging ``param`` (a mutable Param, at ``key(index)``),
    or given by ``slope`` where the input is not a mutable Param.
    """

    con: str
    """The constraint component, e.g. "Tier_Share_Cap"."""
    input: str
    """The user's input it prices, as instance files name it, e.g. "policy.tier_caps"."""
    sense: str
    step: float
    """One step of the input in its own units (0.01: one point of a share)."""
    scope: Callable[[tuple], dict]
    """Constraint index -> {item, importer, country, group} (strings; the keys it has)."""
    param: str | None = None
    key: Callable[[tuple], Any] | None = None
    slope: Callable[[Any, tuple], float] | None = None
    """(block, index) -> d(bound - body)/d(input), for inputs that are not mutable Params."""


def register_lever(m, lever: Lever) -> None:
    """Add ``lever`` to ``m.levers`` (a model or a period block), for models.explain."""
    if not hasattr(m, "levers"):
        m.levers = []
    m.levers.append(lever)
