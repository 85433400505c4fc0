"""The objective: the sum of the cost registry, whatever modules fed it."""

from __future__ import annotations

from pyomo.environ import Objective, minimize


def add_to(m, inst) -> None:
    # Total_Cost = sum of m.cost_terms (currency per year): the planner's private cost.
    m.Total_Cost = Objective(expr=sum(m.cost_terms.values()), sense=minimize)
