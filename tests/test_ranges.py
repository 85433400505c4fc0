"""Uncertain inputs as data (ranges.csv): validated against the tables they name, kept in round trips."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from planner.errors import InstanceError
from planner.instance.io import instance_hash, load_instance, write_instance

ROOT = Path(__file__).resolve().parents[1]
HEAD = "table,row,column,low,central,high,distribution,group,source\n"


def transport(tmp: Path, ranges: str) -> Path:
    folder = tmp / "t"
    shutil.copytree(ROOT / "instances" / "transport", folder)
    (folder / "ranges.csv").write_text(HEAD + ranges)
    return folder


def test_ranges_load_and_survive_a_workbook_round_trip(tmp_path):
    folder = transport(tmp_path, "supply,cases:seattle,capacity,300,350,400,triangular,west,assumption\n"
                                 "lanes,seattle:new_york:cases,transport_cost,0.2,0.225,0.3,uniform,,assumption\n")
    inst = load_instance(folder)
    assert [(r.table, r.row, r.column, r.central) for r in inst.ranges] == [
        ("supply", "cases:seattle", "capacity", 350.0), ("lanes", "seattle:new_york:cases", "transport_cost", 0.225)]
    write_instance(inst, tmp_path / "book.xlsx")
    back = load_instance(tmp_path / "book.xlsx")
    assert instance_hash(back) == instance_hash(inst)


@pytest.mark.parametrize("row, column, text", [
    # The central value is not the table's: both cells are named.
    ("supply,cases:seattle,capacity,300,340,400,uniform,,assumption", "central",
     "differs from supply.csv, row 2, column 'capacity', which holds 350"),
    ("supply,cases:nowhere,capacity,1,2,3,uniform,,x", "row", "no row of supply.csv with this key"),
    ("supply,cases:seattle,item,1,2,3,uniform,,x", "column", "not a numeric column of supply"),
    ("supply,cases:seattle,capacity,300,350,400,beta,,x", "distribution", "expected one of uniform"),
    ("supply,cases:seattle,capacity,360,350,400,uniform,,x", "central", "outside [low, high]"),
    ("supply,cases:seattle,surge,0,1,1.5,uniform,,x", "high", "outside what supply.surge allows"),
    ("nothing,a,b,1,2,3,uniform,,x", "table", "unknown table"),
])
def test_a_bad_range_names_file_row_column_and_value(tmp_path, row, column, text):
    folder = transport(tmp_path, row + "\n")
    with pytest.raises(InstanceError) as e:
        load_instance(folder)
    msg = str(e.value)
    assert "ranges.csv, row 2" in msg and f"column '{column}'" in msg and text in msg


def test_cli_validate_refuses_a_central_mismatch_with_exit_2(tmp_path):
    folder = transport(tmp_path, "supply,cases:seattle,capacity,300,340,400,uniform,,assumption\n")
    r = subprocess.run([sys.executable, "-m", "planner", "validate", str(folder)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout
    assert "ranges.csv, row 2, column 'central'" in r.stdout + r.stderr


def test_the_shipped_minerals_instance_carries_its_documented_ranges():
    # The documented source disagreements (sources.csv): China's gallium share 0.80-0.98, germanium
    # 0.60-0.91, DR Congo's cobalt 0.654-0.74, each as the dominant producer's capacity scaled by the ratio.
    inst = load_instance(ROOT / "instances" / "critical-minerals-us-japan")
    r = {(x.table, x.row, x.column): x for x in inst.ranges}
    ga = r["supply", "gallium:CN", "capacity"]
    assert (ga.low / ga.central, ga.high) == (pytest.approx(0.80 / 0.98), ga.central)
    ge = r["supply", "germanium:CN", "capacity"]
    assert ge.high / ge.central == pytest.approx(0.91 / 0.60)
    co = r["supply", "cobalt:CD", "capacity"]
    assert co.low / co.central == pytest.approx(0.654 / 0.74, rel=1e-6)
    assert all(x.source for x in inst.ranges)
    assert {x.row for x in inst.ranges if x.group == "cn_costs"} == {s.item + ":CN" for s in inst.supply if s.country == "CN"}


# --------------------------------------------------------------------------- sampling (planner/study/uncertainty.py)
def _ranges():
    from planner.instance.schema import Range

    return [Range(table="supply", row="a:X", column="unit_cost", low=1, central=2, high=4, distribution=d,
                  group=g, source="assumption")
            for d, g in (("uniform", "g"), ("triangular", "g"), ("normal", ""), ("lognormal", ""))]


def test_the_same_seed_gives_the_same_samples_and_groups_move_together():
    from planner.study.uncertainty import draw, value_at

    rs = [r.model_copy(update={"row": f"a:{k}"}) for k, r in enumerate(_ranges())]
    a, b = draw(rs, 64, "lhs", 3), draw(rs, 64, "lhs", 3)
    assert a == b and draw(rs, 64, "lhs", 4) != a
    assert draw(rs, 64, "sobol", 3) == draw(rs, 64, "sobol", 3)
    keys = [f"supply.a:{k}.unit_cost" for k in range(4)]
    for s in a:
        assert all(1 <= s[k] <= 4 for k in keys)
        # Ranges 0 (uniform) and 1 (triangular, mode 2) share group g: one coordinate u, each mapped by its own
        # distribution: uniform u -> 1 + 3u, so u = (x0 - 1) / 3, and x1 is the triangular quantile of that u.
        u = (s[keys[0]] - 1) / 3
        assert s[keys[1]] == pytest.approx(float(value_at(rs[1], __import__("numpy").array([u]))[0]))
    # Latin hypercube: exactly one of the 64 samples in each 1/64 slice of the uniform range.
    slices = sorted(int((s[keys[0]] - 1) / 3 * 64) for s in a)
    assert slices == list(range(64))


def test_an_uncertainty_study_re_optimises_each_sample(tmp_path):
    # Seattle's capacity sampled in [300, 400] (central 350) on the transport instance: the cost per
    # sample never falls below the solve at 400 nor rises above the one at 300 (more capacity at the
    # cheaper plant can only help), and every sample is one solved run.
    folder = transport(tmp_path, "supply,cases:seattle,capacity,300,350,400,uniform,,assumption\n")
    study = tmp_path / "u.yaml"
    study.write_text(f"name: u\nbase: {folder}\nsolver: {{rel_gap: 0}}\nuncertainty: {{samples: 8, seed: 1}}\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(study), "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    import pandas as pd

    from planner.analysis.cases import solve_case
    from planner.solve.highs import SolveOptions

    res = pd.read_csv(out / "results.csv")
    s = res[res["kind"] == "sample"]
    assert len(s) == 8 and (s["status"] == "optimal").all()
    cap = s["supply.cases:seattle.capacity"]
    assert cap.between(300, 400).all() and cap.nunique() == 8
    ends = {}
    for c in (300, 400):
        _, sol = solve_case(load_instance(folder, overrides={"supply.cases:seattle.capacity": c}), "friendshored",
                            SolveOptions(rel_gap=0))
        ends[c] = sol.total_cost
    assert s["total_cost"].between(ends[400] - 1e-6, ends[300] + 1e-6).all()
    summ = pd.read_csv(out / "uncertainty.csv").set_index("kpi")
    assert summ.loc["total_cost", "samples"] == 8
    assert summ.loc["total_cost", "p05"] <= summ.loc["total_cost", "p50"] <= summ.loc["total_cost", "p95"]
    assert (out / "uncertainty_choices.csv").is_file()
    from planner.report.page import write_report

    html = write_report(out, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Uncertainty" in html and "KPIs over the samples" in html


def _explain_study(tmp_path, ranges: str, uncertainty: str, supply_edit: tuple[str, str] | None = None) -> Path:
    """tests/test_explain.py's instance with ``ranges`` (rows of ranges.csv), studied with ``uncertainty``
    (the study's uncertainty mapping, YAML flow text); returns the study's output folder."""
    from tests.test_explain import instance

    instance(tmp_path)
    folder = tmp_path / "i-0.5-40-False"
    if supply_edit is not None:
        supply = folder / "supply.csv"
        supply.write_text(supply.read_text().replace(*supply_edit))
    (folder / "ranges.csv").write_text(HEAD + ranges)
    study = tmp_path / "s.yaml"
    study.write_text(f"name: s\nbase: {folder}\ncompare: false\nsolver: {{rel_gap: 0}}\nuncertainty: {uncertainty}\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(study), "--out", str(out), "--workers", "1"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return out


def test_sobol_indices_find_the_one_input_that_drives_the_cost(tmp_path):
    # tests/test_explain.py's instance: CN 50 t at 10, AU 40 t at 20 (full), US the marginal 10 t at
    # unit cost c_US; KR (35/t) is never used. Cost = 500 + 800 + 10 c_US: c_US alone drives it, so its
    # first-order index is ~1 and KR's unit cost (and the untouched CN cap, 1000 >> 50) get ~0.
    out = _explain_study(tmp_path, "supply,ndpr:US,unit_cost,25,30,35,uniform,,assumption\n"
                                   "supply,ndpr:KR,unit_cost,30,35,40,uniform,,assumption\n"
                                   "supply,ndpr:CN,capacity,900,1000,1100,uniform,,assumption\n",
                         "{samples: 32, method: saltelli, seed: 5}")
    import pandas as pd

    res = pd.read_csv(out / "results.csv")
    assert (res["kind"] == "sample").sum() == 32 * (3 + 2)  # Saltelli: N (D + 2) runs
    s = pd.read_csv(out / "sensitivity.csv")
    s = s[s["kpi"] == "total_cost"].set_index("input")
    assert s.loc["supply.ndpr:US.unit_cost", "s1"] >= 0.9
    assert abs(s.loc["supply.ndpr:KR.unit_cost", "s1"]) <= 0.05 and abs(s.loc["supply.ndpr:CN.capacity", "s1"]) <= 0.05
    assert (out / "plots" / "sensitivity_total_cost.png").is_file()


def test_the_central_plan_held_fixed_reproduces_itself_and_breaks_where_it_must(tmp_path):
    # tests/test_explain.py's instance: the plan qualifies CN, AU and US (1600). Held fixed on the
    # central instance it costs exactly that. With US capacity down to 5 t, CN (cap 50) + AU (40) + US (5)
    # cover 95 of 100 t: the fixed plan breaks (KR is not qualified), while re-optimising qualifies KR:
    # 500 + 800 + 5 x 30 + 5 x 35 + qualification 2 = 1627.
    from planner.analysis.evaluate import central_plan, evaluate_plan
    from planner.solve.highs import SolveOptions
    from tests.test_explain import instance

    exact = SolveOptions(rel_gap=0.0)
    inst = instance(tmp_path)
    res, plan = central_plan(inst, exact)
    assert res.objective == pytest.approx(1600)
    again, missing = evaluate_plan(inst, plan, exact)
    assert missing == 0 and again.objective == pytest.approx(res.objective, rel=1e-12)
    from planner.instance.io import apply_overrides

    short = apply_overrides(inst, {"supply.ndpr:US.capacity": 5})
    broken, _ = evaluate_plan(short, plan, exact)
    assert broken.status == "infeasible"
    reopt, _ = central_plan(short, exact)
    assert reopt.objective == pytest.approx(1627)


def _sample_study(tmp_path, samples: int) -> Path:
    folder = transport(tmp_path, "supply,cases:seattle,capacity,300,350,400,uniform,,assumption\n"
                                 "supply,cases:san_diego,capacity,550,600,650,triangular,,assumption\n")
    study = tmp_path / "u.yaml"
    study.write_text(f"name: u\nbase: {folder}\ncompare: false\nsolver: {{rel_gap: 0}}\n"
                     f"uncertainty: {{samples: {samples}, seed: 11}}\n")
    return study


def test_the_same_seed_gives_the_same_results(tmp_path):
    import pandas as pd

    study = _sample_study(tmp_path, 6)
    tables = []
    for k in (1, 2):
        r = subprocess.run([sys.executable, "-m", "planner", "study", str(study), "--out", str(tmp_path / f"o{k}"),
                            "--workers", "1"], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        t = pd.read_csv(tmp_path / f"o{k}" / "results.csv").sort_values("run_id").reset_index(drop=True)
        tables.append(t[["run_id", "supply.cases:seattle.capacity", "supply.cases:san_diego.capacity",
                         "total_cost", "plan_cost", "plan_holds"]])
    pd.testing.assert_frame_equal(tables[0], tables[1])


def test_a_killed_uncertainty_study_resumes_with_every_sample_exactly_once(tmp_path):
    import json

    import pandas as pd

    from tests.conftest import kill_study_part_way

    study = _sample_study(tmp_path, 24)
    out = tmp_path / "out"
    kept = kill_study_part_way(study, out)
    assert 3 <= len(kept) < 24, "the kill must land part-way"
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(study), "--out", str(out), "--workers", "1",
                        "--resume"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(out / "results.csv")
    plan = [x["run_id"] for x in json.loads((out / "study.json").read_text())["runs"]]
    assert len(plan) == 24 and sorted(t["run_id"]) == sorted(plan) and t["run_id"].is_unique
    for rid, mtime in kept.items():  # samples finished before the kill were not run again
        assert (out / "runs" / f"{rid}.parquet").stat().st_mtime_ns == mtime
    # Some samples leave less capacity than the 900 cases demanded: they are recorded as failed, once.
    u = pd.read_csv(out / "uncertainty.csv").set_index("kpi").loc["total_cost"]
    assert u["samples"] + u["failed"] == 24 and u["failed"] == (t["status"] != "optimal").sum()


def test_a_multi_period_plan_held_fixed_reproduces_itself_and_shows_its_regret(tmp_path):
    # tests/test_periods.py's LEAD instance (r = 0, periods 2025/2027/2029 of 2 years; concern cap 0.5
    # from 2027; CN 1000 t at 10, JP demands 100 t) plus KR: 100 t at 25, qualification 10 a year.
    # Two ways to meet the cap from 2027 (2025 is 100 t from CN either way: 2 x 1000 = 2000):
    #   A: build au_sep in 2025 (online 2027; capex 50 a year in service, 4 years = 200) and buy
    #      50 t AU at 20 + 50 t CN at 10 = 1500 a year: 2000 + 4 x 1500 + 200 = 8200;
    #   B: qualify KR from 2027: 50 x 25 + 50 x 10 + 10 = 1760 a year: 2000 + 4 x 1760 = 9040.
    # The central plan is A. With capex 500 a year, A costs 2000 + 6000 + 4 x 500 = 10000 held fixed,
    # while re-optimising picks B (9040): regret 960.
    from planner.analysis.evaluate import central_plan, evaluate_plan
    from planner.instance.io import apply_overrides
    from planner.solve.highs import SolveOptions
    from tests.test_periods import LEAD, LEAD_YAML, write

    exact = SolveOptions(rel_gap=0.0)
    tables = dict(LEAD, supply=LEAD["supply"] + "ndpr,KR,100,25,10,0\n")
    folder = write(tmp_path / "i", LEAD_YAML, **tables,
                   countries="code,name,tier\nJP,Japan,ally\nAU,Australia,ally\nCN,China,concern\nKR,Korea,ally\n",
                   lanes="origin,importer,transport_cost,tariff_rate\nCN,JP,0,0\nAU,JP,0,0\nKR,JP,0,0\n")
    inst = load_instance(folder)
    res, plan = central_plan(inst, exact)
    assert res.objective == pytest.approx(8200.0)
    assert {k for k, v in plan["BuildAt"].items() if v} == {("au_sep", 2025)}
    again, missing = evaluate_plan(inst, plan, exact)
    assert missing == 0 and again.objective == pytest.approx(8200.0, rel=1e-12)
    dear = apply_overrides(inst, {"investments.au_sep.capex": 500})
    held, _ = evaluate_plan(dear, plan, exact)
    reopt, _ = central_plan(dear, exact)
    assert (held.objective, reopt.objective) == (pytest.approx(10000.0), pytest.approx(9040.0))


def test_the_study_evaluates_the_plan_in_the_solved_model_as_a_fresh_build_would(tmp_path):
    # A study evaluates the central plan in the model it has just re-optimised (no second build);
    # whether it holds and what it costs must be what a fresh build of the sample's instance gives.
    # tests/test_explain.py's instance with US capacity 20 t: the central plan qualifies CN, AU and US,
    # not KR (1600). US capacity below 10 t breaks it (KR is not qualified); KR cheaper than US (30) makes re-optimising
    # qualify KR, which the held plan cannot: both outcomes must occur among the samples.
    import pandas as pd

    from planner.analysis.evaluate import central_plan, evaluate_plan
    from planner.solve.highs import SolveOptions
    out = _explain_study(tmp_path, "supply,ndpr:US,capacity,2,20,38,uniform,,assumption\n"
                                   "supply,ndpr:KR,unit_cost,25,35,40,uniform,,assumption\n",
                         "{samples: 40, seed: 3}", supply_edit=("ndpr,US,1000,", "ndpr,US,20,"))
    folder = tmp_path / "i-0.5-40-False"
    exact = SolveOptions(rel_gap=0.0)
    _, plan = central_plan(load_instance(folder), exact)
    t = pd.read_csv(out / "results.csv")
    assert (t["status"] == "optimal").all()  # KR (1000 t) can always make up what US lacks
    keys = ["supply.ndpr:US.capacity", "supply.ndpr:KR.unit_cost"]
    for _, row in t.iterrows():
        fresh, missing = evaluate_plan(load_instance(folder, overrides={k: row[k] for k in keys}), plan, exact)
        assert row["plan_holds"] == (1.0 if fresh.has_solution and not missing else 0.0)
        if fresh.has_solution:
            assert row["plan_cost"] == pytest.approx(fresh.objective, rel=1e-9)
    assert (t["plan_holds"] == 0).any() and (t["plan_regret"] > 1).any()


@pytest.mark.parametrize("name", ["critical-minerals-us-japan", "batteries-japan", "rare-earth-magnets",
                                  "semiconductors-chip4"])
def test_each_shipped_realistic_instance_carries_sourced_ranges(name):
    # Every row names a source or says assumption, the central value is the table's (load validates
    # it), and each kind of uncertain input the instances document is ranged: prices, capex, probabilities.
    inst = load_instance(ROOT / "instances" / name)
    assert inst.ranges and all(x.source for x in inst.ranges)
    assert {x.column for x in inst.ranges} >= {"unit_cost", "capex", "probability", "capacity"}
    assert all(x.low <= x.central <= x.high and x.low < x.high for x in inst.ranges)
