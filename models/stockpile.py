"""Strategic stockpiles: first-stage stock levels per (item, importer), and shared stockpiles held by a group
(released in a crisis by ``recourse.py``), with their holding costs."""

from __future__ import annotations

from pyomo.environ import NonNegativeReals, Param, Set, Var, quicksum

from .registry import register_cost


def add_to(m, inst) -> None:
    rows = inst.stock_by_key
    m.STOCKS = Set(dimen=2, initialize=sorted(rows), doc="(item, importer) with a stock row")
    m.existing_stock_u = Param(m.STOCKS, initialize={k: r.existing for k, r in rows.items()})
    m.holding_cur_per_u = Param(m.STOCKS, initialize={k: r.holding_cost for k, r in rows.items()})
    # The level is bounded by variable bounds, not rows: existing (never sold) <= level <= max_stock.
    m.StrategicStock = Var(
        m.STOCKS, domain=NonNegativeReals, bounds=lambda m, i, j: (rows[i, j].existing, rows[i, j].max_stock),
        doc="stockpile held by the importer, item unit",
    )
    if rows:
        register_cost(m, "stockpile", quicksum(m.holding_cur_per_u[k] * m.StrategicStock[k] for k in m.STOCKS))

    shared = {k.id: k for k in inst.shared_stock if k.item in set(m.ITEMS) and inst.shared_members(k)}
    m.SHARED_STOCKS = Set(initialize=sorted(shared), doc="shared stockpiles of an item in demand, with members")
    m.shared_holding_cur_per_u = Param(m.SHARED_STOCKS, initialize={k: r.holding_cost for k, r in shared.items()})
    m.SharedStock = Var(
        m.SHARED_STOCKS, domain=NonNegativeReals, bounds=lambda m, k: (shared[k].existing, shared[k].max_stock),
        doc="shared stockpile held by the group, item unit",
    )
    m.look.shared_stocks = shared
    if shared:
        register_cost(m, "shared_stockpile", quicksum(m.shared_holding_cur_per_u[k] * m.SharedStock[k]
                                                      for k in m.SHARED_STOCKS))
