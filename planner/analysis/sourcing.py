"""Sourcings: what the first stage fixes (contracted flows, qualified suppliers, built options,
stockpile levels), from a costed solution, from today's baseline, or read back from a solve's
output folder. The stress test and the network analysis evaluate them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from planner.errors import InstanceError, NoSolutionError, Problem
from planner.instance.schema import Instance
from planner.results.export import restore_csv_frame
from planner.results.exposure import baseline_feeds
from planner.results.solution import EPS, Solution, baseline_flows
from planner.solve.highs import SolveOptions


@dataclass(frozen=True)
class Sourcing:
    """The first-stage decisions a scenario cannot change."""

    name: str
    flows: dict[tuple[str, str, str], float]
    """(item, country, importer) -> contracted volume per year."""
    qualified: frozenset[tuple[str, str]]
    built: frozenset[str] = frozenset()
    stock: dict[tuple[str, str], float] = field(default_factory=dict)
    """(item, importer) -> stockpile level; missing stock rows hold their existing level."""
    feeds: dict[tuple[str, str, str], float] = field(default_factory=dict)
    """Multi-tier: (input, origin, plant country) -> contracted input volume per year."""
    shared: dict[str, float] = field(default_factory=dict)
    """Shared stockpile id -> level; missing ones hold their existing level."""


def from_solution(s: Solution) -> Sourcing:
    """The sourcing of a costed solution (its allocations, qualified suppliers, built options, stockpiles)."""
    a = s.allocations
    flows = {(i, c, j): float(v) for i, c, j, v in zip(a["item"], a["country"], a["importer"], a["volume"])}
    sup = s.suppliers
    qualified = frozenset((i, c) for i, c, q in zip(sup["item"], sup["country"], sup["qualified"]) if q)
    inv = s.investments
    built = frozenset(o for o, b in zip(inv["option"], inv["built"]) if b)
    st = s.stockpiles
    stock = {} if st is None else {(i, j): float(v) for i, j, v in zip(st["item"], st["importer"], st["level"])}
    fd = s.feeds
    feeds = {} if fd is None else {(i, c, k): float(v) for i, c, k, v in zip(fd["item"], fd["country"],
                                                                            fd["destination"], fd["volume"])}
    sh = s.shared_stockpiles
    shared = {} if sh is None else {k: float(v) for k, v in zip(sh["id"], sh["level"])}
    return Sourcing(s.case, flows, qualified, built, stock, feeds, shared)


def baseline(inst: Instance) -> Sourcing | None:
    """Today's sourcing: baseline flows, today's suppliers qualified, nothing built, existing stockpiles."""
    if not inst.today:
        return None
    flows = baseline_flows(inst)
    feeds, _ = baseline_feeds(inst, flows)
    return Sourcing("baseline", flows, frozenset((i, c) for (i, c, _), v in (flows | feeds).items() if v > EPS),
                    feeds=feeds)


def from_run_dir(inst: Instance, folder: str | Path, case: str = "friendshored") -> Sourcing:
    """The sourcing of ``case`` in a ``friendshore solve --out`` folder (CSV, Parquet or JSON tables)."""
    folder = Path(folder)
    need = {"allocations": ("item", "importer", "country", "volume"), "suppliers": ("item", "country", "qualified"),
            "investments": ("option", "built")}
    frames: dict[str, pd.DataFrame] = {}
    problems = []
    for name in (*need, "stockpiles"):
        df = _read_table(folder, name)
        if df is None:
            if name in need:
                problems.append(Problem(str(folder / f"{name}.csv"), expected="missing; expected the output folder "
                                        "of `friendshore solve --out` (tables as csv, parquet or json)"))
            continue
        cols = need.get(name, ("item", "importer", "level"))
        missing = [c for c in ("case", *cols) if c not in df.columns]
        if missing:
            problems.append(Problem(str(folder / name), column=missing[0],
                                    expected=f"missing column; expected the columns {', '.join(('case', *cols))}"))
            continue
        frames[name] = df[df["case"] == case]
    if not problems and frames["allocations"].empty:
        problems.append(Problem(str(folder / "allocations"), column="case", value=case,
                                expected="no rows of this case; expected a solve output holding it"))
    if problems:
        raise InstanceError(problems)
    a, sup, inv = frames["allocations"], frames["suppliers"], frames["investments"]
    flows = {(str(i), str(c), str(j)): float(v) for i, c, j, v in zip(a["item"], a["country"], a["importer"],
                                                                      a["volume"])}
    bad = [k for k in flows if (k[0], k[1]) not in inst.supply_by_key]
    qualified = frozenset((str(i), str(c)) for i, c, q in zip(sup["item"], sup["country"], sup["qualified"])
                          if _true(q))
    bad += [k for k in qualified if k not in inst.supply_by_key]
    options = {o.option for o in inst.investments}
    built = frozenset(str(o) for o, b in zip(inv["option"], inv["built"]) if _true(b))
    if bad or built - options:
        what = ", ".join(sorted({f"{k[0]}:{k[1]}" for k in bad} | (built - options)))
        raise InstanceError([Problem(str(folder), value=what[:120], expected="suppliers or options unknown to the "
                                     "instance; expected the output of a solve of this instance")])
    st = frames.get("stockpiles")
    stock = {} if st is None else {(str(i), str(j)): float(v) for i, j, v in zip(st["item"], st["importer"],
                                                                                 st["level"])}
    fd = _read_table(folder, "feeds")  # multi-tier outputs only
    feeds = {}
    if fd is not None and {"case", "item", "country", "destination", "volume"} <= set(fd.columns):
        fd = fd[fd["case"] == case]
        feeds = {(str(i), str(c), str(k)): float(v) for i, c, k, v in zip(fd["item"], fd["country"],
                                                                         fd["destination"], fd["volume"])}
    sh = _read_table(folder, "shared_stockpiles")
    shared = {}
    if sh is not None and {"case", "id", "level"} <= set(sh.columns):
        sh = sh[sh["case"] == case]
        shared = {str(k): float(v) for k, v in zip(sh["id"], sh["level"])}
    return Sourcing(f"{folder.name}:{case}", flows, qualified, built, stock, feeds, shared)


def _read_table(folder: Path, name: str) -> pd.DataFrame | None:
    for ext, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet), ("json", pd.read_json)):
        p = folder / f"{name}.{ext}"
        if p.is_file():
            return restore_csv_frame(read(p, dtype=str)) if ext == "csv" else read(p)
    return None


def _true(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "1.0", "yes")


def sourcing_for(inst: Instance, which: str, options: SolveOptions | None = None) -> Sourcing:
    """``baseline``, ``optimized`` (solve the friendshored plan now) or the path of a solve's output folder."""
    if which == "baseline":
        src = baseline(inst)
        if src is None:
            raise InstanceError([Problem("--sourcing", value=which, expected="expected a baseline table in the instance (it has "
                                         "none); or optimized, or the output folder of a solve")])
        return src
    if which in ("optimized", "optimised"):
        from planner.analysis.cases import solve_case

        res, s = solve_case(inst, "friendshored", options)
        if s is None:
            raise NoSolutionError(f"no optimized sourcing to stress: {res.explanation} (HiGHS: {res.termination})")
        if not res.proven_optimal:
            s = dataclasses.replace(s, case="friendshored (NOT PROVEN OPTIMAL)")
        return from_solution(s)
    path = Path(which)
    if not path.is_dir():
        raise InstanceError([Problem("--sourcing", value=which, expected="expected baseline, optimized, or the output folder "
                                     "of `friendshore solve --out` (no such folder)")])
    return from_run_dir(inst, path)
