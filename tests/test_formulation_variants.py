"""Every formulation variant (models.FORMULATIONS) has the default's optimum on the known-optimum instances.

The instances and their optima are those of tests/test_models.py, where each is derived by hand;
the variants differ only in how tightly they state the same feasible set.
"""

from __future__ import annotations

import pytest
from pyomo.environ import UnitInterval, Var

import models
from planner.instance.schema import Investment, Policy, Programme
from planner.solve.highs import SolveOptions, make_solver, solve_model
from tests.conftest import tiny

AB = [("x", "A", 100, 1.0), ("x", "B", 100, 2.0)]  # A: 100 t at 1/t, B: 100 t at 2/t
DEM = [("J", "x", 100)]  # importer J needs 100 t
QUAL = [("x", "A", 100, 1.0, 10.0), ("x", "B", 100, 2.0, 10.0)]  # qualifying costs 10 each
# N-1 backup far above b = beta * demand: A 1000 t at 5/t, B 100 t at 1/t, qualifying 10 each.
BIG_BACKUP = [("x", "A", 1000, 5.0, 10.0), ("x", "B", 100, 1.0, 10.0)]


def _plant(rate: float, budget: float = 1e6):
    # JP imports from CN at 10/t (1000) or builds a plant (capex 500) producing at 6/t: 600 + 500(1 - r).
    return tiny(
        [("x", "CN", 100, 10.0), ("x", "JP", 0, 6.0)], [("JP", "x", 100)],
        tiers={"CN": "concern", "JP": "ally"},
        investments=[Investment(option="jp_plant", item="x", country="JP", capacity=100, capex=500, programmes=("jp",))],
        programmes=[Programme(id="jp", funding_country="JP", rate=rate, budget=budget)],
    )


CASES = {
    # cheapest: all 100 from A at 1
    "cost_only": (lambda: tiny(AB, DEM), 100.0),
    # cap 0.6: 60*1 + 40*2
    "country_cap": (lambda: tiny(AB, DEM, policy=Policy(country_share_cap=0.6)), 140.0),
    # concern-tier A capped at 0.2: 20*1 + 80*2
    "tier_cap": (lambda: tiny(AB, DEM, tiers={"A": "concern"}, policy=Policy(tier_caps={"concern": 0.2})), 180.0),
    # group cap 0.3 on A: 30*1 + 70*2
    "group_cap": (lambda: tiny(AB, DEM, groups={"A": ("G",)}, policy=Policy(group_caps={"G": 0.3})), 170.0),
    # A only, qualified: 100 + 10
    "qualification": (lambda: tiny(QUAL, DEM), 110.0),
    # k = 2: both qualified, flows from A: 100 + 20
    "min_suppliers": (lambda: tiny(QUAL, DEM, policy=Policy(min_suppliers=2)), 120.0),
    # k = 2, B minimum order 30: 70*1 + 30*2 + 10 + 10
    "min_order": (lambda: tiny([QUAL[0], ("x", "B", 100, 2.0, 10.0, 30.0)], DEM, policy=Policy(min_suppliers=2)), 150.0),
    # beta 0.5: B qualified as backup: 100 + 10 + 10
    "n1": (lambda: tiny(QUAL, DEM, policy=Policy(n1_beta=0.5)), 120.0),
    # beta 0.5, B has no capacity: qualify B (10) and build 60 t (5): 100 + 10 + 10 + 5
    "n1_built": (lambda: tiny([QUAL[0], ("x", "B", 0, 2.0, 10.0)], DEM, policy=Policy(n1_beta=0.5),
                              investments=[Investment(option="b1", item="x", country="B", capacity=60, capex=5)]), 125.0),
    # beta 0.5: losing B needs A (1000 >= 50), losing A needs B: both qualified, all 100 from B at 1: 100 + 10 + 10
    "n1_big_backup": (lambda: tiny(BIG_BACKUP, DEM, policy=Policy(n1_beta=0.5)), 120.0),
    # r = 1/3: 600 + 500*2/3 < 1000, the plant is built
    "subsidy": (lambda: _plant(1 / 3), 600 + 500 * 2 / 3),
    # budget 150 binds: 600 + 500 - 150
    "budget": (lambda: _plant(1 / 3, budget=150), 950.0),
    # 60 t at 1/t, 40 t short at 5/t: 60 + 200 (cover rows must not forbid the shortage)
    "shortage": (lambda: tiny([("x", "A", 60, 1.0)], DEM, policy=Policy(allow_shortage=True, shortage_penalty=5.0)), 260.0),
}


@pytest.mark.parametrize("formulation", sorted(models.FORMULATIONS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_variant_has_the_known_optimum(formulation, case):
    make, expected = CASES[case]
    inst = make()
    m = models.build(inst, formulation)
    res = solve_model(m)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(expected, rel=1e-7)
    # ... and the same as the default formulation's.
    assert res.objective == pytest.approx(solve_model(models.build(inst)).objective, rel=1e-7)


def test_variant_detects_infeasibility():
    # A country cap of 0.4 with two suppliers covers only 80 of 100.
    inst = tiny(AB, DEM, policy=Policy(country_share_cap=0.4))
    for f in models.FORMULATIONS:
        assert solve_model(models.build(inst, f)).status in ("infeasible", "infeasible_or_unbounded"), f


def test_capped_link_follows_a_changed_mutable_cap():
    # "capped" puts the mutable cap into the linking row; a persistent re-solve after raising the cap
    # from 0.6 (60*1 + 40*2 = 140) to 0.9 (90*1 + 10*2 = 110) must see the new cap.
    m = models.build(tiny(AB, DEM, policy=Policy(country_share_cap=0.6)), "capped")
    opt = make_solver()
    assert solve_model(m, SolveOptions(), solver=opt).objective == pytest.approx(140.0)
    m.country_share_cap_frac["x"] = 0.9
    assert solve_model(m, SolveOptions(), solver=opt).objective == pytest.approx(110.0)


def test_unknown_formulation_is_rejected():
    with pytest.raises(ValueError, match="unknown formulation"):
        models.build(tiny(AB, DEM), "loose")


def _root_lp(m) -> float:
    # LP relaxation: every binary becomes a [0, 1] continuous variable.
    for v in m.component_data_objects(Var):
        if v.is_binary():
            v.domain = UnitInterval
    res = solve_model(m)
    assert res.status == "optimal"
    return res.objective


def test_n1_coefficient_reduction_raises_the_root_bound():
    # BIG_BACKUP, demand 100, beta 0.5, so b = 50.  Integer optimum 120 (CASES["n1_big_backup"]).
    # LP of `tight`: Flow_Link Flow_B <= min(100, 100) * Q_B, so serving 100 t from B (1/t, the cheapest) takes
    # Q_B = 1 (cost 100 + 10); losing B leaves 1000 * Q_A >= 50, so Q_A = 0.05 costs 0.5: bound 110.5.
    # `tight_n1` states that row as min(1000, 50) * Q_A >= 50, so Q_A = 1: bound 100 + 10 + 10 = 120, the optimum.
    inst = tiny(BIG_BACKUP, DEM, policy=Policy(n1_beta=0.5))
    assert _root_lp(models.build(inst, "tight")) == pytest.approx(110.5, rel=1e-7)
    assert _root_lp(models.build(inst, "tight_n1")) == pytest.approx(120.0, rel=1e-7)


def test_n1_reduction_is_built_for_one_beta():
    # Why a study must rebuild a `tight_n1` model when beta rises (models.structure_key):
    # A 60 t at 5/t, B 100 t at 1/t, qualifying 10 each, demand 100.  Built with beta 0.5 (b = 50) the
    # coefficients are min(60, 50) = min(100, 50) = 50.  Raised in place to 0.6 (b = 60), losing B leaves
    # 50 * Q_A >= 60: infeasible, while the plan "both qualified, 100 from B" (100 + 10 + 10 = 120) is feasible
    # (60 >= 60) and a rebuild finds it.  Lowered in place to 0.4 (b = 40) the built row stays valid: 120 again.
    supply = [("x", "A", 60, 5.0, 10.0), ("x", "B", 100, 1.0, 10.0)]
    m = models.build(tiny(supply, DEM, policy=Policy(n1_beta=0.5)), "tight_n1")
    m.n1_beta_frac["x"] = 0.6
    assert solve_model(m).status in ("infeasible", "infeasible_or_unbounded")
    assert solve_model(models.build(tiny(supply, DEM, policy=Policy(n1_beta=0.6)), "tight_n1")).objective == pytest.approx(120.0)
    m.n1_beta_frac["x"] = 0.4
    assert solve_model(m).objective == pytest.approx(120.0)
