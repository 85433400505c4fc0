"""Infeasibility diagnosis: built-to-fail instances where one policy family is to blame.

Every instance here passes the plain pre-solve checks (asserted), so only the
solver can find the conflict; the expected numbers are derived by hand in the
comments.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
from pyomo.environ import Constraint
from typer.testing import CliRunner

import models
from planner.instance.checks import check_feasibility
from planner.cli.app import app
from planner.analysis.diagnose import COLUMNS, diagnose, diagnose_model, run_diagnosis
from planner.instance.schema import Policy
from tests.conftest import tiny
from tests.test_cli import TWO_SUPPLIERS, write_instance_files


def passes_plain_checks(inst) -> bool:
    return check_feasibility(inst, "instance.yaml", "demand.csv", {}) == []


def lanes(*pairs: str) -> list[tuple]:
    """'AJ' -> a free lane from A to J for every item."""
    return [(p[0], p[1], "*", 0.0, 0.0) for p in pairs]


def only_row(table: pd.DataFrame) -> SimpleNamespace:
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 1, table.to_string()
    return SimpleNamespace(**table.iloc[0].to_dict())


def test_tier_cap_too_tight_for_the_trusted_capacity_reaching_one_importer():
    # J and K each need 100 t.  Concern-tier A (200 t) reaches both; ally B (200 t) only K; ally C (35 t) only J.
    # Plain checks pass: the concern cap 0.2 needs 0.8 * 200 = 160 t from outside, and B + C = 235 t.
    # But outside the tier only C reaches J: 35 t, so A must ship >= 65 t to J, a share of 0.65 > 0.2.
    # Needed cap 0.65, short by 0.45 (45 points), or 45 t more non-concern capacity reaching J.  K is fine (B).
    inst = tiny([("x", "A", 200, 1.0), ("x", "B", 200, 2.0), ("x", "C", 35, 2.0)], [("J", "x", 100), ("K", "x", 100)],
                tiers={"A": "concern"}, lanes=lanes("AJ", "AK", "BK", "CJ"),
                policy=Policy(tier_caps={"concern": 0.2}))
    assert passes_plain_checks(inst)
    d = run_diagnosis(inst)
    assert d.kind == "policy" and d.result.proven_optimal
    r = only_row(d.table)
    assert (r.constraint, r.item, r.importer, r.group, r.unit) == ("Tier_Share_Cap", "x", "J", "concern",
                                                                   "fraction of demand")
    assert (r.limit, r.needed, r.shortfall) == pytest.approx((0.2, 0.65, 0.45), abs=1e-6)
    assert r.status == "optimal"
    for words in ("covers only 35% of demand", "cap of 20% is short by 45 points", "raise the cap to 65%",
                  "add 45 t of capacity outside the concern tier that can reach J"):
        assert words in r.message, r.message


def test_country_cap_with_two_suppliers_and_a_capacity_limit():
    # A (100 t) and B (30 t) serve J's 100 t; cap 0.6 per country.  B can give at most 30, so A ships >= 70:
    # needed 0.7, short by 0.1 (10 points), or 10 t of capacity elsewhere.  Plain checks pass (2 x 0.6 >= 1).
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 30, 2.0)], [("J", "x", 100)],
                policy=Policy(country_share_cap=0.6))
    assert passes_plain_checks(inst)
    r = only_row(diagnose(inst))
    assert (r.constraint, r.item, r.importer, r.group) == ("Country_Share_Cap", "x", "J", "A")
    assert (r.limit, r.needed, r.shortfall) == pytest.approx((0.6, 0.7, 0.1), abs=1e-6)
    assert "raise the cap to 70% or add 10 t of capacity" in r.message


def test_a_country_cap_shared_by_importers_reports_the_least_cap_that_works():
    # J and K need 50 t each.  A has 200 t; B 20 t and C 10 t (30 t outside A).  Cap 0.4 (3 x 0.4 >= 1: checks pass).
    # A must ship >= 100 - 30 = 70 t in all, at most (0.4 + t) * 50 to each importer: 2 * (0.4 + t) * 50 >= 70
    # gives t = 0.3.  The cap is one number per item, so the answer is 0.7, not one importer at 100 %.
    # At cap 0.7 A ships 35 t to each, 15 t over the 20 t each the cap allows: 30 t in all.
    inst = tiny([("x", "A", 200, 1.0), ("x", "B", 20, 2.0), ("x", "C", 10, 2.0)], [("J", "x", 50), ("K", "x", 50)],
                policy=Policy(country_share_cap=0.4))
    assert passes_plain_checks(inst)
    r = only_row(diagnose(inst))
    assert (r.constraint, r.item, r.group) == ("Country_Share_Cap", "x", "A")
    assert r.importer == "J"  # both rows need 0.7: the tie goes to the first importer in index order
    assert (r.limit, r.needed, r.shortfall) == pytest.approx((0.4, 0.7, 0.3), abs=1e-6)
    assert "raise the cap to 70% or add 30 t of capacity" in r.message


def test_min_suppliers_beyond_what_minimum_orders_allow():
    # Three suppliers of 100 t with minimum orders of 50 t; demand 100 t; min_suppliers 3.  Qualifying three forces
    # >= 150 t of purchases for 100 t of demand, so at most 2 can be qualified: needed 2, short by 1.
    inst = tiny([("x", "A", 100, 1.0, 0.0, 50.0), ("x", "B", 100, 2.0, 0.0, 50.0), ("x", "C", 100, 3.0, 0.0, 50.0)],
                [("J", "x", 100)], policy=Policy(min_suppliers=3))
    assert passes_plain_checks(inst)
    r = only_row(diagnose(inst))
    assert (r.constraint, r.item, r.importer, r.group, r.unit) == ("Min_Suppliers", "x", "all", "all", "suppliers")
    assert (r.limit, r.needed, r.shortfall) == pytest.approx((3, 2, 1), abs=1e-6)
    assert "lower min_suppliers to 2 or make 1 more supplier available" in r.message


def test_n1_level_beyond_what_minimum_orders_allow():
    # A and C have 100 t with minimum orders of 70 t, B 30 t; demand 100 t; n1_beta 0.6.  Plain check: without the
    # largest (100 t) the others have 130 t >= 60 t.  But A and C together force >= 140 t of purchases, so at most one
    # of them is qualified; with B, losing it leaves 30 t = 0.3 of demand.  Needed 0.3, short 0.3, or 30 t more.
    inst = tiny([("x", "A", 100, 1.0, 0.0, 70.0), ("x", "C", 100, 2.0, 0.0, 70.0), ("x", "B", 30, 3.0)],
                [("J", "x", 100)], policy=Policy(n1_beta=0.6))
    assert passes_plain_checks(inst)
    r = only_row(diagnose(inst))
    assert (r.constraint, r.item, r.importer) == ("N1_Cover", "x", "all")
    assert r.group in ("A", "C")  # the lost country: whichever of the two the plan qualified
    assert (r.limit, r.needed, r.shortfall) == pytest.approx((0.6, 0.3, 0.3), abs=1e-6)
    assert f"if {r.group} is lost, the qualified capacity left covers 30% of total demand" in r.message
    assert "lower n1_beta to 30% or add 30 t of qualified capacity" in r.message


def test_physical_conflict_names_the_infeasible_rows():
    # One supplier whose minimum order (150 t) exceeds the only demand (100 t): no policy is involved, the contract
    # term and the demand balance cannot both hold.  Min_Order is hard, so the elastic model stays infeasible.
    inst = tiny([("x", "A", 200, 1.0, 0.0, 150.0)], [("J", "x", 100)], policy=Policy(country_share_cap=1.0))
    d = run_diagnosis(inst)
    assert d.kind == "physical"
    assert {"Min_Order", "Demand_Balance"} <= set(d.table["constraint"])
    assert not {"Country_Share_Cap", "Tier_Share_Cap", "N1_Cover"} & set(d.table["constraint"])
    assert "physical" in d.headline
    assert any("Min_Order[x,A] is in the conflict" in m for m in d.table["message"])


def test_physical_conflict_names_the_item_short_of_capacity():
    # Built in code (the plain checks would reject it at load): 50 t of capacity for 100 t of demand.
    inst = tiny([("x", "A", 50, 1.0)], [("J", "x", 100)])
    d = run_diagnosis(inst)
    assert d.kind == "physical"
    cap = d.table[(d.table["constraint"] == "Demand_Balance") & (d.table["importer"] == "all")]
    assert len(cap) == 1
    assert (cap.iloc[0]["limit"], cap.iloc[0]["needed"], cap.iloc[0]["shortfall"]) == (50, 100, 50)
    assert "add 50 t of capacity" in cap.iloc[0]["message"]


def test_feasible_policy_gives_an_empty_table():
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 100, 2.0)], [("J", "x", 100)], policy=Policy(country_share_cap=0.6))
    d = run_diagnosis(inst)
    assert d.kind == "none"
    assert d.table.empty and list(d.table.columns) == list(COLUMNS)


def test_other_modules_join_by_name_through_m_policy_constraints():
    # A family unknown to the diagnosis: Flow[x,A,J] >= 120 with only 100 t at A.  Registered as policy, it is
    # relaxed row by row and reported in its own unit: limit 120, needed 100, short by 20.  Not registered, it is
    # physical (hard).
    inst = tiny([("x", "A", 100, 1.0)], [("J", "x", 100)])

    def model(register: bool):
        m = models.build(inst)

        def stock_floor(m):
            """Flow[x,A,J] >= 120  for the test's one row.

            A made-up floor standing in for another module's policy row.
            """
            return m.Flow["x", "A", "J"] >= 120

        m.Stock_Floor = Constraint(rule=stock_floor)
        if register:
            m.policy_constraints = {"Stock_Floor"}
        return m

    r = only_row(diagnose_model(model(True), inst).table)
    assert (r.constraint, r.unit) == ("Stock_Floor", "row units")
    assert (r.limit, r.needed, r.shortfall) == pytest.approx((120, 100, 20), abs=1e-6)
    assert "A made-up floor" in r.message and "lower the limit to 100" in r.message
    assert diagnose_model(model(False), inst).kind == "physical"


def test_two_families_two_items_are_both_named_in_report_order():
    # Item x: the tier conflict of the first test's shape on one importer (A concern 100 t, B 35 t, cap 0.2 -> 0.65).
    # Item y: three 100 t suppliers with 50 t minimum orders, min_suppliers 3 -> 2 (as above).  Independent items,
    # so each level's least value is its own; rows come in POLICY_CONSTRAINTS order (tier caps before suppliers).
    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 35, 2.0),
                 ("y", "A", 100, 1.0, 0.0, 50.0), ("y", "B", 100, 1.0, 0.0, 50.0), ("y", "C", 100, 1.0, 0.0, 50.0)],
                [("J", "x", 100), ("J", "y", 100)], tiers={"A": "concern"},
                policy=Policy(tier_caps={"concern": 1.0}, min_suppliers=3,
                              items={"x": {"tier_caps": {"concern": 0.2}, "min_suppliers": 0}}))
    t = diagnose(inst)
    assert t[["constraint", "item"]].values.tolist() == [["Tier_Share_Cap", "x"], ["Min_Suppliers", "y"]]
    assert t["needed"].tolist() == pytest.approx([0.65, 2.0], abs=1e-6)


# --------------------------------------------------------------------------- CLI
runner = CliRunner()


def test_cli_prints_the_diagnosis_writes_it_atomically_and_exits_3(tmp_path):
    # The country-cap case of test_cli: A <= 60 and B <= its 30 t, so cap 0.6 must rise to 0.7 (or 10 t elsewhere).
    inst = write_instance_files(tmp_path / "two", TWO_SUPPLIERS)
    out = tmp_path / "o"
    out.mkdir()
    (out / "allocations.csv").write_text("stale output of an earlier run\n")
    (out / "run.json").write_text('{"versions": {"friendshore": "0.1.0"}}')  # an earlier output of ours
    r = runner.invoke(app, ["solve", str(inst), "--set", "policy.country_share_cap=0.6", "--out", str(out),
                            "--format", "csv,json"])
    assert r.exit_code == 3, r.output
    assert "Traceback" not in r.output
    assert "infeasible" in r.output.lower()
    assert "Country_Share_Cap" in r.output
    assert "the country share cap of 60% is short by 10 points; raise the cap to 70%" in r.output
    # The folder is replaced whole: the diagnosis and the run record, nothing stale, nothing half-written.
    assert sorted(p.name for p in out.iterdir()) == ["diagnosis.csv", "diagnosis.json", "run.json"]
    t = pd.read_csv(out / "diagnosis.csv", keep_default_na=False)
    assert list(t.columns) == list(COLUMNS)
    assert t[["constraint", "item", "importer", "group"]].values.tolist() == [["Country_Share_Cap", "x", "J", "A"]]
    assert (t.at[0, "limit"], t.at[0, "needed"], t.at[0, "shortfall"]) == pytest.approx((0.6, 0.7, 0.1), abs=1e-6)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "infeasible" and run["proven_optimal"] is False
    assert run["diagnosis"]["kind"] == "policy"
    assert not list(tmp_path.glob(".o.*"))  # no staging folder left behind


def test_cli_without_out_writes_nothing(tmp_path):
    inst = write_instance_files(tmp_path / "two", TWO_SUPPLIERS)
    r = runner.invoke(app, ["solve", str(inst), "--set", "policy.country_share_cap=0.6", "--no-compare"])
    assert r.exit_code == 3, r.output
    assert "raise the cap to 70%" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]


def test_robust_scenario_level_beyond_what_survives():
    # models/recourse.py's robust floor joins by name.  A (100 t) and B (30 t) serve J's 100 t; a scenario takes all
    # of A for 52 weeks (tau = 1).  B's crisis supply is at most its qualified capacity, 30 t (surge 1), so J is
    # served at most 30 of its 100 t: scenario_beta 1.0 must fall to 0.3 (70 points), or 70 t more must survive.
    from planner.instance import schema

    inst = tiny([("x", "A", 100, 1.0), ("x", "B", 30, 2.0)], [("J", "x", 100)],
                policy=Policy(scenario_beta=1.0, scenario_mode="robust"))
    inst = inst.replace(scenarios=(schema.Scenario(id="lossA", countries=("A",), duration_weeks=52, loss=1.0),))
    r = only_row(diagnose(inst))
    # The robust level lives in Scenario_Served (robust mode alone) or Scenario_Beta (with a priced shortage).
    assert r.constraint in ("Scenario_Served", "Scenario_Beta")
    assert (r.item, r.importer, r.group) == ("x", "J", "lossA")
    assert (r.limit, r.needed, r.shortfall) == pytest.approx((1.0, 0.3, 0.7), abs=1e-6)
    assert "lower scenario_beta to 30% or add 70 t" in r.message


def test_phase_2_finds_a_plan_on_the_shipped_resilient_batteries_case():
    # Issue 13, item 19: phase 2 keeps phase 1's least violation; holding it within 1e-7 made HiGHS
    # call the model infeasible, though phase 1's plan satisfies it by construction, so the note
    # "phase 2 ... stopped without a solution (infeasible)" appeared.
    from pathlib import Path

    from planner.instance.io import load_instance

    root = Path(__file__).resolve().parents[1]
    inst = load_instance(root / "instances" / "batteries-japan", ["policy.scenario_generators=[n1, n2, chokepoints]"],
                         variant="resilient")
    d = run_diagnosis(inst)
    assert d.kind == "policy" and not [n for n in d.notes if "phase 2" in n], d.notes
    # Phase 2 keeps the least violation: the row shown is short by it, up to the widest slack, 1e-5.
    assert d.table["shortfall"].max() == pytest.approx(d.violation, abs=1e-5)


def test_cli_a_failing_diagnosis_still_exits_3_without_traceback_or_output(tmp_path, monkeypatch):
    import planner.cli.show

    def broken(*args, **kwargs):
        raise RuntimeError("boom [x]")

    monkeypatch.setattr(planner.cli.show, "run_diagnosis", broken)  # what the CLI calls
    monkeypatch.delenv("FRIENDSHORE_DEBUG", raising=False)
    inst = write_instance_files(tmp_path / "two", TWO_SUPPLIERS)
    out = tmp_path / "o"
    r = runner.invoke(app, ["solve", str(inst), "--set", "policy.country_share_cap=0.6", "--out", str(out),
                            "--no-compare"])
    assert r.exit_code == 3, r.output
    assert "Traceback" not in r.output
    assert "diagnosis failed: RuntimeError: boom [x]" in r.output
    assert not out.exists()


def _mine_chain(policy: Policy):
    """Ore mines A (concern, 300 t) and B (ally, 60 t) -> metal plant R (ally, 100 t, 2 t of ore per t) -> J (100 t)."""
    from planner.instance.schema import Bom, Country, Demand, Instance, Item, Lane, Meta, Stage, Supply

    return Instance(
        meta=Meta(name="mine-chain", policy=policy),
        countries=(Country(code="A", name="A", tier="concern"),
                   *(Country(code=c, name=c, tier="ally") for c in "BJR")),
        items=(Item(id="ore", name="ore", unit="t", stage="mine"), Item(id="metal", name="metal", unit="t",
                                                                         stage="refine")),
        stages=(Stage(id="mine", name="mining", order=1), Stage(id="refine", order=2)),
        bom=(Bom(output="metal", input="ore", quantity=2.0),),
        supply=(Supply(item="ore", country="A", capacity=300, unit_cost=1.0),
                Supply(item="ore", country="B", capacity=60, unit_cost=2.0),
                Supply(item="metal", country="R", capacity=100, unit_cost=5.0)),
        demand=(Demand(importer="J", item="metal", quantity=100),),
        lanes=(Lane(origin="A", importer="R"), Lane(origin="B", importer="R"), Lane(origin="R", importer="J")),
    )


@pytest.mark.parametrize("policy, family, tag, where, what", [
    (Policy(stage_caps={"mine": {"concern": 0.5}}), "Stage_Share_Cap", "mine:concern", "at the mining stage",
     "mining-stage cap on concern"),
    (Policy(upstream_caps={"concern": 0.5}), "Upstream_Share_Cap", "*:concern", "at any stage",
     "upstream cap on concern"),
])
def test_stage_and_upstream_caps_beyond_the_ore_outside_the_tier(policy, family, tag, where, what):
    # J's 100 t of metal need 200 t of ore.  Outside the concern tier only B's 60 t of ore exist: 30 t of metal,
    # 30 % of demand, so at least 70 % passed through A (mined there).  The cap of 50 % needs 70 %: short by
    # 20 points; or 20 t more metal that avoids A (which means 40 t of non-concern ore).  Mining and refining
    # capacity alone (300 + 60 t of ore, 100 t of metal) cover demand, so only the solver finds the conflict.
    inst = _mine_chain(policy)
    d = run_diagnosis(inst)
    assert d.kind == "policy" and d.result.proven_optimal
    r = only_row(d.table)
    assert (r.constraint, r.item, r.importer, r.group, r.unit) == (family, "metal", "J", tag, "fraction of demand")
    assert (r.limit, r.needed, r.shortfall) == pytest.approx((0.5, 0.7, 0.2), abs=1e-6)
    for words in (f"did not pass through concern {where} covers only 30% of demand",
                  f"the {what} of 50% is short by 20 points", "raise the cap to 70%",
                  f"add 20 t of metal supply that avoids concern {where} and can reach J"):
        assert words in r.message, r.message


def test_the_diagnosis_reuses_the_model_that_failed_to_solve(tmp_path, monkeypatch):
    # Issue 14: `solve` on an infeasible policy built the friendshored model, then the diagnosis built it
    # again. Now the comparison hands the unsolved model to the diagnosis: one build in all (no cost-only).
    calls = []
    real = models.build
    monkeypatch.setattr(models, "build", lambda *a, **k: calls.append(1) or real(*a, **k))
    inst = write_instance_files(tmp_path / "two", TWO_SUPPLIERS)
    r = CliRunner().invoke(app, ["solve", str(inst), "--set", "policy.country_share_cap=0.6", "--no-compare"])
    assert r.exit_code == 3 and "Country_Share_Cap" in r.output, r.output
    assert len(calls) == 1
