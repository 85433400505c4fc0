"""Golden KPIs of the shipped instances: a change in results must be deliberate.

Run ``pytest tests/test_golden.py --update-golden`` to rewrite the files after a
reviewed change; each file records the HiGHS version it was made with, and a
different HiGHS version fails with a message saying so (tie-breaking among
alternative optima may differ, so shares are only compared at the same version).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from planner.compare import run_comparison
from planner.io import load_instance
from planner.solve import SolveOptions, highs_version

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
INSTANCES = sorted(p.name for p in (ROOT / "instances").iterdir() if (p / "instance.yaml").exists())

# Objective-valued KPIs are unique at the optimum; shares and HHI may differ
# between alternative optima, so they are compared only at the same HiGHS version.
UNIQUE = ("total_cost", "premium_vs_baseline", "premium_vs_baseline_pct", "premium_vs_cost_only")
TRACKED = UNIQUE + ("max_country_share", "public_subsidy", "n1_coverage")


def _kpis(name: str) -> dict[str, dict[str, float]]:
    inst = load_instance(ROOT / "instances" / name)
    cmp = run_comparison(inst, SolveOptions(time_limit=120))
    for case, res in cmp.results.items():
        if res is not None:
            assert res.proven_optimal, f"{name}/{case}: {res.status}"
    df = cmp.kpis()
    df = df[df["kpi"].isin(TRACKED)]
    out: dict[str, dict[str, float]] = {}
    for r in df.itertuples(index=False):
        key = f"{r.kpi}|{r.item}|{r.importer}|{r.group}"
        out[key] = {c: getattr(r, c) for c in ("baseline", "cost_only", "friendshored") if c in df.columns}
    return out


@pytest.mark.parametrize("name", INSTANCES)
def test_golden_kpis(name, update_golden):
    got = _kpis(name)
    path = GOLDEN / f"{name}.json"
    if update_golden:
        clean = {k: {c: (None if v != v else v) for c, v in d.items()} for k, d in got.items()}
        path.write_text(json.dumps({"highs_version": highs_version(), "kpis": clean}, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"rewrote {path.name}")
    assert path.exists(), f"no golden file for {name}: run pytest --update-golden"
    golden = json.loads(path.read_text())
    same_version = golden["highs_version"] == highs_version()
    for key, cases in golden["kpis"].items():
        if not same_version and key.split("|")[0] not in UNIQUE:
            continue
        assert key in got, f"{name}: KPI {key} no longer reported"
        for case, want in cases.items():
            have = got[key].get(case)
            if want is None:
                assert have is None or math.isnan(have), f"{name}: {key} [{case}] now {have}"
            else:
                assert have == pytest.approx(want, rel=1e-6, abs=1e-6), f"{name}: {key} [{case}]"
