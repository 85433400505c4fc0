"""Study throughput: persistent re-solve against a rebuild for every run, and 1 against 2 workers.

A 100-run grid on the shipped realistic instance (critical-minerals-us-japan):
Japan's subsidy rate (10 values, 0 to 0.5) x the concern-tier cap (10 values,
0.2 to 0.65).  Every run changes only mutable Params, so a persistent worker
builds its model once and re-solves it with the previous solution offered as a
MIP start.  Prints one table: wall time of the study, the per-run solve step
(build or Param update, hand-off, HiGHS), how often the start was accepted,
and the largest objective difference from the rebuild runs.

    python benchmarks/study_resolve.py            # all configurations (a few minutes on 2 cores)
    python benchmarks/study_resolve.py --quick    # 20 runs, to check the script

Run folders are off (``tables=False``: each run still computes its KPIs and
row) so the table compares solving, not CSV writing; one configuration with
run folders on shows what they add.  Timings on a shared machine vary: quote
the medians of several invocations, not one.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.study.core import run_study  # noqa: E402
from planner.study.plan import load_study  # noqa: E402

BASE = ROOT / "instances" / "critical-minerals-us-japan"


def study_file(folder: Path, n: int, cap_order: str) -> Path:
    caps = [round(0.2 + 0.05 * k, 4) for k in range(n)]
    rates = [round(0.5 * k / (n - 1), 6) for k in range(n)]
    if cap_order == "tightening":
        caps = caps[::-1]
    spec = {
        "name": f"bench-{n * n}-{cap_order}",
        "base": str(BASE),
        "compare": False,
        "solver": {"time_limit": 60, "rel_gap": 1e-4},
        "grids": {"g": {"axes": {"programmes.jp_minerals.rate": rates, "policy.tier_caps.concern": caps}}},
    }
    path = folder / f"study-{cap_order}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def measure(path: Path, out: Path, *, persistent: bool, workers: int, tables: bool) -> dict:
    study = load_study(path)
    t0 = time.perf_counter()
    rep = run_study(study, out, workers=workers, persistent=persistent, tables=tables, plots=False, progress=False)
    wall = time.perf_counter() - t0
    t = rep.table
    for c in ("build_s", "update_s", "handoff_s", "highs_s", "reused", "warm_start"):
        if c not in t:
            t[c] = float("nan") if c.endswith("_s") else None
    if rep.failed:
        reasons = pd.Series([f["reason"][:120] for f in rep.failed]).value_counts()
        print(f"  {len(rep.failed)} failed runs:\n{reasons.to_string()}", file=sys.stderr)
    step = t["build_s"].fillna(0) + t["update_s"].fillna(0) + t["handoff_s"].fillna(0) + t["highs_s"].fillna(0)
    return {
        "runs": len(t), "failed": len(rep.failed), "wall": wall,
        "step_sum": float(step.sum()), "step_median": float(step.median()),
        "build_or_update": float((t["build_s"].fillna(0) + t["update_s"].fillna(0)).sum()),
        "handoff": float(t["handoff_s"].fillna(0).sum()), "highs": float(t["highs_s"].fillna(0).sum()),
        "reused": int(t["reused"].fillna(False).astype(bool).sum()),
        "warm_used": int((t["warm_start"] == "used").sum()), "warm_offered": int(t["warm_start"].isin(["used", "rejected"]).sum()),
        "objective": dict(zip(t["run_id"], t["objective"])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 4x4 grid instead of 10x10")
    ap.add_argument("--configs", default="1,2,3,4,5,6",
                    help="which configurations to run, by position (e.g. 2,5: persistent on 1 and on 2 workers)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    n = 4 if args.quick else 10
    configs = [
        ("rebuild every run", dict(persistent=False, workers=1, tables=False), "loosening"),
        ("persistent re-solve", dict(persistent=True, workers=1, tables=False), "loosening"),
        ("persistent, caps tightening", dict(persistent=True, workers=1, tables=False), "tightening"),
        ("rebuild, 2 workers (Dask)", dict(persistent=False, workers=2, tables=False), "loosening"),
        ("persistent, 2 workers (Dask)", dict(persistent=True, workers=2, tables=False), "loosening"),
        ("persistent + run folders", dict(persistent=True, workers=1, tables=True), "loosening"),
    ]
    configs = [c for k, c in enumerate(configs, 1) if str(k) in args.configs.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        paths = {o: study_file(d, n, o) for o in ("loosening", "tightening")}
        for k, (name, kw, order) in enumerate(configs):
            print(f"running: {name} ...", file=sys.stderr, flush=True)
            rows.append((name, measure(paths[order], d / f"out{k}", **kw)))
    ref = rows[0][1]["objective"]  # the first configuration run is the reference
    print()
    print(f"{len(ref)}-run grid on {BASE.name} (rate x concern cap); times in seconds")
    head = ("configuration", "runs", "failed", "wall", "solve step sum (vs first line)", "step median", "build/update",
            "hand-off", "HiGHS", "re-solved", "start accepted", "max |dobj|/obj")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    base_step = rows[0][1]["step_sum"]
    for name, r in rows:
        # Run ids come from the parameters, so the same grid point has the same id in every configuration.
        diff = max((abs(v - ref[k]) / abs(ref[k]) for k, v in r["objective"].items() if v == v and ref.get(k) == ref.get(k)),
                   default=float("nan"))
        print(f"| {name} | {r['runs']} | {r['failed']} | {r['wall']:.1f} | {r['step_sum']:.2f} "
              f"({base_step / r['step_sum']:.1f}x) | {r['step_median']:.3f} | {r['build_or_update']:.2f} | "
              f"{r['handoff']:.2f} | {r['highs']:.2f} | {r['reused']} | {r['warm_used']}/{r['warm_offered']} | {diff:.1e} |")
    walls = {name: r["wall"] for name, r in rows}
    steps = {name: r["step_sum"] for name, r in rows}
    print()
    if {"rebuild every run", "persistent re-solve"} <= set(walls):
        print(f"persistent vs rebuild, 1 worker: study wall {walls['rebuild every run'] / walls['persistent re-solve']:.2f}x, "
              f"solve step {steps['rebuild every run'] / steps['persistent re-solve']:.2f}x")
    if {"persistent re-solve", "persistent, 2 workers (Dask)"} <= set(walls):
        print(f"2 workers vs 1 (persistent): study wall "
              f"{walls['persistent re-solve'] / walls['persistent, 2 workers (Dask)']:.2f}x")


if __name__ == "__main__":
    main()
