"""Every check of load_instance: where the problem is reported and what it says."""

from __future__ import annotations

import pytest

from planner.instance.io import load_instance
from tests.io_fixtures import LEFT_OUT, base, find, make, problems_of

# Base instance (see io_fixtures): JP demands 150 t gallium; CN (concern) 300 t,
# US (ally) 100 t and AU (ally) 100 t + 50 t investable all reach JP.


def policy_yaml(body: str) -> str:
    """instance.yaml with the given policy block; ``policy:`` is line 2, its first key line 3."""
    return ("name: tiny\npolicy:\n" + "".join(f"  {line}\n" for line in body.strip().splitlines())
            + LEFT_OUT + "\n")


def test_base_instance_is_valid(tmp_path):
    load_instance(make(tmp_path / "x"))


# --------------------------------------------------------------------------- cells
def test_missing_value(tmp_path):
    folder = make(tmp_path / "x", supply_csv="item,country,capacity,unit_cost\ngallium,CN,,10\ngallium,,1,1\n")
    problems = problems_of(folder)
    assert "missing value" in find(problems, "supply.csv", 2, "capacity").expected
    assert "missing value" in find(problems, "supply.csv", 3, "country").expected


def test_non_numeric(tmp_path):
    folder = make(tmp_path / "x", demand_csv="importer,item,quantity\nJP,gallium,150 t\n")
    p = find(problems_of(folder), "demand.csv", 2, "quantity")
    assert p.value == "150 t" and "not a number" in p.expected and "expected a number >= 0" in p.expected


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_nan_and_inf(tmp_path, text):
    folder = make(tmp_path / "x", supply_csv=f"item,country,capacity,unit_cost\ngallium,CN,300,10\ngallium,US,{text},1\n")
    p = find(problems_of(folder), "supply.csv", 3, "capacity")
    assert p.value == text and "NaN or infinity" in p.expected


def test_negative(tmp_path):
    folder = make(tmp_path / "x", supply_csv="item,country,capacity,unit_cost,min_order\ngallium,CN,300,10,-1\n")
    p = find(problems_of(folder), "supply.csv", 2, "min_order")
    assert "out of range" in p.expected and ">= 0" in p.expected


@pytest.mark.parametrize("table,text,row,column", [
    ("supply_csv", "item,country,capacity,unit_cost,qualification_cost,min_order,surge\ngallium,CN,300,1,0,0,1.2\n",
     2, "surge"),
    ("programmes_csv", "id,funding_country,rate,budget\njp_minerals,JP,-0.1,10\n", 2, "rate"),
    ("baseline_csv", "importer,item,country,share\nJP,gallium,CN,1.5\n", 2, "share"),
])
def test_rate_outside_unit_interval(tmp_path, table, text, row, column):
    p = find(problems_of(make(tmp_path / "x", **{table: text})), f"{table[:-4]}.csv", row, column)
    assert "in [0, 1]" in p.expected


def test_int_that_is_not_whole(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("min_suppliers: 2.5"))
    p = find(problems_of(folder), "instance.yaml", 3, "policy.min_suppliers")
    assert p.value == "2.5" and "integer" in p.expected


def test_bad_meta_values_and_unknown_keys(tmp_path):
    folder = make(tmp_path / "x", instance_yaml="name: tiny\ntiers: [ally, ally]\npolicy:\n  colour: red\n")
    problems = problems_of(folder)
    assert "unique" in find(problems, "instance.yaml", 2, "tiers").expected
    p = find(problems, "instance.yaml", 4, "policy.colour")
    assert "unknown key" in p.expected and "country_share_cap" in p.expected


def test_meta_missing_name(tmp_path):
    folder = make(tmp_path / "x", instance_yaml="description: nameless\n")
    assert "missing key 'name'" in find(problems_of(folder), "instance.yaml", None, "name").expected


def test_duplicate_keys_name_both_rows(tmp_path):
    folder = make(tmp_path / "x", supply_csv="item,country,capacity,unit_cost\ngallium,CN,300,10\ngallium,US,1,1\ngallium,CN,5,5\n")
    p = find(problems_of(folder), "supply.csv", 4, "item,country")
    assert p.value == "gallium:CN" and "also on row 2" in p.expected


def test_duplicate_lane_with_default_item(tmp_path):
    folder = make(tmp_path / "x", lanes_csv="origin,importer,item\nCN,JP,\nCN,JP,*\nUS,JP,\nAU,JP,\n")
    assert "also on row 2" in find(problems_of(folder), "lanes.csv", 3, "origin,importer,item").expected


# --------------------------------------------------------------------------- references
def test_unknown_tier(tmp_path):
    folder = make(tmp_path / "x", countries_csv=base("countries.csv").replace("AU,Australia,ally", "AU,Australia,friend"))
    p = find(problems_of(folder), "countries.csv", 4, "tier")
    assert p.value == "friend" and "unknown tier" in p.expected and "ally" in p.expected


@pytest.mark.parametrize("table,text,row,column", [
    ("supply_csv", "item,country,capacity,unit_cost\ngallium,CN,300,10\ngallium,XX,1,1\n", 3, "country"),
    ("demand_csv", "importer,item,quantity\nJP,gallium,150\nXX,gallium,1\n", 3, "importer"),
    ("lanes_csv", "origin,importer\nCN,JP\nXX,JP\n", 3, "origin"),
    ("lanes_csv", "origin,importer\nCN,JP\nCN,XX\n", 3, "importer"),
    ("investments_csv", "option,item,country,capacity,capex\nx,gallium,XX,1,1\n", 2, "country"),
    ("programmes_csv", "id,funding_country,budget\njp_minerals,XX,1\n", 2, "funding_country"),
    ("baseline_csv", "importer,item,country,share\nXX,gallium,CN,1\n", 2, "importer"),
    ("baseline_csv", "importer,item,country,share\nJP,gallium,XX,1\n", 2, "country"),
])
def test_unknown_country(tmp_path, table, text, row, column):
    p = find(problems_of(make(tmp_path / "x", **{table: text})), f"{table[:-4]}.csv", row, column)
    assert p.value == "XX" and "unknown country code" in p.expected and "AU, CN, JP, US" in p.expected


@pytest.mark.parametrize("table,text,row", [
    ("supply_csv", "item,country,capacity,unit_cost\ngallium,CN,300,10\ntin,US,1,1\n", 3),
    ("demand_csv", "importer,item,quantity\nJP,gallium,150\nJP,tin,1\n", 3),
    ("lanes_csv", "origin,importer,item\nCN,JP,*\nUS,JP,tin\n", 3),
    ("investments_csv", "option,item,country,capacity,capex\nx,tin,AU,1,1\n", 2),
    ("baseline_csv", "importer,item,country,share\nJP,tin,CN,1\n", 2),
])
def test_unknown_item(tmp_path, table, text, row):
    p = find(problems_of(make(tmp_path / "x", **{table: text})), f"{table[:-4]}.csv", row, "item")
    assert p.value == "tin" and "unknown item id" in p.expected and "gallium" in p.expected


def test_programme_lists_unknown_items_and_hosts(tmp_path):
    folder = make(tmp_path / "x", programmes_csv="id,funding_country,budget,items,hosts\njp_minerals,JP,1,gallium;tin,ally;XX;*\n")
    problems = problems_of(folder)
    assert find(problems, "programmes.csv", 2, "items").value == "tin"
    hosts = find(problems, "programmes.csv", 2, "hosts")
    assert hosts.value == "XX" and "concern" in hosts.expected and "JP" in hosts.expected


def test_investment_unknown_programme(tmp_path):
    folder = make(tmp_path / "x", investments_csv="option,item,country,capacity,capex,programmes\nau,gallium,AU,1,1,jp_minerals;nope\n")
    p = find(problems_of(folder), "investments.csv", 2, "programmes")
    assert p.value == "nope" and "jp_minerals" in p.expected


def test_investment_needs_supply_row(tmp_path):
    folder = make(tmp_path / "x", investments_csv="option,item,country,capacity,capex\njp_ga,gallium,JP,10,1\n")
    p = find(problems_of(folder), "investments.csv", 2, "country")
    assert "add a supply row with capacity 0" in p.expected


def test_investment_outside_programme_rules(tmp_path):
    folder = make(
        tmp_path / "x",
        investments_csv="option,item,country,capacity,capex,programmes\ncn_ga,gallium,CN,10,1,jp_minerals\n",
        programmes_csv="id,funding_country,budget,items,hosts\njp_minerals,JP,1,*,ally;JP\n",
    )
    p = find(problems_of(folder), "investments.csv", 2, "programmes")
    assert "not open to host CN (tier concern)" in p.expected


def test_investment_item_outside_programme(tmp_path):
    folder = make(
        tmp_path / "x",
        items_csv="id,name,unit\ngallium,Gallium,t\ntin,Tin,t\n",
        programmes_csv="id,funding_country,budget,items\njp_minerals,JP,1,tin\n",
    )
    assert "does not cover item gallium" in find(problems_of(folder), "investments.csv", 2, "programmes").expected


# --------------------------------------------------------------------------- baseline
def test_baseline_needs_demand_and_supply_rows(tmp_path):
    folder = make(tmp_path / "x", baseline_csv="importer,item,country,volume\nJP,gallium,JP,1\nUS,gallium,CN,1\n")
    problems = problems_of(folder)
    assert "no supply row for (gallium, JP)" in find(problems, "baseline.csv", 2, "country").expected
    assert "no demand row for (US, gallium)" in find(problems, "baseline.csv", 3, "item").expected


def test_baseline_share_xor_volume(tmp_path):
    folder = make(tmp_path / "x", baseline_csv="importer,item,country,share,volume\nJP,gallium,CN,1,10\nJP,gallium,US,,\n")
    problems = problems_of(folder)
    assert "both share and volume" in find(problems, "baseline.csv", 2, "share").expected
    assert "neither share nor volume" in find(problems, "baseline.csv", 3, "share").expected


def test_baseline_kinds_not_mixed(tmp_path):
    folder = make(tmp_path / "x", baseline_csv="importer,item,country,share,volume\nJP,gallium,CN,0.5,\nJP,gallium,US,,75\n")
    p = find(problems_of(folder), "baseline.csv", 3, "volume")
    assert "shares and volumes mixed for (JP, gallium)" in p.expected


def test_baseline_shares_sum_to_one(tmp_path):
    folder = make(tmp_path / "x", baseline_csv="importer,item,country,share\nJP,gallium,CN,0.6\nJP,gallium,US,0.3\n")
    p = find(problems_of(folder), "baseline.csv", 2, "share")
    assert p.value == "0.9" and "(JP, gallium) sum to 0.9" in p.expected and "sum to 1" in p.expected


def test_baseline_share_tolerance(tmp_path):
    folder = make(tmp_path / "x", baseline_csv="importer,item,country,share\nJP,gallium,CN,0.6\nJP,gallium,US,0.3995\n")
    assert load_instance(folder).baseline[1].share == 0.3995


# --------------------------------------------------------------------------- policy names
def test_policy_names_must_be_declared(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("""
exclude_tiers: [rogue]
tier_caps: {evil: 0.2}
group_caps: {NATO: 0.5, MSP: 0.9}
items:
  tin: {n1_beta: 0.5}
  gallium:
    tier_caps: {villain: 0.1}
"""))
    problems = problems_of(folder)
    assert "unknown tier" in find(problems, "instance.yaml", 3, "policy.exclude_tiers").expected
    assert find(problems, "instance.yaml", 4, "policy.tier_caps.evil").value == "evil"
    group = find(problems, "instance.yaml", 5, "policy.group_caps.NATO")
    assert "unknown group" in group.expected and "MSP, Quad" in group.expected
    assert "unknown item" in find(problems, "instance.yaml", 7, "policy.items.tin").expected
    assert find(problems, "instance.yaml", 9, "policy.items.gallium.tier_caps.villain").value == "villain"
    assert len(problems) == 5


# --------------------------------------------------------------------------- no supplier
def test_demand_without_any_supply(tmp_path):
    folder = make(tmp_path / "x", items_csv="id,name,unit\ngallium,Gallium,t\ntin,Tin,t\n",
                  supply_csv=base("supply.csv") + "tin,CN,0,5\n",
                  demand_csv="importer,item,quantity\nJP,gallium,150\nJP,tin,5\nUS,tin,0\n")
    p = find(problems_of(folder), "demand.csv", 3, "item")
    assert p.value == "tin" and "no possible supplier of tin for JP" in p.expected


def test_demand_without_route(tmp_path):
    folder = make(tmp_path / "x", demand_csv="importer,item,quantity\nJP,gallium,150\nAU,gallium,10\nCN,gallium,5\n",
                  supply_csv="item,country,capacity,unit_cost\ngallium,CN,300,10\ngallium,US,100,12.5\n",
                  investments_csv=None, baseline_csv=None)
    problems = problems_of(folder)
    assert "lane to AU" in find(problems, "demand.csv", 3, "item").expected
    assert [p.row for p in problems if p.file == "demand.csv"] == [3]  # CN supplies itself without a lane


def test_demand_whose_suppliers_are_all_excluded(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("exclude_tiers: [concern, ally]"))
    p = find(problems_of(folder), "demand.csv", 2, "item")
    assert "tiers excluded: ally, concern" in p.expected


# --------------------------------------------------------------------------- plain infeasibility
def test_a_capacity_below_demand(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("exclude_tiers: [concern]"),
                  demand_csv="importer,item,quantity\nJP,gallium,300\n")
    p = find(problems_of(folder), "instance.yaml", 3, "policy.exclude_tiers")
    assert "policy: gallium: allowed capacity 250 t is below demand 300 t (tiers excluded: concern)" in p.expected


def test_a_capacity_below_demand_without_exclusions(tmp_path):
    folder = make(tmp_path / "x", instance_yaml="name: tiny\n" + LEFT_OUT + "\n",
                  demand_csv="importer,item,quantity\nJP,gallium,600\n")
    p = find(problems_of(folder), "instance.yaml", None, "policy.allow_shortage")
    assert "allowed capacity 550 t is below demand 600 t (no tier excluded)" in p.expected


def test_a_capacity_that_can_reach_one_importer(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("exclude_tiers: [concern]"),
                  lanes_csv="origin,importer\nCN,JP\nUS,JP\n",
                  demand_csv="importer,item,quantity\nJP,gallium,150\nAU,gallium,100\n")
    p = find(problems_of(folder), "instance.yaml", 3, "policy.exclude_tiers")
    assert "can reach JP is 100 t, below its demand 150 t" in p.expected


def test_b_country_share_cap_needs_enough_suppliers(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("exclude_tiers: [concern]\ncountry_share_cap: 0.4"))
    p = find(problems_of(folder), "instance.yaml", 4, "policy.country_share_cap")
    assert p.value == "0.4" and "JP can reach 2 allowed supplier countries" in p.expected and "covers only 80%" in p.expected


def test_b_item_override_is_blamed(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("country_share_cap: 0.5\nitems:\n  gallium: {country_share_cap: 0.3}"))
    p = find(problems_of(folder), "instance.yaml", 5, "policy.items.gallium.country_share_cap")
    assert "JP can reach 3" in p.expected


def test_c_tier_cap_needs_capacity_outside(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("tier_caps: {ally: 0.1}"),
                  supply_csv="item,country,capacity,unit_cost\ngallium,CN,100,10\ngallium,US,100,12.5\ngallium,AU,100,13\n")
    p = find(problems_of(folder), "instance.yaml", 3, "policy.tier_caps.ally")
    assert "needs 135 t from outside ally, but allowed capacity outside it is 100 t" in p.expected


def test_c_group_cap_needs_capacity_outside(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("exclude_tiers: [concern]\ngroup_caps: {MSP: 0.5}"))
    p = find(problems_of(folder), "instance.yaml", 4, "policy.group_caps.MSP")
    assert "group cap MSP <= 0.5 needs 75 t from outside MSP" in p.expected and "is 0 t" in p.expected


def test_d_min_suppliers(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("exclude_tiers: [concern]\nmin_suppliers: 3"))
    p = find(problems_of(folder), "instance.yaml", 4, "policy.min_suppliers")
    assert "min_suppliers 3 but only 2 allowed supplier countries" in p.expected


def test_e_n1_beta(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml("exclude_tiers: [concern]\nitems:\n  gallium: {n1_beta: 0.9}"))
    p = find(problems_of(folder), "instance.yaml", 5, "policy.items.gallium.n1_beta")
    assert "without its largest allowed supplier AU (150 t) the others' capacity 100 t" in p.expected
    assert "n1_beta 0.9 x demand 150 t = 135 t" in p.expected


def test_tight_but_feasible_policy_passes(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml(
        "exclude_tiers: [concern]\ncountry_share_cap: 0.5\nmin_suppliers: 2\nn1_beta: 0.66\ngroup_caps: {Quad: 0.4}"))
    load_instance(folder)


def test_allow_shortage_skips_policy_checks(tmp_path):
    folder = make(tmp_path / "x", instance_yaml=policy_yaml(
        "allow_shortage: true\nexclude_tiers: [concern, ally]\ncountry_share_cap: 0.1\nmin_suppliers: 9\nn1_beta: 1"))
    load_instance(folder)


def test_override_causing_infeasibility_is_blamed(tmp_path):
    folder = make(tmp_path / "x")
    p = find(problems_of(folder, ["policy.exclude_tiers=[concern]", "policy.country_share_cap=0.4"]),
             "--set", None, "policy.country_share_cap")
    assert "covers only 80%" in p.expected
    p = find(problems_of(folder, ["policy.exclude_tiers=[concern]", "demand.JP:gallium.quantity=300"]),
             "--set", None, "policy.exclude_tiers")
    assert "allowed capacity 250 t is below demand 300 t" in p.expected
    load_instance(folder, ["policy.exclude_tiers=[concern]", "supply.gallium:AU.capacity=0"])  # 100 + 50 = 150 fits


# --------------------------------------------------------------------------- all at once
def test_every_problem_in_every_file_is_reported_at_once(tmp_path):
    folder = make(
        tmp_path / "x",
        instance_yaml="name: tiny\npolicy:\n  country_share_cap: 1.5\n",
        supply_csv="item,country,capacity,unit_cost\ngallium,CN,300,10\ngallium,US,lots,12\ngallium,AU,100,13\n",
        demand_csv="importer,item,quantity\nJP,gallium,150\nXX,gallium,1\n",
        lanes_csv="origin,importer,item,tariff_rate\nCN,JP,*,-2\n",  # any rate >= 0 is allowed (1.45 = 145 %)
        baseline_csv="importer,item,country,share\nJP,gallium,CN,0.5\n",
    )
    problems = problems_of(folder)
    find(problems, "instance.yaml", 3, "policy.country_share_cap")
    find(problems, "supply.csv", 3, "capacity")
    find(problems, "demand.csv", 3, "importer")
    find(problems, "lanes.csv", 2, "tariff_rate")
    find(problems, "baseline.csv", 2, "share")
    assert problems == sorted(problems, key=lambda p: (p.file, p.row or 0))
    assert len(problems) == 5


def test_per_item_cap_dicts_merge_with_the_instance_wide_ones():
    # Defect: --set policy.items.lithium.tier_caps.neutral=0.3 dropped the instance-wide tier_caps
    # {concern: 0.5} for lithium, and the plan bought 70 % of Japan's and Korea's lithium from the
    # concern tier.  Per-item cap dicts merge key by key, as docs/instance-format.md says.
    from pathlib import Path

    from planner.analysis.compare import run_comparison

    minerals = Path(__file__).resolve().parents[1] / "instances" / "critical-minerals-us-japan"
    inst = load_instance(minerals, ["policy.items.lithium.tier_caps.neutral=0.3"])
    assert inst.policy.for_item("lithium").tier_caps == {"concern": 0.5, "neutral": 0.3}
    kpis = run_comparison(inst, with_cost_only=False).kpis()
    share = kpis[(kpis["kpi"] == "tier_share") & (kpis["item"] == "lithium") & (kpis["group"] == "concern")]
    assert len(share) and (share["friendshored"] <= 0.5 + 1e-6).all(), share


@pytest.mark.parametrize("text", ["true", "yes", "on", "'0.5'", '"2"'])
def test_yaml_booleans_and_quoted_numbers_are_not_numbers(tmp_path, text):
    # Defect: country_share_cap: true (or yes, on) read as 1.0 and '0.5' as 0.5, silently.
    folder = make(tmp_path / "x", instance_yaml=policy_yaml(f"country_share_cap: {text}"))
    p = find(problems_of(folder), "instance.yaml", 3, "policy.country_share_cap")
    assert "number" in p.expected
    folder = make(tmp_path / "y", instance_yaml=policy_yaml(f"min_suppliers: {text}"))
    assert find(problems_of(folder), "instance.yaml", 3, "policy.min_suppliers")
