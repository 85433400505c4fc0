"""Golden KPIs of the shipped instances: a change in results must be deliberate.

Every case is solved to a relative gap of 0 (the instances are small), so the cost KPIs are
the unique optimum's on any HiGHS version and are compared to 1e-9.  Shares, HHI, subsidy
and N-1 coverage are compared only where every optimum has the same value (probed by
``tests/optimal_face.py`` on the installed HiGHS); elsewhere only what every optimum
shares is checked: the value is a fraction and the policy's caps hold.

A compared value that changed fails with a message naming the HiGHS version the golden file
was made with and the installed one.  After a reviewed change of results, rewrite the files
with ``FRIENDSHORE_GOLDEN_REASON='why' pytest tests/test_golden.py --update-golden``: the reason is
kept in the file's ``changes`` list.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from pathlib import Path

import pytest

from planner.analysis.cases import cost_only
from planner.analysis.compare import run_comparison
from planner.instance.io import load_instance
from planner.solve.highs import highs_version
from tests.optimal_face import EXACT, is_unique, kpi_group, unique_groups

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
# Single-period instances; the multi-period one (periods.csv) is checked in tests/test_periods.py.
INSTANCES = sorted(p.name for p in (ROOT / "instances").iterdir()
                   if (p / "instance.yaml").exists() and not (p / "periods.csv").exists())

OBJECTIVE_KPIS = ("total_cost", "premium_vs_baseline", "premium_vs_baseline_pct", "premium_vs_cost_only")
PLAN_KPIS = ("max_country_share", "hhi", "tier_share", "public_subsidy", "n1_coverage")
SOLVED = ("cost_only", "friendshored")
CASES = ("baseline",) + SOLVED


def _golden_run(name: str):
    """(KPIs key -> case -> value, uniqueness key -> case -> bool, instance) of one shipped instance."""
    inst = load_instance(ROOT / "instances" / name)
    cmp = run_comparison(inst, EXACT)
    for case, res in cmp.results.items():
        if res is not None:
            assert res.proven_optimal and res.gap <= 1e-6, f"{name}/{case}: {res.status}, gap {res.gap}"
    groups = {"cost_only": unique_groups(cost_only(inst))[1], "friendshored": unique_groups(inst)[1]}
    df = cmp.kpis()
    df = df[df["kpi"].isin(OBJECTIVE_KPIS + PLAN_KPIS)]
    values: dict[str, dict[str, float | None]] = {}
    unique: dict[str, dict[str, bool]] = {}
    for r in df.itertuples(index=False):
        key = f"{r.kpi}|{r.item}|{r.importer}|{r.group}"
        values[key] = {c: _clean(getattr(r, c)) for c in CASES if c in df.columns}
        group = kpi_group(key)
        # The baseline is today's fixed sourcing, evaluated, not optimised: always unique.
        unique[key] = {c: (group is None or c == "baseline" or is_unique(groups[c], group)) for c in values[key]}
    return values, unique, inst


def _clean(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _invariants(inst, key: str, case: str, value: float | None) -> list[str]:
    """What every optimum of ``case`` satisfies for a KPI whose value is not unique."""
    if value is None:
        return []
    kpi, item, importer, group = key.split("|")
    bad = []
    if kpi != "public_subsidy" and not -1e-9 <= value <= 1 + 1e-9 and kpi != "n1_coverage":
        bad.append(f"{key} [{case}] = {value} is not a fraction")
    if case != "friendshored" or item == "all":
        return bad
    pol = inst.policy.for_item(item)
    if kpi == "max_country_share" and pol.country_share_cap is not None and value > pol.country_share_cap + 1e-6:
        bad.append(f"{key} = {value} exceeds country_share_cap {pol.country_share_cap}")
    if kpi == "tier_share" and pol.tier_caps and group in pol.tier_caps and value > pol.tier_caps[group] + 1e-6:
        bad.append(f"{key} = {value} exceeds tier_caps.{group} {pol.tier_caps[group]}")
    if kpi == "tier_share" and group in inst.policy.exclude_tiers and value > 1e-6:
        bad.append(f"{key} = {value} from an excluded tier")
    return bad


@pytest.mark.parametrize("name", INSTANCES)
def test_golden_kpis(name, update_golden):
    values, unique, inst = _golden_run(name)
    path = GOLDEN / f"{name}.json"
    if update_golden:
        # A rewrite records why (FRIENDSHORE_GOLDEN_REASON), after the reasons of earlier rewrites.
        reason = os.environ.get("FRIENDSHORE_GOLDEN_REASON", "").strip()
        if not reason:
            pytest.fail("set FRIENDSHORE_GOLDEN_REASON to say why the golden KPIs change")
        old = json.loads(path.read_text()) if path.exists() else {}
        if values == old.get("kpis") and unique == old.get("unique"):
            pytest.skip(f"{path.name} unchanged")
        changes = old.get("changes", []) + [{"date": datetime.date.today().isoformat(), "reason": reason}]
        path.write_text(json.dumps({"highs_version": highs_version(), "kpis": values, "unique": unique,
                                    "changes": changes}, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"rewrote {path.name}")
    assert path.exists(), f"no golden file for {name}: run pytest --update-golden"
    golden = json.loads(path.read_text())
    versions = f"golden made with HiGHS {golden['highs_version']}, installed HiGHS {highs_version()}"
    problems = []
    for key, cases in golden["kpis"].items():
        if key not in values:
            problems.append(f"KPI {key} no longer reported")
            continue
        for case, want in cases.items():
            have = values[key].get(case)
            was_unique, now_unique = golden["unique"][key][case], unique[key][case]
            if was_unique != now_unique:
                problems.append(f"{key} [{case}]: unique at the optimum {was_unique} -> {now_unique}")
            elif not now_unique:
                problems += _invariants(inst, key, case, have)
            elif want is None or have is None:
                if want != have:
                    problems.append(f"{key} [{case}]: {want} -> {have}")
            else:
                rel = 1e-9 if kpi_group(key) is None else 1e-6  # costs at gap 0; shares from flows
                if have != pytest.approx(want, rel=rel, abs=1e-6):
                    problems.append(f"{key} [{case}]: {want!r} -> {have!r}")
    assert not problems, f"{name} ({versions}):\n  " + "\n  ".join(problems)


def test_invariants_catch_a_cap_violation():
    # The fallback check must be able to fail: a share above the instance-wide cap is reported.
    inst = load_instance(ROOT / "instances" / "critical-minerals-us-japan")
    cap = inst.policy.for_item("lithium").country_share_cap
    assert cap is not None
    assert _invariants(inst, "max_country_share|lithium|JP|all", "friendshored", cap + 0.01)
    assert not _invariants(inst, "max_country_share|lithium|JP|all", "friendshored", cap)
