"""Periods: THE rules that turn a multi-period instance into one single-period view per period.

A multi-period instance (a ``periods.csv``) gives some rows a ``period`` column and some policy
values as trajectories ``{year: level}``.  Every consumer that works on one period (the model's
period blocks, the feasibility checks, the accounting, the stress test, the diagnosis) reads the
view :func:`at_period` returns: an ordinary single-period :class:`Instance`, so the single-period
code is the multi-period code, period by period.

Step rule (one rule for rows and trajectories): a value holds from its period (a trajectory's year:
the first period starting at or after it) until the next dated value; before the first dated value
the key does not exist (a supply row: no supplier yet; a cap: no cap yet).  Rows without a period
hold in every period.

Investments: an option decided in period d produces from the first period starting at or after
``d + lead_time_years``, at ``ramp_up`` of its capacity in that first period and fully afterwards,
until ``lifetime_years`` have passed since first production (judged at each period's start).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from planner.instance.schema import Instance, Investment, Policy


@dataclass(frozen=True)
class Horizon:
    """The periods of an instance, their discounting, and each option's decisions and availability."""

    inst: Instance

    @cached_property
    def ids(self) -> tuple[int, ...]:
        return tuple(p.period for p in sorted(self.inst.periods, key=lambda r: r.period))

    @cached_property
    def years(self) -> dict[int, int]:
        return {p.period: p.years for p in self.inst.periods}

    def rate(self, p: int) -> float:
        row = next(r for r in self.inst.periods if r.period == p)
        r = row.discount_rate if row.discount_rate is not None else self.inst.meta.discount_rate
        return float(r or 0.0)

    def period_of_year(self, y: int) -> int | None:
        for p in self.ids:
            if p <= y < p + self.years[p]:
                return p
        return None

    @cached_property
    def _year_factor(self) -> dict[int, float]:
        """Calendar year -> discount factor, (1 + r) per year compounded from the first period's start."""
        out, f = {}, 1.0
        for p in self.ids:
            for y in range(p, p + self.years[p]):
                out[y] = f
                f /= 1.0 + self.rate(p)
        return out

    def factor(self, year: int) -> float:
        """Discount factor of money paid at the start of ``year``."""
        return self._year_factor[year]

    def weight(self, p: int) -> float:
        """Discounted years of period p: the sum of its years' factors (an annual cost times this is its present value)."""
        return sum(self._year_factor[y] for y in range(p, p + self.years[p]))

    # ------------------------------------------------------------------ investments
    def decisions(self, o: Investment) -> tuple[int, ...]:
        """Periods in which ``o`` may be decided and would produce within the horizon (sparse: no others)."""
        first = o.earliest_decision if o.earliest_decision is not None else self.ids[0]
        return tuple(d for d in self.ids if d >= first and self.online(o, d))

    def online(self, o: Investment, d: int) -> dict[int, float]:
        """Period -> share of ``o``'s capacity available, if decided in period d (periods with none left out)."""
        start = d + o.lead_time_years
        out: dict[int, float] = {}
        first = True
        for p in self.ids:
            if p < start or (o.lifetime_years is not None and p >= start + o.lifetime_years):
                continue
            out[p] = o.ramp_up if first else 1.0
            first = False
        return {p: s for p, s in out.items() if s > 0}

    def first_online(self, o: Investment, d: int) -> int | None:
        on = self.online(o, d)
        return min(on) if on else None

    def overnight(self, o: Investment, d: int) -> float:
        """The option's overnight cost: its annualised capex times the annuity factor over its lifetime at
        the decision period's rate ((1 - (1 + r)^-L) / r; L years, or 1 / r without a lifetime)."""
        r = self.rate(d)
        life = o.lifetime_years
        if life is None:
            return o.capex / r if r > 0 else float("inf")
        return o.capex * ((1.0 - (1.0 + r) ** -life) / r if r > 0 else float(life))

    # ------------------------------------------------------------------ THE payment rule
    # Capex, and the grants that follow it, are paid either as an annuity every year the plant is in
    # service ("annualised") or as one overnight lump in the decision period ("overnight").  The model's
    # objective and budget rows and the accounting's cost table all call these, so they cannot disagree.
    @property
    def annualised(self) -> bool:
        return self.inst.meta.capex_payment == "annualised"

    def payments(self, o: Investment, d: int) -> dict[int, float]:
        """Period -> payment units paid in it for ``o`` decided in d: the period's years (annualised) or 1 (the lump)."""
        if self.annualised:
            return {p: float(self.years[p]) for p in self.online(o, d)}
        return {d: 1.0}

    def payment(self, o: Investment, d: int) -> float:
        """Money per payment unit: the annual capex (annualised) or the overnight cost (overnight)."""
        return o.capex if self.annualised else self.overnight(o, d)

    def money_pv(self, p: int, cash: float) -> float:
        """Present value of ``cash`` paid in period p: spread evenly over its years (annualised) or at its start."""
        if self.annualised:
            return cash / self.years[p] * self.weight(p)
        return cash * self.factor(p)

    def money_annual(self, p: int, cash: float) -> float:
        """``cash`` paid in period p as the cost table shows it: per year (annualised) or the lump (overnight)."""
        return cash / self.years[p] if self.annualised else cash

    def unit_pv(self, o: Investment, d: int) -> float:
        """Present value of one payment unit's worth of money for ``o`` decided in d (of one unit of grant)."""
        return sum(self.money_pv(p, n) for p, n in self.payments(o, d).items())

    def capex_cash(self, o: Investment, d: int) -> dict[int, float]:
        """Period -> capex paid in it (undiscounted) for ``o`` decided in d."""
        return {p: n * self.payment(o, d) for p, n in self.payments(o, d).items()}

    def capex_present(self, o: Investment, d: int) -> float:
        """Present value of the planner's capex payments for ``o`` decided in d (before any subsidy)."""
        return self.payment(o, d) * self.unit_pv(o, d)


def horizon(inst: Instance) -> Horizon:
    return Horizon(inst)


# --------------------------------------------------------------------------- trajectories
def is_trajectory(v: Any) -> bool:
    return isinstance(v, dict) and bool(v) and all(isinstance(k, int) and not isinstance(k, bool) for k in v)


def level_at(v: Any, period: int, ids: tuple[int, ...]) -> Any:
    """The value of a scalar or trajectory in ``period`` (None before its first dated value)."""
    if not is_trajectory(v):
        return v
    best = None
    for year in sorted(v):
        starts = next((p for p in ids if p >= year), None)  # the first period starting at or after the year
        if starts is not None and starts <= period:
            best = v[year]
    return best


def trajectories(data: Any, path: str = "") -> list[tuple[str, dict]]:
    """(dotted path, trajectory) of every trajectory in a policy dump."""
    if is_trajectory(data):
        return [(path, data)]
    if isinstance(data, dict):
        return [t for k, v in data.items() for t in trajectories(v, f"{path}.{k}" if path else str(k))]
    return []


def _resolve(data: Any, period: int, ids: tuple[int, ...]) -> Any:
    if is_trajectory(data):
        return level_at(data, period, ids)
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            r = _resolve(v, period, ids)
            if r is None and is_trajectory(v) and k not in _SCALARS:
                continue  # a dated cap on a set before its first date: no cap on the set yet
            out[k] = r
        return out
    return data


_SCALARS = frozenset({"country_share_cap", "min_suppliers", "n1_beta", "scenario_beta"})


def policy_at(policy: Policy, period: int, ids: tuple[int, ...]) -> Policy:
    data = policy.model_dump(exclude_none=True)
    return Policy.model_validate(_resolve(data, period, ids))


# --------------------------------------------------------------------------- the view
def _step(rows: tuple, key: tuple[str, ...], period: int) -> tuple:
    """Rows in force in ``period``: per key, the row of the latest period <= it (rows without a period always)."""
    best: dict[tuple, Any] = {}
    order: list[tuple] = []
    for r in rows:
        k = tuple(getattr(r, c) for c in key)
        if r.period is not None and r.period > period:
            continue
        if k not in best:
            order.append(k)
            best[k] = r
        elif r.period is not None and (best[k].period is None or r.period > best[k].period):
            best[k] = r
    return tuple(best[k].model_copy(update={"period": None}) for k in order)


def at_period(inst: Instance, period: int) -> Instance:
    """The single-period view of ``inst`` in ``period`` (see the module docstring)."""
    h = horizon(inst)
    if period not in h.ids:
        raise ValueError(f"unknown period {period}; expected one of {', '.join(map(str, h.ids))}")
    from planner.instance.schema import Demand, Lane, Programme, Supply

    options = tuple(o for o in inst.investments if any(period in h.online(o, d) for d in h.decisions(o)))
    meta = inst.meta.model_copy(update={"policy": policy_at(inst.policy, period, h.ids)})
    return inst.replace(
        meta=meta,
        demand=_step(inst.demand, Demand.key, period),
        supply=_step(inst.supply, Supply.key, period),
        lanes=_step(inst.lanes, Lane.key, period),
        programmes=_step(inst.programmes, Programme.key, period),
        investments=options,
        scenarios=tuple(s for s in inst.scenarios if not s.periods or str(period) in s.periods),
        periods=(),
    )


def views(inst: Instance) -> dict[int, Instance]:
    """Period -> its single-period view (empty for a single-period instance)."""
    return {p: at_period(inst, p) for p in horizon(inst).ids} if inst.periods else {}


def relaxed_view(inst: Instance, period: int) -> Instance:
    """The view of ``period`` with each option's capacity at its largest share online then (ramp-up):
    a single-period instance whose optimum bounds the period's part of any multi-period plan."""
    h = horizon(inst)
    view = at_period(inst, period)
    share = {o.option: max(h.online(o, d).get(period, 0.0) for d in h.decisions(o)) for o in view.investments}
    return view.replace(investments=tuple(o.model_copy(update={"capacity": o.capacity * share[o.option]})
                                          for o in view.investments))
