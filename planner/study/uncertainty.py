"""Monte Carlo over the instance's uncertain inputs (ranges.csv): quasi-random samples from
``scipy.stats.qmc`` (Latin hypercube or scrambled Sobol, seeded, so a study gives the same samples
every time), each mapped through its range's distribution; the ranges of one correlation group
share one coordinate, so they move together. Each sample is one study run (kind ``sample``) that
re-optimises the plan; :func:`summary` and :func:`choices` read the finished runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from planner.instance.schema import Range

Z90 = 1.6448536269514722
"""A normal or lognormal range puts [low, high] at its 5th and 95th percentiles (then truncates there)."""
SUMMARY_KPIS = ("total_cost", "total_cost_with_public", "premium_vs_baseline_pct", "premium_vs_cost_only_pct",
                "premium_vs_baseline_with_public_pct", "public_subsidy", "max_country_share",
                "plan_holds", "plan_cost", "plan_regret")
"""plan_*: the central plan held fixed in each sample; the mean of plan_holds is the probability it
still meets every cap, floor and budget; plan_cost and plan_regret over the samples where it does."""


def key_of(r: Range) -> str:
    """The override key of a range's cell (as ``--set`` names it)."""
    return f"{r.table}.{r.row}.{r.column}"


def chosen(ranges: tuple[Range, ...], wanted: list[str] | None) -> list[Range]:
    """The ranges a study samples: those named (override keys), or all; unknown names are left out
    (the study file's check reports them)."""
    known = {key_of(r): r for r in ranges}
    return [known[k] for k in (wanted if wanted is not None else known) if k in known]


def sampled(study) -> list[Range]:
    """The ranges a loaded study samples, in the order its design uses."""
    return chosen(study.base.ranges, study.spec.uncertainty.ranges)


def value_at(r: Range, u: np.ndarray) -> np.ndarray:
    """Values of range ``r`` at uniform coordinates ``u`` in [0, 1)."""
    from scipy import stats

    lo, mid, hi = r.low, r.central, r.high
    if r.distribution == "uniform":
        return lo + u * (hi - lo)
    if r.distribution == "triangular":
        return stats.triang(c=(mid - lo) / (hi - lo), loc=lo, scale=hi - lo).ppf(u)
    if r.distribution == "normal":
        sd = (hi - lo) / (2 * Z90)
        return stats.truncnorm((lo - mid) / sd, (hi - mid) / sd, loc=mid, scale=sd).ppf(u)
    # lognormal: normal in log space around log(central), truncated to [log low, log high]
    a, m, b = np.log(lo), np.log(mid), np.log(hi)
    sd = (b - a) / (2 * Z90)
    return np.exp(stats.truncnorm((a - m) / sd, (b - m) / sd, loc=m, scale=sd).ppf(u))


def coordinates(ranges: list[Range]) -> list[str]:
    """One coordinate per correlation group, and one per range without a group, in file order."""
    out: list[str] = []
    for r in ranges:
        c = f"group:{r.group}" if r.group else key_of(r)
        if c not in out:
            out.append(c)
    return out


def problem(ranges: list[Range]) -> dict:
    """The SALib problem over the coordinates: each uniform on [0, 1] (distributions are applied after)."""
    coords = coordinates(ranges)
    return {"num_vars": len(coords), "names": coords, "bounds": [[0.0, 1.0]] * len(coords)}


def draw(ranges: list[Range], n: int, method: str, seed: int) -> list[dict[str, float]]:
    """Samples {override key: value}; the same arguments give the same samples. ``lhs`` and ``sobol``
    give ``n``; ``saltelli`` gives SALib's Sobol-sensitivity design, n x (coordinates + 2) samples."""
    from scipy.stats import qmc

    coords = coordinates(ranges)
    d = len(coords)
    if method == "saltelli":
        from SALib.sample import sobol as saltelli

        u = saltelli.sample(problem(ranges), n, calc_second_order=False, seed=seed)
        u = np.clip(u, 0.0, np.nextafter(1.0, 0.0))  # ppf(1) of an unbounded shape would be infinite
    else:
        sampler = qmc.LatinHypercube(d=d, seed=seed) if method == "lhs" else qmc.Sobol(d=d, scramble=True, seed=seed)
        u = sampler.random(n)
    n = len(u)
    col = {c: k for k, c in enumerate(coords)}
    values = {key_of(r): value_at(r, u[:, col[f"group:{r.group}" if r.group else key_of(r)]]) for r in ranges}
    return [{k: float(v[i]) for k, v in values.items()} for i in range(n)]


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per KPI over the solved samples: n, mean, standard deviation, 5th, 50th and 95th percentiles."""
    from planner.results.schema import columns

    s = table[(table["kind"] == "sample") & table["status"].isin(["optimal", "feasible"])]
    rows = []
    kpis = [c for c in table.columns if c in SUMMARY_KPIS or c.startswith("max_tier_share_")]
    for k in kpis:
        v = pd.to_numeric(s[k], errors="coerce").dropna()
        if not len(v):
            continue
        rows.append({"kpi": k, "samples": len(v), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1
                     else 0.0, "p05": float(v.quantile(0.05)), "p50": float(v.quantile(0.5)),
                     "p95": float(v.quantile(0.95)), "failed": int((table["kind"] == "sample").sum() - len(s))})
    return pd.DataFrame(rows, columns=columns("uncertainty"))


def choices(out: Path, table: pd.DataFrame) -> pd.DataFrame:
    """How stable the re-optimised plan is: per build option and supplier, the share of solved
    samples whose friendshored plan builds or qualifies it (read from each run's own tables)."""
    from planner.results.schema import columns

    s = table[(table["kind"] == "sample") & table["status"].isin(["optimal", "feasible"])]
    built: dict[tuple[str, str], int] = {}
    n = 0
    for run_id in s["run_id"]:
        folder = out / "runs" / run_id
        inv, sup = folder / "investments.csv", folder / "suppliers.csv"
        if not sup.is_file():
            continue
        n += 1
        if inv.is_file():
            i = pd.read_csv(inv)
            i = i[i["case"] == "friendshored"]
            for o in i["option"]:
                built.setdefault(("option", o), 0)
            for o in i.loc[i["built"].astype(str) == "True", "option"]:
                built[("option", o)] += 1
        p = pd.read_csv(sup)
        p = p[p["case"] == "friendshored"]
        for k in (p["item"] + ":" + p["country"]):
            built.setdefault(("supplier", k), 0)
        for k in (p.loc[p["qualified"].astype(str) == "True", "item"] + ":" +
                  p.loc[p["qualified"].astype(str) == "True", "country"]):
            built[("supplier", k)] += 1
    rows = [{"kind": k, "id": i, "samples": n, "share": c / n if n else float("nan")}
            for (k, i), c in sorted(built.items())]
    return pd.DataFrame(rows, columns=columns("uncertainty_choices"))


def plot(table: pd.DataFrame, folder: Path) -> list[Path]:
    """Histograms of the premium and of the largest share of each tier over the solved samples."""
    from planner.study.frontier import _figure, _save

    s = table[(table["kind"] == "sample") & table["status"].isin(["optimal", "feasible"])]
    if not len(s):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    cols = [c for c in ("premium_vs_cost_only_pct", "premium_vs_baseline_pct") if c in s and s[c].notna().any()][:1]
    cols += [c for c in s.columns if c.startswith("max_tier_share_") and s[c].notna().any()]
    out: list[Path] = []
    for c in cols:
        v = pd.to_numeric(s[c], errors="coerce").dropna()
        if v.max() - v.min() <= 1e-9 * max(1.0, abs(v.mean())):
            continue  # the same in every sample (e.g. a binding cap): the summary says so, no histogram
        fig, ax = _figure(6.0, 3.6)
        ax.hist(v, bins=min(30, max(5, len(v) // 5)), color="tab:blue", alpha=0.8)
        for q, style in ((0.05, ":"), (0.5, "-"), (0.95, ":")):
            ax.axvline(v.quantile(q), color="tab:red", linestyle=style, linewidth=1)
        ax.set_xlabel(c + ("  (planner's cost, net of subsidy)" if c.startswith("premium") else ""))
        ax.set_ylabel("samples")
        ax.set_title(f"uncertainty: {c} over {len(v)} samples (red: 5th, 50th, 95th percentile)", fontsize=9)
        out += _save(fig, folder, f"uncertainty_{c}")
    return out


SENSITIVITY_KPIS = ("premium_vs_cost_only_pct", "premium_vs_baseline_pct", "total_cost", "max_tier_share_")
"""What the sensitivity indices explain: the premium, the cost, and each tier's largest share."""


def sensitivity(ranges: list[Range], table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Sobol first-order and total indices, with 95 % confidence intervals (SALib), of each KPI to each
    coordinate (a range, or a correlation group), from the runs of a ``saltelli`` design in their order.
    A KPI with a failed or missing sample gets no indices (the design needs every point)."""
    from SALib.analyze import sobol as sobol_analyze

    from planner.results.schema import columns

    s = table[table["kind"] == "sample"].sort_values("index")
    prob = problem(ranges)
    rows = []
    ok = s["status"].isin(["optimal", "feasible"]).all()
    kpis = [c for c in s.columns if any(c == k or (k.endswith("_") and c.startswith(k)) for k in SENSITIVITY_KPIS)]
    for k in kpis:
        y = pd.to_numeric(s[k], errors="coerce").to_numpy(dtype=float)
        if not ok or np.isnan(y).any() or len(y) % (prob["num_vars"] + 2):
            continue
        if np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
            continue  # the same in every sample: nothing to apportion
        res = sobol_analyze.analyze(prob, y, calc_second_order=False, seed=seed)
        for j, name in enumerate(prob["names"]):
            rows.append({"kpi": k, "input": name, "s1": float(res["S1"][j]), "s1_conf": float(res["S1_conf"][j]),
                         "st": float(res["ST"][j]), "st_conf": float(res["ST_conf"][j])})
    return pd.DataFrame(rows, columns=columns("sensitivity"))


def tornado(sens: pd.DataFrame, folder: Path) -> list[Path]:
    """Per KPI, the total and first-order indices of each input, largest first, with their intervals."""
    from planner.study.frontier import _figure, _safe, _save

    out: list[Path] = []
    folder.mkdir(parents=True, exist_ok=True)
    for k, g in sens.groupby("kpi", sort=False):
        g = g.sort_values("st")
        fig, ax = _figure(7.0, max(2.5, 0.35 * len(g) + 1.2))
        y = np.arange(len(g))
        ax.barh(y + 0.2, g["st"], height=0.4, xerr=g["st_conf"], color="tab:blue", label="total (ST)")
        ax.barh(y - 0.2, g["s1"], height=0.4, xerr=g["s1_conf"], color="tab:orange", label="first order (S1)")
        ax.set_yticks(y, g["input"], fontsize=7)
        ax.set_xlabel("Sobol index (share of the variance; bars: 95 % interval)")
        ax.set_title(f"what drives {k}", fontsize=10)
        ax.legend(fontsize=7)
        out += _save(fig, folder, f"sensitivity_{_safe(k)}")
    return out
