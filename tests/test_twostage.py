"""Two-stage plans on mpi-sppy: progressive hedging reaches the extensive form's optimum on a small
instance solved by hand, on one rank in process and on two MPI ranks (mpiexec -n 2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner.instance.schema import Policy
from planner.solve.highs import SolveOptions
from planner.solve.twostage import solve_two_stage
from tests.conftest import tiny

# One importer J needs 10 t. A sells at 1/t and costs 5 to qualify; B sells at 2/t and costs 1.
# Scenario "normal" (p = 0.5): A holds 10 t; scenario "disrupted" (p = 0.5): A holds 4 t. B holds 10 t.
#   qualify A only: infeasible when disrupted (4 < 10);
#   qualify B only: 1 + 2 * 10 = 21 in both, expected 21;
#   qualify both:   6 now, then 10 * 1 = 10 (normal) or 4 * 1 + 6 * 2 = 16 (disrupted): 6 + (10 + 16) / 2 = 19.
# Optimum 19, both qualified. Planning for the normal case alone (A only, 15) would be infeasible.
OPTIMUM = 19.0


def _scenarios():
    def inst(cap_a):
        return tiny([("x", "A", cap_a, 1.0, 5.0), ("x", "B", 10, 2.0, 1.0)], [("J", "x", 10)],
                    policy=Policy(country_share_cap=1.0, min_suppliers=1))

    return {"normal": (0.5, inst(10)), "disrupted": (0.5, inst(4))}


def test_extensive_form_has_the_hand_computed_optimum():
    r = solve_two_stage(_scenarios(), "ef", SolveOptions(rel_gap=0.0))
    assert r.status == "optimal"
    assert r.objective == pytest.approx(OPTIMUM)
    assert r.first_stage["Qualify[x,A]"] == pytest.approx(1) and r.first_stage["Qualify[x,B]"] == pytest.approx(1)
    assert r.scenario_costs == pytest.approx({"normal": 16.0, "disrupted": 22.0})


def test_progressive_hedging_reaches_the_extensive_form_optimum():
    r = solve_two_stage(_scenarios(), "ph", SolveOptions(rel_gap=0.0), iterations=30)
    assert r.status in ("optimal", "feasible")
    assert r.objective == pytest.approx(OPTIMUM)
    assert r.first_stage["Qualify[x,A]"] == 1 and r.first_stage["Qualify[x,B]"] == 1
    # The wait-and-see bound: each scenario on its own, normal 15 (A only), disrupted 21 (B only): 18.
    assert r.bound == pytest.approx(18.0) and r.bound <= r.objective


def test_probabilities_must_sum_to_one():
    s = _scenarios()
    s["normal"] = (0.7, s["normal"][1])
    with pytest.raises(ValueError, match="sum to"):
        solve_two_stage(s, "ef")


def _mpiexec() -> str | None:
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


@pytest.mark.skipif(_mpiexec() is None, reason="no mpiexec (the mpich wheel of the dependencies brings one on Linux)")
def test_two_ranks_give_the_extensive_form_optimum(tmp_path):
    """`mpiexec -n 2 friendshore two-stage --method ph` on a shipped instance: the same expected cost
    as the extensive form solved in one process, written once (by rank 0)."""
    args = ["instances/critical-minerals-us-japan", "--samples", "4", "--gap", "0"]
    ef = subprocess.run([sys.executable, "-m", "planner", "two-stage", *args, "--out", str(tmp_path / "ef")],
                        capture_output=True, text=True, timeout=600)
    assert ef.returncode == 0, ef.stderr
    ph = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-m", "planner", "two-stage", *args, "--method", "ph",
                         "--iterations", "20", "--out", str(tmp_path / "ph")], capture_output=True, text=True, timeout=900)
    assert ph.returncode == 0, ph.stderr
    a = json.loads((tmp_path / "ef" / "run.json").read_text())
    b = json.loads((tmp_path / "ph" / "run.json").read_text())
    assert a["status"] == "optimal"
    assert b["two_stage"]["ranks"] == 2
    assert b["objective"] == pytest.approx(a["objective"], rel=1e-9)
    assert b["bound"] <= a["objective"] + 1e-6
    assert ph.stdout.count("two-stage plan (ph") == 1  # only rank 0 prints


@pytest.mark.parametrize("instance, named", [("instances/transport", "ranges.csv"),  # no ranges to draw from
                                              ("instances/batteries-japan-2035", "periods.csv")])  # periods
def test_two_stage_refuses_what_it_cannot_plan(tmp_path, instance, named):
    r = subprocess.run([sys.executable, "-m", "planner", "two-stage", instance, "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert named in r.stdout + r.stderr and "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "o").exists()


def test_progressive_hedging_keeps_its_plan_within_the_bounds(caplog):
    """The consensus plan is an average over scenarios: a stock level every scenario holds at its
    lower bound came out 4e-12 below it, and fixing it there made Pyomo warn (W1002) on every run."""
    import models
    from models.stages import first_stage
    from planner.instance.io import load_instance
    from planner.study.spec import TwoStageSpec
    from planner.study.twostage import run_two_stage

    inst = load_instance("instances/critical-minerals-us-japan")
    with caplog.at_level("WARNING", logger="pyomo.core"):
        run = run_two_stage(inst, TwoStageSpec(samples=3, method="ph", iterations=5), SolveOptions())
    assert run.result.status in ("optimal", "feasible")
    assert not [r for r in caplog.records if "outside the bounds" in r.getMessage()]
    m = models.build(inst)
    for v in first_stage(m)[1]:
        x = run.result.first_stage[v.name]
        assert (v.lb is None or x >= v.lb) and (v.ub is None or x <= v.ub), (v.name, x, v.lb, v.ub)


def test_solve_two_stage_is_the_two_stage_command(tmp_path):
    """`solve --two-stage N` makes the plan `two-stage --samples N` makes: the same settings, checks
    and outputs (one code path in the command line)."""
    inst = "instances/critical-minerals-us-japan"
    a = subprocess.run([sys.executable, "-m", "planner", "two-stage", inst, "--samples", "3", "--gap", "0",
                        "--out", str(tmp_path / "a")], capture_output=True, text=True, timeout=600)
    b = subprocess.run([sys.executable, "-m", "planner", "solve", inst, "--two-stage", "3", "--decomposition", "ef",
                        "--gap", "0", "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=600)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ra, rb = (json.loads((tmp_path / x / "run.json").read_text()) for x in "ab")
    assert rb["status"] == "optimal" and rb["two_stage"]["samples"] == 3 and rb["two_stage"]["method"] == "ef"
    assert rb["objective"] == pytest.approx(ra["objective"], rel=1e-12)
    assert (tmp_path / "a" / "first_stage.csv").read_text() == (tmp_path / "b" / "first_stage.csv").read_text()


@pytest.mark.parametrize("args, named", [
    (["--decomposition", "ph"], "--decomposition"),           # a method without --two-stage
    (["--two-stage", "2", "--report"], "--report"),            # options of the single plan
    (["--two-stage", "0"], "--two-stage"),                    # at least one scenario
    (["--two-stage", "2", "--decomposition", "bd"], "ef or ph"),
])
def test_solve_refuses_bad_two_stage_options(tmp_path, args, named):
    r = subprocess.run([sys.executable, "-m", "planner", "solve", "instances/critical-minerals-us-japan", *args,
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    text = r.stdout + r.stderr
    assert named in text.replace("'", "") and "Traceback" not in text
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- in study files
ROOT = Path(__file__).resolve().parents[1]
MINERALS = ROOT / "instances" / "critical-minerals-us-japan"


def _study(tmp_path, body: dict) -> Path:
    import yaml

    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "compare": False, "solver": {"rel_gap": 0}, **body}, sort_keys=False))
    return path


def test_a_study_two_stage_run_is_the_two_stage_plan_of_its_scenario(tmp_path):
    """A study's two_stage: entry is one run: the plan `run_two_stage` makes on the study's base with
    the named scenario's overrides, its tables in the run folder and its expected cost in the row."""
    from planner.instance.io import apply_overrides, load_instance
    from planner.study.core import run_study
    from planner.study.plan import load_study
    from planner.study.spec import TwoStageSpec
    from planner.study.twostage import run_two_stage

    dear = {"supply.cobalt:CD.unit_cost": 40000}
    path = _study(tmp_path, {"base": str(MINERALS), "scenarios": {"dear": dear},
                             "two_stage": {"plain": {"samples": 3}, "hedged": {"scenario": "dear", "samples": 3,
                                                                               "seed": 5}}})
    study = load_study(path)
    assert [r.kind for r in study.runs] == ["scenario", "two_stage", "two_stage"]
    rep = run_study(study, tmp_path / "out", workers=1, progress=False, plots=False)
    t = rep.table.set_index("group")
    inst = load_instance(MINERALS)
    for group, base, spec in (("plain", inst, TwoStageSpec(samples=3)),
                              ("hedged", apply_overrides(inst, dear), TwoStageSpec(samples=3, seed=5))):
        direct = run_two_stage(base, spec, SolveOptions(rel_gap=0.0)).result
        row = t.loc[group]
        assert row["status"] == "optimal" and row["kind"] == "two_stage"
        assert row["objective"] == pytest.approx(direct.objective, rel=1e-9)
        folder = tmp_path / "out" / "runs" / row["run_id"]
        costs = pd.read_csv(folder / "scenario_costs.csv")
        # The expected cost is the probability-weighted sum of the plan's scenario costs.
        assert (costs["probability"] * costs["cost"]).sum() == pytest.approx(row["objective"], rel=1e-9)
        rec = json.loads((folder / "run.json").read_text())
        assert rec["study"]["kind"] == "two_stage" and rec["two_stage"]["samples"] == 3
        assert rec["objective"] == pytest.approx(row["objective"])
    # The dearer Congolese cobalt costs the hedged plan more than the plain one.
    assert t.loc["hedged", "objective"] > t.loc["plain", "objective"]


@pytest.mark.parametrize("body, where", [
    ({"base": str(ROOT / "instances" / "batteries-japan-2035"), "two_stage": {"p": {}}}, "two_stage.p"),
    ({"base": str(ROOT / "instances" / "transport"), "two_stage": {"p": {}}}, "ranges.csv"),
    ({"base": str(MINERALS), "two_stage": {"p": {"ranges": ["supply.nope:XX.capacity"]}}}, "two_stage.p.ranges"),
    ({"base": str(MINERALS), "two_stage": {"p": {"scenario": "missing"}}}, "two_stage.p.scenario"),
    ({"base": str(MINERALS), "two_stage": {"p": {"method": "benders"}}}, "two_stage.p.method"),
    ({"base": str(MINERALS), "two_stage": {"p": {"samples": 0}}}, "two_stage.p.samples"),
])
def test_bad_two_stage_study_entries_exit_2(tmp_path, body, where):
    path = _study(tmp_path, body)
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(path), "--out", str(tmp_path / "o"),
                        "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    assert where in r.stdout + r.stderr and "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "o").exists()


def test_the_study_report_shows_its_two_stage_plans(tmp_path):
    path = _study(tmp_path, {"base": str(MINERALS), "two_stage": {"hedged": {"samples": 2}}})
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(path), "--out", str(out), "--workers", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    row = pd.read_csv(out / "results.csv").iloc[0]
    r = subprocess.run([sys.executable, "-m", "planner", "report", str(out), "--to", str(tmp_path / "r.html")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    page = (tmp_path / "r.html").read_text()
    assert "Two-stage plans" in page and f"{row['objective']:,.0f}" in page
