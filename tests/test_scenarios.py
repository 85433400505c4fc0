"""Disruption scenarios: hand-solved two-stage optima, the stress test, TTS, validation and the CLI.

Every optimum is derived by hand in a comment; ``solve_tiny`` also checks that
the cost table (now with stockpile and expected-shortage components) sums to
the model's objective.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_
from typer.testing import CliRunner

from planner.analysis import stress as st
from planner.cli.app import app
from tests.io_fixtures import LEFT_OUT
from planner.errors import InstanceError
from planner.instance.io import instance_hash, load_instance, write_instance
from planner.instance.scenarios import generated, scenarios_of
from planner.instance.schema import Lane, Policy, Scenario, Stock
from tests.conftest import tiny

runner = CliRunner()


def with_(inst, *, scenarios=None, stock=None, lanes=None, surge=None):
    """``inst`` with scenarios, stock rows, other lanes, and surge fractions {(item, country): surge} (None: kept)."""
    supply = inst.supply
    if surge:
        supply = tuple(s.model_copy(update={"surge": surge.get((s.item, s.country), s.surge)}) for s in supply)
    return inst.replace(scenarios=inst.scenarios if scenarios is None else tuple(scenarios),
                        stock=inst.stock if stock is None else tuple(stock), supply=supply,
                        lanes=inst.lanes if lanes is None else tuple(lanes))


def level(s, item="x", importer="J") -> float:
    t = s.stockpiles.set_index(["item", "importer"])
    return float(t.loc[(item, importer), "level"])


def qualified(s, item="x") -> set[str]:
    sup = s.suppliers
    return set(sup.loc[sup["qualified"] & (sup["item"] == item), "country"])


# --------------------------------------------------------------------------- two-stage optima
def test_stockpile_sized_exactly(solve_tiny):
    # J needs 52 t/yr = 1 t/week. A (100 t, 1/t) is lost for 10 weeks; B (13 t/yr, 2/t, free to
    # qualify, surge 1) survives and can ship 13 * 10/52 = 2.5 t over the disruption.
    # beta = 1: stock = demand x duration - surviving capacity = 52*10/52 - 2.5 = 7.5 t.
    # Cost: 52 t from A at 1 = 52, plus holding 0.1 * 7.5 = 0.75: 52.75.
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 13, 2.0)], [("J", "x", 52)], policy=Policy(scenario_beta=1.0))
    inst = with_(inst, scenarios=[Scenario(id="a_lost", countries=("A",), duration_weeks=10)],
                 stock=[Stock(item="x", importer="J", existing=3.0, holding_cost=0.1)])
    res, s = solve_tiny(inst)
    assert res.proven_optimal
    assert level(s) == pytest.approx(7.5)
    assert res.objective == pytest.approx(52.75)
    assert s.costs.set_index("component").loc["stockpile", "value"] == pytest.approx(0.75)
    assert qualified(s) == {"A", "B"}


def test_stockpile_cap_forces_qualification(solve_tiny):
    # As above but B costs 1 to qualify and the stockpile may hold at most 8 t. Without B the
    # stockpile alone would need 10 t (cost 1, cheaper than B's 1 + 0.75) but the cap forbids it,
    # so B is qualified and 7.5 t are held: 52 + 1 + 0.1 * 7.5 = 53.75.
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 13, 2.0, 1.0)], [("J", "x", 52)], policy=Policy(scenario_beta=1.0))
    inst = with_(inst, scenarios=[Scenario(id="a_lost", countries=("A",), duration_weeks=10)],
                 stock=[Stock(item="x", importer="J", holding_cost=0.1, max_stock=8.0)])
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(53.75)
    assert level(s) == pytest.approx(7.5)


def test_partial_loss_and_beta(solve_tiny):
    # A alone (100 t/yr) loses 60 % for 26 weeks; J needs 100 t/yr: crisis demand 50 t,
    # A still ships 0.4 * 100 * 0.5 = 20 t. beta = 0.8 needs 40 t: stock 20 t at 1/t.
    # Cost: 100 * 1 + 20 * 1 = 120.
    inst = tiny([("x", "A", 100, 1.0)], [("J", "x", 100)], policy=Policy(scenario_beta=0.8))
    inst = with_(inst, scenarios=[Scenario(id="s", countries=("A",), loss=0.6, duration_weeks=26)],
                 stock=[Stock(item="x", importer="J", holding_cost=1.0)])
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(120.0)
    assert level(s) == pytest.approx(20.0)


def _malacca(surge_b: float, beta: float):
    # A reaches J through the Strait of Malacca (freight 0.5); B's longer lane avoids it (freight 2).
    # Both sell at 1/t with capacity 100 and cost 10 to qualify; J needs 100 t/yr.
    inst = tiny([("x", "A", 100, 1.0, 10.0), ("x", "B", 100, 1.0, 10.0)], [("J", "x", 100)],
                lanes=[("A", "J", "*", 0.5, 0.0), ("B", "J", "*", 2.0, 0.0)], policy=Policy(scenario_beta=beta))
    lanes = [Lane(origin="A", importer="J", transport_cost=0.5, chokepoints=("malacca",)),
             Lane(origin="B", importer="J", transport_cost=2.0, chokepoints=("cape",))]
    return with_(inst, lanes=lanes, surge={("x", "B"): surge_b},
                 scenarios=[Scenario(id="malacca", chokepoints=("malacca",), duration_weeks=13)])


def test_chokepoint_forces_the_longer_lane_qualified(solve_tiny):
    # Blocking malacca leaves only B's lane. With surge 1 a qualified B can ship its whole capacity
    # in the crisis: qualify B without buying from it. 100 * (1 + 0.5) + 10 + 10 = 170 (160 without).
    res, s = solve_tiny(_malacca(1.0, 1.0))
    assert res.objective == pytest.approx(170.0)
    assert qualified(s) == {"A", "B"}
    # The stress test routes the crisis supply over B's longer lane: 100 * 13/52 = 25 t, no shortfall.
    t = st.stress(s_inst := _malacca(1.0, 1.0), st.from_solution(s)).table
    assert t["received"].sum() == pytest.approx(25.0) and t["shortfall"].sum() == pytest.approx(0.0)
    assert s_inst.lane_chokepoints[("x", "A", "J")] == {"malacca"}


def test_chokepoint_forces_contracts_on_the_longer_lane(solve_tiny):
    # With surge 0 only contracted volume flows in a crisis: beta 0.5 needs 50 t/yr contracted from B
    # over the longer lane: 50 * 1.5 + 50 * 3 + 10 + 10 = 245.
    res, s = solve_tiny(_malacca(0.0, 0.5))
    assert res.objective == pytest.approx(245.0)
    a = s.allocations.set_index("country")["volume"]
    assert a["B"] == pytest.approx(50.0) and a["A"] == pytest.approx(50.0)


def test_blocks_that_are_not_pooled_are_routed(solve_tiny):
    # J and K need 52 t/yr each. A (200 t, 1/t) reaches J only through malacca, K directly; B (52 t,
    # 2/t) reaches both. Malacca blocked for 13 weeks, beta 1: J's 13 t can come only from B (B's
    # crisis supply 52 * 13/52 = 13 t), so B is qualified although A alone has capacity for both:
    # 104 * 1 + 10 + 10 = 124.  Pooling the block would wrongly give 114.
    inst = tiny([("x", "A", 200, 1.0, 10.0), ("x", "B", 52, 2.0, 10.0)], [("J", "x", 52), ("K", "x", 52)],
                policy=Policy(scenario_beta=1.0))
    lanes = [Lane(origin="A", importer="J", chokepoints=("malacca",)), Lane(origin="A", importer="K"),
             Lane(origin="B", importer="J"), Lane(origin="B", importer="K")]
    inst = with_(inst, lanes=lanes, scenarios=[Scenario(id="m", chokepoints=("malacca",), duration_weeks=13)])
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(124.0)
    assert qualified(s) == {"A", "B"}
    import models

    m = models.build(inst)
    assert len(m.POOLED_BLOCKS) == 0 and len(m.RECOURSE_ROUTES) == 3  # A->K, B->J, B->K


@pytest.mark.parametrize("cost, objective, with_b", [(5.0, 52 + 0.1 * 5 * 13, False), (10.0, 62.0, True)])
def test_expected_mode_prices_shortage(solve_tiny, cost, objective, with_b):
    # A (100 t, 1/t) is lost for 13 weeks with probability 0.1; J needs 52 t/yr = 13 t over the
    # disruption. Qualifying B (2/t, 10/yr) avoids the shortage; else expected cost 0.1 * c * 13.
    # c = 5: 6.5 < 10, accept the risk: 52 + 6.5.  c = 10: 13 > 10, qualify B: 52 + 10 = 62.
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 100, 2.0, 10.0)], [("J", "x", 52)],
                policy=Policy(scenario_mode="expected", scenario_shortage_cost=cost))
    inst = with_(inst, scenarios=[Scenario(id="a", countries=("A",), duration_weeks=13, probability=0.1)])
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(objective)
    assert ("B" in qualified(s)) is with_b


def test_both_modes_floor_and_price(solve_tiny):
    # Same as above with c = 5 (shortage cheaper than B) but a robust floor beta = 0.6: at most
    # 40 % of 13 t may be short, so B is qualified anyway and nothing is short: 52 + 10 = 62.
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 100, 2.0, 10.0)], [("J", "x", 52)],
                policy=Policy(scenario_mode="both", scenario_shortage_cost=5.0, scenario_beta=0.6))
    inst = with_(inst, scenarios=[Scenario(id="a", countries=("A",), duration_weeks=13, probability=0.1)])
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(62.0)


def test_items_scope_and_untouched_scenarios_add_nothing(solve_tiny):
    # The ban hits item y only; x is untouched, so x keeps its cost-only plan: 100 (A).
    # y: A lost, J's 52 t of y need B (qualification 10): 52 * 1 + 10 + 100 = 162.
    inst = tiny([("x", "A", 100, 1.0), ("y", "A", 100, 1.0), ("y", "B", 100, 1.0, 10.0)],
                [("J", "x", 100), ("J", "y", 52)], policy=Policy(scenario_beta=1.0))
    inst = with_(inst, scenarios=[Scenario(id="ban", countries=("A",), items=("y",), duration_weeks=4)])
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(162.0)
    import models

    assert {i for _, i in models.build(inst).SCENARIO_BLOCKS} == {"y"}


def test_mode_off_ignores_scenarios(solve_tiny):
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 100, 2.0, 10.0)], [("J", "x", 52)],
                policy=Policy(scenario_beta=1.0, scenario_mode="off"))
    inst = with_(inst, scenarios=[Scenario(id="a", countries=("A",), duration_weeks=13)])
    res, _ = solve_tiny(inst)
    assert res.objective == pytest.approx(52.0)


# --------------------------------------------------------------------------- stress test and TTS
def _tts_instance(b_capacity: float, stock: float, ttr: float = 16.0):
    # J needs 52 t/yr (1 t/week); A is lost for 10 weeks; TTR 16 weeks.
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", b_capacity, 2.0)], [("J", "x", 52)])
    return with_(inst, scenarios=[Scenario(id="a", countries=("A",), duration_weeks=10, recovery_weeks=ttr)],
                 stock=[Stock(item="x", importer="J", existing=stock)])


def test_tts_by_hand_with_spare_capacity():
    # B qualified with 26 t/yr spare ships 0.5 t/week; stock 6 t covers the other 0.5 t/week. Over
    # the 10 weeks: 5 t received, 5 t drawn, nothing short. Issue 16: the stock would last
    # 6 / (1 - 0.5) = 12 weeks < TTR 16, but the scenario ends after 10 and nothing runs short, so
    # there is no TTS (NaN, "none") and the row is not flagged (it was before). Weeks of cover:
    # (stock 6 + received 5) / 1 t a week = 11.
    inst = _tts_instance(26, 6.0)
    src = st.Sourcing("plan", {("x", "A", "J"): 52.0}, frozenset({("x", "A"), ("x", "B")}))
    result = st.stress(inst, src)
    r = result.table.iloc[0]
    assert r["supply_per_week"] == pytest.approx(0.5)
    assert r["received"] == pytest.approx(5.0) and r["drawdown"] == pytest.approx(5.0)
    assert r["shortfall"] == pytest.approx(0.0)
    assert r["tts_weeks"] != r["tts_weeks"] and not bool(r["tts_below_ttr"])
    assert r["cover_weeks"] == pytest.approx(11.0)
    head = st.summary(result.table)
    assert head["scenarios_tts_below_ttr"] == 0 and head["min_tts_weeks"] != head["min_tts_weeks"]
    from planner.cli.show import _weeks

    assert _weeks(r["tts_weeks"]) == "none (no shortfall)"  # as the terminal shows it, not 0


def test_tts_by_hand_without_backup():
    # B not qualified: stock alone, TTS = 6 / 1 = 6 weeks; shortfall 10 - 6 = 4 t = 40 %.
    inst = _tts_instance(26, 6.0)
    src = st.Sourcing("plan", {("x", "A", "J"): 52.0}, frozenset({("x", "A")}))
    r = st.stress(inst, src).table.iloc[0]
    assert r["tts_weeks"] == pytest.approx(6.0)
    assert r["shortfall"] == pytest.approx(4.0) and r["shortfall_pct"] == pytest.approx(40.0)


def test_tts_capped_when_supply_keeps_up_and_surge_counts_spare_only():
    # B (capacity 104, contracted 10 t/yr, surge 0.5): crisis supply 10 + 0.5 * (104 - 10) = 57 t/yr
    # >= 52: never runs short: no TTS (NaN, "none"), not flagged.
    inst = with_(_tts_instance(104, 0.0), surge={("x", "B"): 0.5})
    src = st.Sourcing("plan", {("x", "A", "J"): 42.0, ("x", "B", "J"): 10.0}, frozenset({("x", "A"), ("x", "B")}))
    assert st.crisis_supply(inst, src)[("x", "B")] == pytest.approx(57.0)
    r = st.stress(inst, src).table.iloc[0]
    assert r["tts_weeks"] != r["tts_weeks"] and not bool(r["tts_below_ttr"])
    # surge 0.25: 10 + 0.25 * 94 = 33.5 t/yr = 0.644 t/week; no stock: TTS 0, short 10 - 6.44 t.
    inst = with_(_tts_instance(104, 0.0), surge={("x", "B"): 0.25})
    r = st.stress(inst, src).table.iloc[0]
    assert r["tts_weeks"] == 0.0
    assert r["shortfall"] == pytest.approx(10 - 33.5 * 10 / 52)


def test_stress_shares_shortfall_fairly():
    # Two importers of 52 t/yr, one surviving supplier with 52 t/yr: over 13 weeks 13 t for 26 t of
    # demand. The LP first minimises the largest share short: 50 % each (not 100 % / 0 %).
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 52, 1.0)], [("J", "x", 52), ("K", "x", 52)])
    inst = with_(inst, scenarios=[Scenario(id="a", countries=("A",), duration_weeks=13)])
    src = st.Sourcing("plan", {("x", "A", "J"): 52.0, ("x", "A", "K"): 52.0}, frozenset({("x", "A"), ("x", "B")}))
    t = st.stress(inst, src).table
    assert t["shortfall_pct"].tolist() == pytest.approx([50.0, 50.0])


def test_stress_reports_demand_the_plan_leaves_unserved_by_choice(tmp_path):
    # Issue 13, item 20. x: A (cost 1) serves J's 100 t; y: only B at cost 10, while a unit short costs 5
    # (allow_shortage), so the plan leaves all 40 t of y unserved. The scenario takes half of A for 13 weeks:
    # it touches only x. Before, "worst-case shortfall" counted x alone; y is short in every scenario: 100 %.
    inst = tiny([("x", "A", 100, 1.0), ("y", "B", 50, 10.0)], [("J", "x", 100), ("J", "y", 40)],
                policy=Policy(allow_shortage=True, shortage_penalty=5.0))
    inst = with_(inst, scenarios=[Scenario(id="halfA", countries=("A",), duration_weeks=13, loss=0.5)])
    src = st.sourcing_for(inst, "optimized")
    assert src.flows.get(("y", "B", "J"), 0.0) == pytest.approx(0.0)
    result = st.stress(inst, src)
    assert set(result.table["item"]) == {"x"}
    u = result.unserved
    assert u[["item", "importer"]].values.tolist() == [["y", "J"]]
    assert (u["shortfall"].iloc[0], u["shortfall_pct"].iloc[0]) == pytest.approx((40.0, 100.0))
    head = st.summary(result.table, result.unserved)
    assert head["worst_case_shortfall_pct"] == pytest.approx(100.0) and head["unserved_pct"] == pytest.approx(100.0)
    from planner.analysis.compare import stress_kpis

    kpis = stress_kpis(inst, result)
    assert kpis[("worst_case_shortfall_pct", "y", "all", "all", "%")] == pytest.approx(100.0)
    # x: 50 t of A's 100 lost for 13 weeks, nothing else qualified: 12.5 of 25 t short = 50 %.
    assert kpis[("worst_case_shortfall_pct", "x", "all", "all", "%")] == pytest.approx(50.0)
    # The CLI says so and writes the unserved table.
    folder = tmp_path / "i"
    write_instance(inst, folder)
    r = runner.invoke(app, ["stress", str(folder), "--sourcing", "optimized", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "unserved before any disruption" in r.output and "y/J 100.0 %" in r.output
    assert pd.read_csv(tmp_path / "o" / "unserved.csv")["item"].tolist() == ["y"]
    assert json.loads((tmp_path / "o" / "run.json").read_text())["summary"]["worst_case_shortfall_pct"] == 100.0


def test_baseline_expected_shortage_is_priced_like_the_plan():
    # The baseline buys all from A; the scenario leaves J's 13 t short with p 0.1 at cost 5: 6.5.
    from planner.analysis.compare import run_comparison
    from planner.instance.schema import Baseline

    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 100, 2.0, 10.0)], [("J", "x", 52)],
                policy=Policy(scenario_mode="expected", scenario_shortage_cost=5.0))
    inst = with_(inst, scenarios=[Scenario(id="a", countries=("A",), duration_weeks=13, probability=0.1)])
    inst = inst.replace(baseline=(Baseline(importer="J", item="x", country="A", share=1.0),))
    cmp = run_comparison(inst)
    costs = cmp.solutions["baseline"].costs.set_index("component")["value"]
    assert costs["scenario_shortage"] == pytest.approx(6.5)
    k = cmp.kpis().set_index(["kpi", "item"])
    assert k.loc[("worst_case_shortfall_pct", "all"), "baseline"] == pytest.approx(100.0)
    assert k.loc[("expected_shortfall", "x"), "baseline"] == pytest.approx(1.3)
    assert k.loc[("scenarios_tts_below_ttr", "all"), "baseline"] == 1.0


# --------------------------------------------------------------------------- property: beta holds under stress
@st_.composite
def robust_instances(draw):
    n_sup = draw(st_.integers(2, 4))
    sups = "ABCD"[:n_sup]
    imps = ["J", "K"][: draw(st_.integers(1, 2))]
    # The first supplier alone covers any total demand (<= 100), so the first stage is always feasible.
    supply = [("x", c, 150.0 if c == "A" else draw(st_.sampled_from([20.0, 60.0, 150.0])),
               draw(st_.sampled_from([1.0, 1.5, 2.0])), draw(st_.sampled_from([0.0, 5.0]))) for c in sups]
    demand = [(j, "x", draw(st_.sampled_from([20.0, 50.0]))) for j in imps]
    beta = draw(st_.sampled_from([0.3, 0.6, 0.9, 1.0]))
    inst = tiny(supply, demand, policy=Policy(scenario_beta=beta))
    lanes = [Lane(origin=c, importer=j, transport_cost=draw(st_.sampled_from([0.0, 0.5])),
                  chokepoints=draw(st_.sampled_from([(), ("p",), ("q",), ("p", "q")])))
             for c in sups for j in imps]
    scen = []
    for n in range(draw(st_.integers(1, 3))):
        countries = tuple(draw(st_.sets(st_.sampled_from(sups), max_size=2)))
        chokes = () if countries and draw(st_.booleans()) else (draw(st_.sampled_from(["p", "q"])),)
        scen.append(Scenario(id=f"s{n}", countries=countries, chokepoints=chokes,
                             loss=draw(st_.sampled_from([0.5, 1.0])),
                             duration_weeks=draw(st_.sampled_from([4.0, 13.0, 26.0]))))
    stock = [Stock(item="x", importer=j, holding_cost=draw(st_.sampled_from([0.5, 3.0]))) for j in imps]
    surge = {("x", c): draw(st_.sampled_from([0.0, 0.5, 1.0])) for c in sups}
    return with_(inst, lanes=lanes, scenarios=scen, stock=stock, surge=surge), beta


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(robust_instances())
def test_stress_of_a_robust_plan_never_exceeds_beta(case):
    # Unlimited stockpiles make every instance feasible; whatever the plan, the stress test's
    # fairest recourse must leave every importer at most (1 - beta) short in every scenario.
    assert_stress_within_beta(*case)


def assert_stress_within_beta(inst, beta: float) -> None:
    """Solve the friendshored plan and stress it: no importer more than 1 - beta short in any scenario."""
    from planner.analysis.cases import solve_case

    res, s = solve_case(inst, "friendshored")
    assert res.proven_optimal, res.status
    t = st.stress(inst, st.from_solution(s)).table
    if len(t):
        assert t["shortfall_pct"].max() <= 100.0 * (1.0 - beta) + 1e-4


# --------------------------------------------------------------------------- generators
def test_generators_give_deterministic_ids():
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 50, 1.0), ("x", "C", 10, 1.0)], [("J", "x", 52)],
                policy=Policy(scenario_generators=("n1", "n2", "chokepoints"),
                              generator={"top_k": 2, "duration_weeks": 8}))
    inst = with_(inst, lanes=[Lane(origin="A", importer="J", chokepoints=("malacca",)), Lane(origin="B", importer="J"),
                              Lane(origin="C", importer="J")],
                 scenarios=[Scenario(id="n1:A", countries=("A",), duration_weeks=2)])
    ids = [s.id for s in scenarios_of(inst)]
    # The table's n1:A wins over the generated one; N-2 pairs the top 2 by capacity share (A, B).
    assert ids == ["n1:A", "n1:B", "n1:C", "n2:A+B", "chokepoint:malacca"]
    assert {s.duration_weeks for s in generated(inst)} == {8.0}


# --------------------------------------------------------------------------- validation
def _files(**over) -> dict[str, str]:
    files = {
        "instance.yaml": "name: two\ntiers: [ally, concern]\n" + LEFT_OUT + "\n",
        "countries.csv": "code,name,tier\nA,A,concern\nB,B,ally\nJ,J,ally\n",
        "items.csv": "id,name,unit\nx,x,t\n",
        "supply.csv": "item,country,capacity,unit_cost,surge\nx,A,100,1,1\nx,B,100,2,0.5\n",
        "demand.csv": "importer,item,quantity\nJ,x,52\n",
        "lanes.csv": "origin,importer,transport_cost,chokepoints\nA,J,0.5,malacca\nB,J,2,\n",
        "baseline.csv": "importer,item,country,share\nJ,x,A,1\n",
        "scenarios.csv": "id,name,countries,chokepoints,items,loss,duration_weeks,recovery_weeks,probability\n"
                         "a,A lost,A,,*,1,10,20,0.1\nm,Malacca,,malacca,x,1,4,,0.05\n",
        "stock.csv": "item,importer,existing,holding_cost,max_stock\nx,J,2,0.1,\n",
    }
    files.update(over)
    return files


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_instance_with_scenarios_and_stock_loads_and_round_trips(tmp_path):
    inst = load_instance(_write(tmp_path / "i", _files()))
    assert [s.id for s in inst.scenarios] == ["a", "m"] and inst.scenarios[1].ttr_weeks == 4.0
    assert inst.stock_by_key[("x", "J")].max_stock is None
    assert inst.lane_chokepoints == {("x", "A", "J"): frozenset({"malacca"})}
    write_instance(inst, tmp_path / "back")
    assert instance_hash(load_instance(tmp_path / "back")) == instance_hash(inst)
    assert "surge" in (tmp_path / "back" / "supply.csv").read_text().splitlines()[0]
    book = tmp_path / "book.xlsx"
    write_instance(inst, book)
    assert instance_hash(load_instance(book)) == instance_hash(inst)


def test_bad_scenarios_and_stock_are_all_reported(tmp_path):
    files = _files(**{
        "scenarios.csv": "id,countries,chokepoints,items,loss,duration_weeks,recovery_weeks\n"
                         "a,ZZ,,*,1,10,\n"       # unknown country
                         "b,,suez,*,1,10,\n"     # chokepoint on no lane
                         "c,,,*,1,10,\n"         # nothing disrupted
                         "d,A,,*,1,0,\n"         # zero duration
                         "e,A,,y,1,10,5\n",      # unknown item; recovery before the end
        "stock.csv": "item,importer,existing,max_stock\nx,J,5,4\nx,A,1,\n",
    })
    with pytest.raises(InstanceError) as e:
        load_instance(_write(tmp_path / "bad", files))
    text = str(e.value)
    for expected in ("scenarios.csv, row 2, column 'countries': got 'ZZ'",
                     "scenarios.csv, row 3, column 'chokepoints': got 'suez'",
                     "scenarios.csv, row 4, column 'countries'; nothing disrupted",
                     "scenarios.csv, row 5, column 'duration_weeks': got '0'",
                     "scenarios.csv, row 6, column 'items': got 'y'",
                     "scenarios.csv, row 6, column 'recovery_weeks': got '5'",
                     "stock.csv, row 2, column 'max_stock': got '4'",
                     "stock.csv, row 3, column 'importer': got 'A'"):
        assert expected in text, expected


def test_expected_mode_needs_a_shortage_cost(tmp_path):
    folder = _write(tmp_path / "i", _files())
    with pytest.raises(InstanceError) as e:
        load_instance(folder, ["policy.scenario_mode=expected"])
    assert "policy.scenario_mode" in str(e.value) and "scenario_shortage_cost" in str(e.value)
    inst = load_instance(folder, ["policy.scenario_mode=expected", "policy.items.x.scenario_shortage_cost=3"])
    assert inst.policy.for_item("x").scenario_shortage_cost == 3.0


# --------------------------------------------------------------------------- CLI
def test_cli_stress_baseline_optimized_and_run_dir(tmp_path):
    folder = _write(tmp_path / "i", _files())
    out = tmp_path / "stress_base"
    r = runner.invoke(app, ["stress", str(folder), "--sourcing", "baseline", "--out", str(out),
                            "--format", "csv,json"])
    assert r.exit_code == 0, r.output
    base = pd.read_csv(out / "stress.csv")
    # Baseline: all 52 t/yr from A. Scenario a: A lost 10 weeks, B not qualified today: 10 t needed,
    # 2 t in stock: short 8 t (80 %), TTS 2 weeks < TTR 20. Scenario m: A's lane blocked 4 weeks:
    # 4 t needed, 2 in stock: short 2 t (50 %), TTS 2 < TTR 4.
    got = base.set_index("scenario")
    assert got.loc["a", "shortfall"] == pytest.approx(8.0) and got.loc["a", "tts_weeks"] == pytest.approx(2.0)
    assert got.loc["m", "shortfall_pct"] == pytest.approx(50.0)
    assert (out / "stress.json").exists() and (out / "scenarios.csv").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["sourcing"] == "baseline" and run["summary"]["scenarios_tts_below_ttr"] == 2

    solved = tmp_path / "solved"
    r = runner.invoke(app, ["solve", str(folder), "--set", "policy.scenario_beta=0.9", "--out", str(solved)])
    assert r.exit_code == 0, r.output
    assert "disruption scenarios (2)" in r.output
    stress_table = pd.read_csv(solved / "stress.csv")
    assert set(stress_table["case"]) == {"baseline", "cost_only", "friendshored"}
    fs = stress_table[stress_table["case"] == "friendshored"]
    assert fs["shortfall_pct"].max() <= 10.0 + 1e-6

    for sourcing in ("optimized", str(solved)):
        r = runner.invoke(app, ["stress", str(folder), "--sourcing", sourcing, "--set", "policy.scenario_beta=0.9",
                                "--out", str(tmp_path / "s2")])
        assert r.exit_code == 0, r.output
        again = pd.read_csv(tmp_path / "s2" / "stress.csv")
        assert again["shortfall"].tolist() == pytest.approx(fs["shortfall"].tolist(), abs=1e-6)


def test_cli_solve_with_generated_scenarios(tmp_path):
    folder = _write(tmp_path / "i", _files())
    r = runner.invoke(app, ["solve", str(folder), "--scenarios", "n1,chokepoints", "--set", "policy.scenario_beta=0.5",
                            "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["overrides"]["policy.scenario_generators"] == ["n1", "chokepoints"]
    ids = set(pd.read_csv(tmp_path / "o" / "stress.csv")["scenario"])
    assert {"n1:A", "chokepoint:malacca"} <= ids


@pytest.mark.parametrize("args, text", [
    (["--scenarios", "n3"], "--scenarios"),
    (["--sourcing", "nowhere"], "--sourcing"),
])
def test_cli_stress_bad_options_exit_2(tmp_path, args, text):
    folder = _write(tmp_path / "i", _files())
    r = runner.invoke(app, ["stress", str(folder), *args, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert text in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_cli_stress_without_scenarios_exits_2(tmp_path):
    files = _files()
    del files["scenarios.csv"]
    r = runner.invoke(app, ["stress", str(_write(tmp_path / "i", files)), "--sourcing", "baseline"])
    assert r.exit_code == 2 and "no scenarios" in r.output


def test_cli_stress_run_dir_of_another_shape_exits_2(tmp_path):
    (tmp_path / "empty").mkdir()
    folder = _write(tmp_path / "i", _files())
    r = runner.invoke(app, ["stress", str(folder), "--sourcing", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "allocations" in r.output
