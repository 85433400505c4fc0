"""Infeasibility diagnosis: which policy constraints conflict, and by how much.

When the friendshored case has no solution because the policy cannot all
hold, :func:`run_diagnosis` solves an *elastic* copy of the model.  Physical
rows (demand balance, capacity, flow links, minimum orders) stay hard; every
row of a policy family may exceed its bound, through a nonnegative slack on
the *policy level* the row reads (a mutable Param entry: the country cap of an
item, the tier cap of an (item, importer, tier), an item's N-1 level or
supplier count), in that level's own unit:

    cap row    body <= level * coef   becomes   body <= (level + Excess[key]) * coef
    floor row  body >= level * coef   becomes   body >= (level - Deficit[key]) * coef

* Phase 1 minimises the sum of the level slacks (fractions of demand for caps
  and N-1, suppliers for ``Min_Suppliers``).  So ``needed`` is the least value
  of each level that works, jointly with the others: one number to set, even
  for a cap shared by many rows.
* Phase 2 keeps that least violation and minimises how far the plan's rows go
  beyond their original bounds (in item units, relative to each item's demand),
  which gives the volume remedies ("add 45 t of capacity outside the tier").

Each level with positive slack becomes one row of the diagnosis table (limit,
needed, shortfall, unit, and a plain sentence with a concrete remedy).  If the
elastic model is still infeasible, no policy level can help: the conflict is
physical, and the table lists the items whose reachable capacity is below
demand and the rows of an irreducible infeasible subset (HiGHS ``getIis`` on
the LP relaxation).

Other modules join by name: a family listed in :data:`POLICY_CONSTRAINTS`, or
added by a module to the optional set ``m.policy_constraints``, is relaxed.
A :class:`Family` in :data:`FAMILIES` gives its rows a policy level, units and
sentences; without one every row is its own level, in the row's own unit,
weighted relative to its bound, and reported generically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from planner.instance.schema import Instance
from planner.results.schema import columns
from planner.solve.highs import SolveOptions, SolveResult, lp_iis, make_solver, solve_model

POLICY_CONSTRAINTS: tuple[str, ...] = (
    "Country_Share_Cap",
    "Tier_Share_Cap",
    "Group_Share_Cap",
    "Min_Suppliers",
    "N1_Cover",
    "Scenario_Served",
    "Scenario_Beta",
)
"""Constraint families the elastic model may violate, in report order (absent ones are skipped).

``Min_Order`` is not among them: a minimum order is a contract term of the
data, not a policy choice, so it stays hard like capacity."""

COLUMNS = tuple(columns("diagnosis"))
"""Columns of the diagnosis table (docs/formulation.md, "Infeasibility diagnosis")."""

EPS = 1e-6
"""A level slack (in its unit) at or below this is solver noise, not a violation."""

KINDS = ("policy", "physical", "none", "undecided")
"""policy: relaxing policy levels restores feasibility; physical: no policy level helps;
none: the elastic model needs no relaxation; undecided: the elastic solve stopped without an answer."""


# --------------------------------------------------------------------------- findings and families
@dataclass(frozen=True)
class RowGap:
    """One row of a violated level that the plan takes beyond the row's original bound."""

    index: Any
    item: str
    importer: str
    group: str
    over: float
    """How far beyond the original bound, in the row's unit (item units for caps and N-1)."""
    level: float
    """The level this row alone needs, in the level's unit."""
    body: float
    """The row's value in the plan (e.g. the volume a capped country ships)."""


@dataclass(frozen=True)
class Finding:
    """One violated policy level, in its family's unit; what a :class:`Family` turns into a sentence."""

    m: Any
    inst: Instance
    name: str
    key: Any
    limit: float
    needed: float
    shortfall: float
    upper: bool
    """True if the level must rise to hold (a cap), False if it must fall (a floor)."""
    rows: tuple[RowGap, ...]
    """The level's rows beyond their original bound in the least-violation plan, worst first."""

    @property
    def worst(self) -> RowGap:
        return self.rows[0]

    @property
    def volume(self) -> float:
        """Total amount, over the level's rows, beyond the original bounds (row units)."""
        return sum(r.over for r in self.rows)

    def qty(self, x: float) -> str:
        unit = next((it.unit for it in self.inst.items if it.id == self.worst.item), "")
        return f"{_sig(x, up=True)} {unit}".rstrip()


@dataclass(frozen=True)
class Family:
    """How to relax and read one policy constraint family.

    ``roles`` names each position of a row's index (``item``, ``importer``,
    ``group``; anything else is ignored).  ``key(m, index)`` is the policy level
    the row reads (an index of its mutable Param); ``coef(m, index)`` converts
    one unit of the level into the row's unit (e.g. the importer's demand);
    ``limit(m, key)`` is the level's current value; ``message(finding)`` the
    sentence with a remedy; ``row_weight(m, index)`` weighs the row's own
    overshoot in phase 2.  ``rises`` says which way the level must move to
    relax a row: None = up for a cap row, down for a floor row; set it when
    the level reads the other way (a floor on service written as a cap on
    shortage).  ``applies(m, index)`` picks the rows that are policy (default:
    all); the others stay hard.
    """

    unit: str
    roles: tuple[str, ...]
    key: Callable[[Any, Any], Any]
    coef: Callable[[Any, Any], float]
    limit: Callable[[Any, Any], float]
    message: Callable[[Finding], str]
    row_weight: Callable[[Any, Any], float]
    rises: bool | None = None
    applies: Callable[[Any, Any], bool] = lambda m, k: True


def _pct(x: float, up: bool | None = None) -> str:
    """0.65 -> '65%'; rounded up or down (4 significant digits) when a remedy must hold."""
    return f"{_sig(100 * x, up)}%"


def _pts(x: float) -> str:
    return f"{_sig(100 * x)} point{'' if abs(100 * x - 1) < 1e-9 else 's'}"


def _sig(x: float, up: bool | None = None, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits, rounded up/down if asked (ignoring solver noise)."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    d = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    y = x * 10**d
    tol = 1e-6 * max(1.0, abs(y))
    if up is True:
        y = math.ceil(y - tol)
    elif up is False:
        y = math.floor(y + tol)
    else:
        y = round(y)
    return f"{y / 10**d:.{d}f}".rstrip("0").rstrip(".") if d else f"{y:.0f}"


def _country_msg(f: Finding) -> str:
    w = f.worst
    d = f.m.demand_u[w.item, w.importer]
    return (f"{w.item} / {w.importer}: {w.group} must supply {_pct(w.body / d)} of {w.importer}'s demand, because "
            f"the other suppliers that can reach {w.importer} are short of capacity or capped; the country share cap "
            f"of {_pct(f.limit)} is short by {_pts(f.shortfall)}; raise the cap to {_pct(f.needed, up=True)} or add "
            f"{f.qty(f.volume)} of capacity in other countries (new suppliers, or more where the cap leaves room)")


def _set_cap_msg(kind: str) -> Callable[[Finding], str]:
    def msg(f: Finding) -> str:
        w = f.worst
        d = f.m.demand_u[w.item, w.importer]
        served = sum(_val(f.m.Flow[r]) for r in f.m.look.routes_to.get((w.item, w.importer), ()))
        outside = max(served - w.body, 0.0) / d
        return (f"{w.item} / {w.importer}: supply from outside the {w.group} {kind} covers only {_pct(outside)} of "
                f"demand; the {w.group}-{kind} cap of {_pct(f.limit)} is short by {_pts(f.shortfall)}; raise the cap "
                f"to {_pct(f.needed, up=True)} or add {f.qty(f.volume)} of capacity outside the {w.group} {kind} "
                f"that can reach {w.importer}")

    return msg


def _floor_msg(f: Finding) -> str:
    w = f.worst
    return (f"{w.item} / {w.importer}: the {w.group} members can supply only {_pct(f.needed)} of its demand; the "
            f"{w.group} floor of {_pct(f.limit)} is {_pts(f.shortfall)} too high; lower it to "
            f"{_pct(f.needed, up=False)} or add {f.qty(f.volume)} of capacity in {w.group} that can reach {w.importer}")


def _pooled_msg(f: Finding) -> str:
    w = f.worst
    return (f"{w.item}: the importers together need {_pct(f.needed)} of their demand from {w.group}; the pooled cap "
            f"of {_pct(f.limit)} is short by {_pts(f.shortfall)}; raise it to {_pct(f.needed, up=True)} or add "
            f"{f.qty(f.volume)} of capacity outside {w.group}")


def _min_suppliers_msg(f: Finding) -> str:
    n, k = _sig(f.needed), _sig(f.limit)
    more = _sig(f.shortfall, up=True)
    return (f"{f.worst.item}: only {n} supplier{'' if n == '1' else 's'} can be qualified together with the other "
            f"constraints (capacity, minimum orders, caps); min_suppliers {k} is short by {_sig(f.shortfall)}; "
            f"lower min_suppliers to {_sig(f.needed, up=False)} or make {more} more supplier"
            f"{'' if more == '1' else 's'} available (a new supply row, or a smaller minimum order)")


def _n1_msg(f: Finding) -> str:
    w = f.worst
    return (f"{w.item}: if {w.group} is lost, the qualified capacity left covers {_pct(f.needed)} of total demand; "
            f"the N-1 level (n1_beta) of {_pct(f.limit)} is short by {_pts(f.shortfall)}; lower n1_beta to "
            f"{_pct(f.needed, up=False)} or add {f.qty(w.over)} of qualified capacity outside {w.group}")


def _scenario_msg(f: Finding) -> str:
    w = f.worst
    scenario = w.group
    return (f"{w.item} / {w.importer}: in scenario {scenario}, {w.importer} can be served only {_pct(f.needed)} of its "
            f"demand over the disruption; the robust level (scenario_beta) of {_pct(f.limit)} is short by "
            f"{_pts(f.shortfall)}; lower scenario_beta to {_pct(f.needed, up=False)} or add {f.qty(f.volume)} of "
            f"stockpile or of supply that survives the scenario for {w.importer}")


def _chain_cap_msg(f: Finding) -> str:
    """Stage_Share_Cap / Upstream_Share_Cap (models/upstream.py): the level is per (tag 'stage:set', item, importer)."""
    w = f.worst
    m = f.m
    stage, name = str(f.key[0]).split(":", 1)
    chain = f.inst.chain
    where = "at any stage" if stage == "*" else f"at the {chain.stage_name.get(stage, stage)} stage"
    what = "upstream cap" if stage == "*" else f"{chain.stage_name.get(stage, stage)}-stage cap"
    d = m.demand_u[w.item, w.importer]
    served = sum(_val(m.Flow[r]) for r in m.look.routes_to.get((w.item, w.importer), ()))
    outside = max(served - w.body, 0.0) / d
    return (f"{w.item} / {w.importer}: supply that did not pass through {name} {where} covers only "
            f"{_pct(outside)} of demand; the {what} on {name} of {_pct(f.limit)} is short by {_pts(f.shortfall)}; "
            f"raise the cap to {_pct(f.needed, up=True)} or add {f.qty(f.volume)} of {w.item} supply that avoids "
            f"{name} {where} and can reach {w.importer} (capacity outside {name} at that stage, with the plants "
            f"downstream to use it)")


def _param(m, name: str, key) -> float:
    """A policy level's value; NaN if the model names it differently (a family of another module)."""
    comp = getattr(m, name, None)
    return _val(comp[key]) if comp is not None and key in comp else float("nan")


def _share_family(roles: tuple[str, ...], param: str, key, message) -> Family:
    # Caps on a share of one importer's demand: coef = that demand; overshoot weighed per item's total demand.
    i_pos, j_pos = roles.index("item"), roles.index("importer")
    return Family(
        "fraction of demand", roles, key=key,
        coef=lambda m, k: m.demand_u[k[i_pos], k[j_pos]],
        limit=lambda m, key: _val(getattr(m, param)[key]),
        message=message,
        row_weight=lambda m, k: 1.0 / m.look.item_demand_u[k[i_pos]])


FAMILIES: dict[str, Family] = {
    "Country_Share_Cap": _share_family(("item", "group", "importer"), "country_share_cap_frac",
                                       lambda m, k: k[0], _country_msg),
    "Tier_Share_Cap": _share_family(("item", "importer", "group"), "tier_share_cap_frac",
                                    lambda m, k: k, _set_cap_msg("tier")),
    "Group_Share_Cap": _share_family(("item", "importer", "group"), "group_share_cap_frac",
                                     lambda m, k: k, _set_cap_msg("group")),
    # models/dependence.py: sum_{c in g} Flow[i,c,j] >= floor[i,j,g] * demand_u[i,j] (a floor: relaxed downwards).
    "Group_Share_Floor": _share_family(("item", "importer", "group"), "group_floor_frac", lambda m, k: k, _floor_msg),
    # models/dependence.py: sum_j sum_{c in g} Flow[i,c,j] <= cap[i,g] * sum_j demand_u[i,j].
    "Pooled_Share_Cap": Family(
        "fraction of demand", ("item", "group"), key=lambda m, k: k, coef=lambda m, k: m.look.item_demand_u[k[0]],
        limit=lambda m, key: _val(m.pooled_share_cap_frac[key]), message=_pooled_msg,
        row_weight=lambda m, k: 1.0 / m.look.item_demand_u[k[0]]),
    # models/upstream.py: sum_c tagged(Flow[o,c,j]) <= cap[T,o,j] * demand_u[o,j], T = 'stage:set' or '*:set'.
    "Stage_Share_Cap": _share_family(("group", "item", "importer"), "stage_share_cap_frac",
                                     lambda m, k: k, _chain_cap_msg),
    "Upstream_Share_Cap": _share_family(("group", "item", "importer"), "upstream_share_cap_frac",
                                        lambda m, k: k, _chain_cap_msg),
    "Min_Suppliers": Family(
        "suppliers", ("item",), key=lambda m, k: k, coef=lambda m, k: 1.0,
        limit=lambda m, key: _val(m.min_suppliers_n[key]), message=_min_suppliers_msg,
        row_weight=lambda m, k: 1.0),
    "N1_Cover": Family(
        "fraction of demand", ("item", "group"), key=lambda m, k: k[0],
        coef=lambda m, k: m.look.item_demand_u[k[0]],
        limit=lambda m, key: _val(m.n1_beta_frac[key]), message=_n1_msg,
        row_weight=lambda m, k: 1.0 / m.look.item_demand_u[k[0]]),
    # models/recourse.py, robust mode alone: received + Drawdown >= scenario_beta_frac[i] * tau_frac[s,i] * demand_u[i,j]
    # on the rows without a priced shortage; the rows with one (SHORT_DEMANDS) are accounting and stay hard.
    "Scenario_Served": Family(
        "fraction of demand", ("group", "item", "importer"), key=lambda m, k: k[1],
        coef=lambda m, k: _val(m.tau_frac[k[0], k[1]]) * m.demand_u[k[1], k[2]],
        limit=lambda m, key: _param(m, "scenario_beta_frac", key), message=_scenario_msg,
        row_weight=lambda m, k: 1.0 / m.look.item_demand_u[k[1]],
        applies=lambda m, k: k not in (getattr(m, "SHORT_DEMANDS", None) or ())),
    # models/recourse.py, priced shortage with a robust level:
    # ScenarioShort[s,i,j] <= (1 - scenario_beta_frac[i]) * tau_frac[s,i] * demand_u[i,j].
    "Scenario_Beta": Family(
        "fraction of demand", ("group", "item", "importer"), key=lambda m, k: k[1],
        coef=lambda m, k: _val(m.tau_frac[k[0], k[1]]) * m.demand_u[k[1], k[2]],
        limit=lambda m, key: _param(m, "scenario_beta_frac", key), message=_scenario_msg,
        row_weight=lambda m, k: 1.0 / m.look.item_demand_u[k[1]], rises=False),
}
"""Policy family name -> how to relax and read it.  Other families are relaxed row by row, reported generically."""

ROLES: dict[str, tuple[str, ...]] = {
    "Demand_Balance": ("item", "importer"),
    "Demand_Cover": ("item", "importer"),
    "Flow_Link": ("item", "group", "importer"),
    "Capacity_Limit": ("item", "group"),
    "Min_Order": ("item", "group"),
    "Capacity_Cover": ("item",),
    "Qualified_Cap_Def": ("item",),
    "Build_Needs_Qualify": ("group",),
    "Subsidy_Rate_Limit": ("group", "group"),
    "Subsidy_No_Stacking": ("group",),
    "Programme_Budget": ("group",),
}
"""Index roles of the physical families, for labelling the rows of an infeasible subset."""


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class Diagnosis:
    """The outcome of a diagnosis: the table, what kind of conflict, and the sentences to print."""

    kind: str
    """One of :data:`KINDS`."""
    table: pd.DataFrame
    """One row per violated policy level (or per row of a physical conflict), columns :data:`COLUMNS`."""
    headline: str
    """One sentence summing up the conflict."""
    result: SolveResult | None = None
    """Phase-1 (least-violation) solve."""
    violation: float | None = None
    """Least total violation: the sum of the level slacks, each in its unit."""
    notes: tuple[str, ...] = field(default=())

    @property
    def sentences(self) -> list[str]:
        return [self.headline, *self.table["message"].tolist(), *self.notes]


def empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("limit", "needed", "shortfall") else "object")
                         for c in COLUMNS})


# --------------------------------------------------------------------------- elastic model
@dataclass
class _Row:
    name: str
    index: Any
    con: Any
    upper: bool
    coef: float
    body: Any
    """The row's original body and bound (expressions; evaluated after the solve)."""
    bound: Any


@dataclass
class _Level:
    name: str
    key: Any
    upper: bool
    var: Any
    weight: float
    rows: list[_Row] = field(default_factory=list)


@dataclass
class Elastic:
    """The slacks :func:`relax` added: one per policy level and side."""

    levels: list[_Level]

    def violation(self):
        from pyomo.environ import quicksum

        return quicksum(lv.weight * lv.var for lv in self.levels)


def policy_constraint_names(m) -> list[str]:
    """The policy families present in ``m``: :data:`POLICY_CONSTRAINTS`, then ``m.policy_constraints`` sorted."""
    from pyomo.environ import Constraint

    extra = sorted(set(getattr(m, "policy_constraints", None) or ()) - set(POLICY_CONSTRAINTS))
    out = []
    for name in (*POLICY_CONSTRAINTS, *extra):
        comp = m.component(name)
        if comp is not None and comp.ctype is Constraint:
            out.append(name)
    return out


def relax(m, names: Iterable[str] | None = None) -> Elastic:
    """Let every active row of the named families exceed its bound through a level slack (in place).

    The slacks are ``Excess<Family>[key]`` (a cap's level may rise) and
    ``Deficit<Family>[key]`` (a floor's level may fall), indexed by the
    policy levels (a :class:`Family`'s ``key``), or by the rows themselves for
    a family without one.  An equality row gets both.
    """
    from pyomo.environ import NonNegativeReals, Set, Var

    levels: list[_Level] = []
    for name in names if names is not None else policy_constraint_names(m):
        comp = m.component(name)
        fam = FAMILIES.get(name)
        rows = [(k, c) for k, c in comp.items() if c.active and (fam is None or fam.applies(m, k))]
        camel = name.replace("_", "")
        for upper in (True, False):
            side = [(k, c) for k, c in rows if (c.has_ub() if upper else c.has_lb())]
            if not side:
                continue
            keys = list(dict.fromkeys(fam.key(m, k) if fam else k for k, _ in side))
            vname = f"{'Excess' if upper else 'Deficit'}{camel}"
            if fam is None and not comp.is_indexed():
                var = Var(domain=NonNegativeReals)
                m.add_component(vname, var)
                at = {None: var}
            else:
                index = Set(initialize=keys, ordered=Set.InsertionOrder,
                            dimen=None if fam else comp.index_set().dimen)
                m.add_component(f"{vname.upper()}_LEVELS", index)
                var = Var(index, domain=NonNegativeReals)
                m.add_component(vname, var)
                at = {k: var[k] for k in keys}
            side_levels = {}
            for key in keys:
                if fam is not None:
                    w = 1.0
                else:  # one level per row, relative to its bound, so families of any unit weigh alike
                    c = comp[key] if comp.is_indexed() else comp
                    b = abs(_val(c.upper if upper else c.lower))
                    w = 1.0 / b if b > 1e-9 else 1.0
                side_levels[key] = _Level(name, key, upper, at[key], w)
            levels.extend(side_levels.values())
            for k, c in side:
                key = fam.key(m, k) if fam else k
                coef = fam.coef(m, k) if fam else 1.0
                lv = side_levels[key]
                lv.rows.append(_Row(name, k, c, upper, coef, c.body, c.upper if upper else c.lower))
    # Rewrite each row once, with every slack of its sides.
    by_con: dict[int, list[tuple[_Row, _Level]]] = {}
    for lv in levels:
        for r in lv.rows:
            by_con.setdefault(id(r.con), []).append((r, lv))
    for pairs in by_con.values():
        c = pairs[0][0].con
        body = c.body
        for r, lv in pairs:
            body = body - r.coef * lv.var if r.upper else body + r.coef * lv.var
        c.set_value((c.lower, body, c.upper))
    return Elastic(levels)


def _over(r: _Row) -> float:
    """How far the row's original body is beyond its original bound in the loaded plan (row units)."""
    gap = _val(r.body) - _val(r.bound)
    return max(gap if r.upper else -gap, 0.0)


def _add_row_overshoot(m, el: Elastic):
    """Phase 2's objective: each family row's overshoot of its original bound, weighted per item demand.

    Adds ``Row<Excess|Deficit><Family>`` (row units, >= 0) and
    ``Elastic_<Family>`` rows: body - RowExcess <= bound (caps) or
    body + RowDeficit >= bound (floors).  Generic levels are rows already.
    """
    from pyomo.environ import Constraint, NonNegativeReals, Set, Var, quicksum

    terms = []
    groups: dict[tuple[str, bool], list[_Row]] = {}
    for lv in el.levels:
        if lv.name in FAMILIES:
            for r in lv.rows:
                groups.setdefault((lv.name, lv.upper), []).append(r)
        else:
            terms.append(lv.weight * lv.var)
    for (name, upper), rows in groups.items():
        fam, camel = FAMILIES[name], name.replace("_", "")
        tag = "Excess" if upper else "Deficit"
        comp = m.component(name)
        index = Set(initialize=[r.index for r in rows], dimen=comp.index_set().dimen, ordered=Set.InsertionOrder)
        m.add_component(f"ROW_{tag.upper()}_{name.upper()}", index)
        var = Var(index, domain=NonNegativeReals)
        m.add_component(f"Row{tag}{camel}", var)
        row_of = {r.index: r for r in rows}

        def overshoot(m, *k, row_of=row_of, var=var, upper=upper):
            """body[r] - RowExcess[r] <= bound[r]  (caps) or  body[r] + RowDeficit[r] >= bound[r]  (floors)
            for r in the rows of a policy family, in the diagnosis's phase 2 only.

            The row's overshoot of its original bound, minimised once the policy levels are fixed.
            """
            r = row_of[k[0] if len(k) == 1 else k]
            v = var[r.index]
            return (r.body - v <= r.bound) if upper else (r.body + v >= r.bound)

        m.add_component(f"Elastic_{name}" + ("" if (name, not upper) not in groups else f"_{tag}"),
                        Constraint(index, rule=overshoot))
        terms += [fam.row_weight(m, r.index) * var[r.index] for r in rows]
    return quicksum(terms)


def diagnose_model(m, inst: Instance, options: SolveOptions | None = None) -> Diagnosis:
    """Diagnose the (infeasible) built model ``m`` of ``inst``; ``m`` is modified (relaxed)."""
    from pyomo.environ import Constraint, Objective, Param, minimize

    options = options or SolveOptions()
    el = relax(m)
    violation = el.violation() if el.levels else 0.0
    original = [o for o in m.component_data_objects(Objective, active=True)]
    for o in original:
        o.deactivate()
    m.Elastic_Violation = Objective(expr=violation, sense=minimize)
    opt = make_solver()
    res = solve_model(m, options, solver=opt)
    if not res.has_solution:
        if res.status in ("infeasible", "infeasible_or_unbounded"):
            return _physical(m, inst, opt, res)
        return Diagnosis("undecided", empty_table(), f"the least-violation solve found no answer: {res.explanation} "
                         f"(HiGHS: {res.termination}); try a longer --time-limit", res)

    best = float(res.objective or 0.0)
    if best <= EPS:
        return Diagnosis("none", empty_table(), "the policy can hold: the elastic model needs no relaxation, so the "
                         "original solve stopped for another reason (a limit, or numerical trouble)", res, best)

    # Phase 2: keep the least violation; bring each row as close to its original bound as it can get.
    # Phase 1's plan satisfies phase 2 by construction, yet holding phase 2 within 1e-7 of the least
    # violation let HiGHS's presolve call it infeasible (batteries-japan resilient with
    # n1,n2,chokepoints). The slack widens tenfold, twice at most, while HiGHS finds no solution:
    # at most 1e-5 * max(1, least), below the four significant digits the diagnosis shows.
    slack = 1e-7 * max(1.0, best)
    m.elastic_limit_viol = Param(initialize=best + slack, mutable=True)

    def elastic_bound(m):
        """sum_levels Excess + Deficit <= least_violation + slack  (diagnosis phase 2).

        Phase 2 of the diagnosis keeps the least total violation found in phase 1, up to a slack
        of 1e-7 * max(1, least_violation) (widened tenfold, twice at most, if HiGHS finds no solution).
        """
        return violation <= m.elastic_limit_viol

    m.Elastic_Bound = Constraint(rule=elastic_bound)
    m.Elastic_Violation.deactivate()
    m.Elastic_Overshoot = Objective(expr=_add_row_overshoot(m, el), sense=minimize)
    notes: list[str] = []
    for _ in range(3):
        res2 = solve_model(m, options)
        if res2.has_solution or res2.status not in ("infeasible", "infeasible_or_unbounded"):
            break
        slack *= 10
        m.elastic_limit_viol.set_value(best + slack)
    if not res2.has_solution:
        # solve_model loads nothing without a solution, so the phase-1 plan is still in the model.
        notes.append(f"phase 2 (least overshoot per row) stopped without a solution ({res2.status}); the volumes "
                     "come from the first least-violation plan")
    rows = _findings(m, inst, el, res.status)
    proven = "" if res.proven_optimal else " (NOT PROVEN LEAST: a limit stopped the solver)"
    n = len(rows)
    head = (f"the policy cannot all hold: {n} policy level{'s' if n != 1 else ''} must give way (least total "
            f"violation {_sig(best)}{proven}); changing each as below, together, makes the plan feasible")
    return Diagnosis("policy", rows, head, res, best, tuple(notes))


def _findings(m, inst: Instance, el: Elastic, status: str) -> pd.DataFrame:
    """The diagnosis rows: one per violated level, sorted by family order, item, importer, group."""
    order = {n: k for k, n in enumerate(policy_constraint_names(m))}
    records = []
    for lv in el.levels:
        fam = FAMILIES.get(lv.name)
        gaps = []
        for r in lv.rows:
            over = _over(r)
            if over <= 0:
                continue
            item, importer, group = _labels(inst, r.name, r.index, fam.roles if fam else None)
            gaps.append(RowGap(r.index, item, importer, group, over, over / r.coef, _val(r.body)))
        # The level the plan needs is its worst row's (not the slack's value, which may sit a tolerance above).
        short = max((g.level for g in gaps), default=0.0)
        if short <= EPS:
            continue
        gaps.sort(key=lambda g: (-round(g.level, 6), str(g.index)))  # ties within solver noise: index order
        if fam is not None:
            limit, unit = fam.limit(m, lv.key), fam.unit
        else:
            limit, unit = _val(lv.rows[0].bound), "row units"
        rises = fam.rises if fam is not None and fam.rises is not None else lv.upper
        needed = limit + short if rises else limit - short
        f = Finding(m, inst, lv.name, lv.key, limit, needed, short, rises, tuple(gaps))
        msg = fam.message(f) if fam is not None else _generic_msg(f, lv.rows[0].con)
        w = f.worst
        records.append({"constraint": lv.name, "item": w.item, "importer": w.importer, "group": w.group,
                        "limit": limit, "needed": needed, "shortfall": short, "unit": unit, "message": msg,
                        "status": status, "_order": order.get(lv.name, len(order))})
    if not records:
        return empty_table()
    df = pd.DataFrame.from_records(records)
    df = df.sort_values(["_order", "item", "importer", "group"], kind="stable").drop(columns="_order")
    return df.reset_index(drop=True)[list(COLUMNS)]


def _generic_msg(f: Finding, con) -> str:
    meaning = _meaning(con.parent_component())
    what = f" ({meaning.rstrip('.')})" if meaning else ""
    verb, to = ("exceeds", "raise") if f.upper else ("falls short of", "lower")
    return (f"{f.name}[{_index_text(f.worst.index)}]{what}: the row {verb} its limit {_sig(f.limit)} by "
            f"{_sig(f.shortfall)}; {to} the limit to {_sig(f.needed, up=f.upper)} or change the data it depends on")


# --------------------------------------------------------------------------- physical conflicts
def _physical(m, inst: Instance, opt, res: SolveResult) -> Diagnosis:
    """No policy level helps: name items short of reachable capacity, then an infeasible subset of rows."""
    records = _capacity_shortfalls(m, inst)
    iis_rows, col_names, iis_note = lp_iis(m, opt)
    for con in iis_rows:
        name = con.parent_component().name
        idx = con.index()
        item, importer, group = _labels(inst, name, idx, ROLES.get(name))
        meaning = _meaning(con.parent_component())
        records.append({
            "constraint": name, "item": item, "importer": importer, "group": group,
            "limit": math.nan, "needed": math.nan, "shortfall": math.nan, "unit": "",
            "message": f"{con.name} is in the conflict{': ' + meaning if meaning else ''}",
            "status": res.status,
        })
    table = pd.DataFrame.from_records(records, columns=list(COLUMNS)) if records else empty_table()
    excl = inst.policy.exclude_tiers
    head = ("the conflict is physical: no cap, N-1 level or supplier count would make the plan feasible; the "
            "demand cannot be met with the capacity, lanes and minimum orders given"
            + (f" (tiers excluded by the policy: {', '.join(excl)})" if excl else ""))
    notes = []
    if iis_rows:
        bounds = f"; with the variable bounds {', '.join(col_names)}" if col_names else ""
        notes.append(f"these {len(iis_rows)} rows cannot hold together (an infeasible subset of the LP "
                     f"relaxation{bounds}); changing the data behind any one of them removes this conflict")
    if iis_note:
        notes.append(iis_note)
    return Diagnosis("physical", table, head, res, None, tuple(notes))


def _capacity_shortfalls(m, inst: Instance) -> list[dict]:
    """Items, and (item, importer) pairs, whose most reachable capacity (existing + every option) is below demand."""
    unit = {it.id: it.unit for it in inst.items}
    out = []
    for i in m.ITEMS:
        cap = sum(m.look.max_capacity_u[k] for k in m.look.countries_of.get(i, ()) if k in m.look.routes_from)
        dem = m.look.item_demand_u[i]
        if cap < dem * (1 - 1e-9):
            out.append(_cap_row(i, "all", cap, dem, unit.get(i, ""), "all allowed supplier countries can together supply"))
        for j in sorted(jj for (ii, jj) in m.DEMANDS if ii == i):
            reach = sum(m.look.max_capacity_u[r[0], r[1]] for r in m.look.routes_to.get((i, j), ()))
            d = m.demand_u[i, j]
            if reach < d * (1 - 1e-9):
                out.append(_cap_row(i, j, reach, d, unit.get(i, ""), f"the allowed suppliers that can reach {j} have"))
    return out


def _cap_row(item: str, importer: str, cap: float, dem: float, unit: str, who: str) -> dict:
    q = lambda x: f"{_sig(x, up=True)} {unit}".rstrip()  # noqa: E731
    return {"constraint": "Demand_Balance", "item": item, "importer": importer, "group": "all",
            "limit": cap, "needed": dem, "shortfall": dem - cap, "unit": unit or "item unit",
            "message": f"{item}{'' if importer == 'all' else ' / ' + importer}: {who} at most {q(cap)} against a "
                       f"demand of {q(dem)}; add {q(dem - cap)} of capacity (or lanes) or allow shortage",
            "status": "infeasible"}


# --------------------------------------------------------------------------- labels and helpers
def _labels(inst: Instance, name: str, index, roles: tuple[str, ...] | None = None) -> tuple[str, str, str]:
    """(item, importer, group) of a row: from the family's index roles, else guessed from the index values.

    The guess: the first index value that is an item id is the item; the last
    later value that imports that item is the importer; the rest is the group.
    """
    idx = index if isinstance(index, tuple) else (() if index is None else (index,))
    item = importer = None
    group: list[str] = []
    if roles is not None:
        for role, v in zip(roles, idx):
            if role == "item":
                item = str(v)
            elif role == "importer":
                importer = str(v)
            elif role == "group":
                group.append(str(v))
    else:
        items = {it.id for it in inst.items}
        pos = next((k for k, v in enumerate(idx) if v in items), None)
        at = None
        if pos is not None:
            item = idx[pos]
            at = next((k for k in range(len(idx) - 1, pos, -1) if (item, idx[k]) in inst.demand_qty), None)
            importer = None if at is None else idx[at]
        group = [str(v) for k, v in enumerate(idx) if k not in (pos, at)]
    return item or "all", importer or "all", ":".join(group) or "all"


def _index_text(index) -> str:
    if isinstance(index, tuple):
        return ",".join(str(v) for v in index)
    return "" if index is None else str(index)


def _meaning(comp) -> str:
    """The meaning paragraph of a constraint family's docstring (the one after the maths)."""
    rule = getattr(comp, "rule", None)
    doc = getattr(getattr(rule, "_fcn", None), "__doc__", None) or ""
    paras = [" ".join(p.split()) for p in doc.strip().split("\n\n") if p.strip()]
    if len(paras) < 2:
        return ""
    first, dot, _ = paras[1].partition(". ")
    return first + "." if dot else paras[1]


def _val(x) -> float:
    from pyomo.environ import value

    v = value(x, exception=False)
    return float("nan") if v is None else float(v)


# --------------------------------------------------------------------------- entry points
def run_diagnosis(inst: Instance, options: SolveOptions | None = None, formulation: str | None = None,
                  model=None) -> Diagnosis:
    """Diagnose why ``inst``'s policy cannot all hold, on ``model`` (the built model of ``inst`` that
    just failed to solve, reused and relaxed in place) or on a fresh build."""
    import models

    if inst.periods:
        return _diagnose_periods(inst, options, formulation)
    m = model if model is not None else models.build(inst, formulation or models.DEFAULT_FORMULATION)
    return diagnose_model(m, inst, options)


def _diagnose_periods(inst: Instance, options: SolveOptions | None, formulation: str | None) -> Diagnosis:
    """A multi-period plan: the first period that cannot hold on its own, given only the capacity
    that can be online by then (each option at its largest share then), is diagnosed like a
    single-period instance and named; if every period holds alone, the links between periods do not."""
    import models
    from dataclasses import replace

    from planner.instance.period_checks import late_options
    from planner.instance.periods import horizon, relaxed_view
    from planner.solve.highs import solve_model

    h = horizon(inst)
    for p in h.ids:
        view = relaxed_view(inst, p)
        m = models.build(view, formulation or models.DEFAULT_FORMULATION)
        if solve_model(m, options).has_solution:
            continue
        d = diagnose_model(models.build(view, formulation or models.DEFAULT_FORMULATION), view, options)
        late = {i: late_options(inst, h, p, i) for i in sorted({i for i, _ in view.demand_qty})}
        table = d.table.copy()
        if len(table):
            table["message"] = [f"in period {p}: {msg}{late.get(i, '')}" for i, msg in zip(table["item"], table["message"])]
        notes = tuple(f"{i}: {text.removeprefix('; ')}" for i, text in late.items() if text)
        return replace(d, table=table, headline=f"in period {p}: {d.headline}", notes=d.notes + notes)
    return Diagnosis("undecided", pd.DataFrame(columns=COLUMNS),
                     "every period can hold on its own (with each option at its largest online share); the links "
                     "between periods cannot: ramp-up shares, the ramp limit on switching, or the fiscal budgets")


def diagnose(inst: Instance, options: SolveOptions | None = None) -> pd.DataFrame:
    """The diagnosis table of ``inst`` (empty when the policy can hold); for studies and reports."""
    return run_diagnosis(inst, options).table



def fmt_cell(x: float) -> str:
    return "-" if x != x else _sig(x)


def write_diagnosis(out_dir: Path, diag: Diagnosis, formats: Iterable[str] = ("csv",),
                    record: dict | None = None, extras: dict | None = None) -> list[Path]:
    """Write ``diagnosis.<fmt>`` (and ``run.json`` if a record is given, and each of ``extras``:
    file name -> writer) into ``out_dir``, atomically."""
    from planner.results.export import write_outputs

    if record is not None:
        record = {**record, "diagnosis": {
            "kind": diag.kind, "headline": diag.headline, "violation": diag.violation,
            "status": diag.result.status if diag.result is not None else None, "notes": list(diag.notes)}}
    return write_outputs(Path(out_dir), {"diagnosis": diag.table}, record, formats, extras)



__all__ = [
    "COLUMNS", "FAMILIES", "KINDS", "POLICY_CONSTRAINTS", "ROLES", "Diagnosis", "Elastic", "Family", "Finding", "RowGap",
    "diagnose",
    "diagnose_model", "policy_constraint_names", "relax", "run_diagnosis",
    "write_diagnosis",
]
