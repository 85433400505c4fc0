"""Large instances: HiGHS alone against the primal heuristic and the Lagrangian bound, side by side.

    python benchmarks/large.py                                   # facility location 100 x 1000, seeds 0,1,2, 300 s
    python benchmarks/large.py --seeds 0 --time-limit 60 --ratio 5 --fixed 2
    python benchmarks/large.py --generated M,XL --methods highs,heuristic --time-limit 600
    python benchmarks/large.py --render --readme                 # tables from the saved results only

Every (instance, method) runs in a fresh subprocess (so peak RSS is that run's own) through
``planner.solve.highs.solve_model``, the code path of ``friendshore solve``. Methods:

* ``highs``: heuristic off, Lagrangian off (HiGHS alone, same formulation, same hand-off);
* ``heuristic``: the primal heuristic's plan offered as MIP start, no Lagrangian bound;
* ``both``: heuristic and Lagrangian bound (the bound only exists for facility-location models).

Times are seconds from the start of the hand-off to HiGHS (build excluded, the same for every
method); "to 1 %" and "to 0.1 %" are the first moments the gap between the best plan and the best
bound known (HiGHS' callbacks, the heuristic's plan, the Lagrangian bound) fell to that level.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "large"
METHODS = {"highs": dict(heuristic="off", lagrangian="off"), "heuristic": dict(heuristic="on", lagrangian="off"),
           "both": dict(heuristic="on", lagrangian="on")}
GAPS = (1e-2, 1e-3, 1e-4)
SIZES = {"S": (10, 20, 3, 11), "M": (100, 150, 10, 12), "L": (160, 150, 16, 13), "XL": (250, 200, 20, 14)}
"""The generated sizes of benchmarks/run.py: items, countries, importers, instance seed."""


def _instance(spec: dict):
    from planner.instance.generate import facility_location, generate

    if spec["kind"] == "facility":
        return facility_location(spec["sites"], spec["customers"], seed=spec["seed"],
                                 capacity_ratio=spec["ratio"], fixed_cost_scale=spec["fixed"])
    i, c, k, seed = SIZES[spec["size"]]
    return generate(i, c, k, seed)


def one(spec: dict) -> dict:
    """Build and solve one (instance, method); the row of the results table."""
    import models
    from planner.solve.highs import SolveOptions, solve_model

    inst = _instance(spec)
    t0 = time.perf_counter()
    m = models.build(inst)
    build_s = time.perf_counter() - t0
    trace: list[tuple[float, float | None, float | None]] = []
    best = [None, None]

    def progress(t, obj, bound):
        if obj is not None:
            best[0] = obj if best[0] is None else min(best[0], obj)
        if bound is not None:
            best[1] = bound if best[1] is None else max(best[1], bound)
        trace.append((t, best[0], best[1]))

    opts = SolveOptions(time_limit=spec["time_limit"], rel_gap=spec["gap"], seed=spec.get("highs_seed", 0),
                        **METHODS[spec["method"]])
    t1 = time.perf_counter()
    res = solve_model(m, opts, build_s=build_s, progress=progress)
    wall = time.perf_counter() - t1
    reached = {}
    for t, obj, bound in trace:
        for g in GAPS:
            if g not in reached and obj is not None and bound is not None and (obj - bound) <= g * abs(obj):
                reached[g] = t
    if res.status == "optimal":
        for g in GAPS:
            reached.setdefault(g, wall)
    return {**spec, "columns": m.nvariables(), "rows": m.nconstraints(), "build_s": build_s, "wall_s": wall,
            "handoff_s": res.handoff_s, "highs_s": res.solve_s,
            "start": res.start, "start_objective": res.start_objective, "start_s": res.start_s,
            "lagrangian_bound": res.lagrangian_bound, "lagrangian_s": res.lagrangian_s,
            "status": res.status, "objective": res.objective, "bound": res.bound, "gap": res.gap,
            "to": {str(g): reached.get(g) for g in GAPS},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "trace": trace[-200:]}


def _name(r: dict) -> str:
    if r["kind"] == "facility":
        return f"FL {r['sites']}x{r['customers']} r{r['ratio']:g} f{r['fixed']:g} s{r['seed']}"
    return f"generated {r['size']}"


def _f(v, d=1):
    return "-" if v is None else f"{v:.{d}f}"


def _g(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def render(rows: list[dict]) -> str:
    head = ("| instance | method | columns | heuristic s | start cost | Lagrangian s | Lagrangian bound | to 1% s | "
            "to 0.1% s | to 1e-4 s | status | objective | bound | final gap | wall s | peak RSS MB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        to = r["to"]
        gap = None if r["gap"] is None else 100 * r["gap"]
        lines.append(
            f"| {_name(r)} | `{r['method']}` | {r['columns']} | {_f(r['start_s'])} | {_g(r['start_objective'], '.6g')} | "
            f"{_f(r['lagrangian_s'])} | {_g(r['lagrangian_bound'], '.6g')} | {_f(to['0.01'])} | {_f(to['0.001'])} | "
            f"{_f(to['0.0001'])} | {r['status']} | {_g(r['objective'], '.7g')} | {_g(r['bound'], '.7g')} | "
            f"{_g(gap, '.3f')}% | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--ratio", type=float, default=10.0, help="total capacity / total demand")
    ap.add_argument("--fixed", type=float, default=1.0, help="fixed-cost multiplier")
    ap.add_argument("--seeds", default="0,1,2", help="facility-location instance seeds ('' for none)")
    ap.add_argument("--generated", default="", help="generated sizes of benchmarks/run.py, e.g. M,XL")
    ap.add_argument("--methods", default="highs,both")
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--gap", type=float, default=1e-4)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--render", action="store_true", help="no solving: tables from OUT/results.json")
    ap.add_argument("--readme", action="store_true", help="rewrite the table between the markers in benchmarks/README.md")
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(json.loads(a.one))))
        return
    a.out.mkdir(parents=True, exist_ok=True)
    store = a.out / "results.json"
    rows = json.loads(store.read_text()) if store.exists() else []
    if not a.render:
        specs = [dict(kind="facility", sites=a.sites, customers=a.customers, ratio=a.ratio, fixed=a.fixed, seed=int(s))
                 for s in a.seeds.split(",") if s.strip()]
        specs += [dict(kind="generated", size=s.strip()) for s in a.generated.split(",") if s.strip()]
        for spec in specs:
            for method in a.methods.split(","):
                job = {**spec, "method": method, "time_limit": a.time_limit, "gap": a.gap}
                out = subprocess.run([sys.executable, __file__, "--one", json.dumps(job)], capture_output=True,
                                     text=True, check=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                # The row's "gap" is the final gap, not the requested one: the run replaces its earlier
                # row of the same instance, method and time limit.
                fields = [k for k in job if k != "gap"]
                key = {k: row[k] for k in fields}
                rows = [r for r in rows if {k: r.get(k) for k in fields} != key] + [row]
                store.write_text(json.dumps(rows, indent=1))
                print(render([row]).splitlines()[-1], flush=True)
    table = render(rows)
    (a.out / "results.md").write_text(table + "\n")
    print(table)
    if a.readme:
        readme = ROOT / "benchmarks" / "README.md"
        text = readme.read_text()
        start, end = "<!-- large-benchmarks:start -->", "<!-- large-benchmarks:end -->"
        if start in text and end in text:
            pre, rest = text.split(start, 1)
            readme.write_text(pre + start + "\n" + table + "\n" + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    main()
