"""Multi-tier supply chains: bill of materials, feeds, exposure, stage and upstream caps, baseline, stress, checks.

Every expected optimum and share is derived by hand in a comment; the
``solve_tiny`` fixture also checks that the cost table (inputs included)
sums to the model's objective.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import models
from planner.analysis import stress as st
from planner.errors import InstanceError
from planner.instance.io import load_instance, write_instance
from planner.instance.schema import (Baseline, Bom, Country, Demand, Instance, Item, Lane, Meta, Policy, Scenario, Stage,
                            Stock, Supply)

ROOT = Path(__file__).resolve().parents[1]
MAGNETS = ROOT / "instances" / "rare-earth-magnets"


def chain(cap_a: float = 300, policy: Policy | None = None, tiers: dict | None = None, baseline=(), scenarios=(),
          chokepoint: str = "") -> Instance:
    """Two stages: ore (mines A, B) -> metal (plants R, S), 2 t of ore per t of metal; importer J needs 100 t.

    Ore: A cap ``cap_a`` at 1/t, B 300 at 2/t.  Metal (conversion cost): R 100 at 5/t, S 100 at 4/t.
    Lanes free except A -> S (transport 1/t); A -> R may pass ``chokepoint``.
    Per t of metal: R with A ore 5 + 2*1 = 7; R with B ore 5 + 2*2 = 9; S with A ore 4 + 2*(1+1) = 8;
    S with B ore 4 + 2*2 = 8.
    """
    tiers = tiers or {}
    codes = ["A", "B", "J", "R", "S"]
    return Instance(
        meta=Meta(name="chain", policy=policy or Policy()),
        countries=tuple(Country(code=c, name=c, tier=tiers.get(c, "ally")) for c in codes),
        items=(Item(id="ore", name="ore", unit="t", stage="mine"), Item(id="metal", name="metal", unit="t",
                                                                         stage="refine")),
        stages=(Stage(id="mine", order=1), Stage(id="refine", order=2)),
        bom=(Bom(output="metal", input="ore", quantity=2.0),),
        supply=(Supply(item="ore", country="A", capacity=cap_a, unit_cost=1.0),
                Supply(item="ore", country="B", capacity=300, unit_cost=2.0),
                Supply(item="metal", country="R", capacity=100, unit_cost=5.0),
                Supply(item="metal", country="S", capacity=100, unit_cost=4.0)),
        demand=(Demand(importer="J", item="metal", quantity=100),),
        lanes=(Lane(origin="A", importer="R", chokepoints=(chokepoint,) if chokepoint else ()),
               Lane(origin="B", importer="R"), Lane(origin="A", importer="S", transport_cost=1.0),
               Lane(origin="B", importer="S"), Lane(origin="R", importer="J"), Lane(origin="S", importer="J")),
        baseline=tuple(baseline),
        scenarios=tuple(scenarios),
    )


def vol(df, **key) -> dict:
    for k, v in key.items():
        df = df[df[k] == v]
    return dict(zip(df["country"], df["volume"]))


def row(df, **key):
    for k, v in key.items():
        df = df[df[k] == v]
    assert len(df) == 1, df
    return df.iloc[0]


# --------------------------------------------------------------------------- the model
def test_two_stage_chain_by_hand(solve_tiny):
    # Cheapest per t of metal is R with A ore (7): 100 t from R, 200 t of ore from A: 100*5 + 200*1 = 700.
    res, s = solve_tiny(chain())
    assert res.status == "optimal" and res.objective == pytest.approx(700.0)
    assert vol(s.allocations) == {"R": pytest.approx(100.0)}
    assert vol(s.feeds, destination="R") == {"A": pytest.approx(200.0)}
    costs = dict(zip(s.costs["component"], s.costs["value"]))
    assert costs["purchase"] == pytest.approx(500.0) and costs["feed_purchase"] == pytest.approx(200.0)


def test_scarce_cheap_ore_is_used_where_it_saves_most(solve_tiny):
    # A has 150 t of ore (75 t of metal). A ore saves 2/t of ore at R (1 vs 2) but nothing at S (1+1 vs 2), so
    # 75 t of metal from R with A ore (7) and the other 25 t from S with B ore (8): 525 + 200 = 725.
    res, s = solve_tiny(chain(150))
    assert res.objective == pytest.approx(725.0)
    assert vol(s.allocations) == {"R": pytest.approx(75.0), "S": pytest.approx(25.0)}
    assert vol(s.feeds, destination="R") == {"A": pytest.approx(150.0)}
    assert vol(s.feeds, destination="S") == {"B": pytest.approx(50.0)}


def test_exposure_through_an_intermediate_country_by_hand(solve_tiny):
    # Same plan with A (a mine only) in the concern tier. J buys nothing from A (direct 0), but R's 75 t came from
    # A's ore alone and S's 25 t from B's: 75 of J's 100 t pass through A upstream (0.75).
    _, s = solve_tiny(chain(150, tiers={"A": "concern"}))
    exp = s.exposure
    a = row(exp["exposure"], importer="J", item="metal", country="A")
    assert (a["direct_share"], a["upstream_share"]) == pytest.approx((0.0, 0.75))
    r = row(exp["exposure"], country="R")
    assert (r["direct_share"], r["upstream_share"]) == pytest.approx((0.75, 0.75))
    t = row(exp["exposure_tiers"], tier="concern")
    assert (t["direct_share"], t["upstream_share"]) == pytest.approx((0.0, 0.75))
    assert row(exp["exposure_stages"], stage="mine", country="A")["share"] == pytest.approx(0.75)
    assert row(exp["exposure_stages"], stage="refine", country="S")["share"] == pytest.approx(0.25)


def test_exposure_of_a_plant_with_two_inputs_is_its_scarcest():
    # Plant R makes 100 t of metal from 1 t ore (all from A) and 1 t flux per t: 40 t of flux from X, 60 t
    # from Y.  Losing X cuts R's flux by 40 %, so R (and J) lose 40 %; losing A cuts all ore: 100 %.
    from planner.results.exposure import exposure_tables

    inst = Instance(
        meta=Meta(name="two-inputs"),
        countries=tuple(Country(code=c, name=c, tier="ally") for c in "AJRXY"),
        items=(Item(id="ore", name="ore", unit="t"), Item(id="flux", name="flux", unit="t"),
               Item(id="metal", name="metal", unit="t")),
        bom=(Bom(output="metal", input="ore", quantity=1.0), Bom(output="metal", input="flux", quantity=1.0)),
        supply=tuple(Supply(item=i, country=c, capacity=100, unit_cost=1.0)
                     for i, c in [("ore", "A"), ("flux", "X"), ("flux", "Y"), ("metal", "R")]),
        demand=(Demand(importer="J", item="metal", quantity=100),),
    )
    flows = {("metal", "R", "J"): 100.0}
    feeds = {("ore", "A", "R"): 100.0, ("flux", "X", "R"): 40.0, ("flux", "Y", "R"): 60.0}
    exp = exposure_tables(inst, flows, feeds)["exposure"].set_index("country")["upstream_share"].to_dict()
    assert exp == pytest.approx({"A": 1.0, "R": 1.0, "X": 0.4, "Y": 0.6})


def test_upstream_cap_by_hand(solve_tiny):
    # A (concern) has 150 t of ore; at most 50 % of J's metal may pass through the concern tier: 50 t of metal
    # from R with 100 t of A ore (7 each) and 50 t from S with B ore (8 each): 350 + 400 = 750.
    inst = chain(150, Policy(upstream_caps={"concern": 0.5}), {"A": "concern"})
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(750.0)
    assert row(s.exposure["exposure_tiers"], tier="concern")["upstream_share"] == pytest.approx(0.5)


def test_stage_cap_by_hand(solve_tiny):
    # R (refine stage) is a partner; refining in partners <= 30 %: 30 t from R with A ore (7 each: 210) and
    # 70 t from S at 8 (ore from A or B costs 2 per t there either way): 560.  Total 770.
    inst = chain(150, Policy(stage_caps={"refine": {"partner": 0.3}}), {"R": "partner"})
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(770.0)
    assert vol(s.allocations) == {"R": pytest.approx(30.0), "S": pytest.approx(70.0)}


def test_a_cap_on_a_tier_no_path_touches_adds_no_row():
    m = models.build(chain(150, Policy(upstream_caps={"concern": 0.1}), {"A": "ally"}))
    assert len(m.Upstream_Share_Cap) == 0 and "Upstream_Share_Cap" not in getattr(m, "policy_constraints", set())


def test_input_suppliers_are_qualified(solve_tiny):
    # Qualifying A's mine costs 100: R with A ore costs 700 + 100 = 800, S with B ore 100 * 8 = 800 (a tie);
    # whichever is chosen, every mine that feeds a plant is qualified.
    inst = chain()
    sup = tuple(s.model_copy(update={"qualification_cost": 100.0}) if (s.item, s.country) == ("ore", "A") else s
                for s in inst.supply)
    res, s = solve_tiny(inst.replace(supply=sup))
    assert res.objective == pytest.approx(800.0)
    q = s.suppliers.set_index(["item", "country"])["qualified"]
    assert all(q[("ore", c)] for c, v in vol(s.feeds).items() if v > 1e-6)


def test_single_tier_models_are_unchanged():
    from tests.conftest import tiny

    m = models.build(tiny([("x", "A", 100, 1.0)], [("J", "x", 100)]))
    assert len(m.FEED_ROUTES) == 0 and len(m.Bom_Balance) == 0 and len(m.TAGS) == 0
    assert not any(name.startswith("feed_") for name in m.cost_terms)


# --------------------------------------------------------------------------- baseline and stress
def test_baseline_splits_plant_inputs_by_its_rows():
    # Today: J buys all metal from R; R's ore 25 % from A, 75 % from B: 200 t of ore = 50 + 150.
    # Cost 100*5 + 50*1 + 150*2 = 850; A's upstream share of J's metal is 25 %.
    from planner.results.solution import from_baseline

    base = [Baseline(importer="J", item="metal", country="R", share=1.0),
            Baseline(importer="R", item="ore", country="A", share=0.25),
            Baseline(importer="R", item="ore", country="B", share=0.75)]
    s = from_baseline(chain(baseline=base))
    assert s.total_cost == pytest.approx(850.0)
    assert vol(s.feeds) == {"A": pytest.approx(50.0), "B": pytest.approx(150.0)}
    assert row(s.exposure["exposure"], country="A")["upstream_share"] == pytest.approx(0.25)
    assert not s.notes


def test_baseline_without_input_rows_splits_by_capacity():
    # No rows for R's ore: split by capacity among the mines reaching R, A 150 : B 300 -> 1/3, 2/3 of 200 t.
    from planner.results.solution import from_baseline

    s = from_baseline(chain(150, baseline=[Baseline(importer="J", item="metal", country="R", share=1.0)]))
    assert vol(s.feeds) == {"A": pytest.approx(200 / 3), "B": pytest.approx(400 / 3)}
    assert any("split by capacity" in n for n in s.notes)


def _stress_row(inst, scenario):
    inst = inst.replace(scenarios=(scenario,))
    src = st.Sourcing("plan", {("metal", "R", "J"): 100.0}, frozenset({("metal", "R"), ("ore", "A")}),
                      feeds={("ore", "A", "R"): 200.0})
    t = st.stress(inst, src).table
    assert len(t) == 1
    return t.iloc[0]


def test_stress_an_upstream_loss_cuts_the_plant_downstream():
    # R ships 100 t/yr made from A's ore only; A has 200 t, all contracted (no spare).  A loses half its ore for
    # 13 weeks: R can make half, so J receives 0.5 * 100 * 13/52 = 12.5 t of 25 t: 50 % short, though no
    # supplier of metal is hit (a last-tier stress test would see nothing).
    scen = Scenario(id="a", countries=("A",), items=("ore",), loss=0.5, duration_weeks=13)
    r = _stress_row(chain(200), scen)
    assert r["item"] == "metal" and r["received"] == pytest.approx(12.5)
    assert r["shortfall_pct"] == pytest.approx(50.0)
    # With A's 300 t (100 spare, surge 1) A's crisis supply is 200 + 100 = 300 t/yr, half of it survives: 150 t of
    # ore over a year, 150 * 13/52 = 37.5 t over the 13 weeks, 18.75 t of metal (R's 25 t do not bind): 25 % short.
    r = _stress_row(chain(), scen)
    assert r["received"] == pytest.approx(18.75) and r["shortfall_pct"] == pytest.approx(25.0)


def test_stress_a_blocked_feed_lane_cuts_the_plant():
    # The A -> R lane passes 'strait'; closing it stops all of R's ore: J short 100 %.
    r = _stress_row(chain(chokepoint="strait"), Scenario(id="s", chokepoints=("strait",), duration_weeks=13))
    assert r["shortfall_pct"] == pytest.approx(100.0)


# --------------------------------------------------------------------------- two-stage recourse upstream
def backup_chain(surge_b: float, beta: float = 0.6, scenarios=None) -> Instance:
    """Mines A (300 t at 1/t) and B (300 t at 2/t, 10 to qualify, surge ``surge_b``) -> plant P (100 t of metal at
    5/t, 2 t of ore per t) -> importer J (100 t); robust level ``beta``; A's ore lost for 13 weeks."""
    scenarios = scenarios if scenarios is not None else (
        Scenario(id="a_lost", countries=("A",), items=("ore",), duration_weeks=13),)
    return Instance(
        meta=Meta(name="backup", policy=Policy(scenario_beta=beta)),
        countries=tuple(Country(code=c, name=c, tier="ally") for c in "ABJP"),
        items=(Item(id="ore", name="ore", unit="t"), Item(id="metal", name="metal", unit="t")),
        bom=(Bom(output="metal", input="ore", quantity=2.0),),
        supply=(Supply(item="ore", country="A", capacity=300, unit_cost=1.0),
                Supply(item="ore", country="B", capacity=300, unit_cost=2.0, qualification_cost=10.0, surge=surge_b),
                Supply(item="metal", country="P", capacity=100, unit_cost=5.0)),
        demand=(Demand(importer="J", item="metal", quantity=100),),
        lanes=(Lane(origin="A", importer="P"), Lane(origin="B", importer="P"), Lane(origin="P", importer="J")),
        scenarios=tuple(scenarios),
    )


def test_robust_plan_contracts_the_backup_upstream_supplier(solve_tiny):
    # No metal supplier is hit, yet P starves without ore.  Over the 13 weeks (tau = 1/4) J needs
    # beta * tau * 100 = 0.6 * 25 = 15 t of metal, i.e. 30 t of ore at P, all from B.  With surge 0 B ships in a
    # crisis only what it is contracted for: tau * F_B >= 30, so F_B >= 120 t/yr.  Cheapest: 100 t of metal
    # from P (500), ore 80 t from A (80) + 120 t from B (240), B qualified (10): 830 (700 without the scenario).
    inst = backup_chain(0.0)
    res, s = solve_tiny(inst)
    assert res.proven_optimal and res.objective == pytest.approx(830.0)
    assert vol(s.feeds) == {"A": pytest.approx(80.0), "B": pytest.approx(120.0)}
    # The stress test of the plan (contracted feeds, pro rata) shows P keeping 120/200 of its output:
    # 0.6 * 25 = 15 t of 25 t, a shortfall of exactly 1 - beta.
    t = st.stress(inst, st.from_solution(s)).table
    assert t["shortfall_pct"].max() == pytest.approx(40.0) and t["shortfall_pct"].max() <= 100 * (1 - 0.6) + 1e-6


def test_robust_plan_with_surge_qualifies_the_backup_without_contracts(solve_tiny):
    # With surge 1 a qualified B can ship its whole capacity in a crisis: tau * 300 = 75 t of ore >= 30 t, so
    # qualifying B (10) is enough: 700 + 10 = 710, all ore contracted from A.
    res, s = solve_tiny(backup_chain(1.0))
    assert res.objective == pytest.approx(710.0)
    assert vol(s.feeds) == {"A": pytest.approx(200.0)}
    q = s.suppliers.set_index(["item", "country"])["qualified"]
    assert q[("ore", "B")]


@pytest.mark.parametrize("surge_b, short_pct", [(1.0, 0.0), (0.5, 25.0)])
def test_stress_of_the_qualified_backup_plan_uses_the_backup(solve_tiny, surge_b, short_pct):
    # The plan contracts all 200 t of ore from A and only qualifies B (710: with surge 0.5 B's crisis supply
    # 0.5 * 300 = 150 t/yr still gives tau * 150 = 37.5 t >= the 30 t the model needs, so the plan is the same).
    # The stress test re-sources P's ore like the model: A is lost, B (qualified, no contract) ships
    # tau * surge * 300 t of ore to P over the 13 weeks (tau = 1/4): 75 t (surge 1) or 37.5 t (surge 0.5), i.e.
    # 37.5 t or 18.75 t of metal.  P itself ships at most tau * 100 = 25 t (contracted at capacity, no spare).
    # J needs 25 t: surge 1 -> min(25, 37.5) = 25 received, 0 % short; surge 0.5 -> 18.75, 25 % short.
    # Both within 1 - beta = 40 % (keeping the contracted feeds pro rata would show 100 %).
    inst = backup_chain(surge_b)
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(710.0) and vol(s.feeds) == {"A": pytest.approx(200.0)}
    t = st.stress(inst, st.from_solution(s)).table
    assert len(t) == 1 and t.iloc[0]["item"] == "metal"
    assert t.iloc[0]["shortfall_pct"] == pytest.approx(short_pct, abs=1e-6)
    assert t.iloc[0]["shortfall_pct"] <= 100 * (1 - 0.6) + 1e-6


def test_stress_crisis_supply_counts_feeds_as_contracted():
    # B (300 t, surge 0.5) feeds P 120 t/yr under contract: spare 300 - 120 = 180, crisis supply
    # 120 + 0.5 * 180 = 210 t/yr (counting final flows only would give 0.5 * 300 = 150).
    inst = backup_chain(0.5)
    src = st.Sourcing("plan", {("metal", "P", "J"): 100.0}, frozenset({("metal", "P"), ("ore", "A"), ("ore", "B")}),
                      feeds={("ore", "A", "P"): 80.0, ("ore", "B", "P"): 120.0})
    assert st.crisis_supply(inst, src)[("ore", "B")] == pytest.approx(210.0)


def test_stress_shares_a_common_input_fairly_across_items():
    # Ore feeds two products: plant P makes metal for J (100 t/yr), plant Q alloy for K (50 t/yr), 1 t of ore per
    # t, both plants at capacity, all ore contracted from A.  A is lost for 13 weeks (tau = 1/4); B (100 t,
    # qualified, no contract, surge 1) ships tau * 100 = 25 t of ore, to be shared by J's 25 t and K's 12.5 t.
    # Fairest: the same share z short for both, 25 (1 - z) + 12.5 (1 - z) = 25, z = 1/3, i.e. 33.3 % each.
    # (Minimising the sum of the two items' shares alone would serve K fully and leave J 50 % short.)
    inst = Instance(
        meta=Meta(name="shared"),
        countries=tuple(Country(code=c, name=c, tier="ally") for c in "ABJKPQ"),
        items=(Item(id="ore", name="ore", unit="t"), Item(id="metal", name="metal", unit="t"),
               Item(id="alloy", name="alloy", unit="t")),
        bom=(Bom(output="metal", input="ore", quantity=1.0), Bom(output="alloy", input="ore", quantity=1.0)),
        supply=(Supply(item="ore", country="A", capacity=300, unit_cost=1.0),
                Supply(item="ore", country="B", capacity=100, unit_cost=2.0),
                Supply(item="metal", country="P", capacity=100, unit_cost=5.0),
                Supply(item="alloy", country="Q", capacity=50, unit_cost=5.0)),
        demand=(Demand(importer="J", item="metal", quantity=100), Demand(importer="K", item="alloy", quantity=50)),
        lanes=tuple(Lane(origin=o, importer=d) for o, d in ["AP", "AQ", "BP", "BQ", "PJ", "QK"]),
        scenarios=(Scenario(id="a", countries=("A",), duration_weeks=13),),
    )
    src = st.Sourcing("plan", {("metal", "P", "J"): 100.0, ("alloy", "Q", "K"): 50.0},
                      frozenset({("ore", "A"), ("ore", "B"), ("metal", "P"), ("alloy", "Q")}),
                      feeds={("ore", "A", "P"): 100.0, ("ore", "A", "Q"): 50.0})
    t = st.stress(inst, src).table.set_index("item")
    assert t.loc["metal", "shortfall_pct"] == pytest.approx(100 / 3, abs=1e-4)
    assert t.loc["alloy", "shortfall_pct"] == pytest.approx(100 / 3, abs=1e-4)
    assert t["received"].sum() == pytest.approx(25.0)


@hs.composite
def robust_chains(draw):
    """Two-stage chains: 1-2 inputs with 1-2 mines each -> 1-2 metal plants -> 1-2 importers; random capacities,
    surge, costs, chokepoints and losses at every stage; robust level beta; unlimited stockpiles (always feasible)."""
    inputs = ["ore", "flux"][: draw(hs.integers(1, 2))]
    mines = {i: [f"{i[0].upper()}{n}" for n in range(1, draw(hs.integers(1, 2)) + 1)] for i in inputs}
    plants = ["P", "Q"][: draw(hs.integers(1, 2))]
    imps = ["J", "K"][: draw(hs.integers(1, 2))]
    qty = {i: draw(hs.sampled_from([0.5, 1.0, 2.0])) for i in inputs}
    surge = hs.sampled_from([0.0, 0.5, 1.0])
    # The first mine of each input and the first plant cover the whole demand (<= 100 t of metal).
    supply = [Supply(item=i, country=c, capacity=200.0 if n == 0 else draw(hs.sampled_from([20.0, 80.0, 200.0])),
                     unit_cost=draw(hs.sampled_from([1.0, 2.0])), qualification_cost=draw(hs.sampled_from([0.0, 5.0])),
                     surge=draw(surge))
              for i in inputs for n, c in enumerate(mines[i])]
    supply += [Supply(item="metal", country=k, capacity=100.0 if n == 0 else draw(hs.sampled_from([30.0, 100.0])),
                      unit_cost=draw(hs.sampled_from([3.0, 4.0])), qualification_cost=draw(hs.sampled_from([0.0, 5.0])),
                      surge=draw(surge))
               for n, k in enumerate(plants)]
    choke = hs.sampled_from([(), (), ("p",), ("q",)])
    lanes = [Lane(origin=c, importer=k, transport_cost=draw(hs.sampled_from([0.0, 0.5])), chokepoints=draw(choke))
             for i in inputs for c in mines[i] for k in plants]
    lanes += [Lane(origin=k, importer=j, chokepoints=draw(choke)) for k in plants for j in imps]
    countries = [c for i in inputs for c in mines[i]] + plants
    scen = []
    for n in range(draw(hs.integers(1, 3))):
        hit = tuple(sorted(draw(hs.sets(hs.sampled_from(countries), max_size=2))))
        chokes = (draw(hs.sampled_from(["p", "q"])),) if not hit or draw(hs.booleans()) else ()
        scen.append(Scenario(id=f"s{n}", countries=hit, chokepoints=chokes, loss=draw(hs.sampled_from([0.5, 1.0])),
                             duration_weeks=draw(hs.sampled_from([4.0, 13.0, 26.0]))))
    beta = draw(hs.sampled_from([0.3, 0.5, 0.6, 0.9]))
    inst = Instance(
        meta=Meta(name="random-chain", policy=Policy(scenario_beta=beta)),
        countries=tuple(Country(code=c, name=c, tier="ally") for c in countries + imps),
        items=tuple(Item(id=i, name=i, unit="t") for i in [*inputs, "metal"]),
        bom=tuple(Bom(output="metal", input=i, quantity=qty[i]) for i in inputs),
        supply=tuple(supply),
        demand=tuple(Demand(importer=j, item="metal", quantity=draw(hs.sampled_from([30.0, 50.0]))) for j in imps),
        lanes=tuple(lanes),
        scenarios=tuple(scen),
        stock=tuple(Stock(item="metal", importer=j, holding_cost=draw(hs.sampled_from([0.5, 3.0]))) for j in imps),
    )
    return inst, beta


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(robust_chains())
def test_stress_of_a_robust_chain_plan_never_exceeds_beta(case):
    # The stress test re-sources plant inputs like the model's chain blocks (same crisis supply, surge on spare
    # capacity after flows and feeds, open lanes, BOM limits, losses at every stage), so the robust plan's
    # fairest recourse leaves every importer at most 1 - beta short in every scenario.
    from planner.analysis.cases import solve_case

    inst, beta = case
    res, s = solve_case(inst, "friendshored")
    assert res.proven_optimal, res.status
    t = st.stress(inst, st.from_solution(s)).table
    if len(t):
        assert t["shortfall_pct"].max() <= 100.0 * (1.0 - beta + 1e-6), t.to_string()


def test_upstream_recourse_sets_are_sparse():
    import models

    # The scenario touches ore (A) and, downstream, metal: one chain block (metal), one recourse feed (B -> P),
    # one BOM row (ore at P), two supplier limits (P's metal, B's ore).  A scenario on another country adds none.
    m = models.build(backup_chain(0.0))
    assert list(m.SCENARIO_BLOCKS) == [("a_lost", "metal")] and len(m.POOLED_BLOCKS) == 0
    assert list(m.RECOURSE_FEEDS) == [("a_lost", "ore", "B", "P")]
    assert list(m.RECOURSE_BOM) == [("a_lost", "ore", "P")]
    assert sorted(m.RECOURSE_LIMITS) == [("a_lost", "metal", "P", 0), ("a_lost", "ore", "B", 0)]  # one phase: 0
    m = models.build(backup_chain(0.0, scenarios=(Scenario(id="j", countries=("J",), duration_weeks=13),)))
    assert len(m.SCENARIO_BLOCKS) == len(m.RECOURSE_FEEDS) == len(m.RECOURSE_BOM) == 0


def test_crisis_supply_counts_feeds_as_contracted(solve_tiny):
    # Ore is also demanded: K needs 40 t/yr from A or B (free lanes).  B has surge 0, so in a crisis it ships
    # what it is contracted for, final flows and feeds alike: CrisisSupply = F_B = Flow[ore,B,K] + Feed[ore,B,P].
    # A lost for 13 weeks (tau = 1/4), beta 0.6 for both items: K needs 0.6 * 10 = 6 t of ore and P 2 * 15 = 30 t,
    # all from B, whose supplier limit is shared: tau * F_B >= 36, F_B >= 144 t/yr.  Ore costs 1 more per t at B
    # (which way B's 144 t go is a tie): 500 (metal) + 96 * 1 + 144 * 2 (ore) + 10 (qualify B) = 894.
    # Counting final flows only, B's crisis supply would be at most K's 40 t: the scenario could not be met.
    import models

    inst = backup_chain(0.0)
    inst = inst.replace(countries=inst.countries + (Country(code="K", name="K", tier="ally"),),
                        demand=inst.demand + (Demand(importer="K", item="ore", quantity=40),),
                        lanes=inst.lanes + (Lane(origin="A", importer="K"), Lane(origin="B", importer="K")))
    body = str(models.build(inst).Crisis_Supply_Def["ore", "B"].body)
    assert "Feed[ore,B,P]" in body and "Flow[ore,B,K]" in body
    res, s = solve_tiny(inst)
    assert res.proven_optimal and res.objective == pytest.approx(894.0)
    from_b = vol(s.feeds).get("B", 0.0) + vol(s.allocations, item="ore").get("B", 0.0)
    assert from_b == pytest.approx(144.0)


# --------------------------------------------------------------------------- reading and checks
def write(tmp_path, inst: Instance, edits: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "inst"
    write_instance(inst, folder)
    for name, text in (edits or {}).items():
        (folder / name).write_text(text)
    return folder


def problems(folder) -> list[str]:
    with pytest.raises(InstanceError) as e:
        load_instance(folder)
    return [str(p) for p in e.value.problems]


def test_multi_tier_instance_round_trips(tmp_path):
    inst = chain(150, Policy(stage_caps={"refine": {"partner": 0.3}}), {"R": "partner"})
    from planner.instance.io import instance_hash

    back = load_instance(write(tmp_path, inst))
    assert back.bom == inst.bom and back.stages == inst.stages and back.items == inst.items
    write_instance(inst, tmp_path / "book.xlsx")
    assert instance_hash(load_instance(tmp_path / "book.xlsx")) == instance_hash(back)


def test_single_tier_files_get_no_stage_or_transit_column(tmp_path):
    folder = tmp_path / "t"
    write_instance(load_instance(ROOT / "instances" / "transport"), folder)
    assert "stage" not in (folder / "items.csv").read_text().splitlines()[0]
    assert "transit_days" not in (folder / "lanes.csv").read_text().splitlines()[0]


def test_bom_cycle_is_reported(tmp_path):
    folder = write(tmp_path, chain(), {"bom.csv": "output,input,quantity\nmetal,ore,2\nore,metal,1\n"})
    found = problems(folder)
    assert any(p.startswith("bom.csv") and "cycle in the bill of materials" in p for p in found), found


def test_bad_bom_rows_and_stage_references(tmp_path):
    folder = write(tmp_path, chain(), {
        "bom.csv": "output,input,quantity\nmetal,ore,0\nmetal,slag,1\n",
        "items.csv": "id,name,unit,stage\nore,ore,t,mine\nmetal,metal,t,smelting\n",
    })
    found = "\n".join(problems(folder))
    assert "bom.csv, row 2, column 'quantity'" in found and "> 0" in found
    assert "bom.csv, row 3, column 'input'" in found and "slag" in found
    assert "items.csv, row 3, column 'stage'" in found and "smelting" in found


def test_input_downstream_of_its_output_is_reported(tmp_path):
    folder = write(tmp_path, chain(), {"stages.csv": "id,order\nmine,3\nrefine,2\n"})
    assert any("downstream of its output" in p for p in problems(folder))


def test_plant_without_an_inbound_lane_and_supplier_without_a_lane(tmp_path):
    # No lane into S for ore: S cannot get its input.  B then reaches only R; drop B -> R too: B has no lane.
    lanes = "origin,importer,item,transport_cost,tariff_rate\nA,R,*,0,0\nR,J,*,0,0\nS,J,*,0,0\n"
    found = "\n".join(problems(write(tmp_path, chain(), {"lanes.csv": lanes})))
    assert "plant of metal in S cannot receive its input ore" in found
    assert "supplier of ore in B with no lane" in found


def test_demand_no_path_can_reach(tmp_path):
    # Both mines are concern and excluded: no plant can get ore, so J's demand cannot be reached.
    inst = chain(policy=Policy(exclude_tiers=("concern",)), tiers={"A": "concern", "B": "concern"})
    found = "\n".join(problems(write(tmp_path, inst)))
    assert "demand.csv, row 2, column 'item'" in found and "no path can reach demand of J for metal" in found


def test_policy_names_are_checked(tmp_path):
    inst = chain(policy=Policy(stage_caps={"smelt": {"nobody": 0.2}}, upstream_caps={"nowhere": 0.3}))
    found = "\n".join(problems(write(tmp_path, inst)))
    assert "policy.stage_caps.smelt" in found and "unknown stage" in found
    assert "policy.stage_caps.smelt.nobody" in found and "policy.upstream_caps.nowhere" in found


def test_stage_caps_need_a_bom(tmp_path):
    from tests.conftest import tiny

    inst = tiny([("x", "A", 100, 1.0)], [("J", "x", 100)], policy=Policy(upstream_caps={"ally": 0.5}))
    assert any("need a multi-tier instance" in p for p in problems(write(tmp_path, inst)))


def test_baseline_rows_for_plant_inputs_are_accepted_elsewhere_rejected(tmp_path):
    base = "importer,item,country,share\nJ,metal,R,1\nR,ore,A,1\n"
    load_instance(write(tmp_path, chain(), {"baseline.csv": base}))
    found = problems(write(tmp_path, chain(), {"baseline.csv": base + "J,ore,A,1\n"}))
    assert any("no demand row for (J, ore)" in p for p in found)


# --------------------------------------------------------------------------- the shipped instance
def test_magnets_upstream_exposure_the_last_tier_misses():
    from planner.analysis.compare import run_comparison

    inst = load_instance(MAGNETS)
    cmp = run_comparison(inst)
    assert cmp.main.proven_optimal
    # Today's sourcing (trade data, 2024): the direct concern share is China's row for Japan.
    today = sum(b.share for b in inst.today if b.importer == "JP" and b.item == "magnet" and b.country == "CN")
    for case in ("baseline", "friendshored"):
        t = cmp.solutions[case].exposure["exposure_tiers"]
        jp = row(t, importer="JP", item="magnet", tier="concern")
        # Japan's magnets: at most half from concern-tier plants, but far more of them passed through one.
        assert jp["direct_share"] <= 0.5 + 1e-9 and jp["upstream_share"] >= jp["direct_share"] + 0.3
        if case == "baseline":
            assert jp["direct_share"] == pytest.approx(today)
    fs = cmp.solutions["friendshored"].exposure["exposure_tiers"]
    assert row(fs, importer="JP", item="magnet", tier="ally")["direct_share"] >= 0.5 - 1e-9
    k = cmp.kpis().set_index(["kpi", "item", "importer", "group"])
    assert k.at[("upstream_tier_share", "magnet", "JP", "concern"), "baseline"] == pytest.approx(
        row(cmp.solutions["baseline"].exposure["exposure_tiers"], importer="JP", tier="concern")["upstream_share"])


@pytest.mark.parametrize("variant", ["separation_cap", "upstream_cap"])
def test_magnets_stage_and_upstream_caps_cost_a_premium(variant, solve_tiny):
    base, _ = solve_tiny(load_instance(MAGNETS))
    res, s = solve_tiny(load_instance(MAGNETS, variant=variant))
    assert res.proven_optimal and res.objective > base.objective * 1.01
    if variant == "separation_cap":
        st_ = s.exposure["exposure_stages"]
        cn = st_[(st_["stage"] == "separation") & (st_["tier"] == "concern")].groupby("importer")["share"].sum()
        assert (cn <= 0.2 + 1e-6).all()  # here pro-rata equals the tagged share: no plant mixes origins
    else:
        t = s.exposure["exposure_tiers"]
        assert (t.loc[t["tier"] == "concern", "upstream_share"] <= 0.5 + 1e-6).all()
