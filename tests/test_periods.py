"""Multi-period planning (periods.csv): hand-solved cases, the single-period identity, bad input.

Every expected optimum below is derived in its comment from the data written by the test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner.analysis.cases import solve_case
from planner.errors import InstanceError
from planner.instance.io import load_instance
from planner.solve.highs import SolveOptions

ROOT = Path(__file__).resolve().parents[1]
EXACT = SolveOptions(rel_gap=0.0)


def write(folder: Path, yaml: str, **tables: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "instance.yaml").write_text(yaml)
    base = {
        "countries": "code,name,tier\nJP,Japan,ally\nAU,Australia,ally\nCN,China,concern\n",
        "items": "id,name,unit\nndpr,NdPr oxide,t\n",
        "lanes": "origin,importer,transport_cost,tariff_rate\nCN,JP,0,0\nAU,JP,0,0\n",
    }
    for name, text in {**base, **tables}.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


LEAD = dict(
    supply="item,country,capacity,unit_cost,qualification_cost,min_order\nndpr,CN,1000,10,0,0\nndpr,AU,0,20,0,0\n",
    demand="importer,item,quantity\nJP,ndpr,100\n",
    investments="option,item,country,capacity,capex,lead_time_years\nau_sep,ndpr,AU,100,50,2\n",
    periods="period,years\n2025,2\n2027,2\n2029,2\n",
)
LEAD_YAML = "name: lead\ncurrency: USD\ntiers: [ally, concern]\ndiscount_rate: 0.0\npolicy:\n  tier_caps: {concern: {2027: 0.5}}\n"


def test_lead_time_forces_interim_imports_from_the_concern_tier(tmp_path):
    # The concern cap 0.5 holds from 2027; the only trusted capacity is au_sep, online 2 years after
    # its decision: decided in 2025, online in 2027.  r = 0, each period 2 years:
    #   2025: 100 t from CN at 10 = 1000 per year                          -> 2 x 1000 = 2000
    #   2027, 2029: 50 from AU at 20 + 50 from CN at 10 = 1500 per year      -> 4 x 1500 = 6000
    #   capex 50 per year in service (annualised), 2027 to 2030: 4 years      -> 200
    # total 8200 (more AU than 50 only costs more; less breaks the cap).
    inst = load_instance(write(tmp_path / "i", LEAD_YAML, **LEAD))
    res, s = solve_case(inst, "friendshored", EXACT)
    assert res.proven_optimal and res.objective == pytest.approx(8200.0)
    assert s.total_cost == pytest.approx(res.objective)
    a = s.allocations.set_index(["period", "country"])["volume"]
    assert a[2025, "CN"] == pytest.approx(100.0)
    assert a[2027, "AU"] == pytest.approx(50.0) and a[2029, "CN"] == pytest.approx(50.0)
    inv = s.investments.set_index("option")
    assert inv.loc["au_sep", "period"] == 2025 and inv.loc["au_sep", "online_from"] == 2027
    # the cost table per period: present values sum to the objective, annual values are per year
    c = s.costs.set_index(["period", "component"])
    assert c.loc[(2027, "investment"), "annual"] == pytest.approx(50.0)
    assert c.loc[(2027, "purchase"), "value"] == pytest.approx(3000.0)


def test_a_dated_cap_infeasible_early_names_the_period_and_the_lead_time(tmp_path):
    # A 2025 cap of 0.5 cannot hold: au_sep, the only trusted capacity, comes online in 2027.
    yaml = LEAD_YAML.replace("{2027: 0.5}", "{2025: 0.5}")
    with pytest.raises(InstanceError) as e:
        load_instance(write(tmp_path / "i", yaml, **LEAD))
    text = str(e.value)
    assert "in period 2025" in text and "in period 2027" not in text
    assert "au_sep in AU: online from 2027 (lead time 2 years from 2025)" in text


def test_cli_refuses_an_infeasible_early_cap_with_exit_2(tmp_path):
    yaml = LEAD_YAML.replace("{2027: 0.5}", "{2025: 0.5}")
    folder = write(tmp_path / "i", yaml, **LEAD)
    r = subprocess.run([sys.executable, "-m", "planner", "solve", str(folder), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "in period 2025" in r.stderr + r.stdout
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()


BUDGET = dict(
    supply="item,country,capacity,unit_cost,qualification_cost,min_order\nndpr,AU,0,1,0,0\n",
    demand="importer,item,quantity,period\nJP,ndpr,0,2025\nJP,ndpr,100,2026\n",
    investments="option,item,country,capacity,capex,programmes,lifetime_years\nau_sep,ndpr,AU,100,10,jp,10\n",
    periods="period,years\n2025,1\n2026,1\n",
)
BUDGET_YAML = "name: budget\ncurrency: USD\ntiers: [ally, concern]\ndiscount_rate: 0.0\ncapex_payment: overnight\n"


@pytest.mark.parametrize("carry, expected", [(0, 180.0), (1, 160.0)])
def test_a_fiscal_year_budget_binds_and_carries_over(tmp_path, carry, expected):
    # Demand appears in 2026 (100 t); the only supplier is au_sep (capacity 100, unit cost 1).
    # Overnight cost = annual capex 10 x annuity factor at r = 0 over 10 years = 100, paid at decision.
    # The programme pays half of it (50) at most, from 20 per fiscal year.
    #   no carry-over: either year's money is 20 -> grant 20: 100 (purchase) + 100 - 20 = 180
    #   carry-over: decided in 2026, the 2025 money is still there: 40 -> 100 + 100 - 40 = 160
    prog = f"id,funding_country,rate,budget,carry_over\njp,JP,0.5,20,{carry}\n"
    inst = load_instance(write(tmp_path / "i", BUDGET_YAML, programmes=prog, **BUDGET))
    res, s = solve_case(inst, "friendshored", EXACT)
    assert res.objective == pytest.approx(expected) and s.total_cost == pytest.approx(expected)
    p = s.programmes.set_index("period")
    if carry:
        assert p.loc[2026, "used"] == pytest.approx(40.0)  # more than the 2026 money alone
    else:
        assert max(p["used"]) == pytest.approx(20.0)


DISCOUNT = dict(
    supply="item,country,capacity,unit_cost,qualification_cost,min_order\nndpr,CN,1000,10,0,0\nndpr,AU,0,6,0,0\n",
    demand="importer,item,quantity,period\nJP,ndpr,10,2025\nJP,ndpr,100,2030\n",
    investments="option,item,country,capacity,capex,lifetime_years\nau_sep,ndpr,AU,100,150,10\n",
    periods="period,years\n2025,5\n2030,5\n",
)


@pytest.mark.parametrize("rate", [0.0, 0.1])
def test_discounting_moves_a_build_one_period_later(tmp_path, rate):
    # AU saves 4 per t over CN; demand is 10 t a year in 2025-29 and 100 in 2030-34. Overnight cost
    # K = 150 x AF(r, 10): r = 0: 1500; r = 0.1: 150 x (1 - 1.1^-10) / 0.1 = 921.69.
    # With v = 1/(1+r): w = (1 - v^5)/(1 - v) discounted years of a 5-year period; 2030 factor f = v^5.
    #   r = 0: build 2025 saves 40 x 5 + 400 x 5 = 2200 for 1500; in 2030, 2000 for 1500 -> 2025.
    #   r = 0.1 (w = 4.1699, f = 0.62092): 2025 saves 40w + 400 f w = 1202.5 for 921.7 (net 280.8);
    #   2030 saves 400 f w = 1035.7 for f K = 572.3 (net 463.4) -> 2030.
    yaml = f"name: disc\ncurrency: USD\ntiers: [ally, concern]\ndiscount_rate: {rate}\ncapex_payment: overnight\n"
    inst = load_instance(write(tmp_path / "i", yaml, **DISCOUNT))
    res, s = solve_case(inst, "friendshored", EXACT)
    v = 1 / (1 + rate)
    w = 5.0 if rate == 0 else (1 - v**5) / (1 - v)
    f = v**5
    k = 1500.0 if rate == 0 else 150 * (1 - 1.1**-10) / 0.1
    if rate == 0:  # built 2025: 10 x 6 x 5 + 100 x 6 x 5 + 1500
        expected, when = 10 * 6 * w + 100 * 6 * w + k, 2025
    else:  # built 2030: 10 x 10 x w + f (100 x 6 x w + K)
        expected, when = 10 * 10 * w + f * (100 * 6 * w + k), 2030
    assert res.objective == pytest.approx(expected, rel=1e-9)
    assert s.investments.set_index("option").loc["au_sep", "period"] == when


RAMP = dict(
    supply="item,country,capacity,unit_cost,qualification_cost,min_order,period\n"
           "ndpr,CN,1000,10,0,0,2025\nndpr,AU,100,5,0,0,2026\n",
    demand="importer,item,quantity\nJP,ndpr,100\n",
    periods="period,years\n2025,1\n2026,1\n2027,1\n",
)


@pytest.mark.parametrize("shift, expected", [(None, 2000.0), (0.25, 2625.0)])
def test_a_ramp_limit_slows_switching(tmp_path, shift, expected):
    # AU (5 per t) exists from 2026; CN costs 10. Without a limit: 1000 + 500 + 500 = 2000.
    # max_shift 0.25: a route moves at most 25 t a period: 2026: 25 AU + 75 CN = 875;
    # 2027: 50 AU + 50 CN = 750; total 1000 + 875 + 750 = 2625.
    pol = f"policy:\n  max_shift: {shift}\n" if shift is not None else ""
    yaml = f"name: ramp\ncurrency: USD\ntiers: [ally, concern]\ndiscount_rate: 0.0\n{pol}"
    inst = load_instance(write(tmp_path / "i", yaml, **RAMP))
    res, s = solve_case(inst, "friendshored", EXACT)
    assert res.objective == pytest.approx(expected)
    if shift:
        a = s.allocations.set_index(["period", "country"])["volume"]
        assert a[2026, "AU"] == pytest.approx(25.0) and a[2027, "AU"] == pytest.approx(50.0)


@pytest.mark.parametrize("name, variant", [("batteries-japan", None), ("batteries-japan", "resilient"),
                                           ("critical-minerals-us-japan", None), ("rare-earth-magnets", None)])
def test_one_period_of_one_year_changes_nothing(tmp_path, name, variant):
    # A one-row periods.csv (1 year, rate 0) weights every cost by 1: the same optimum and tables.
    folder = tmp_path / name
    shutil.copytree(ROOT / "instances" / name, folder)
    (folder / "periods.csv").write_text("period,years,discount_rate\n2025,1,0\n")
    one = load_instance(ROOT / "instances" / name, variant=variant)
    many = load_instance(folder, variant=variant)
    r1, s1 = solve_case(one, "f", EXACT)
    r2, s2 = solve_case(many, "f", EXACT)
    assert r2.objective == pytest.approx(r1.objective, rel=1e-9)
    for table in ("suppliers", "investments", "programmes", "costs", "shortages"):
        got = s2.tables()[table].drop(columns=[c for c in ("period", "online_from", "annual")
                                               if c in s2.tables()[table]])
        pd.testing.assert_frame_equal(s1.tables()[table].reset_index(drop=True), got.reset_index(drop=True),
                                      check_dtype=False, atol=1e-6)


@pytest.mark.parametrize("table, text, expect", [
    ("demand", "importer,item,quantity,period\nJP,ndpr,100,2026\n", "unknown period"),
    ("demand", "importer,item,quantity,period\nJP,ndpr,100,2025\nJP,ndpr,90,\n", "also has dated rows"),
    ("periods", "period,years\n2025,2\n2028,2\n", "a gap or overlap"),
])
def test_bad_period_data_names_file_row_and_value(tmp_path, table, text, expect):
    tables = {**LEAD, table: text}
    with pytest.raises(InstanceError) as e:
        load_instance(write(tmp_path / "i", LEAD_YAML.replace("{2027: 0.5}", "0.9"), **tables))
    assert expect in str(e.value) and f"{table}.csv, row" in str(e.value)


def test_dated_values_without_periods_are_refused(tmp_path):
    tables = {k: v for k, v in LEAD.items() if k != "periods"}
    with pytest.raises(InstanceError) as e:
        load_instance(write(tmp_path / "i", LEAD_YAML, **tables))
    assert "policy.tier_caps.concern" in str(e.value) and "without periods.csv" in str(e.value)


def test_a_target_two_periods_early_is_diagnosed_in_its_period(tmp_path):
    # batteries-japan-2035, variant target_2028: the 0.3 concern cap from 2028 passes the load checks
    # (each period has the capacity on paper) but the plants decided in 2025 run at half capacity in
    # 2028 (ramp_up 0.5), so the solve is infeasible and the diagnosis names 2028, not 2031.
    from planner.analysis.diagnose import run_diagnosis

    inst = load_instance(ROOT / "instances" / "batteries-japan-2035", variant="target_2028")
    res, s = solve_case(inst, "friendshored", EXACT)
    assert s is None and not res.has_solution
    d = run_diagnosis(inst, EXACT)
    assert d.headline.startswith("in period 2028") and len(d.table)
    assert all(msg.startswith("in period 2028") for msg in d.table["message"])
    assert set(d.table["group"]) == {"concern"}


def test_the_shipped_multi_period_instance_tells_its_story(tmp_path):
    # instances/batteries-japan-2035/README.md: the dated caps are met in every period, the three
    # anode plants are decided in 2025 and online in 2028, about 3.3 % above the cost-only plan.
    from planner.analysis.compare import run_comparison

    inst = load_instance(ROOT / "instances" / "batteries-japan-2035")
    cmp = run_comparison(inst, EXACT)
    assert all(r.proven_optimal for r in cmp.results.values() if r is not None)
    k = cmp.kpis()
    per = k[(k["kpi"] == "tier_share") & (k["group"] == "concern") & (k["period"] != "all")]
    for p, cap in (("2025", 0.7), ("2028", 0.5), ("2031", 0.3)):
        assert per.loc[per["period"] == p, "friendshored"].max() <= cap + 1e-6
    assert per["baseline"].max() == pytest.approx(0.92)  # today's anode graphite sourcing
    inv = cmp.solutions["friendshored"].investments
    built = inv[inv["built"]].set_index("option")
    assert set(built.index) == {"anode_plant_jp", "anode_plant_us", "anode_plant_kr"}
    assert set(built["period"]) == {2025} and set(built["online_from"]) == {2028}
    pct = k[(k["kpi"] == "premium_vs_cost_only_pct") & (k["period"] == "all")]["friendshored"].iloc[0]
    assert 3.0 < pct < 3.6
    first = k[(k["kpi"] == "target_first_met") & (k["period"] == "all")]["friendshored"]
    assert set(first) == {2031.0}


def test_cli_solve_writes_period_tables_and_the_trajectory_report(tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "planner", "solve", str(ROOT / "instances" / "batteries-japan-2035"),
                        "--out", str(out), "--report"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "trajectory" in r.stdout and "net present cost" in r.stdout
    costs = pd.read_csv(out / "costs.csv")
    assert list(costs.columns[:3]) == ["case", "period", "component"] and "annual" in costs.columns
    for case, g in costs.groupby("case"):  # the present values sum to each case's total cost KPI
        kpis = pd.read_csv(out / "kpis.csv")
        total = kpis[(kpis["kpi"] == "total_cost") & (kpis["period"] == "all")][case].iloc[0]
        assert g["value"].sum() == pytest.approx(total, rel=1e-9)
    html = (out / "report.html").read_text()
    assert 'id="trajectory"' in html and "trajectory_builds" in html and "trajectory_budgets" in html


def test_a_study_sweeps_the_cap_path(tmp_path):
    # studies/battery-cap-timing.yaml: the study's total cost of a path is the multi-period
    # optimum's net present cost; 0.5 already in 2025 is rejected before solving, naming 2025.
    out = tmp_path / "s"
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(ROOT / "studies" / "battery-cap-timing.yaml"),
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    res = pd.read_csv(out / "results.csv").set_index("index")
    assert list(res["status"]) == ["optimal", "optimal", "infeasible"]
    assert "in period 2025" in res.loc[2, "reason"]
    inst = load_instance(ROOT / "instances" / "batteries-japan-2035")
    _, s = solve_case(inst, "friendshored", SolveOptions(rel_gap=1e-4))
    assert res.loc[1, "total_cost"] == pytest.approx(s.total_cost, rel=1e-3)
    assert res.loc[0, "total_cost"] < res.loc[1, "total_cost"]  # a later tightening costs less


@pytest.mark.parametrize("payment", ["annualised", "overnight"])
def test_the_payment_rule_prices_capex_and_grants_one_way(tmp_path, payment):
    # One option, capex 10 a year, lifetime 20, no lead time; periods 2025 and 2030 of 5 years, r = 0.1.
    # w25 = sum_{k<5} 1.1^-k = 4.16987, w30 = 1.1^-5 w25 = 2.58916, f30 = 1.1^-5 = 0.620921.
    # Annualised, decided 2025: paid 5 + 5 years, PV = 10 (w25 + w30) = 67.590; decided 2030: 10 w30.
    # Overnight: K = 10 (1 - 1.1^-20) / 0.1 = 85.1356 once in the decision period; 2030: f30 K = 52.862.
    from planner.instance.periods import horizon

    yaml = f"name: pay\ncurrency: USD\ntiers: [ally, concern]\ndiscount_rate: 0.1\ncapex_payment: {payment}\n"
    inst = load_instance(write(tmp_path / "i", yaml, **{
        **LEAD, "periods": "period,years\n2025,5\n2030,5\n",
        "investments": "option,item,country,capacity,capex,lifetime_years\nau_sep,ndpr,AU,100,10,20\n"}))
    h, o = horizon(inst), inst.investments[0]
    w25, w30, f30 = 4.169865, 2.589156, 1.1**-5
    k = 10 * (1 - 1.1**-20) / 0.1
    if payment == "annualised":
        assert h.payments(o, 2025) == {2025: 5.0, 2030: 5.0}
        assert h.capex_present(o, 2025) == pytest.approx(10 * (w25 + w30), rel=1e-6)
        assert h.capex_present(o, 2030) == pytest.approx(10 * w30, rel=1e-6)
        assert h.money_annual(2030, 50.0) == 10.0  # 50 paid over 5 years shows as 10 a year
    else:
        assert h.payments(o, 2030) == {2030: 1.0}
        assert h.capex_present(o, 2030) == pytest.approx(f30 * k, rel=1e-9)
        assert h.money_annual(2030, 50.0) == 50.0  # the lump
    # One unit of grant is worth what one unit of capex is: the model's grant_pv and the cost table agree.
    for d in h.decisions(o):
        assert h.unit_pv(o, d) * h.payment(o, d) == pytest.approx(h.capex_present(o, d))
        assert sum(h.money_pv(p, x) for p, x in h.capex_cash(o, d).items()) == pytest.approx(h.capex_present(o, d))


def test_frontier_measures_of_a_multi_period_run_are_the_horizon_maxima(tmp_path):
    # A frontier level caps the measure in every period, so the measure a run achieved is its largest
    # value over the periods (and over items and importers). Level 1 leaves the plan uncapped; each
    # measure is recomputed here from the friendshored allocations, period by period.
    study = tmp_path / "f.yaml"
    study.write_text(f"name: f\nbase: {ROOT / 'instances' / 'batteries-japan-2035'}\nfrontiers:\n"
                     "  g7: {measure: {kind: group_share, of: G7}, levels: [1.0]}\n"
                     "  concern: {measure: {kind: tier_share, of: concern}, levels: [1.0]}\n"
                     "  country: {measure: {kind: country_share}, levels: [1.0]}\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(study), "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    fronts = pd.read_csv(out / "frontiers.csv").set_index("frontier")
    inst = load_instance(ROOT / "instances" / "batteries-japan-2035")
    key = ["period", "item", "importer"]

    def allocations(name):  # the run's own friendshored allocations, as the study stored them
        a = pd.read_csv(out / "runs" / fronts.loc[name, "run_id"] / "allocations.csv")
        return a[a["case"] == "friendshored"]

    a = allocations("g7")
    g7 = a[a["country"].isin(inst.members("G7"))].groupby(key)["share"].sum().max()
    a = allocations("concern")
    concern = a[a["tier"] == "concern"].groupby(key)["share"].sum().max()
    a = allocations("country")
    country = a.groupby([*key, "country"])["share"].sum().max()
    assert fronts.loc["g7", "measure_value"] == pytest.approx(g7, abs=1e-6) and g7 <= 1 + 1e-9
    assert fronts.loc["concern", "measure_value"] == pytest.approx(concern, abs=1e-6)
    assert fronts.loc["country", "measure_value"] == pytest.approx(country, abs=1e-6)
