"""Multi-period scaling: build and solve time against the number of periods, beside the HiGHS floor.

For 1, 3, 5 and 10 periods of a generated instance (size M of benchmarks/run.py unless --size),
and for the shipped batteries-japan-2035 split into 5 periods: model size, Pyomo build, hand-off
and HiGHS time through Friendshore, then the same model written as MPS and solved by highspy
alone (the floor), and the gap reached. Target (issue 15): 5 periods of the shipped instance to a
1e-4 gap in under 30 s on a 2-core machine.

    python benchmarks/periods.py [--size M] [--periods 1,3,5,10] [--time-limit 120]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def with_periods(inst, n: int, growth: float = 0.05, lead: int = 2):
    """``inst`` over n two-year periods from 2025: demand and capacity grow by ``growth`` a period,
    options take ``lead`` years and ramp up at half capacity."""
    from planner.instance.schema import Period

    ids = [2025 + 2 * k for k in range(n)]
    demand = tuple(d.model_copy(update={"quantity": d.quantity * (1 + growth) ** k, "period": p})
                   for d in inst.demand for k, p in enumerate(ids))
    supply = tuple(s.model_copy(update={"capacity": s.capacity * (1 + growth) ** k, "period": p})
                   for s in inst.supply for k, p in enumerate(ids))
    inv = tuple(o.model_copy(update={"lead_time_years": lead, "ramp_up": 0.5}) for o in inst.investments)
    meta = inst.meta.model_copy(update={"discount_rate": 0.05})
    return inst.replace(meta=meta, demand=demand, supply=supply, investments=inv,
                        periods=tuple(Period(period=p, years=2) for p in ids))


def shipped_five():
    """batteries-japan-2035 over five periods (2025-27, 2028-29, 2030, 2031-32, 2033-35)."""
    from planner.instance.io import load_instance
    from planner.instance.schema import Period

    inst = load_instance(ROOT / "instances" / "batteries-japan-2035")
    rows = ((2025, 3), (2028, 2), (2030, 1), (2031, 2), (2033, 3))
    return inst.replace(periods=tuple(Period(period=p, years=y) for p, y in rows))


def measure(label: str, inst, time_limit: float, gap: float) -> dict:
    import highspy
    import models
    from planner.solve.highs import SolveOptions, solve_model, write_model

    t0 = time.perf_counter()
    m = models.build(inst)
    build_s = time.perf_counter() - t0
    res = solve_model(m, SolveOptions(rel_gap=gap, time_limit=time_limit), build_s=build_s)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.mps"
        write_model(inst, path)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", gap)
        h.setOptionValue("time_limit", time_limit)
        h.setOptionValue("threads", 1)
        h.readModel(str(path))
        cols, rows = h.getNumCol(), h.getNumRow()
        trace = gap_trace(h)
        t1 = time.perf_counter()
        h.run()
        floor_s = time.perf_counter() - t1
        floor_gap = h.getInfo().mip_gap
        trace.append((h.getRunTime(), floor_gap))  # the gap at the end, after the last callback
    return {"case": label, "cols": cols, "rows": rows, "build_s": res.build_s, "handoff_s": res.handoff_s,
            "highs_s": res.solve_s, "gap": res.gap, "status": res.status, "floor_s": floor_s, "floor_gap": floor_gap,
            "overhead": (res.build_s + res.handoff_s) / max(res.solve_s, 1e-9),
            "reach": {g: first_time(trace, g) for g in MILESTONES}}


MILESTONES = (0.1, 0.01, 1e-3, 1e-4)


def gap_trace(h) -> list[tuple[float, float]]:
    """Record (HiGHS running time, MIP gap) each time the gap shrinks, from HiGHS's MIP callbacks."""
    import highspy

    trace: list[tuple[float, float]] = []

    def cb(kind, message, out, inp, data):
        g = out.mip_gap
        if g == g and (not trace or g < trace[-1][1]):  # skip NaN before the first incumbent
            trace.append((out.running_time, g))

    h.setCallback(cb, None)
    for kind in (highspy.cb.HighsCallbackType.kCallbackMipInterrupt,
                 highspy.cb.HighsCallbackType.kCallbackMipImprovingSolution):
        h.startCallback(kind)
    return trace


def first_time(trace: list[tuple[float, float]], gap: float) -> float | None:
    """Seconds until the gap first fell to ``gap`` or below (None: never)."""
    return next((t for t, g in trace if g <= gap), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="M")
    ap.add_argument("--periods", default="1,3,5,10")
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--gap", type=float, default=1e-4)
    a = ap.parse_args()
    from run import SIZES

    from planner.instance.generate import generate

    items, countries, importers, seed = SIZES[a.size]
    base = generate(items, countries, importers, seed)
    out = []
    for n in (int(x) for x in a.periods.split(",")):
        out.append(measure(f"{a.size} x {n} periods", with_periods(base, n), a.time_limit, a.gap))
        print(out[-1], flush=True)
    out.append(measure("batteries-japan-2035 x 5", shipped_five(), a.time_limit, a.gap))
    print("\n| case | columns | rows | build s | hand-off s | HiGHS s | gap | HiGHS floor s | floor gap | (build+hand-off)/HiGHS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    gaps = " | ".join(f"floor s to gap {g:g}" for g in MILESTONES)
    for r in out:
        print(f"| {r['case']} | {r['cols']:,} | {r['rows']:,} | {r['build_s']:.2f} | {r['handoff_s']:.2f} | "
              f"{r['highs_s']:.2f} | {r['gap'] if r['gap'] is not None else float('nan'):.1e} | {r['floor_s']:.2f} | "
              f"{r['floor_gap']:.1e} | {r['overhead']:.2f} |")
    # How the MIP gap closes: the floor run's time to each gap (from HiGHS's callbacks).
    print(f"\n| case | {gaps} |")
    print("|---|" + "---|" * len(MILESTONES))
    for r in out:
        print(f"| {r['case']} | " + " | ".join("-" if r["reach"][g] is None else f"{r['reach'][g]:.2f}"
                                              for g in MILESTONES) + " |")


if __name__ == "__main__":
    main()
