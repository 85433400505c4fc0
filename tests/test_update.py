"""models.update: the model's public re-solve API (issue 14). A built model re-pointed at another
instance of the same structure solves to that instance's own optimum, whichever way its Params
are set (a family's setter, or a copy from a scratch build), and refuses another structure."""

from __future__ import annotations

from pathlib import Path

import pytest

import models
from planner.instance.io import apply_overrides, load_instance
from planner.solve.highs import SolveOptions, solve_model

ROOT = Path(__file__).resolve().parents[1]
EXACT = SolveOptions(rel_gap=0)


def _optimum(m) -> float:
    res = solve_model(m, EXACT)
    assert res.proven_optimal
    return res.objective


@pytest.mark.parametrize("instance,overrides", [
    ("critical-minerals-us-japan", {"programmes.jp_minerals.rate": 0.5, "policy.tier_caps.concern": 0.4}),
    ("critical-minerals-us-japan", {"policy.country_share_cap": 0.75, "policy.n1_beta": 0.45}),
    # The stage cap's Param has no setter: every Param is copied from a scratch build.
    ("rare-earth-magnets", {"policy.tier_caps.concern": 0.45}),
])
def test_update_gives_the_optimum_of_a_fresh_build(instance, overrides):
    variant = "separation_cap" if instance == "rare-earth-magnets" else None
    base = load_instance(ROOT / "instances" / instance, variant=variant)
    other = apply_overrides(base, overrides)
    m = models.build(base)
    _optimum(m)
    assert models.update(m, other)
    assert _optimum(m) == pytest.approx(_optimum(models.build(other)), rel=1e-9)


def test_update_refuses_another_structure_and_changes_nothing():
    base = load_instance(ROOT / "instances" / "rare-earth-magnets")
    m = models.build(base)
    before = _optimum(m)
    # A cap on another tier adds Tier_Share_Cap rows: another structure.
    other = apply_overrides(base, {"policy.tier_caps.neutral": 0.9})
    assert not models.update(m, other)
    assert _optimum(m) == pytest.approx(before, rel=1e-9)


@pytest.mark.parametrize("instance", ["critical-minerals-us-japan", "batteries-japan", "semiconductors-chip4",
                                      "rare-earth-magnets"])
def test_sampled_inputs_re_solve_in_place_to_a_fresh_build_s_optimum(instance):
    # An uncertainty study's samples move capacities, unit costs, capex and probabilities (ranges.csv):
    # all live in mutable Params, so one persistent model (and its HiGHS copy) is re-pointed sample
    # after sample and must reach each sample's own optimum. rare-earth-magnets is multi-tier: its
    # capacities are structure (feed-link coefficients), so a sample moving one needs a rebuild.
    from planner.solve.persistent import PersistentModel
    from planner.study.uncertainty import draw

    base = load_instance(ROOT / "instances" / instance)
    kept, first = PersistentModel.first(base, EXACT)
    assert first.proven_optimal
    reused = 0
    for sample in draw(list(base.ranges), 4, "lhs", 7):
        other = apply_overrides(base, sample)
        fresh = solve_model(models.build(other), EXACT)
        again = kept.resolve(other, EXACT)
        moves_capacity = any(k.endswith(".capacity") for k in sample)
        if instance == "rare-earth-magnets" and moves_capacity:
            assert again is None
            continue
        assert again is not None, "a sample of table values must not need another structure"
        res, _ = again
        reused += 1
        assert res.proven_optimal and res.objective == pytest.approx(fresh.objective, rel=1e-9)
    assert reused or instance == "rare-earth-magnets"


def test_a_capacity_moved_in_place_moves_the_flow_link_coefficient_too(tmp_path):
    # tests/test_explain.py's instance: JP needs 100 t; CN (10/t) capped at 50 % by the concern cap,
    # AU 40 t at 20, US at 30: CN 50 + AU 40 + US 10 = 1600. With AU at 60 t: CN 50 + AU 50 = 1500.
    # Flow_Link's coefficient min(AU's capacity, demand) must follow the capacity: left at 40 it would
    # hold AU to 40 t and the re-solve would stay at 1600.
    from tests.test_explain import instance

    base = instance(tmp_path)
    m = models.build(base)
    assert _optimum(m) == pytest.approx(1600)
    assert models.update(m, apply_overrides(base, {"supply.ndpr:AU.capacity": 60}))
    assert _optimum(m) == pytest.approx(1500)
