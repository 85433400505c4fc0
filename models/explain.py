"""Marginal prices of the inputs the families registered as levers (models/registry.py).

Given the duals of a solve of this model, each lever's rows are read in the input's own terms: the
row's limit, value and slack, its dual, and the change in the objective per step of the input
(dual x slope x step). The slope, d(bound - body)/d(input) at the loaded solution, is read off the
row itself by nudging the mutable Param by one unit and back (exact: every row is linear in its
input), so no family's algebra is written twice. Nothing outside this package names a Param.
"""

from __future__ import annotations

from typing import Any, Iterator

from pyomo.environ import value

SIGN = {"cap": -1.0, "floor": 1.0, "resource": 1.0, "demand": 1.0}
"""Direction of the step priced: a cap tightens downwards; the others are priced one step up."""


def _blocks(m) -> Iterator[tuple[Any, int | None]]:
    yield m, None
    if hasattr(m, "Period"):  # a multi-period model: its period blocks hold the families' rows
        for p in m.PERIODS:
            yield m.Period[p], p


def _gap(c) -> tuple[float | None, float, float]:
    """(active bound, bound - body for a <= row / body - bound for a >= row, body) of a row."""
    body = value(c.body)
    lo = value(c.lower) if c.has_lb() else None
    up = value(c.upper) if c.has_ub() else None
    if up is not None and (lo is None or c.equality or abs(up - body) <= abs(body - lo)):
        return up, up - body, body
    return lo, body - lo, body


def implied_when_fixed(m) -> list:
    """Rows that only link flows to the integer decisions, implied by the others once those are fixed:
    Flow_Link of a qualified supplier (Flow <= min(max capacity, demand) follows from Capacity_Limit
    and Demand_Balance) and the aggregated cover rows. The fixed-plan LP leaves them out, so a
    capacity's dual lands on Capacity_Limit instead of being split with a duplicate of it."""
    out = []
    for block, _ in _blocks(m):
        for name in ("Demand_Cover", "Capacity_Cover"):
            if hasattr(block, name):
                out += list(getattr(block, name).values())
        if hasattr(block, "Flow_Link") and hasattr(block, "Qualify"):
            out += [c for (i, k, j), c in block.Flow_Link.items() if (block.Qualify[i, k].value or 0) > 0.5]
    return out


def lever_rows(m, duals: dict, tol: float = 1e-7) -> list[dict]:
    """One dict per binding row of a lever (slack within ``tol`` of its bound, or a non-zero dual).

    ``price``: change of the objective for one ``step`` of the input in the lever's direction
    (a cap one step tighter, a floor one step higher, one more unit of a resource or of demand),
    valid while the integer decisions stay as they are."""
    out = []
    for block, period in _blocks(m):
        for lv in getattr(block, "levers", ()):
            con = getattr(block, lv.con)
            param = getattr(block, lv.param) if lv.param else None
            for k, c in con.items():
                if not c.active:
                    continue
                bound, slack, body = _gap(c)
                dual = float(duals.get(c, 0.0) or 0.0)
                if abs(slack) > tol * max(1.0, abs(bound or 0.0)) and abs(dual) <= tol:
                    continue
                level = None
                if lv.slope is not None:
                    slope = float(lv.slope(block, k))
                else:
                    p = param[lv.key(k)]
                    level = float(p.value)
                    g0 = value(c.upper if c.has_ub() else c.lower) - value(c.body)
                    p.value = level + 1.0
                    g1 = value(c.upper if c.has_ub() else c.lower) - value(c.body)
                    p.value = level
                    slope = g1 - g0
                if abs(slope) <= 1e-12:
                    continue  # the input does not enter this row (e.g. a row with a priced shortage)
                scope = dict(lv.scope(k))
                out.append({"family": lv.con, "input": lv.input, "sense": lv.sense,
                            "period": scope.pop("period", period), **scope,
                            "level": level, "limit": bound, "value": body, "slack": max(slack, 0.0),
                            "dual": dual, "step": lv.step, "price": dual * slope * lv.step * SIGN[lv.sense]})
    return out


def force_supplier(m, item: str, country: str, amount: float):
    """Add a row making (item, country) ship at least ``amount`` (capped at what it could ship);
    returns (the amount asked, an undo callable), or None if the model has no such shipping supplier."""
    from pyomo.environ import Constraint, quicksum

    if hasattr(m, "Period") or (item, country) not in m.look.outflows:
        return None
    amount = min(amount, m.look.max_capacity_u[item, country])
    if amount <= 0:
        return None
    m.Entry_Forced = Constraint(expr=quicksum(m.look.outflows[item, country]) >= amount)

    def undo():
        m.del_component("Entry_Forced")

    return amount, undo


def shipped(m, item: str, country: str) -> float:
    """What (item, country) ships in the loaded solution."""
    return float(sum(value(f) for f in m.look.outflows.get((item, country), ())))


def force_option(m, option: str):
    """Fix the option built; returns an undo callable, or None if the model has no such option."""
    if hasattr(m, "Period") or option not in m.INVESTMENTS:
        return None
    v = m.Build[option]
    v.fix(1)

    def undo():
        v.unfix()

    return undo


PLAN_VARS = ("Qualify", "Build", "StrategicStock")
"""The first-stage decisions of a single-period plan: qualifications, builds and stockpiles."""
PERIOD_PLAN_VARS = ("Qualify", "StrategicStock")
"""A multi-period plan's decisions in each period block; builds are the top-level ``BuildAt`` (when
each option is decided), which sets every block's ``Build`` (the share of the option online)."""


def _plan_vars(m) -> Iterator[tuple[str, Any]]:
    """(name, variable or None) of the plan's decisions; a period block's are named ``Qualify@2028``."""
    if not hasattr(m, "Period"):
        for name in PLAN_VARS:
            yield name, getattr(m, name, None)
        return
    yield "BuildAt", getattr(m, "BuildAt", None)
    for p in m.PERIODS:
        for name in PERIOD_PLAN_VARS:
            yield f"{name}@{p}", getattr(m.Period[p], name, None)


def plan_of(m) -> dict[str, dict]:
    """The decisions of the plan loaded in ``m`` as plain data {variable: {index: value}} (picklable),
    integers rounded, so another model of the same structure can be held to them (:func:`fix_plan`).
    A multi-period plan holds when each option is built and each period's qualifications and stocks."""
    out: dict[str, dict] = {}
    for name, var in _plan_vars(m):
        if var is None:
            continue
        out[name] = {k: (float(round(v.value)) if v.is_integer() else float(v.value))
                     for k, v in var.items() if v.value is not None}
    return out


def fix_plan(m, plan: dict[str, dict]) -> tuple[int, list]:
    """Fix the decisions of ``plan`` in ``m`` (built from another instance of the same shape); returns
    how many of its decisions ``m`` has no variable for (a structure the sample changed) and the
    variables fixed, for the caller to release (``unfix``) once the plan has been evaluated."""
    missing = 0
    held = []
    own = dict(_plan_vars(m))
    for name, values in plan.items():
        var = own.get(name)
        for k, x in values.items():
            if var is None or k not in var:
                missing += 1
                continue
            var[k].fix(x)
            held.append(var[k])
    return missing, held
