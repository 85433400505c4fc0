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
