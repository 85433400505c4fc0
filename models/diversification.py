"""Diversification: a minimum number of qualified supplier countries per item."""

from __future__ import annotations

from pyomo.environ import Constraint, Param, Set, quicksum

UPDATES = {"min_suppliers_n": lambda x, k: x.ip[k].min_suppliers}
"""Mutable Param -> its value at index k, read from the instance's inputs (models.Inputs): models.update."""


def add_to(m, inst) -> None:
    pol = inst.policy
    k = {i: pol.for_item(i).min_suppliers for i in m.ITEMS}
    k = {i: v for i, v in k.items() if v}
    m.DIVERSIFIED = Set(initialize=sorted(k), doc="items with a minimum number of suppliers")
    m.min_suppliers_n = Param(m.DIVERSIFIED, initialize=k, mutable=True)

    def min_suppliers(m, i):
        """sum_c Qualify[i,c] >= min_suppliers_n[i]  for i in DIVERSIFIED.

        At least k countries are qualified suppliers of the item, so a backup is ready.
        """
        return quicksum(m.Qualify[s] for s in m.look.countries_of.get(i, ())) >= m.min_suppliers_n[i]

    m.Min_Suppliers = Constraint(m.DIVERSIFIED, rule=min_suppliers)
