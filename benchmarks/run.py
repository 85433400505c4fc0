"""Solver benchmarks: model size, build, hand-off and HiGHS time, time to gap, root bound, memory.

    python benchmarks/run.py                                  # S,M,L,XL, 3 HiGHS seeds, 300 s per solve
    python benchmarks/run.py --sizes S,M --seeds 3 --time-limit 120
    python benchmarks/run.py --formulations tight,naive --compare-sizes M,L
    python benchmarks/run.py --readme                         # also rewrite the tables in benchmarks/README.md

Each (size, formulation) runs in a fresh subprocess (so peak RSS is that size's own):
generate the instance (fixed seed per size), build the Pyomo model, hand it to HiGHS through
Pyomo's in-memory interface (``set_instance``: the hand-off), write that HiGHS model to MPS once,
then solve the MPS with highspy alone -- the floor -- once as an LP relaxation (root LP bound)
and once per HiGHS ``random_seed``, recording through a callback when the gap first reaches 1%
and 0.1%.  Times are medians over the seeds, because HiGHS time varies a lot with the seed.

Results go to benchmarks/results/ (results.json, results.md, scaling.png, scaling.svg).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

SIZES: dict[str, tuple[int, int, int, int]] = {
    # name: (items, countries, importers, instance seed); M is ~10k columns like solver-facts' medium model.
    "S": (10, 20, 3, 11),
    "M": (100, 150, 10, 12),
    "L": (160, 150, 16, 13),
    "XL": (250, 200, 20, 14),
}
GAPS = (0.01, 0.001)


SCENARIOS = 0  # --scenarios N: disruption scenarios in every generated size (planner.instance.generate)


# --------------------------------------------------------------------------- worker (one subprocess)
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


SCALE = True  # --no-scale: measure without the user scaling solve_model applies
EXTRA: dict[str, object] = {}  # --highs-option name=value: further HiGHS options of the floor solves


def _highs_from_mps(path: str, time_limit: float, seed: int, gap: float):
    import highspy

    from planner.solve.highs import user_scales

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(path)
    # The same user_bound_scale / user_objective_scale as planner.solve.highs.solve_model (0 with --no-scale).
    bs, os_ = user_scales(h) if SCALE else (0, 0)
    h.setOptionValue("user_bound_scale", bs)
    h.setOptionValue("user_objective_scale", os_)
    h.setOptionValue("threads", 1)
    for k, v in EXTRA.items():
        h.setOptionValue(k, v)
    h.setOptionValue("mip_rel_gap", gap)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("random_seed", int(seed))
    return h


def _solve_seed(path: str, time_limit: float, seed: int, gap: float) -> dict:
    """One floor solve; the callback notes the first time the gap is within each of GAPS."""
    h = _highs_from_mps(path, time_limit, seed, gap)
    lines: list[str] = []  # HiGHS' log, kept for its warnings (the MIP's own, not the LP relaxation's)
    h.setOptionValue("output_flag", True)
    h.setOptionValue("log_to_console", False)
    h.cbLogging.subscribe(lambda e: lines.append(e.message) if "WARN" in e.message else None)
    reached: dict[float, float] = {}
    first_bound: list[float] = []

    def on_event(e):
        d = e.data_out
        if not first_bound and math.isfinite(d.mip_dual_bound):
            first_bound.append(d.mip_dual_bound)
        for g in GAPS:
            if g not in reached and d.mip_gap <= g:
                reached[g] = d.running_time

    h.cbMipInterrupt.subscribe(on_event)
    h.cbMipImprovingSolution.subscribe(on_event)
    t0 = time.perf_counter()
    h.run()
    wall = time.perf_counter() - t0
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    mip_gap = info.mip_gap if math.isfinite(info.mip_gap) else None
    # HiGHS 1.15.1 returns the dual bound still user-scaled (see planner.solve.highs._unscaled_bound).
    k = h.getOptionValue("user_bound_scale")[1] + h.getOptionValue("user_objective_scale")[1]
    off = float(h.getLp().offset_)
    bound = (info.mip_dual_bound - off) / 2.0 ** k + off
    for g in GAPS:  # a run proven within g at the end reached it by then at the latest
        if g not in reached and mip_gap is not None and mip_gap <= g:
            reached[g] = h.getRunTime()
    return {
        "seed": seed, "status": status, "highs_s": h.getRunTime(), "wall_s": wall,
        "objective": info.objective_function_value if info.primal_solution_status else None,
        "bound": bound, "gap": mip_gap, "log_warnings": [w.strip() for w in "".join(lines).splitlines() if w.strip()], "nodes": info.mip_node_count,
        **{f"t_gap_{g:g}": reached.get(g) for g in GAPS},
    }


def _root_lp(path: str, time_limit: float) -> dict:
    """The LP relaxation (integrality dropped): the formulation's root LP bound, and HiGHS' log warnings."""
    h = _highs_from_mps(path, time_limit, 0, 1e-4)
    lines: list[str] = []
    h.setOptionValue("output_flag", True)
    h.setOptionValue("log_to_console", False)
    h.cbLogging.subscribe(lambda e: lines.append(e.message))
    h.setOptionValue("solve_relaxation", True)
    h.run()
    text = "".join(lines)
    # "Solution optimality conditions" flags the relaxed binaries' integrality, expected here.
    warn = [ln.strip() for ln in text.splitlines()
            if ("warning" in ln.lower() or "scal" in ln.lower()) and "optimality conditions" not in ln]
    # Informational lines about the user scaling applied are not warnings; "User scaled problem solved to
    # optimality, but unscaled solution does not satisfy ..." follows, in a relaxation, from the same
    # integrality violations.  The MIP solves record their own warnings (runs[*].log_warnings).
    warn = [w for w in warn if not w.startswith(("Assessing costs and bounds after applying",
                                                 "After solving the user-scaled model",
                                                 "WARNING: User scaled problem solved to optimality"))]
    ranges = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(("Matrix", "Cost", "Bound", "RHS"))]
    return {"root_lp": h.getInfo().objective_function_value, "lp_s": h.getRunTime(), "log_warnings": warn,
            "coefficient_ranges": ranges, "user_bound_scale": h.getOptionValue("user_bound_scale")[1],
            "user_objective_scale": h.getOptionValue("user_objective_scale")[1]}


def worker(size: str, formulation: str, seeds: int, time_limit: float, gap: float) -> dict:
    from pyomo.environ import Var

    import models
    from planner.instance.generate import generate
    from planner.solve.highs import make_solver

    items, countries, importers, iseed = SIZES[size]
    t0 = time.perf_counter()
    inst = generate(items, countries, importers, iseed, scenarios=SCENARIOS)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = models.build(inst, formulation)
    build_s = time.perf_counter() - t0
    opt = make_solver()
    t0 = time.perf_counter()
    opt.set_instance(m)  # what solve_model's opt.solve does before HiGHS runs
    handoff_s = time.perf_counter() - t0
    h = opt._solver_model  # the in-memory highspy model Pyomo built
    out = {
        "size": size, "formulation": formulation, "items": items, "countries": countries, "importers": importers,
        "instance_seed": iseed, "columns": h.getNumCol(), "rows": h.getNumRow(), "nonzeros": h.getNumNz(),
        "generate_s": gen_s, "build_s": build_s, "handoff_s": handoff_s, "rss_model_mb": _rss_mb(),
    }
    out["binaries"] = sum(1 for v in m.component_data_objects(Var) if v.is_binary())
    with tempfile.TemporaryDirectory() as tmp:
        mps = os.path.join(tmp, "model.mps")
        h.writeModel(mps)
        del opt, h, m  # the floor runs without Pyomo's copy in memory... except what Python keeps
        out.update(_root_lp(mps, time_limit))
        out["runs"] = [_solve_seed(mps, time_limit, s, gap) for s in range(seeds)]
    out["rss_peak_mb"] = _rss_mb()
    return out


def shipped(time_limit: float) -> list[dict]:
    """Build, hand-off and solve time of every shipped instance, through the product's own path."""
    import models
    from planner.instance.io import load_instance
    from planner.solve.highs import SolveOptions, make_solver, solve_model

    rows = []
    for folder in sorted(p for p in (ROOT / "instances").iterdir() if (p / "instance.yaml").exists()):
        inst = load_instance(folder)
        t0 = time.perf_counter()
        m = models.build(inst)
        build_s = time.perf_counter() - t0
        opt = make_solver()
        t0 = time.perf_counter()
        opt.set_instance(m)
        handoff_s = time.perf_counter() - t0
        h = opt._solver_model
        with tempfile.TemporaryDirectory() as tmp:  # HiGHS' log of the same model, for its warnings
            mps = os.path.join(tmp, "model.mps")
            h.writeModel(mps)
            lp = _root_lp(mps, time_limit)
            mip_warn = _solve_seed(mps, time_limit, 0, 1e-4)["log_warnings"]
        res = solve_model(m, SolveOptions(time_limit=time_limit, auto_scale=SCALE), solver=opt, build_s=build_s)
        rows.append({"instance": folder.name, "columns": h.getNumCol(), "rows": h.getNumRow(),
                     "nonzeros": h.getNumNz(), "build_s": build_s, "handoff_s": handoff_s,
                     "resolve_handoff_s": res.handoff_s, "highs_s": res.solve_s, "status": res.status,
                     "objective": res.objective, "user_bound_scale": res.user_bound_scale,
                     "user_objective_scale": res.user_objective_scale, "log_warnings": lp["log_warnings"] + mip_warn,
                     "coefficient_ranges": lp["coefficient_ranges"]})
    return rows


def shipped_table(rows: list[dict]) -> str:
    lines = ["| shipped instance | columns | rows | nonzeros | build s | hand-off s | HiGHS s | build + hand-off s "
             "| status | user scales (bound, objective) | HiGHS warnings |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['instance']} | {r['columns']} | {r['rows']} | {r['nonzeros']} | {r['build_s']:.3f} "
                     f"| {r['handoff_s']:.3f} | {r['highs_s']:.3f} | {r['build_s'] + r['handoff_s']:.3f} | {r['status']} "
                     f"| {r.get('user_bound_scale', '-')}, {r.get('user_objective_scale', '-')} "
                     f"| {len(r.get('log_warnings', [])) if 'log_warnings' in r else '-'} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- summary
def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(r: dict, time_limit: float) -> dict:
    runs = r["runs"]
    highs = _median([x["highs_s"] for x in runs])
    best = min((x["objective"] for x in runs if x["objective"] is not None), default=None)
    s = {
        "highs_s": highs,
        "overhead": (r["build_s"] + r["handoff_s"]) / highs if highs else None,
        "gap": _median([x["gap"] for x in runs]),
        "best": best,
        "root_gap": (best - r["root_lp"]) / abs(best) if best else None,
        "solved": sum(1 for x in runs if x["status"] == "Optimal"),
    }
    for g in GAPS:
        # A run that never reached g counts as "more than the time limit" (censored); the median
        # is then only a lower bound, shown with ">".
        ts = sorted(x[f"t_gap_{g:g}"] if x[f"t_gap_{g:g}"] is not None else math.inf for x in runs)
        s[f"t_gap_{g:g}"] = ts[(len(ts) - 1) // 2] if len(ts) % 2 else (ts[len(ts) // 2 - 1] + ts[len(ts) // 2]) / 2
    return s


def _fmt(x, nd=2, censor=None):
    if x is None:
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return f"> {censor:g}" if censor else "> limit"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def tables(results: list[dict], time_limit: float, seeds: int) -> str:
    default = results[0]["default_formulation"] if results else "tight"
    main = [r for r in results if r["formulation"] == default]
    scaled = any(r.get("user_bound_scale") or r.get("user_objective_scale") for r in results)
    lines = [
        f"HiGHS {results[0]['highs']}, pyomo {results[0]['pyomo']}, {seeds} HiGHS seed(s), "
        f"time limit {time_limit:g} s per solve, 1 thread, gap 1e-4; formulation `{default}`; "
        + ("HiGHS user scaling as chosen by `planner.solve.highs.user_scales` (column `scales`)." if scaled
           else "no HiGHS user scaling applied (none was needed, or --no-scale)."),
        "",
        "| size | items x countries x importers | columns | binaries | rows | nonzeros | build s | hand-off s "
        "| HiGHS s (median) | overhead | to 1% s | to 0.1% s | root LP gap | final gap | solved | peak RSS MB | scales |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in main:
        s = r["summary"]
        lines.append(
            f"| {r['size']} | {r['items']} x {r['countries']} x {r['importers']} | {r['columns']} | {r['binaries']} "
            f"| {r['rows']} | {r['nonzeros']} | {_fmt(r['build_s'])} | {_fmt(r['handoff_s'])} | {_fmt(s['highs_s'], 1)} "
            f"| {_fmt(s['overhead'], 3)} | {_fmt(s['t_gap_0.01'], 1, time_limit)} | {_fmt(s['t_gap_0.001'], 1, time_limit)} "
            f"| {_fmt(100 * s['root_gap'] if s['root_gap'] is not None else None, 2)}% "
            f"| {_fmt(100 * s['gap'] if s['gap'] is not None else None, 3)}% | {s['solved']}/{len(r['runs'])} "
            f"| {r['rss_peak_mb']:.0f} | {r.get('user_bound_scale', 0)}, {r.get('user_objective_scale', 0)} |"
        )
    by_size: dict[str, list[dict]] = {}
    for r in results:
        by_size.setdefault(r["size"], []).append(r)
    compared = {k: v for k, v in by_size.items() if len(v) > 1}
    if compared:
        lines += [
            "",
            "Formulation strength (same instance, same seeds; root LP gap = (best objective - LP relaxation) / best):",
            "",
            "| size | formulation | rows | nonzeros | root LP bound | root LP gap | HiGHS s (median) | to 1% s "
            "| to 0.1% s | speed-up to 0.1% vs naive | solved |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for size, rs in compared.items():
            naive = next((r for r in rs if r["formulation"] == "naive"), None)
            for r in rs:
                s = r["summary"]
                best = min(x["summary"]["best"] for x in rs if x["summary"]["best"] is not None)
                rg = (best - r["root_lp"]) / abs(best)
                sp = None
                if naive is not None and r is not naive:
                    a, b = naive["summary"]["t_gap_0.001"], s["t_gap_0.001"]
                    sp = f"{a / b:.2f}x" if math.isfinite(a) and math.isfinite(b) and b > 0 else (
                        f">= {time_limit / b:.2f}x" if math.isinf(a) and math.isfinite(b) else "-")
                lines.append(
                    f"| {size} | `{r['formulation']}` | {r['rows']} | {r['nonzeros']} | {r['root_lp']:.6g} "
                    f"| {100 * rg:.3f}% | {_fmt(s['highs_s'], 1)} | {_fmt(s['t_gap_0.01'], 1, time_limit)} "
                    f"| {_fmt(s['t_gap_0.001'], 1, time_limit)} | {sp or '-'} | {s['solved']}/{len(r['runs'])} |"
                )
    warns = sorted({w for r in results for w in r["log_warnings"]})
    lines += ["", "HiGHS log lines mentioning warnings or scaling (LP relaxation of every model): "
              + ("; ".join(f"`{w}`" for w in warns) if warns else "none.")]
    mip_warns = sorted({w for r in results for x in r["runs"] for w in x.get("log_warnings", [])})
    lines += ["", "HiGHS warnings in the MIP solves (every seed): "
              + ("; ".join(f"`{w}`" for w in mip_warns) if mip_warns else "none.")]
    return "\n".join(lines) + "\n"


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    default = results[0]["default_formulation"]
    rs = [r for r in results if r["formulation"] == default]
    cols = [r["columns"] for r in rs]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(cols, [r["build_s"] for r in rs], "o-", label="build (Pyomo)")
    a.plot(cols, [r["handoff_s"] for r in rs], "s-", label="hand-off (Pyomo -> HiGHS)")
    a.plot(cols, [r["summary"]["highs_s"] for r in rs], "^-", label="HiGHS (median)")
    t01 = [r["summary"]["t_gap_0.001"] for r in rs]
    a.plot([c for c, t in zip(cols, t01) if math.isfinite(t)], [t for t in t01 if math.isfinite(t)], "v--",
           label="to 0.1% gap (median)")
    a.set_xscale("log"), a.set_yscale("log"), a.set_xlabel("columns"), a.set_ylabel("seconds")
    a.set_title("time"), a.legend(fontsize=8), a.grid(True, which="both", alpha=0.3)
    b.plot(cols, [r["rss_model_mb"] for r in rs], "o-", label="after hand-off")
    b.plot(cols, [r["rss_peak_mb"] for r in rs], "s-", label="peak (with branch-and-bound)")
    b.set_xscale("log"), b.set_xlabel("columns"), b.set_ylabel("MB (max RSS)")
    b.set_title("memory"), b.legend(fontsize=8), b.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Friendshore scaling (formulation {default}, sizes {', '.join(r['size'] for r in rs)})")
    fig.tight_layout()
    fig.savefig(out / "scaling.png", dpi=120)
    fig.savefig(out / "scaling.svg")
    plt.close(fig)


def update_readme(block: str) -> None:
    """Replace the text between the benchmark markers of benchmarks/README.md (nothing else)."""
    start, end = "<!-- solver-benchmarks:start -->", "<!-- solver-benchmarks:end -->"
    path = HERE / "README.md"
    text = path.read_text()  # re-read right before writing: other sections are edited by others
    if start not in text or end not in text:
        raise SystemExit(f"{path}: markers {start} / {end} not found; add them to '## Solver benchmarks'")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + start + "\n" + block + end + tail)


def _option_value(v: str):
    """A HiGHS option value from the command line: int, float or string."""
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def main(argv=None) -> int:
    import models

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="S,M,L,XL", help="comma-separated sizes among " + ",".join(SIZES))
    ap.add_argument("--seeds", type=int, default=3, help="HiGHS random seeds per model (median reported)")
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per HiGHS solve")
    ap.add_argument("--gap", type=float, default=1e-4, help="relative MIP gap at which HiGHS stops")
    ap.add_argument("--formulations", default="naive,tight,capped,cover",
                    help="formulations compared (models.FORMULATIONS), on --compare-sizes only")
    ap.add_argument("--compare-sizes", default="M,L", help="sizes on which every formulation runs")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for results.json/.md and the plot")
    ap.add_argument("--readme", action="store_true", help="also rewrite the tables in benchmarks/README.md")
    ap.add_argument("--render", action="store_true",
                    help="only re-render tables, plot (and --readme) from --out/results.json, solving nothing")
    ap.add_argument("--no-scale", action="store_true",
                    help="solve without HiGHS user scaling (to measure what the scaling changes)")
    ap.add_argument("--highs-option", action="append", default=[], metavar="NAME=VALUE",
                    help="extra HiGHS option of the floor solves, e.g. mip_heuristic_effort=0.2 (repeatable)")
    ap.add_argument("--scenarios", type=int, default=0,
                    help="disruption scenarios added to every generated size (e.g. 150 on L); 0 = none")
    ap.add_argument("--worker", nargs=2, metavar=("SIZE", "FORMULATION"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    global SCALE, SCENARIOS
    SCALE = not a.no_scale
    SCENARIOS = max(a.scenarios, 0)
    for kv in a.highs_option:
        k, _, v = kv.partition("=")
        EXTRA[k] = _option_value(v)
    if a.worker:
        if a.worker[0] == "shipped":
            print(json.dumps(shipped(a.time_limit)))
        else:
            print(json.dumps(worker(a.worker[0], a.worker[1], a.seeds, a.time_limit, a.gap)))
        return 0

    if a.render:
        saved = json.loads((a.out / "results.json").read_text())
        results, ship_md = saved["generated"], shipped_table(saved["shipped"])
        meta = saved.get("options", {})
        md = tables(results, meta.get("time_limit", a.time_limit), meta.get("seeds", a.seeds)) + "\n" + ship_md
        (a.out / "results.md").write_text(md)
        plot(results, a.out)
        print(md)
        if a.readme:
            update_readme(md)
        return 0

    sizes = [s for s in a.sizes.split(",") if s]
    bad = [s for s in sizes if s not in SIZES]
    forms = [f for f in a.formulations.split(",") if f]
    bad += [f for f in forms if f not in models.FORMULATIONS]
    if bad:
        ap.error(f"unknown size or formulation: {', '.join(bad)}")
    default = models.DEFAULT_FORMULATION
    compare = set(a.compare_sizes.split(","))
    import pyomo

    from planner.solve.highs import highs_version

    a.out.mkdir(parents=True, exist_ok=True)

    def run_worker(what: str, form: str) -> object:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", what, form, "--seeds", str(a.seeds),
               "--time-limit", str(a.time_limit), "--gap", str(a.gap), "--scenarios", str(SCENARIOS)] + (
               ["--no-scale"] if a.no_scale else [])
        cmd += [x for kv in a.highs_option for x in ("--highs-option", kv)]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if p.returncode:
            print(p.stderr, file=sys.stderr)
            raise SystemExit(f"benchmark worker {what}/{form} failed")
        return json.loads(p.stdout.strip().splitlines()[-1])

    ship = run_worker("shipped", default)
    ship_md = shipped_table(ship)
    print(ship_md, flush=True)
    results = []
    for size in sizes:
        for f in ([default] + [f for f in forms if f != default]) if size in compare else [default]:
            t0 = time.perf_counter()
            r = run_worker(size, f)
            r.update(highs=highs_version(), pyomo=pyomo.__version__, default_formulation=default,
                     summary=summarise(r, a.time_limit))
            results.append(r)
            s = r["summary"]
            print(f"{size:>2} {f:<13} cols={r['columns']:>6} rows={r['rows']:>6} nnz={r['nonzeros']:>7} "
                  f"build={r['build_s']:.2f}s handoff={r['handoff_s']:.2f}s highs(med)={s['highs_s']:.1f}s "
                  f"t1%={s['t_gap_0.01']:.1f} t0.1%={s['t_gap_0.001']:.1f} rootLP={r['root_lp']:.6g} "
                  f"gap={s['gap']} rss={r['rss_peak_mb']:.0f}MB ({time.perf_counter() - t0:.0f}s)", flush=True)
            (a.out / "results.json").write_text(json.dumps(
                {"options": {"time_limit": a.time_limit, "seeds": a.seeds, "gap": a.gap, "scale": SCALE,
                             "highs_options": EXTRA},
                 "shipped": ship, "generated": results}, indent=1))
    md = tables(results, a.time_limit, a.seeds) + "\n" + ship_md
    (a.out / "results.md").write_text(md)
    plot(results, a.out)
    print()
    print(md)
    if a.readme:
        update_readme(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
