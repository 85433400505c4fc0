"""Shared helpers: build tiny instances in code, solve them, read the tables."""

from __future__ import annotations

import pytest

from planner.instance.schema import Country, Demand, Instance, Investment, Item, Lane, Meta, Policy, Programme, Supply


def tiny(
    supply: list[tuple],
    demand: list[tuple],
    *,
    tiers: dict[str, str] | None = None,
    groups: dict[str, tuple[str, ...]] | None = None,
    lanes: list[tuple] = (),
    investments: list[Investment] = (),
    programmes: list[Programme] = (),
    policy: Policy | None = None,
) -> Instance:
    """An instance from compact tuples.

    supply: (item, country, capacity, unit_cost[, qualification_cost[, min_order]])
    demand: (importer, item, quantity)
    lanes:  (origin, importer, item, transport_cost, tariff_rate)
    Every supplier reaches every importer on a free lane unless ``lanes`` is given.
    """
    tiers = tiers or {}
    groups = groups or {}
    codes = sorted({s[1] for s in supply} | {d[0] for d in demand} | set(tiers))
    items = sorted({s[0] for s in supply} | {d[1] for d in demand})
    sup = []
    for s in supply:
        i, c, cap, cost, *rest = s
        sup.append(Supply(item=i, country=c, capacity=cap, unit_cost=cost,
                          qualification_cost=rest[0] if rest else 0.0, min_order=rest[1] if len(rest) > 1 else 0.0))
    if lanes:
        lane_rows = [Lane(origin=o, importer=j, item=i, transport_cost=t, tariff_rate=r) for o, j, i, t, r in lanes]
    else:
        lane_rows = [Lane(origin=o, importer=j) for o in codes for j in {d[0] for d in demand} if o != j]
    return Instance(
        meta=Meta(name="tiny", policy=policy or Policy()),
        countries=tuple(Country(code=c, name=c, tier=tiers.get(c, "ally"), groups=groups.get(c, ())) for c in codes),
        items=tuple(Item(id=i, name=i, unit="t") for i in items),
        supply=tuple(sup),
        demand=tuple(Demand(importer=j, item=i, quantity=q) for j, i, q in demand),
        lanes=tuple(lane_rows),
        investments=tuple(investments),
        programmes=tuple(programmes),
    )


@pytest.fixture
def solve_tiny():
    """Solve an instance; return (SolveResult, Solution) and check the accounting matches the model."""
    from planner.analysis.cases import solve_case

    def run(inst: Instance):
        res, s = solve_case(inst, "friendshored")
        if s is not None:
            # Table-model agreement: the cost table summed equals the objective.
            assert s.total_cost == pytest.approx(res.objective, rel=1e-7, abs=1e-6)
        return res, s

    return run


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="Rewrite tests/golden/*.json from the current results instead of comparing.",
    )


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))


def kill_study_part_way(study, out, at_least: int = 3, env=None) -> dict[str, int]:
    """Start ``friendshore study`` on one worker, SIGKILL it once ``at_least`` runs are stored, and
    return the stored runs {run id: mtime_ns}. Only finished records count: pathlib's glob also
    matches the hidden '.<id>.parquet.tmp-...parquet' file a record is staged in."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def records():
        return [p for p in (out / "runs").glob("*.parquet") if not p.name.startswith(".")]

    proc = subprocess.Popen([sys.executable, "-m", "planner", "study", str(study), "--out", str(out), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(records()) < at_least and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return {p.stem: p.stat().st_mtime_ns for p in records()}
