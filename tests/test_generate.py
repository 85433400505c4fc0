"""The synthetic generator: deterministic, valid at every size, feasible under its default policy."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.instance import io
from planner.instance.generate import DEFAULT_POLICY, generate, write_generated


def test_same_seed_same_instance():
    assert generate(5, 20, 3, seed=7).model_dump() == generate(5, 20, 3, seed=7).model_dump()


def test_different_seed_different_instance():
    assert generate(5, 20, 3, seed=7).model_dump() != generate(5, 20, 3, seed=8).model_dump()


def test_same_seed_same_files(tmp_path):
    write_generated(tmp_path / "a", 4, 12, 2, seed=3)
    write_generated(tmp_path / "b", 4, 12, 2, seed=3)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes(), n


def test_sizes_and_structure():
    inst = generate(6, 15, 3, seed=1)
    assert len(inst.items) == 6 and len(inst.countries) == 15
    assert {d.importer for d in inst.demand} == {c.code for c in inst.countries[:3]}
    assert inst.policy == DEFAULT_POLICY
    assert {c.tier for c in inst.countries} <= set(inst.meta.tiers)
    assert any(c.tier == "concern" for c in inst.countries)
    assert len(inst.investments) == 6 and len(inst.programmes) == 2
    assert all(ln.item == "*" for ln in inst.lanes)


@pytest.mark.parametrize("args", [(0, 5, 1), (2, 2, 1), (2, 5, 0), (2, 5, 6)])
def test_bad_sizes_rejected(args):
    with pytest.raises(ValueError):
        generate(*args, seed=0)


@settings(max_examples=25, deadline=None)
@given(
    items=st.integers(1, 8),
    countries=st.integers(3, 20),
    importers=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_generated_instance_loads(items, countries, importers, seed):
    importers = min(importers, countries)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gen"
        inst = write_generated(out, items, countries, importers, seed)
        loaded = io.load_instance(out)  # raises InstanceError listing every problem
    assert io.instance_hash(loaded) == io.instance_hash(inst)
    for variant in inst.meta.variants:
        io.apply_overrides(inst, variant=variant)


@pytest.mark.parametrize("args", [(1, 3, 1, 0), (3, 6, 3, 1), (8, 20, 4, 2)])
def test_default_policy_feasible(args):
    from planner.analysis.compare import run_comparison
    from planner.solve.highs import SolveOptions

    cmp = run_comparison(generate(*args), SolveOptions(time_limit=30))
    assert cmp.results["friendshored"].has_solution
    assert cmp.results["cost_only"].has_solution
    assert cmp.solutions["baseline"] is not None


def test_scenarios_are_added_without_changing_the_rest(tmp_path):
    # Scenarios come from their own random stream: supply, demand and baseline stay as
    # without them, and the same seed gives the same scenarios.
    from planner.instance.generate import generate, write_generated
    from planner.instance.io import load_instance

    plain = generate(4, 12, 2, seed=5)
    rich = generate(4, 12, 2, seed=5, scenarios=9)
    assert rich.supply == plain.supply and rich.demand == plain.demand and rich.baseline == plain.baseline
    assert len(rich.scenarios) == 9 and len({s.id for s in rich.scenarios}) == 9
    assert rich.stock and rich.policy.scenario_mode == "expected"
    assert generate(4, 12, 2, seed=5, scenarios=9).scenarios == rich.scenarios
    back = load_instance(tmp_path / "i") if write_generated(tmp_path / "i", 4, 12, 2, 5, scenarios=9) else None
    assert back.scenarios == rich.scenarios


def test_a_draw_of_only_concern_tier_producers_still_generates():
    # Defect found by the property test below: with seed 3915570 (3 items, 12 countries) every producer drawn
    # for one item was of the concern tier, so the concern cap could not hold and generation raised RuntimeError.
    from planner.instance.generate import generate

    inst = generate(items=3, countries=12, importers=3, seed=3915570)
    tier = {c.code: c.tier for c in inst.countries}
    for item in {s.item for s in inst.supply}:
        assert any(tier[s.country] != "concern" for s in inst.supply if s.item == item)
