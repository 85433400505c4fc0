"""What an analyst waits for on each command, beside the HiGHS floor.

For every shipped instance: `friendshore validate` and `friendshore solve --out` end to end (fresh
processes, median of --repeat runs), the interpreter with Friendshore's CLI imported, and, measured
in one process, reading and checking, model builds, HiGHS, tables and KPIs, and writing. Targets
(issue 14, on a 2-core machine): validate <= 1 s and solve (three cases, stress, tables) <= 1.5 s.

    python benchmarks/startup.py [--repeat 5] [--instances transport,critical-minerals-us-japan]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"validate": 1.0, "solve": 1.5}


def _wall(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, cwd=tempfile.gettempdir())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _inside(path: Path) -> dict[str, float]:
    """Seconds of each step of `solve --out`, in this process (imports already paid)."""
    from planner.analysis.compare import run_comparison
    from planner.analysis.run import result_tables, run_record
    from planner.results.export import write_outputs
    from planner.instance.io import files_hash, instance_hash, load_instance
    from planner.solve.highs import SolveOptions

    t0 = time.perf_counter()
    inst = load_instance(path)
    t1 = time.perf_counter()
    cmp = run_comparison(inst, SolveOptions())
    t2 = time.perf_counter()
    tables = result_tables(cmp)
    t3 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rec = run_record(cmp, instance_path=str(path), files_hash=files_hash(path), instance_hash=instance_hash(inst),
                         overrides={}, variant=None, options=SolveOptions(), started=time.time())
        write_outputs(Path(tmp) / "out", tables, rec, ("csv",))
    t4 = time.perf_counter()
    solved = [r for r in cmp.results.values() if r is not None]
    return {"read": t1 - t0, "build": sum(r.build_s for r in solved), "handoff": sum(r.handoff_s for r in solved),
            "highs": sum(r.solve_s for r in solved), "cases": t2 - t1, "tables": t3 - t2, "write": t4 - t3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--instances", default="")
    args = ap.parse_args()
    names = [n for n in args.instances.split(",") if n] or sorted(p.name for p in (ROOT / "instances").iterdir()
                                                                    if (p / "instance.yaml").exists())
    exe = [sys.executable, "-m", "planner"]
    start = _wall([sys.executable, "-c", "import planner.cli.app"], args.repeat)
    print(f"start-up (python + the CLI's imports): {start:.2f} s, median of {args.repeat}\n")
    print("| instance | validate s | solve s | read s | build s | hand-off s | HiGHS s (floor) | cases s "
          "(solves + stress) | tables s | write s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    worst = {"validate": 0.0, "solve": 0.0}
    for name in names:
        path = ROOT / "instances" / name
        v = _wall(exe + ["validate", str(path)], args.repeat)
        with tempfile.TemporaryDirectory() as tmp:
            s = _wall(exe + ["solve", str(path), "--out", str(Path(tmp) / "o")], args.repeat)
        inside = _inside(path)
        worst = {"validate": max(worst["validate"], v), "solve": max(worst["solve"], s)}
        print(f"| {name} | {v:.2f} | {s:.2f} | {inside['read']:.2f} | {inside['build']:.3f} | "
              f"{inside['handoff']:.3f} | {inside['highs']:.3f} | {inside['cases']:.2f} | {inside['tables']:.2f} | "
              f"{inside['write']:.2f} |")
    print()
    for cmd, target in TARGETS.items():
        print(f"{cmd}: worst {worst[cmd]:.2f} s against the target {target:.1f} s: "
              f"{'met' if worst[cmd] <= target else 'NOT met'}")


if __name__ == "__main__":
    main()
