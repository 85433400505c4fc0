"""Parameter studies: grids equal single solves, persistent re-solves equal rebuilds, frontiers
are monotone with the knee where the hand calculation puts it, failures are recorded, a killed
study resumes with every run exactly once, and bad study files exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli.app import app
from planner.analysis.cases import solve_case as solve_single
from planner.instance.generate import generate
from planner.instance.io import apply_overrides, instance_hash, load_instance, write_instance
from planner.instance.schema import Investment, Policy, Programme
from planner.study.core import read_table, run_study
from planner.study.plan import load_study
from models import structure_key
from planner.study.execute import Scale, apply_scales, derive_instance
from planner.study.frontier import find_knee, pareto
from tests.conftest import kill_study_part_way, tiny

ROOT = Path(__file__).resolve().parents[1]
MINERALS = ROOT / "instances" / "critical-minerals-us-japan"
runner = CliRunner()
SOLVED = ("optimal", "feasible")


def write_study(folder: Path, instance, study: dict) -> Path:
    """The instance as folder/base and the study as folder/study.yaml (base: base)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_instance(instance, folder / "base")
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "base": "base", **study}, sort_keys=False))
    return path


def run(path: Path, out: Path, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    return run_study(load_study(path), out, **kw)


# Two suppliers of x to importer J (demand 100): A (concern) 100 t at 1/t, B (ally) 100 t at 2/t.
AB = [("x", "A", 100, 1.0), ("x", "B", 100, 2.0)]
DEM = [("J", "x", 100)]
TIERS = {"A": "concern"}


# --------------------------------------------------------------------------- grid = single solve
def test_grid_runs_equal_single_solves_and_the_hand_optimum(tmp_path):
    # With the concern tier capped at c and B priced b, A supplies 100c and B the rest:
    # cost = 100 c * 1 + 100 (1 - c) * b.  c in {0.2, 0.5, 1}, b in {2, 3}.
    base = tiny(AB, DEM, tiers=TIERS, policy=Policy(tier_caps={"concern": 0.5}))
    path = write_study(tmp_path, base, {"solver": {"rel_gap": 0}, "grids": {"g": {"axes": {
        "policy.tier_caps.concern": [0.2, 0.5, 1.0], "supply.x:B.unit_cost": [2, 3]}}}})
    report = run(path, tmp_path / "out")
    t = report.table
    assert len(t) == 6 and set(t["status"]) == {"optimal"}
    loaded = load_instance(tmp_path / "base")
    for _, r in t.iterrows():
        c, b = r["policy.tier_caps.concern"], r["supply.x:B.unit_cost"]
        assert r["objective"] == pytest.approx(100 * c + 100 * (1 - c) * b, rel=1e-9)
        single, _ = solve_single(apply_overrides(loaded, {"policy.tier_caps.concern": c, "supply.x:B.unit_cost": b}),
                                 "friendshored")
        assert r["objective"] == pytest.approx(single.objective, rel=1e-9)
    # Each solved run has its folder, written like a single solve's.
    for rid in t["run_id"]:
        assert (tmp_path / "out" / "runs" / rid / "allocations.csv").exists()
        assert json.loads((tmp_path / "out" / "runs" / rid / "run.json").read_text())["study"]["run_id"] == rid
    assert list(t.columns[:7]) == ["run_id", "kind", "group", "scenario", "index", "policy.tier_caps.concern",
                                   "supply.x:B.unit_cost"]


# --------------------------------------------------------------------------- persistent = rebuild
def _subsidy_instance():
    # x to J (demand 100): A (concern) 100 t at 1/t, B (ally) 30 t at 2/t, J itself has no capacity
    # but can build 80 t (capex 60) at 3/t, subsidised by programme p.  N-1, two suppliers and a country
    # cap are on, so every mutable Param family is in the model.
    return tiny(
        [("x", "A", 100, 1.0), ("x", "B", 30, 2.0), ("x", "J", 0, 3.0), ("x", "C", 40, 2.5)],
        DEM, tiers=TIERS, groups={"B": ("G",), "C": ("G",)},
        policy=Policy(tier_caps={"concern": 0.5}, country_share_cap=0.8, min_suppliers=2, n1_beta=0.3),
        investments=[Investment(option="o", item="x", country="J", capacity=80, capex=60, programmes=("p",))],
        programmes=[Programme(id="p", funding_country="J", rate=0.0, budget=10)],
    )


def test_persistent_resolve_gives_the_objectives_of_rebuilds(tmp_path):
    study = {
        "solver": {"rel_gap": 0},
        "multipliers": {"dear_a": {"column": "supply.unit_cost", "country": "A"}},
        # Scenarios change the structure between grid runs: a multiplier (constant coefficients) and a cap switched off.
        "scenarios": {"dear": {"multiplier.dear_a": 1.5}, "no_n1": {"policy.n1_beta": 0},
                      "tight": {"policy.tier_caps.concern": 0.2}},
        "grids": {"g": {"axes": {"programmes.p.rate": [0, 0.5, 1.0], "programmes.p.budget": [10, 100],
                                 "policy.tier_caps.concern": [0.5, 0.2]}}},
        # With concern <= 0.2 (A <= 20), a country cap of 0.25 leaves at most 20 + 25 + 25 + 25 = 95 < 100:
        # the reader's checks pass it, the solver proves it infeasible, and the persistent model goes on.
        "frontiers": {"f": {"scenario": "tight", "measure": {"kind": "country_share"}, "levels": [0.25, 0.3, 0.6, 1.0]},
                      "gs": {"measure": {"kind": "group_share", "of": "G"}, "levels": [0.3, 0.6, 1.0]}},
    }
    path = write_study(tmp_path, _subsidy_instance(), study)
    pers = run(path, tmp_path / "p", persistent=True, plots=False).table.set_index("run_id")
    rebuilt = run(path, tmp_path / "r", persistent=False, plots=False).table.set_index("run_id")
    assert len(pers) == 3 + 12 + 4 + 3
    assert list(pers.index) == list(rebuilt.index)
    assert (pers["status"] == rebuilt["status"]).all()
    ok = pers["status"].isin(SOLVED)
    assert ok.sum() >= 18
    infeasible = pers[(pers["group"] == "f") & (pers["level"] == 0.25)]
    assert infeasible["status"].tolist() == ["infeasible"] and "provenInfeasible" in infeasible["reason"].iloc[0]
    for rid in pers.index[ok]:
        assert pers.at[rid, "objective"] == pytest.approx(rebuilt.at[rid, "objective"], rel=1e-7), rid
    # The persistent study did re-solve in place (the rebuild study never did), and the subsidy moved.
    assert pers["reused"].astype(bool).sum() >= 12 and not rebuilt["reused"].astype(bool).any()
    assert pers.loc[ok, "public_subsidy"].nunique() > 1


def test_structure_key_separates_values_from_structure():
    inst = _subsidy_instance()
    # Table values in mutable Params (an uncertainty study's samples) keep the key: prices, capacities, capex.
    same = [{"policy.tier_caps.concern": 0.3}, {"programmes.p.rate": 0.7, "programmes.p.budget": 5},
            {"policy.n1_beta": 0.2}, {"policy.min_suppliers": 3}, {"supply.x:A.unit_cost": 1.1},
            {"supply.x:B.capacity": 35}, {"investments.o.capex": 75}]
    other = [{"policy.n1_beta": 0}, {"policy.country_share_cap": None}, {"policy.tier_caps.ally": 0.9},
             {"supply.x:A.qualification_cost": 5}, {"policy.exclude_tiers": ["concern"]}]
    key = structure_key(inst)
    for o in same:
        assert structure_key(apply_overrides(inst, o)) == key, o
    for o in other:
        assert structure_key(apply_overrides(inst, o)) != key, o


def test_fast_instance_path_gives_the_readers_instance():
    base = load_instance(MINERALS)
    for delta in ({"policy.tier_caps.concern": 0.3}, {"programmes.jp_minerals.rate": 0.5},
                  {"policy.items.cobalt.n1_beta": 0.2, "policy.country_share_cap": 0.65},
                  {"supply.gallium:CN.capacity": 123.5}, {"lanes.CN:JP:*.tariff_rate": 0.2}):
        assert instance_hash(derive_instance(base, delta)) == instance_hash(apply_overrides(base, delta)), delta


def test_multiplier_scales_only_matching_rows():
    base = load_instance(MINERALS)
    s = Scale("cn", "supply", "unit_cost", (("country", ("CN",)),), 1.2)
    scaled = apply_scales(base, [s])
    before, after = base.supply_by_key, scaled.supply_by_key
    for k, row in before.items():
        want = row.unit_cost * 1.2 if k[1] == "CN" else row.unit_cost
        assert after[k].unit_cost == pytest.approx(want, rel=1e-12)
    assert sum(k[1] == "CN" for k in before) >= 5


# --------------------------------------------------------------------------- frontiers
def test_frontier_knee_is_where_the_hand_calculation_puts_it(tmp_path):
    # A (concern) 100 t at 1, B (ally) 50 t at 2, C (ally) 100 t at 5; demand 100.  With concern share <= c:
    # A gives 100c, B then 50, C the rest: c = 0, .25, .5, .75, 1 cost 350, 250, 150, 125, 100.
    # Scaled to [0, 1] the points are (0, 1), (.25, .6), (.5, .2), (.75, .1), (1, 0); the chord is x + y = 1,
    # farthest from it (1 - x - y) / sqrt 2 is c = 0.5 (0.3 / sqrt 2).
    base = tiny([("x", "A", 100, 1.0), ("x", "B", 50, 2.0), ("x", "C", 100, 5.0)], DEM, tiers=TIERS)
    path = write_study(tmp_path, base, {"solver": {"rel_gap": 0}, "frontiers": {"f": {
        "measure": {"kind": "tier_share", "of": "concern"}, "levels": {"start": 0, "stop": 1, "num": 5}}}})
    report = run(path, tmp_path / "out")
    fr = pd.read_csv(tmp_path / "out" / "frontiers.csv")
    assert fr["total_cost"].tolist() == pytest.approx([350, 250, 150, 125, 100])
    assert fr["measure_value"].tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    assert fr.loc[fr["knee"], "level"].tolist() == [0.5]
    assert report.knees[0]["level"] == 0.5
    for name in ("frontier_f", "tier_shares_f"):
        for ext in ("png", "svg"):
            assert (tmp_path / "out" / "plots" / f"{name}.{ext}").stat().st_size > 1000


def test_knee_and_pareto_helpers():
    # On a straight line there is no knee; a dominated point is not on the frontier.
    assert find_knee([0, 1, 2], [2, 1, 0])[0] is None
    assert pareto([0.2, 0.5, 0.5, 1.0], [3, 2, 2.5, 1]) == [True, True, False, True]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), items=st.integers(1, 2), countries=st.integers(5, 8))
def test_frontier_is_monotone(seed, items, countries):
    inst = generate(items, countries, 1, seed)
    levels = [0.1, 0.3, 0.5, 0.7, 1.0]
    with tempfile.TemporaryDirectory() as d:
        path = write_study(Path(d), inst, {"compare": False, "solver": {"rel_gap": 0, "time_limit": 20},
                                           "frontiers": {"f": {"measure": {"kind": "tier_share", "of": "concern"},
                                                               "levels": levels}}})
        t = run(path, Path(d) / "out", tables=False, plots=False).table.sort_values("level")
    assert t["level"].tolist() == levels
    solved = t["status"].isin(SOLVED).tolist()
    # Feasibility is monotone: once a cap is loose enough, every looser cap is feasible too.
    assert solved == sorted(solved)
    s = t[t["status"].isin(SOLVED)]
    costs = s["objective"].tolist()
    # Loosening the cap never raises the least cost (exact optima: rel_gap 0, so only solver tolerances).
    for tighter, looser in zip(costs, costs[1:]):
        assert looser <= tighter * (1 + 1e-7) + 1e-6
    assert (s["measure_value"] <= s["level"] + 1e-6).all()


# --------------------------------------------------------------------------- failures
def test_failed_runs_are_recorded_and_the_study_goes_on(tmp_path):
    # J1 and J2 each need 50 t; A (concern) 100 t at 1/t reaches both, B (ally) 60 t only reaches J1.
    # concern <= 0.3: 70 t must come from outside concern, B has 60: rejected before solving.
    # concern <= 0.5: 50 t from outside passes that check, but J2 reaches no ally: the solver proves infeasible.
    # concern <= 1: everything from A, cost 100.
    base = tiny([("x", "A", 100, 1.0), ("x", "B", 60, 2.0)], [("J1", "x", 50), ("J2", "x", 50)], tiers=TIERS,
                lanes=[("A", "J1", "*", 0, 0), ("A", "J2", "*", 0, 0), ("B", "J1", "*", 0, 0)])
    path = write_study(tmp_path, base, {"grids": {"g": {"axes": {"policy.tier_caps.concern": [0.3, 0.5, 1.0]}}}})
    r = runner.invoke(app, ["study", str(path), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "2 failed" in r.output
    t = pd.read_csv(tmp_path / "out" / "results.csv").set_index("policy.tier_caps.concern")
    assert t.at[0.3, "status"] == "infeasible" and "rejected before solving" in t.at[0.3, "reason"]
    assert t.at[0.5, "status"] == "infeasible" and "provenInfeasible" in t.at[0.5, "reason"]
    assert t.at[1.0, "status"] == "optimal" and t.at[1.0, "objective"] == pytest.approx(100.0)
    assert not (tmp_path / "out" / "runs" / t.at[0.5, "run_id"]).exists()  # no folder without a solution


# --------------------------------------------------------------------------- kill and resume
def test_killed_study_resumes_with_every_run_exactly_once(tmp_path):
    inst = generate(3, 12, 2, 7)
    path = write_study(tmp_path, inst, {"grids": {"g": {"axes": {
        "policy.tier_caps.concern": [0.5, 0.45, 0.4, 0.35], "policy.country_share_cap": [0.6, 0.7, 0.8]}}}})
    out = tmp_path / "out"
    kept = kill_study_part_way(path, out, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert 3 <= len(kept) < 12, "the kill must land part-way"

    r = runner.invoke(app, ["study", str(path), "--out", str(out), "--workers", "1"])
    assert r.exit_code == 2 and "--resume" in r.output  # never silently mixed with old results
    r = runner.invoke(app, ["study", str(path), "--out", str(out), "--workers", "1", "--resume"])
    assert r.exit_code == 0, r.output
    assert f"{12 - len(kept)} run now, {len(kept)} kept from before" in r.output
    t = pd.read_csv(out / "results.csv")
    plan = [x["run_id"] for x in json.loads((out / "study.json").read_text())["runs"]]
    assert sorted(t["run_id"]) == sorted(plan) and t["run_id"].is_unique and len(plan) == 12
    assert sorted(p.stem for p in (out / "runs").glob("*.parquet")) == sorted(plan)
    for rid, mtime in kept.items():  # finished runs were not run again
        assert (out / "runs" / f"{rid}.parquet").stat().st_mtime_ns == mtime
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]  # no half-written leftovers
    assert json.loads((out / "study.json").read_text())["status"] == "complete"


# --------------------------------------------------------------------------- Dask
def test_dask_local_cluster_gives_the_serial_results(tmp_path):
    base = tiny(AB, DEM, tiers=TIERS, policy=Policy(tier_caps={"concern": 0.5}))
    path = write_study(tmp_path, base, {"solver": {"rel_gap": 0}, "grids": {"g": {"axes": {
        "policy.tier_caps.concern": [0.2, 0.4, 0.6, 0.8]}}}})
    serial = run(path, tmp_path / "s", plots=False).table.set_index("run_id")
    dask = run(path, tmp_path / "d", workers=2, processes=False, plots=False).table.set_index("run_id")
    assert sorted(serial.index) == sorted(dask.index)
    for rid in serial.index:
        assert dask.at[rid, "objective"] == pytest.approx(serial.at[rid, "objective"], rel=1e-9)
    assert read_table(tmp_path / "d")["run_id"].is_unique


# --------------------------------------------------------------------------- bad study files
@pytest.mark.parametrize("study,where", [
    ({"grids": {"g": {"axes": {"policy.nonsense": [1]}}}}, "grids.g.axes.policy.nonsense"),
    ({"grids": {"g": {"axes": {"policy.tier_caps.concern": [0.5, 1.5]}}}}, "grids.g.axes.policy.tier_caps.concern"),
    ({"scenarios": {"s": {"multiplier.nope": 2}}}, "scenarios.s.multiplier.nope"),
    ({"frontiers": {"f": {"measure": {"kind": "tier_share", "of": "galaxy"}, "levels": [0.5]}}}, "frontiers.f.measure.of"),
    ({"grids": {"g": {"axes": {"policy.tier_caps.concern": {"start": 0, "stop": 1}}}}}, "grids.g.axes.policy.tier_caps.concern"),
    ({"scenarios": {"s": {}}, "solver": {"time_limt": 5}}, "solver.time_limt"),
    ({}, "scenarios"),
])
def test_bad_study_file_exits_2_naming_file_key_and_value(tmp_path, study, where):
    path = write_study(tmp_path, tiny(AB, DEM, tiers=TIERS), study)
    out = tmp_path / "out"
    r = runner.invoke(app, ["study", str(path), "--out", str(out), "--workers", "1"])
    assert r.exit_code == 2, r.output
    assert "study.yaml" in r.output and where in r.output, r.output
    assert "Traceback" not in r.output
    assert not out.exists()  # nothing written


def test_persistent_resolves_report_each_runs_own_subsidy_and_costs():
    # Defect: on HiGHS 1.16.0 a re-solve offered the previous run's solution as a MIP start reported
    # the new objective but handed back the start, so the tables carried the previous run's subsidy
    # (rate 0.333333: objective 11,110,791 but total_cost 11,133,141 and public_subsidy 0).  Each
    # persistent re-solve must give the tables of a fresh solve of the same instance, its cost table
    # summing to its objective.
    from planner.results import solution as sol
    from planner.study import execute as se
    from planner.solve.highs import SolveOptions

    se.reset_worker_state()
    for rate in (0, 0.333333, 0.5):
        inst = load_instance(MINERALS, ["policy.tier_caps.concern=0.4", f"programmes.jp_minerals.rate={rate}"])
        res, m, info = se.solve_case(inst, "friendshored", SolveOptions(), persistent=True)
        s = sol.from_model(m, inst, res, "friendshored")  # raises if the tables disagree with the objective
        fresh_res, fresh = solve_single(inst, "friendshored")
        assert info["reused"] is (rate != 0)
        assert s.total_cost == pytest.approx(res.objective, rel=1e-9)
        assert res.objective == pytest.approx(fresh_res.objective, rel=1e-6), rate
        assert s.investments["subsidy"].sum() == pytest.approx(fresh.investments["subsidy"].sum(), rel=1e-6, abs=1e-6)
    se.reset_worker_state()


def test_a_cost_table_that_disagrees_with_the_objective_is_refused(solve_tiny):
    # The guard behind every solved case: tables computed from values other than the reported solution
    # (here one flow altered after the solve) never pass as a result.
    import models
    from planner.results import solution as sol
    from planner.errors import InconsistentResultError
    from planner.solve.highs import solve_model

    inst = tiny([("x", "A", 10, 1.0), ("x", "B", 10, 2.0)], [("J", "x", 5)])
    m = models.build(inst)
    res = solve_model(m)
    sol.from_model(m, inst, res, "friendshored")  # consistent: passes
    m.Flow["x", "A", "J"].value = 4.0
    with pytest.raises(InconsistentResultError, match="cost table sums to"):
        sol.from_model(m, inst, res, "friendshored")


@pytest.mark.parametrize("options,named", [
    ({"output_flag": True, "log_file": "LOG"}, "log_file"),
    ({"write_solution_to_file": True, "solution_file": "LOG"}, "solution_file"),
    ({"bogus_option": 1}, "bogus_option"),
    ({"presolve": 12}, "presolve"),
    ({"mip_heuristic_effort": "lots"}, "mip_heuristic_effort"),
])
def test_study_solver_options_are_allowed_typed_and_never_write_files(tmp_path, options, named):
    # Defect: solver.options {output_flag: true, log_file: /any/path} created that file; unknown options and
    # mistyped values were accepted silently.  Each is now exit 2 naming the option; nothing is written.
    target = tmp_path / "elsewhere" / "written.txt"
    options = {k: (str(target) if v == "LOG" else v) for k, v in options.items()}
    path = write_study(tmp_path, _subsidy_instance(), {"solver": {"options": options},
                                                       "scenarios": {"a": {"policy.n1_beta": 0}}})
    r = runner.invoke(app, ["study", str(path), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert r.exit_code == 2, r.output
    assert named in r.output and "Traceback" not in r.output
    assert not target.exists() and not (tmp_path / "o").exists()


def test_allowed_solver_options_pass():
    from planner.solve.highs import SolveOptions

    o = SolveOptions(solver_options={"mip_heuristic_effort": 0.1, "presolve": "off", "mip_max_nodes": 10})
    assert o.solver_options["presolve"] == "off"


def test_a_scenario_name_ending_in_a_newline_is_refused(tmp_path):
    # Defect: the name check (^...$) let "a\n" pass, and the run folder got a newline in its name.
    path = write_study(tmp_path, _subsidy_instance(), {"scenarios": {"a\n": {"policy.n1_beta": 0}}})
    r = runner.invoke(app, ["study", str(path), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert r.exit_code == 2, r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_study_headers_state_the_planned_run_count(path):
    # Issue 13, item 21: the header of minerals-subsidy-x-cap.yaml said 26 runs where 24 run.
    import re

    said = re.search(r"^# (\d+) runs", path.read_text(), re.M)
    assert said, f"{path.name}: its header should say how many runs it plans ('# N runs; ...')"
    assert int(said.group(1)) == len(load_study(path).runs)


def test_persistent_resolves_print_no_highs_warnings(tmp_path):
    # Issue 13, item 21: setting a subsidy rate to 0 made Pyomo push a 0 coefficient where the matrix
    # holds none; HiGHS printed "|Value| of 0 supplied to Highs::changeCoeff ... ignored" to the terminal.
    # The shipped study shows it (8 warnings on HiGHS 1.16.0, one process).
    study = ROOT / "studies" / "minerals-subsidy-x-cap.yaml"
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(study), "--out", str(tmp_path / "o"),
                        "--workers", "1"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # Only the first run builds: the scenario pricing Chinese supply 20 % higher re-solves in place too
    # (unit costs are mutable Params since issue 17).
    assert "persistent re-solves: 23 of 24" in " ".join(r.stdout.split())
    assert "changeCoeff" not in r.stdout + r.stderr and "WARNING" not in r.stdout + r.stderr


def test_a_refused_scheduler_address_fails_fast_with_exit_2(tmp_path):
    # Issue 13, item 12: a TCP address nobody listens on waited out Dask's 20 s connect timeout.
    # The probe says "connection refused" (Dask's own message is "Timed out ... after 20 s").
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = runner.invoke(app, ["study", str(ROOT / "studies" / "minerals-subsidy-x-cap.yaml"), "--out",
                            str(tmp_path / "o"), "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert r.exit_code == 2 and "connection refused" in " ".join(r.output.split())
    assert not (tmp_path / "o").exists()


def test_the_probe_lets_a_live_scheduler_through():
    from distributed import LocalCluster

    from planner.study.core import _probe

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        _probe(cluster.scheduler_address)


def test_a_study_run_and_solve_give_identical_kpi_tables_with_stress(tmp_path):
    # Issue 14: one three-case sequence (planner.analysis.compare.run_comparison) for `solve` and studies.
    # Before, study runs skipped the stress test: no stress table, no resilience KPIs.
    study = tmp_path / "s.yaml"
    study.write_text(f"name: s\nbase: {MINERALS}\nscenarios:\n  today: {{}}\n")
    r = runner.invoke(app, ["study", str(study), "--out", str(tmp_path / "st"), "--workers", "1"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["solve", str(MINERALS), "--out", str(tmp_path / "one")])
    assert r.exit_code == 0, r.output
    run_dir = next((tmp_path / "st" / "runs").glob("*/"))
    a = pd.read_csv(run_dir / "kpis.csv")
    b = pd.read_csv(tmp_path / "one" / "kpis.csv")
    assert "worst_case_shortfall_pct" in set(a["kpi"])  # the instance has scenarios: resilience KPIs are rows
    assert (run_dir / "stress.csv").exists()
    pd.testing.assert_frame_equal(a, b)
