"""Crisis response as the partners designed it (issue 20): the response clock (delay, ramp), members-
only sharing and the coalition's share of spare capacity, in the model and in the stress test.

Every optimum and every stress number is derived by hand in a comment. The shared setting: J needs
52 t a year (1 t a week); A (100 t, 1 per t) is lost for 10 weeks; B (52 t, 2 per t, free to qualify,
surge 1) survives, so its spare capacity is 1 t a week, exactly J's demand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.analysis import stress as st
from planner.cli.app import app
from planner.instance.io import load_instance
from planner.instance.scenarios import Response
from planner.instance.schema import CrisisRule, ExportControl, Lane, Policy, Scenario, Stock
from tests.conftest import tiny
from tests.test_scenarios import level, with_

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
DELAY = 15 / 7  # the IPEF emergency meeting: 15 days, in weeks


def _setting(policy: Policy, *, existing: float = 1.0, groups=None, scenario: dict | None = None):
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 52, 2.0)], [("J", "x", 52)], policy=policy, groups=groups)
    return with_(inst, scenarios=[Scenario(id="a", countries=("A",), duration_weeks=10, **(scenario or {}))],
                 stock=[Stock(item="x", importer="J", existing=existing, holding_cost=0.1)])


PLAN = st.Sourcing("plan", {("x", "A", "J"): 52.0}, frozenset({("x", "A"), ("x", "B")}))
"""Everything contracted from A, B qualified but shipping nothing: all B offers in a crisis is spare."""


def _row(inst, src=PLAN):
    result = st.stress(inst, src)
    assert len(result.table) == 1
    return result.table.iloc[0], result.profile


# --------------------------------------------------------------------------- the response clock
def test_a_15_day_delay_turns_no_shortfall_into_15_days_of_demand_minus_stock():
    # No delay: B's spare 1 t/week meets J's 1 t/week from the first day: nothing short.
    r, _ = _row(_setting(Policy()))
    assert r["shortfall"] == pytest.approx(0.0)
    # A 15-day delay: until then only contracts (none survive: A is lost, B has none) and the 1 t of stock
    # serve J: short 15/7 weeks x 1 t/week - 1 t = 8/7 t; after it, B keeps up. The stock runs dry after
    # 1 t / 1 t a week = 1 week: TTS 1.
    r, prof = _row(_setting(Policy(crisis=CrisisRule(delay_weeks=DELAY))))
    assert r["shortfall"] == pytest.approx(DELAY - 1.0)
    assert r["drawdown"] == pytest.approx(1.0) and r["received"] == pytest.approx(10 - DELAY)
    assert r["tts_weeks"] == pytest.approx(1.0)
    # Week by week: week 1 served by the stock, week 2 short, week 3 short for 1/7 of it (15 days = 2 weeks
    # and 1 day), then B: 100 % from the rest of week 3 on.
    served = prof.set_index("week")["served_pct"]
    assert list(prof["week"]) == list(range(1, 11))
    assert served[1] == pytest.approx(100.0) and served[2] == pytest.approx(0.0)
    assert served[3] == pytest.approx(100 * (1 - 1 / 7))
    assert all(served[w] == pytest.approx(100.0) for w in range(4, 11))
    assert prof["shortfall"].sum() == pytest.approx(r["shortfall"])


def test_the_delay_in_the_model_buys_15_days_of_stock(solve_tiny):
    # Robust beta = 1. No delay: B (free to qualify) covers the crisis, stock stays at the 1 t held:
    # 52 x 1 + 0.1 x 1 = 52.1. With the 15-day delay only stock or contracts serve J until day 15:
    # stock 15/7 t (holding 0.1 x 15/7) is far cheaper than moving contracts to B (+52):
    # 52 + 0.1 x 15/7 = 52.2143.
    res, s = solve_tiny(_setting(Policy(scenario_beta=1.0)))
    assert res.objective == pytest.approx(52.1)
    res, s = solve_tiny(_setting(Policy(scenario_beta=1.0, crisis=CrisisRule(delay_weeks=DELAY))))
    assert res.proven_optimal and res.objective == pytest.approx(52 + 0.1 * DELAY)
    assert level(s) == pytest.approx(DELAY)
    # Contracts do serve in the delay: with no room for stock (max 1 t), J must contract x t/yr from B so
    # that x/52 t a week covers the 8/7 t the stock cannot over 15/7 weeks: x = 52 (8/7)/(15/7) = 27.733;
    # cost 52 + x (B costs 1 more per t) + 0.1 = 79.833.
    inst = _setting(Policy(scenario_beta=1.0, crisis=CrisisRule(delay_weeks=DELAY)))
    inst = with_(inst, stock=[Stock(item="x", importer="J", existing=1.0, holding_cost=0.1, max_stock=1.0)])
    res, s = solve_tiny(inst)
    x = 52 * (8 / 7) / DELAY
    assert res.objective == pytest.approx(52 + x + 0.1)
    a = s.allocations.set_index("country")["volume"]
    assert a["B"] == pytest.approx(x)


def test_a_ramp_is_a_staircase_averaging_the_linear_ramp():
    # Ramp 4 weeks, no stock: B offers 1/8, 3/8, 5/8, 7/8 of 1 t in weeks 1-4 (the linear ramp's
    # weekly averages), then all of it: received 2 + 6 = 8 t of 10, short 2 t = 20 %; TTS 0.
    r, prof = _row(_setting(Policy(crisis=CrisisRule(ramp_weeks=4)), existing=0.0))
    assert r["shortfall"] == pytest.approx(2.0) and r["shortfall_pct"] == pytest.approx(20.0)
    assert r["tts_weeks"] == pytest.approx(0.0)
    assert prof["served_pct"].tolist() == pytest.approx([12.5, 37.5, 62.5, 87.5] + [100.0] * 6)
    # The phases themselves: at most 4 steps, levels averaging 1/2 over the ramp.
    ph = Response(ramp_weeks=10).phases(26)
    assert [p.level for p in ph] == [0.125, 0.375, 0.625, 0.875, 1.0]
    assert ph[-1].start == 10 and sum(p.weeks for p in ph) == 26


def test_a_scenario_overrides_the_policy_clock():
    # The policy says 15 days; the scenario says no delay (its own column wins): nothing short.
    r, _ = _row(_setting(Policy(crisis=CrisisRule(delay_weeks=DELAY)), scenario={"delay_weeks": 0.0}))
    assert r["shortfall"] == pytest.approx(0.0)


# --------------------------------------------------------------------------- who shares
def test_members_only_sharing_blocks_a_non_members_spare_capacity(solve_tiny):
    # Sharing group IPEF; J is a member. B a member: its spare capacity serves J (no shortfall); B
    # outside: only what B is contracted for arrives, and it has no contract: 10 t short, all of it.
    ipef = Policy(crisis=CrisisRule(sharing_group="IPEF"))
    r, _ = _row(_setting(ipef, existing=0.0, groups={"J": ("IPEF",), "B": ("IPEF",)}))
    assert r["shortfall"] == pytest.approx(0.0)
    r, _ = _row(_setting(ipef, existing=0.0, groups={"J": ("IPEF",)}))
    assert r["shortfall"] == pytest.approx(10.0)
    # The model, robust beta = 1, no stock to buy (max 0): B a member, qualifying it is enough (52);
    # B outside, only a contract brings its supply in a crisis: all 52 t from B at 2 = 104.
    pol = Policy(scenario_beta=1.0, crisis=CrisisRule(sharing_group="IPEF"))
    for groups, cost in (({"J": ("IPEF",), "B": ("IPEF",)}, 52.0), ({"J": ("IPEF",)}, 104.0)):
        inst = with_(_setting(pol, existing=0.0, groups=groups),
                     stock=[Stock(item="x", importer="J", existing=0.0, max_stock=0.0)])
        res, _ = solve_tiny(inst)
        assert res.proven_optimal and res.objective == pytest.approx(cost), groups


def test_competing_buyers_take_the_rest_of_the_spare_capacity(solve_tiny):
    # spare_share 0.5: the coalition gets 0.5 t of B's 1 t a week: 5 t of 10 received, 5 t short.
    r, _ = _row(_setting(Policy(spare_share=0.5), existing=0.0))
    assert r["shortfall"] == pytest.approx(5.0)
    # Per item, and a scenario's own share wins over it.
    r, _ = _row(_setting(Policy(items={"x": {"spare_share": 0.25}}), existing=0.0))
    assert r["shortfall"] == pytest.approx(7.5)
    r, _ = _row(_setting(Policy(spare_share=0.5), existing=0.0, scenario={"spare_share": 1.0}))
    assert r["shortfall"] == pytest.approx(0.0)
    # The model, robust beta = 1: half of B's spare leaves 5 t to cover; stock (0.1 per t held) is
    # cheaper than contracting B: 52 + 0.1 x 5 = 52.5.
    res, s = solve_tiny(_setting(Policy(scenario_beta=1.0, spare_share=0.5), existing=0.0))
    assert res.objective == pytest.approx(52.5) and level(s) == pytest.approx(5.0)


# --------------------------------------------------------------------------- model and stress test agree
@pytest.mark.parametrize("crisis", [
    {"delay_weeks": DELAY},
    {"delay_weeks": DELAY, "ramp_weeks": 4.0, "sharing_group": "IPEF"},
])
def test_model_and_stress_test_agree_on_the_timeline(crisis):
    # Expected mode: every unit short in a block costs the same, so the model's recourse and the stress
    # LP of the model's own plan minimise the same total shortfall per (scenario, item), phase by phase.
    from tests.test_second_stage_agreement import _totals_agree

    inst = load_instance(ROOT / "instances" / "critical-minerals-us-japan",
                         {"policy.scenario_mode": "expected", "policy.scenario_shortage_cost": 1.0,
                          "policy.crisis": crisis})
    assert _totals_agree(inst) >= 2


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("setting, text", [
    ("policy.crisis.delay_weeks=-1", "policy.crisis.delay_weeks"),
    ("policy.crisis.sharing_group=NOPE", "unknown group"),
    ("policy.spare_share=1.5", "policy.spare_share"),
])
def test_bad_crisis_settings_exit_2(tmp_path, setting, text):
    out = runner.invoke(app, ["solve", str(ROOT / "instances" / "critical-minerals-us-japan"), "--set", setting,
                              "--out", str(tmp_path / "o")])
    assert out.exit_code == 2, out.output
    assert text in out.output and "Traceback" not in out.output
    assert not (tmp_path / "o").exists()


def test_a_clock_on_a_multi_tier_instance_is_refused(tmp_path):
    out = runner.invoke(app, ["solve", str(ROOT / "instances" / "rare-earth-magnets"), "--set",
                              "policy.crisis.delay_weeks=2", "--out", str(tmp_path / "o")])
    assert out.exit_code == 2, out.output
    assert "multi-tier" in out.output


# --------------------------------------------------------------------------- instruments: floors and pooled caps
def test_a_group_floor_binds(solve_tiny):
    # J needs 100 (K 1); A (group-less) sells at 1, B (in FTA) at 2, 200 each. Without a floor all from A: 100.
    # FTA floor 0.3: 30 from B: 70 x 1 + 30 x 2 = 130. The same floor named for J only, and one for another
    # importer only (K: no row for J), give 130 and 100.
    def run(floors):
        inst = tiny([("x", "A", 200, 1.0), ("x", "B", 200, 2.0)], [("J", "x", 100), ("K", "x", 1)],
                    groups={"B": ("FTA",)}, policy=Policy(group_floors=floors))
        res, s = solve_tiny(inst)
        assert res.proven_optimal
        return res.objective - 1.0  # K's 1 t from A at 1

    assert run(None) == pytest.approx(100.0)
    assert run({"FTA": 0.3}) == pytest.approx(130.0 + 0.3 * 1)  # K too takes 0.3 of its 1 t from B: +0.3
    assert run({"FTA": {"J": 0.3}}) == pytest.approx(130.0)
    assert run({"FTA": {"K": 0.3}}) == pytest.approx(100.0 + 0.3)


def test_a_pooled_cap_binds_while_every_importer_cap_is_slack(solve_tiny):
    # J and K need 50 each; A (concern) sells at 1, B (ally) at 2. Per-importer concern cap 0.7 alone:
    # 35 + 35 from A: 70 + 30 x 2 = 130. Pooled cap 0.3 on the two together: 30 from A in any split,
    # 30 + 70 x 2 = 170; each importer's share from A is at most 30/50 = 0.6 < 0.7: the per-importer caps are slack.
    def run(pooled):
        inst = tiny([("x", "A", 100, 1.0), ("x", "B", 100, 2.0)], [("J", "x", 50), ("K", "x", 50)],
                    tiers={"A": "concern"}, policy=Policy(tier_caps={"concern": 0.7}, pooled_caps=pooled))
        return solve_tiny(inst)

    res, _ = run(None)
    assert res.objective == pytest.approx(130.0)
    res, s = run({"concern": 0.3})
    assert res.proven_optimal and res.objective == pytest.approx(170.0)
    a = s.allocations[s.allocations["country"] == "A"]
    assert a["volume"].sum() == pytest.approx(30.0)
    assert (a["volume"] / 50 < 0.7 - 1e-6).all()


def test_floors_and_pooled_caps_through_set(tmp_path):
    # The instruments are policy keys: --set reaches them, and a bad name exits 2 naming the key.
    out = runner.invoke(app, ["solve", str(ROOT / "instances" / "critical-minerals-us-japan"),
                              "--set", "policy.pooled_caps.concern=0.3", "--set", "policy.items.lithium.group_floors.USFTA=0.2",
                              "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["solve", str(ROOT / "instances" / "critical-minerals-us-japan"),
                              "--set", "policy.group_floors.NOPE=0.2", "--out", str(tmp_path / "p")])
    assert out.exit_code == 2 and "policy.group_floors.NOPE" in out.output and "unknown tier or group" in out.output
    # A floor the group cannot reach: refused before solving, naming the importer and the capacity.
    out = runner.invoke(app, ["solve", str(ROOT / "instances" / "critical-minerals-us-japan"),
                              "--set", "policy.items.gallium.group_floors.EU=0.1", "--out", str(tmp_path / "q")])
    assert out.exit_code == 2 and "group_floors.EU" in out.output and "capacity in EU" in out.output, out.output


# --------------------------------------------------------------------------- instruments: export controls
def _controlled(controls, **pol):
    # J needs 100; A (in CN) sells at 1, B at 2, 200 each.
    inst = tiny([("x", "A", 200, 1.0), ("x", "B", 200, 2.0)], [("J", "x", 100)], groups={"A": ("CN",)},
                policy=Policy(export_controls=tuple(ExportControl(**c) for c in controls), **pol))
    return inst


def test_an_export_control_removes_a_lane_or_charges_a_licence(solve_tiny):
    # No control: 100 from A at 1 = 100. Forbid CN -> J: all from B, 200. A licence of 0.5 per t:
    # A at 1.5 still beats B: 150, with a licence cost component of 50. A licence of 1.5: B at 2 wins: 200.
    res, _ = solve_tiny(_controlled([]))
    assert res.objective == pytest.approx(100.0)
    res, s = solve_tiny(_controlled([{"origin": "CN", "importer": "J"}]))
    assert res.objective == pytest.approx(200.0)
    assert set(s.allocations["country"]) == {"B"}
    res, s = solve_tiny(_controlled([{"origin": "CN", "item": "x", "action": "licence", "licence_cost": 0.5}]))
    assert res.objective == pytest.approx(150.0)
    assert s.costs.set_index("component").loc["licence", "value"] == pytest.approx(50.0)
    res, _ = solve_tiny(_controlled([{"origin": "CN", "action": "licence", "licence_cost": 1.5}]))
    assert res.objective == pytest.approx(200.0)
    # Another item's control, or another importer's, leaves the lane alone.
    res, _ = solve_tiny(_controlled([{"origin": "CN", "importer": "K"}]))
    assert res.objective == pytest.approx(100.0)


def test_a_forbidden_lane_carries_no_recourse_in_a_crisis():
    # The plan buys from B; B is lost for 13 weeks; A (qualified, spare 200 t/yr) could cover J's 25 t over
    # the 13 weeks, unless CN's exports to J are forbidden: then all 25 t go short.
    src = st.Sourcing("plan", {("x", "B", "J"): 100.0}, frozenset({("x", "A"), ("x", "B")}))
    for controls, short in (([], 0.0), ([{"origin": "CN"}], 25.0)):
        inst = with_(_controlled(controls), scenarios=[Scenario(id="b", countries=("B",), duration_weeks=13)])
        r = st.stress(inst, src).table.iloc[0]
        assert r["shortfall"] == pytest.approx(short), controls


@pytest.mark.parametrize("control, column", [
    ("{origin: NOWHERE}", "policy.export_controls.0.origin"),
    ("{origin: CN, item: unobtainium}", "policy.export_controls.0.item"),
    ("{origin: CN, action: licence}", "policy.export_controls.0.licence_cost"),
])
def test_bad_export_controls_exit_2(tmp_path, control, column):
    out = runner.invoke(app, ["solve", str(ROOT / "instances" / "critical-minerals-us-japan"), "--set",
                              f"policy.export_controls=[{control}]", "--out", str(tmp_path / "o")])
    assert out.exit_code == 2, out.output
    assert column in out.output and "Traceback" not in out.output


def test_chinas_gallium_controls_as_standing_policy(tmp_path):
    # China's ban on gallium and germanium exports to the US (December 2024) as a standing rule: no plan
    # buys US gallium from China, and the run solves.
    out = runner.invoke(app, ["solve", str(ROOT / "instances" / "critical-minerals-us-japan"), "--set",
                              "policy.export_controls=[{origin: CN, importer: US, item: gallium}]",
                              "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    import pandas as pd

    a = pd.read_csv(tmp_path / "o" / "allocations.csv")
    plans = a[a["case"] != "baseline"]
    assert not len(plans[(plans["item"] == "gallium") & (plans["country"] == "CN") & (plans["importer"] == "US")])
    assert len(plans[(plans["item"] == "gallium") & (plans["importer"] == "US")])


# --------------------------------------------------------------------------- shared stockpiles
def _shared(release: str, *, level=None, split="demand", beta=None):
    # J needs 78 t/yr (1.5 t/week), K 26 (0.5 t/week); A, the only supplier, is lost for 10 weeks: J needs 15 t
    # and K 5 t over it. K holds 5 t of its own. J and K share a stockpile (group G).
    from planner.instance.schema import SharedStock

    inst = tiny([("x", "A", 200, 1.0)], [("J", "x", 78), ("K", "x", 26)], groups={"J": ("G",), "K": ("G",)},
                policy=Policy(scenario_beta=beta))
    row = SharedStock(id="pool", item="x", group="G", existing=level or 0.0, holding_cost=0.1,
                      max_stock=level, release=release, cost_split=split)
    inst = with_(inst, scenarios=[Scenario(id="a", countries=("A",), duration_weeks=10)],
                 stock=[Stock(item="x", importer="K", existing=5.0, max_stock=5.0)])
    return inst.replace(shared_stock=(row,))


def test_a_shared_stockpile_released_pro_rata_or_pooled():
    # 10 t shared. Pooled (a coordinated release): K needs none of it, J draws all 10: J short 5 t, K none.
    # Pro rata to demand: J may draw 78/104 = 75 % = 7.5 t, K's 2.5 t stay unused: J short 7.5 t.
    src = st.Sourcing("plan", {("x", "A", "J"): 78.0, ("x", "A", "K"): 26.0}, frozenset({("x", "A")}),
                      shared={"pool": 10.0})
    for release, j_short in (("pooled", 5.0), ("pro_rata", 7.5)):
        t = st.stress(_shared(release, level=10.0), src).table.set_index("importer")
        assert t.loc["J", "shortfall"] == pytest.approx(j_short), release
        assert t.loc["K", "shortfall"] == pytest.approx(0.0)
        assert t.loc["J", "drawdown"] == pytest.approx(15.0 - j_short)


def test_the_model_sizes_a_shared_stockpile_and_splits_its_cost(solve_tiny):
    # Robust beta = 1: J must be covered from the shared stockpile (K's own 5 t cover K). Pooled: 15 t,
    # 104 x 1 + 0.1 x 15 = 105.5. Pro rata: J's 75 % of the level must reach 15 t: 20 t, 104 + 2 = 106.
    # The holding cost split by demand (75 / 25 %) or equally.
    res, s = solve_tiny(_shared("pooled", beta=1.0))
    assert res.objective == pytest.approx(105.5)
    res, s = solve_tiny(_shared("pro_rata", beta=1.0))
    assert res.objective == pytest.approx(106.0)
    t = s.shared_stockpiles.set_index("importer")
    assert t.loc["J", "level"] == pytest.approx(20.0)
    assert t.loc["J", "cost"] == pytest.approx(1.5) and t.loc["K", "cost"] == pytest.approx(0.5)
    res, s = solve_tiny(_shared("pro_rata", beta=1.0, split="equal"))
    assert s.shared_stockpiles["cost"].tolist() == pytest.approx([1.0, 1.0])


# --------------------------------------------------------------------------- rerouting
def _red_sea(detour_cost: float, **pol):
    # J needs 52 t/yr (1 t a week) from A (52 t, 1 per t), its only supplier, on a free lane through the Red Sea.
    # The Red Sea closes for 10 weeks (probability 0.5). The lane's detour round the Cape adds 14 days (2 weeks).
    from planner.instance.schema import Lane

    inst = tiny([("x", "A", 52, 1.0)], [("J", "x", 52)], policy=Policy(**pol))
    lane = Lane(origin="A", importer="J", chokepoints=("red_sea",), detour_cost=detour_cost, detour_days=14.0)
    return with_(inst, lanes=[lane], scenarios=[Scenario(id="rs", chokepoints=("red_sea",), duration_weeks=10,
                                                         probability=0.5)])


def test_a_reroute_at_its_cost_and_delay(solve_tiny):
    # Stress test: nothing arrives for the detour's 2 weeks (2 t short), then A's 1 t a week over it: 8 t rerouted.
    # Without a detour the lane stays closed: all 10 t short.
    src = st.Sourcing("plan", {("x", "A", "J"): 52.0}, frozenset({("x", "A")}))
    r = st.stress(_red_sea(2.0), src).table.iloc[0]
    assert r["shortfall"] == pytest.approx(2.0) and r["rerouted"] == pytest.approx(8.0)
    assert r["tts_weeks"] == pytest.approx(0.0)
    closed = with_(_red_sea(2.0), lanes=[Lane(origin="A", importer="J", chokepoints=("red_sea",))])
    assert st.stress(closed, src).table.iloc[0]["shortfall"] == pytest.approx(10.0)
    # The model, expected mode, shortage 100 per t: 52 + 0.5 x 100 x 2 t + 0.5 x 2 x 8 t = 52 + 100 + 8 = 160.
    # With a detour dearer than going short (300 per t > 100), the plan goes short instead: 52 + 0.5 x 100 x 10 = 552.
    mode = {"scenario_mode": "expected", "scenario_shortage_cost": 100.0}
    res, s = solve_tiny(_red_sea(2.0, **mode))
    assert res.objective == pytest.approx(160.0)
    assert s.costs.set_index("component").loc["scenario_reroute", "value"] == pytest.approx(8.0)
    res, s = solve_tiny(_red_sea(300.0, **mode))
    assert res.objective == pytest.approx(552.0)


def test_a_detour_needs_its_cost(tmp_path):
    from tests.test_scenarios import _files, _write

    files = _files()
    lanes = files["lanes.csv"].splitlines()
    files["lanes.csv"] = "\n".join([lanes[0] + ",detour_days"] + [ln + ",14" for ln in lanes[1:]]) + "\n"
    out = runner.invoke(app, ["validate", str(_write(tmp_path / "i", files))])
    assert out.exit_code == 2 and "detour_cost" in out.output and "needs its extra cost" in out.output, out.output


# --------------------------------------------------------------------------- property: the timeline in both places
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st_  # noqa: E402

from tests.test_scenarios import assert_stress_within_beta, robust_instances  # noqa: E402


@st_.composite
def crisis_instances(draw):
    inst, beta = draw(robust_instances())
    codes = [c.code for c in inst.countries]
    members = set(draw(st_.sets(st_.sampled_from(codes))))
    countries = tuple(c.model_copy(update={"groups": ("G",) if c.code in members else ()}) for c in inst.countries)
    rule = CrisisRule(delay_weeks=draw(st_.sampled_from([0.0, DELAY, 3.0])),
                      ramp_weeks=draw(st_.sampled_from([0.0, 2.0, 5.0])),
                      sharing_group=draw(st_.sampled_from([None, "G"])) if members else None)
    policy = inst.policy.model_copy(update={"crisis": rule, "spare_share": draw(st_.sampled_from([None, 0.5]))})
    lanes = tuple(ln.model_copy(update={"detour_cost": 1.0, "detour_days": draw(st_.sampled_from([0.0, 7.0, 20.0]))})
                  if ln.chokepoints and draw(st_.booleans()) else ln for ln in inst.lanes)
    inst = inst.replace(countries=countries, lanes=lanes, meta=inst.meta.model_copy(update={"policy": policy}))
    return inst, beta


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crisis_instances())
def test_stress_of_a_robust_plan_never_exceeds_beta_under_any_response(case):
    # The same property as without a clock (tests/test_scenarios.py), now with a delay, a ramp, members-only
    # sharing, a spare share and detours drawn at random: the stress test replays the plan against the same
    # phases, routes and limits as the model's recourse, so no importer is ever more than 1 - beta short.
    assert_stress_within_beta(*case)


# --------------------------------------------------------------------------- crisis prices
def test_a_spot_premium_prices_what_is_bought_in_the_crisis(solve_tiny):
    # The 10-week loss of A (the shared setting, no delay). Expected mode, probability 1, shortage 100 per t.
    # J's 10 t over the disruption come from B's spare capacity: all bought in the crisis. Spot premium 3 per t:
    # the plan keeps A and pays 10 x 3 = 30 in the crisis; stock (0.1 held per t, 1 t held already) covers 1 t:
    # the plan may hold stock s >= 1 at 0.1 s and buy 10 - s at 3: s = 10 is cheapest, 0.1 x 10 = 1.
    # Without the premium, nothing is stocked beyond the 1 t held: 52 + 0.1.
    def run(premium):
        inst = _setting(Policy(scenario_mode="expected", scenario_shortage_cost=100.0, spot_premium=premium))
        inst = inst.replace(scenarios=tuple(s.model_copy(update={"probability": 1.0}) for s in inst.scenarios))
        return solve_tiny(inst)

    res, s = run(None)
    assert res.objective == pytest.approx(52.1)
    res, s = run(3.0)
    assert res.objective == pytest.approx(52 + 1.0)
    assert level(s) == pytest.approx(10.0)
    # A premium below the holding cost (0.05 < 0.1 per t) buys in the crisis instead, drawing the 1 t held:
    # 52 + 0.1 x 1 + 0.05 x 9 = 52.55.
    res, s = run(0.05)
    assert res.objective == pytest.approx(52.55)
    assert s.costs.set_index("component").loc["scenario_spot", "value"] == pytest.approx(0.45)
    # The stress test draws stockpiles last (its documented rule), so for that plan it buys all 10 t in the
    # crisis and keeps the 1 t held: an evaluation of the plan, not the model's cost-driven recourse.
    t = st.stress(_setting(Policy()), st.from_solution(s)).table.iloc[0]
    assert t["spot"] == pytest.approx(10.0) and t["drawdown"] == pytest.approx(0.0)


# --------------------------------------------------------------------------- through studies
def test_the_shipped_crisis_study_runs_and_agrees_with_single_solves(tmp_path):
    # studies/minerals-crisis.yaml sweeps policy.crisis keys through THE override applier: each run's cost is a
    # single solve's with the same settings, and a longer delay never makes the 80 % plan cheaper (the surge
    # available at any moment can only fall as the delay grows).
    import pandas as pd

    out = runner.invoke(app, ["study", str(ROOT / "studies" / "minerals-crisis.yaml"), "--out", str(tmp_path / "s"),
                              "--workers", "1"])
    assert out.exit_code == 0, out.output
    r = pd.read_csv(tmp_path / "s" / "results.csv")
    assert (r["status"] == "optimal").all() and len(r) == 9
    ipef = float(r.loc[r["scenario"] == "ipef", "total_cost"].iloc[0])
    single = runner.invoke(app, ["solve", str(ROOT / "instances" / "critical-minerals-us-japan"), "--variant",
                                 "resilient_ipef", "--no-explain", "--out", str(tmp_path / "one")])
    assert single.exit_code == 0, single.output
    k = pd.read_csv(tmp_path / "one" / "kpis.csv")
    cost = float(k[(k["kpi"] == "total_cost") & (k["item"] == "all")]["friendshored"].iloc[0])
    assert ipef == pytest.approx(cost, rel=1e-4)  # the CLI solves to its default 1e-4 gap, the study to 0
    grid = r[r["group"] == "delay"].sort_values("policy.crisis.delay_weeks")
    costs = [float(r.loc[r["scenario"] == "ipef_no_delay", "total_cost"].iloc[0]), *grid["total_cost"]]
    assert all(a <= b * (1 + 1e-9) for a, b in zip(costs, costs[1:])), costs  # exact: the study solves to gap 0


def test_an_export_control_on_an_input_stops_the_feed_to_a_plant_abroad():
    # Multi-tier: China's controls on separated rare earths as a standing rule. The magnet plants outside China
    # may no longer be fed Chinese oxide: the model's feed routes lose every CN -> abroad oxide route, and the
    # friendshored plan feeds no oxide from China to a plant outside it.
    from planner.analysis.cases import solve_case

    root = ROOT / "instances" / "rare-earth-magnets"
    base = load_instance(root)
    oxide = sorted({i for i, c, k in base.chain.feed_routes if c == "CN" and k != "CN"})
    assert oxide, "the instance feeds Chinese inputs to plants abroad"
    inst = load_instance(root, {"policy.export_controls": [{"origin": "CN", "item": oxide[0]}]})
    assert not [k for k in inst.chain.feed_routes if k[0] == oxide[0] and k[1] == "CN" and k[2] != "CN"]
    res, s = solve_case(inst, "friendshored")
    assert res.proven_optimal
    f = s.feeds
    assert not len(f[(f["item"] == oxide[0]) & (f["country"] == "CN") & (f["destination"] != "CN")])


def test_members_are_pooled_but_a_members_contract_to_an_outsider_draws_on_the_pool(solve_tiny):
    # Sharing group G = {A, J}; K imports but is outside it. A (member, 78 t/yr, 1 per t) and B (outside,
    # 200 t/yr, 1.5 per t) supply; J and K need 52 t/yr each. B is lost for 10 weeks; robust beta = 1; stock
    # costs 0.1 per t held. The plan buys A's 78 t and 26 t from B: 78 + 39 = 117. In the crisis A offers
    # 1.5 t a week = 15 t over the 10 weeks for the 20 t needed; K, outside the group, gets only A's contract
    # with K, and that contract draws on A's 15 t like J's share does: 5 t must come from stock, 0.5.
    # Optimum 117.5 (a pool row that forgot the outsider's contract would claim 117, and the plan would
    # leave J 5 t short in the stress test).
    inst = tiny([("x", "A", 78, 1.0), ("x", "B", 200, 1.5)], [("J", "x", 52), ("K", "x", 52)],
                groups={"A": ("G",), "J": ("G",)},
                policy=Policy(scenario_beta=1.0, crisis=CrisisRule(sharing_group="G")))
    inst = with_(inst, scenarios=[Scenario(id="b", countries=("B",), duration_weeks=10)],
                 stock=[Stock(item="x", importer=j, holding_cost=0.1) for j in ("J", "K")])
    import models

    assert [b.group_pool for b in models.build(inst).look.recourse_blocks.values()] == [True]
    res, s = solve_tiny(inst)
    assert res.objective == pytest.approx(117.5)
    assert st.stress(inst, st.from_solution(s)).table["shortfall"].max() == pytest.approx(0.0, abs=1e-6)


def test_a_sharing_group_without_member_importers_pools_nothing(solve_tiny):
    # Found by the property test: G = {B}, a supplier; the only importer J is outside G and B's lane to J is
    # blocked, so the members' pool has no importer and no surviving supplier. It built an empty Recourse_Pool
    # row (0 <= 0), which Pyomo refuses. Now there is no pool and the block is limited route by route.
    # Optimum: A and B both sell at 1 per t with free lanes; J's 20 t cost 20 whichever way, and buying from A
    # alone leaves nothing to the blocked lane, so no stock is needed: 20.
    inst = tiny([("x", "A", 150, 1.0), ("x", "B", 20, 1.0)], [("J", "x", 20)], groups={"B": ("G",)},
                policy=Policy(scenario_beta=0.3, crisis=CrisisRule(sharing_group="G")))
    inst = with_(inst, lanes=[Lane(origin="A", importer="J"), Lane(origin="B", importer="J", chokepoints=("p",))],
                 scenarios=[Scenario(id="s0", chokepoints=("p",), loss=0.5, duration_weeks=4)],
                 stock=[Stock(item="x", importer="J", holding_cost=0.5)])
    import models

    assert [b.group_pool for b in models.build(inst).look.recourse_blocks.values()] == [False]
    res, _ = solve_tiny(inst)
    assert res.objective == pytest.approx(20.0)
