"""Explanations: marginal prices against finite differences, entry prices against hand calculations.

Instance (one importer JP, 100 t of NdPr oxide): CN at 10/t (concern tier), AU at 20/t with 40 t,
US at 30/t, KR at 35/t (qualification 2), all lanes free; concern-tier cap 0.5.
Optimum: CN 50, AU 40 (full), US 10 -> 500 + 800 + 300 = 1600.
  - the concern cap one point tighter moves 1 t from CN (10) to US (30): +20 per point;
  - 1 t more AU capacity moves 1 t from US (30) to AU (20): saves 10;
  - one more t of demand comes from US: costs 30.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from planner.analysis.cases import solve_model_case
from planner.analysis.explain import explain
from planner.instance.io import load_instance
from planner.solve.highs import SolveOptions

EXACT = SolveOptions(rel_gap=0.0)
YAML = "name: explain\ncurrency: USD\ntiers: [ally, concern]\npolicy:\n  tier_caps: {{concern: {cap}}}\n"
TABLES = {
    "countries": "code,name,tier\nJP,Japan,ally\nAU,Australia,ally\nUS,United States,ally\nKR,Korea,ally\n"
                 "CN,China,concern\n",
    "items": "id,name,unit\nndpr,NdPr oxide,t\n",
    "lanes": "origin,importer,transport_cost,tariff_rate\nCN,JP,0,0\nAU,JP,0,0\nUS,JP,0,0\nKR,JP,0,0\n",
    "demand": "importer,item,quantity\nJP,ndpr,100\n",
}


def supply(au: float = 40) -> str:
    return ("item,country,capacity,unit_cost,qualification_cost,min_order\n"
            f"ndpr,CN,1000,10,0,0\nndpr,AU,{au},20,0,0\nndpr,US,1000,30,0,0\nndpr,KR,1000,35,2,0\n")


def instance(tmp: Path, cap: float = 0.5, au: float = 40, investments: str | None = None):
    folder = tmp / f"i-{cap}-{au}-{investments is not None}"
    folder.mkdir(parents=True)
    (folder / "instance.yaml").write_text(YAML.format(cap=cap))
    tables = {**TABLES, "supply": supply(au)}
    if investments:
        tables["investments"] = investments
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text)
    return load_instance(folder)


def solved(inst):
    res, s, m = solve_model_case(inst, "friendshored", EXACT)
    assert res.proven_optimal
    return res, s, m


def test_prices_match_the_hand_calculation_and_finite_differences(tmp_path):
    inst = instance(tmp_path)
    res, s, m = solved(inst)
    assert res.objective == pytest.approx(1600)
    b = explain(inst, m, res, s, EXACT, top=0).binding
    row = b[b["family"] == "Tier_Share_Cap"].iloc[0]
    assert row["price"] == pytest.approx(20)  # one point tighter: 1 t from CN to US
    cap_au = b[(b["family"] == "Capacity_Limit") & (b["country"] == "AU")].iloc[0]
    assert cap_au["price"] == pytest.approx(-10)  # 1 t more AU capacity saves 10
    dem = b[b["family"] == "Demand_Balance"].iloc[0]
    assert dem["price"] == pytest.approx(30)
    # Finite differences on fresh solves, where the qualifications stay as they are.
    eps = 1e-3
    up, _, _ = solved(instance(tmp_path, cap=0.5 + eps))
    assert (up.objective - res.objective) / eps == pytest.approx(-row["price"] / 0.01, abs=1e-6)
    more, _, _ = solved(instance(tmp_path, au=40 + eps))
    assert (more.objective - res.objective) / eps == pytest.approx(cap_au["price"], abs=1e-6)
    # Explaining leaves the plan loaded: the model's objective is still the plan's.
    from pyomo.environ import Objective, value
    assert value(next(m.component_data_objects(Objective, active=True))) == pytest.approx(1600)


def test_entry_prices_equal_the_hand_computed_cost_differences(tmp_path):
    # KR forced to ship 1 % of demand (1 t) displaces 1 t from US: 35 - 30 + qualification 2 = 7.
    # Building au_exp (+100 t at AU, capex 1000 a year) moves US's 10 t to AU: 1000 - 10 x 10 = 900.
    inst = instance(tmp_path, investments="option,item,country,capacity,capex\nau_exp,ndpr,AU,100,1000\n")
    res, s, m = solved(inst)
    e = explain(inst, m, res, s, EXACT, top=2).entry.set_index(["kind", "country"])
    assert e.loc[("supplier", "KR"), "cost_change"] == pytest.approx(7)
    assert e.loc[("supplier", "KR"), "shipped"] == pytest.approx(1)
    assert e.loc[("option", "AU"), "cost_change"] == pytest.approx(900)
    assert "KR" in e.loc[("supplier", "KR"), "sentence"]


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["semiconductors-chip4", "critical-minerals-us-japan", "batteries-japan-2035"])
def test_the_cost_with_public_money_is_the_net_cost_plus_the_grants(name):
    # Single-period: total_cost_with_public = total_cost + public_subsidy (grants a year), and each
    # premium on that basis is the difference of those totals. Multi-period: the grants' present value.
    from planner.analysis.compare import run_comparison

    inst = load_instance(ROOT / "instances" / name)
    k = run_comparison(inst, SolveOptions(rel_gap=1e-6)).kpis()
    if "period" in k.columns:
        k = k[k["period"] == "all"]
    v = k[(k["item"] == "all") & (k["group"] == "all")].set_index("kpi")
    for case in ("baseline", "cost_only", "friendshored"):
        grants = -v.loc["cost_subsidy", case] if inst.periods else v.loc["public_subsidy", case]
        if grants != grants:  # the baseline has no subsidy row
            grants = 0.0
        assert v.loc["total_cost_with_public", case] == pytest.approx(v.loc["total_cost", case] + grants, rel=1e-12)
    fs = "friendshored"
    assert v.loc["premium_vs_baseline_with_public", fs] == pytest.approx(
        v.loc["total_cost_with_public", fs] - v.loc["total_cost_with_public", "baseline"], rel=1e-9)
    if name == "semiconductors-chip4":  # Japan's one-third grant: public money makes the plan dearer
        assert v.loc["public_subsidy", fs] > 0
        assert v.loc["premium_vs_cost_only_with_public", fs] > v.loc["premium_vs_cost_only", fs]


def test_diff_of_two_runs_differing_in_one_cap_shows_exactly_the_changed_rows(tmp_path):
    # Cap 0.5 -> 0.4: CN ships 40 instead of 50 and US 20 instead of 10 (AU stays full at 40);
    # purchase 1600 -> 1800. Nothing else in sourcing, suppliers or costs changes.
    import subprocess
    import sys

    runs = []
    for cap in (0.5, 0.4):
        instance(tmp_path, cap=cap)  # writes the folder
        folder = tmp_path / f"i-{cap}-40-False"
        out = tmp_path / f"run-{cap}"
        r = subprocess.run([sys.executable, "-m", "planner", "solve", str(folder), "--out", str(out), "--gap", "0",
                            "--entry-top", "0"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        runs.append(out)
    d_out = tmp_path / "diff"
    r = subprocess.run([sys.executable, "-m", "planner", "diff", str(runs[0]), str(runs[1]), "--out", str(d_out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    d = pd.read_csv(d_out / "diff.csv")
    got = {(t, k, c): (a, b) for t, k, c, a, b in d[["table", "key", "column", "a", "b"]].itertuples(index=False)
           if t in ("allocations", "suppliers", "costs")}
    assert got == {
        ("allocations", "item=ndpr; importer=JP; country=CN", "volume"): (50, 40),
        ("allocations", "item=ndpr; importer=JP; country=CN", "share"): (0.5, 0.4),
        ("allocations", "item=ndpr; importer=JP; country=US", "volume"): (10, 20),
        ("allocations", "item=ndpr; importer=JP; country=US", "share"): (0.1, 0.2),
        ("suppliers", "item=ndpr; country=CN", "shipped"): (50, 40),
        ("suppliers", "item=ndpr; country=US", "shipped"): (10, 20),
        ("costs", "component=purchase", "value"): (1600, 1800),
    }
    k = d[d["table"] == "kpis"]
    assert set(k.loc[k["key"] == "kpi=total_cost", "change"]) == {200}
    assert not k["key"].str.contains("qualified_suppliers").any()  # the same four suppliers qualified


def test_solve_prints_what_binds_and_the_report_explains_it(tmp_path):
    # The cap's price, 20 per point (module docstring), in the terminal, binding.csv and the report.
    import subprocess
    import sys

    instance(tmp_path)
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "planner", "solve", str(tmp_path / "i-0.5-40-False"), "--out", str(out),
                        "--gap", "0", "--report"], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    said = "tightening the 'concern'-tier cap on ndpr for JP by 1 point costs USD 20 a year"
    assert said in r.stdout
    b = pd.read_csv(out / "binding.csv")
    assert said in set(b["sentence"])
    assert (b["status"] == "optimal").all()
    html = (out / "report.html").read_text()
    assert "Explanations" in html and said in html
    assert "forcing KR to supply 1 t of ndpr raises the cost by USD 7 a year" in html
    import json

    # The explanation settings are recorded, so a replay explains the same way.
    assert json.loads((out / "run.json").read_text())["explain"] == {"explain": True, "entry_top": 2}


def test_upstream_dependence_is_shown_up_front_on_a_multi_tier_instance(tmp_path):
    # rare-earth-magnets: the friendshored magnets are at most 50 % concern-tier direct (its cap), but
    # the oxide inside them passes through concern-tier separation: the upstream share is higher.
    import subprocess
    import sys

    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "planner", "solve", str(ROOT / "instances" / "rare-earth-magnets"),
                        "--out", str(out), "--report", "--no-explain"], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "concern upstream" in r.stdout
    k = pd.read_csv(out / "kpis.csv")
    up = k[(k["kpi"] == "upstream_tier_share") & (k["group"] == "concern")]["friendshored"].max()
    direct = k[(k["kpi"] == "tier_share") & (k["group"] == "concern")]["friendshored"].max()
    assert up > direct
    html = (out / "report.html").read_text()
    assert "Upstream, counting every stage" in html and "the dependence sits upstream" in html


def test_a_frontier_lists_what_changed_between_consecutive_levels(tmp_path):
    # Cap levels 0.5 then 0.4 on the module's instance: purchase 1600 -> 1800, CN ships 50 -> 40, US 10 -> 20.
    import subprocess
    import sys

    instance(tmp_path)
    study = tmp_path / "f.yaml"
    study.write_text(f"name: f\nbase: {tmp_path / 'i-0.5-40-False'}\nsolver: {{rel_gap: 0}}\nfrontiers:\n"
                     "  c: {measure: {kind: tier_share, of: concern}, levels: [0.4, 0.5]}\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(study), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    d = pd.read_csv(out / "frontier_diffs.csv")
    assert set(zip(d["from_level"], d["to_level"])) == {(0.5, 0.4)}
    got = {(k, c): (a, b) for k, c, a, b in d[["key", "column", "a", "b"]].itertuples(index=False)}
    assert got == {("item=ndpr; country=CN", "shipped"): (50, 40), ("item=ndpr; country=US", "shipped"): (10, 20),
                   ("component=purchase", "value"): (1600, 1800)}


def test_multi_period_prices_are_per_period_and_match_a_finite_difference(tmp_path):
    # tests/test_periods.py's LEAD instance: JP needs 100 t a year; CN at 10 (concern), AU only through
    # au_sep (100 t, lead 2 years, decided 2025, online 2027) at 20; concern cap 0.5 from 2027; periods
    # 2025, 2027, 2029 of 2 years, no discounting. In 2027 and 2029 one point tighter moves 1 t a year
    # from CN to AU: +10 a year x 2 years = +20 per point in each period (present value = cost at r = 0).
    # The dated level {2027: 0.5 + eps} moves both periods' caps: d cost / d level = -(20 + 20) / 0.01.
    from tests.test_periods import LEAD, LEAD_YAML, write

    inst = load_instance(write(tmp_path / "a", LEAD_YAML, **LEAD))
    res, s, m = solved(inst)
    b = explain(inst, m, res, s, EXACT, top=0).binding
    caps = b[b["family"] == "Tier_Share_Cap"].set_index("period")["price"]
    assert caps.to_dict() == pytest.approx({2027: 20.0, 2029: 20.0})
    eps = 1e-3
    looser, _, _ = solved(load_instance(write(tmp_path / "b", LEAD_YAML.replace("2027: 0.5", f"2027: {0.5 + eps}"),
                                              **LEAD)))
    assert (looser.objective - res.objective) / eps == pytest.approx(-caps.sum() / 0.01, abs=1e-6)
