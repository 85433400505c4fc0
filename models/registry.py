"""The cost registry: modules add named cost expressions, the objective sums them."""

from __future__ import annotations

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
