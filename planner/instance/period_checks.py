"""Checks of multi-period data: periods.csv itself, the ``period`` columns, dated policy values,
investments' decision periods, and plain infeasibility in each period's view.

Single-period instances (no periods.csv) must not use any of these: a ``period`` cell, a
trajectory or a scenario's ``periods`` without periods.csv is an error, never ignored.
"""

from __future__ import annotations

import pandas as pd

from planner.errors import Problem
from planner.instance import periods as pr
from planner.instance.schema import TABLES, Instance
from planner.instance.tables import LINE, OK

PERIODIC = ("demand", "supply", "lanes", "programmes")
"""Tables with an optional ``period`` column."""


def check_period_frames(t: dict[str, pd.DataFrame | None], files: dict[str, str], meta, meta_file: str) -> list[Problem]:
    """Checks on the parsed frames (rows are named); ``meta`` may be None when instance.yaml is broken."""
    out: list[Problem] = []
    pf = t.get("periods")
    ids: list[int] = []
    if pf is not None and len(pf):
        ok = pf[pf[OK]].sort_values("period")
        ids = [int(x) for x in ok["period"]]
        prev = None
        for p, y, ln in zip(ok["period"], ok["years"], ok[LINE]):
            if prev is not None and prev[0] + prev[1] != p:
                out.append(Problem(files["periods"], int(ln), "period", str(p),
                                   f"a gap or overlap: the period before ({prev[0]}, {prev[1]} years) ends in "
                                   f"{prev[0] + prev[1] - 1}; expected periods that follow each other without gaps"))
            prev = (int(p), int(y))
        if meta is not None and meta.discount_rate is None:
            for r, ln in zip(ok["discount_rate"], ok[LINE]):
                if r is None or pd.isna(r):
                    out.append(Problem(files["periods"], int(ln), "discount_rate", "",
                                       f"a discount rate; expected one here or discount_rate in {meta_file}"))
    known = set(ids)
    for name in PERIODIC:
        f = t.get(name)
        if f is None or not len(f) or "period" not in f:
            continue
        used = f[f["period"].notna()]
        for p, ln in zip(used["period"], used[LINE]):
            if not known:
                out.append(Problem(files[name], int(ln), "period", str(p),
                                   "a period without periods.csv; expected an empty cell, or a periods.csv declaring it"))
            elif int(p) not in known:
                out.append(Problem(files[name], int(ln), "period", str(p),
                                   f"unknown period; expected one of {', '.join(map(str, ids))}"))
        # One key either holds in every period (no period) or is dated; both at once is ambiguous.
        key = list(TABLES[name].key)
        cells = f[key].astype(str).apply(tuple, axis=1) if len(f) else pd.Series([], dtype=object)
        dated = set(cells[f["period"].notna()])
        for k, p, ln in zip(cells, f["period"], f[LINE]):
            if k in dated and (p is None or pd.isna(p)):
                out.append(Problem(files[name], int(ln), "period", "",
                                   f"the key ({':'.join(k)}) also has dated rows; expected a period on every row of "
                                   f"the key, or none"))
    inv = t.get("investments")
    if inv is not None and len(inv):
        for col in ("earliest_decision",):
            used = inv[inv[col].notna()]
            for p, ln in zip(used[col], used[LINE]):
                if int(p) not in known:
                    out.append(Problem(files["investments"], int(ln), col, str(p),
                                       f"unknown period; expected one of {', '.join(map(str, ids))}" if known else
                                       "a period without periods.csv; expected an empty cell"))
    sc = t.get("scenarios")
    if sc is not None and len(sc):
        for ps, ln in zip(sc["periods"], sc[LINE]):
            for p in ps or ():
                if not p.lstrip("-").isdigit() or int(p) not in known:
                    out.append(Problem(files["scenarios"], int(ln), "periods", p,
                                       f"unknown period; expected one of {', '.join(map(str, ids))}" if known else
                                       "a period without periods.csv; expected an empty cell"))
    if meta is not None:
        data = meta.policy.model_dump(exclude_none=True)
        for path, traj in pr.trajectories(data):
            if not known:
                out.append(Problem(meta_file, None, f"policy.{path}", str(traj),
                                   "a dated value without periods.csv; expected one number, or a periods.csv"))
                continue
            end = ids[-1] + int(t["periods"].set_index("period").loc[ids[-1], "years"]) - 1
            for year in traj:
                if not ids[0] <= year <= end:
                    out.append(Problem(meta_file, None, f"policy.{path}.{year}", str(traj[year]),
                                       f"a year outside the horizon; expected a year from {ids[0]} to {end}"))
    return out


def check_period_views(inst: Instance, check, meta_file: str) -> list[Problem]:
    """``check(view)`` on every period's view; each problem names its period, and an item's
    problem lists the options that are not online yet in that period and why."""
    h = pr.horizon(inst)
    out: list[Problem] = []
    for p in h.ids:
        view = pr.at_period(inst, p)
        for prob in check(view):
            late = late_options(inst, h, p, prob.item)
            out.append(Problem(prob.file, prob.row, prob.column, prob.value,
                               f"in period {p}: {prob.expected}{late}", item=prob.item))
    return out


def late_options(inst: Instance, h: pr.Horizon, p: int, item: str | None) -> str:
    """Options of the problem's item that are not online by period p, with the reason."""
    if item is None:
        return ""
    why = []
    for o in inst.investments:
        if o.item != item:
            continue
        dec = h.decisions(o)
        on = {d: h.first_online(o, d) for d in dec}
        if any(p in h.online(o, d) for d in dec):
            continue
        first = min((x for x in on.values() if x is not None), default=None)
        start = o.earliest_decision if o.earliest_decision is not None else h.ids[0]
        when = f"online from {first}" if first is not None else "never online within the horizon"
        why.append(f"{o.option} in {o.country}: {when} (lead time {o.lead_time_years} years from {start})")
    return f"; not online yet: {'; '.join(why)}" if why else ""
