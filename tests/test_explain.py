"""Explanations: marginal prices against finite differences, entry prices against hand calculations.

Instance (one importer JP, 100 t of NdPr oxide): CN at 10/t (concern tier), AU at 20/t with 40 t,
US at 30/t, KR at 35/t (qualification 2), all lanes free; concern-tier cap 0.5.
Optimum: CN 50, AU 40 (full), US 10 -> 500 + 800 + 300 = 1600.
  - the concern cap one point tighter moves 1 t from CN (10) to US (30): +20 per point;
  - 1 t more AU capacity moves 1 t from US (30) to AU (20): saves 10;
  - one more t of demand comes from US: costs 30.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.analysis.cases import solve_model_case
from planner.analysis.explain import explain
from planner.instance.io import load_instance
from planner.solve.highs import SolveOptions

EXACT = SolveOptions(rel_gap=0.0)
YAML = "name: explain\ncurrency: USD\ntiers: [ally, concern]\npolicy:\n  tier_caps: {{concern: {cap}}}\n"
TABLES = {
    "countries": "code,name,tier\nJP,Japan,ally\nAU,Australia,ally\nUS,United States,ally\nKR,Korea,ally\n"
                 "CN,China,concern\n",
    "items": "id,name,unit\nndpr,NdPr oxide,t\n",
    "lanes": "origin,importer,transport_cost,tariff_rate\nCN,JP,0,0\nAU,JP,0,0\nUS,JP,0,0\nKR,JP,0,0\n",
    "demand": "importer,item,quantity\nJP,ndpr,100\n",
}


def supply(au: float = 40) -> str:
    return ("item,country,capacity,unit_cost,qualification_cost,min_order\n"
            f"ndpr,CN,1000,10,0,0\nndpr,AU,{au},20,0,0\nndpr,US,1000,30,0,0\nndpr,KR,1000,35,2,0\n")


def instance(tmp: Path, cap: float = 0.5, au: float = 40, investments: str | None = None):
    folder = tmp / f"i-{cap}-{au}-{investments is not None}"
    folder.mkdir(parents=True)
    (folder / "instance.yaml").write_text(YAML.format(cap=cap))
    tables = {**TABLES, "supply": supply(au)}
    if investments:
        tables["investments"] = investments
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text)
    return load_instance(folder)


def solved(inst):
    res, s, m = solve_model_case(inst, "friendshored", EXACT)
    assert res.proven_optimal
    return res, s, m


def test_prices_match_the_hand_calculation_and_finite_differences(tmp_path):
    inst = instance(tmp_path)
    res, s, m = solved(inst)
    assert res.objective == pytest.approx(1600)
    b = explain(inst, m, res, s, EXACT, top=0).binding
    row = b[b["family"] == "Tier_Share_Cap"].iloc[0]
    assert row["price"] == pytest.approx(20)  # one point tighter: 1 t from CN to US
    cap_au = b[(b["family"] == "Capacity_Limit") & (b["country"] == "AU")].iloc[0]
    assert cap_au["price"] == pytest.approx(-10)  # 1 t more AU capacity saves 10
    dem = b[b["family"] == "Demand_Balance"].iloc[0]
    assert dem["price"] == pytest.approx(30)
    # Finite differences on fresh solves, where the qualifications stay as they are.
    eps = 1e-3
    up, _, _ = solved(instance(tmp_path, cap=0.5 + eps))
    assert (up.objective - res.objective) / eps == pytest.approx(-row["price"] / 0.01, abs=1e-6)
    more, _, _ = solved(instance(tmp_path, au=40 + eps))
    assert (more.objective - res.objective) / eps == pytest.approx(cap_au["price"], abs=1e-6)
    # Explaining leaves the plan loaded: the model's objective is still the plan's.
    from pyomo.environ import Objective, value
    assert value(next(m.component_data_objects(Objective, active=True))) == pytest.approx(1600)


def test_entry_prices_equal_the_hand_computed_cost_differences(tmp_path):
    # KR forced to ship 1 % of demand (1 t) displaces 1 t from US: 35 - 30 + qualification 2 = 7.
    # Building au_exp (+100 t at AU, capex 1000 a year) moves US's 10 t to AU: 1000 - 10 x 10 = 900.
    inst = instance(tmp_path, investments="option,item,country,capacity,capex\nau_exp,ndpr,AU,100,1000\n")
    res, s, m = solved(inst)
    e = explain(inst, m, res, s, EXACT, top=2).entry.set_index(["kind", "country"])
    assert e.loc[("supplier", "KR"), "cost_change"] == pytest.approx(7)
    assert e.loc[("supplier", "KR"), "shipped"] == pytest.approx(1)
    assert e.loc[("option", "AU"), "cost_change"] == pytest.approx(900)
    assert "KR" in e.loc[("supplier", "KR"), "sentence"]
