"""Two-stage plans on mpi-sppy: progressive hedging reaches the extensive form's optimum on a small
instance solved by hand, on one rank in process and on two MPI ranks (mpiexec -n 2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

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
