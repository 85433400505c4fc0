"""Strategic stockpiles: first-stage stock levels per (item, importer) and their holding cost."""

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
