"""Network analytics: deliverable supply, single points of failure, min cut, GraphML, drawing, the CLI command.

Expected values are derived by hand in comments.
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.analysis import network as nw
from planner.cli.app import app
from planner.instance.schema import Bom, Country, Demand, Instance, Item, Lane, Meta, Stage, Supply

ROOT = Path(__file__).resolve().parents[1]
MAGNETS = ROOT / "instances" / "rare-earth-magnets"
runner = CliRunner()


def net(strait_on_a: bool = False) -> Instance:
    """Ore (mines A 100 t, B 60 t) -> metal (plants R 40 t, S 100 t), 2 t of ore per t of metal; J needs 100 t.

    Lanes A -> R, A -> S, B -> S, R -> J, S -> J.  In t of metal: A 50, B 30, R 40, S 100.
    With ``strait_on_a`` both of A's lanes pass the chokepoint 'strait'.
    """
    cp = ("strait",) if strait_on_a else ()
    return Instance(
        meta=Meta(name="net"),
        countries=tuple(Country(code=c, name=c, tier="concern" if c == "A" else "ally") for c in "ABJRS"),
        items=(Item(id="ore", name="ore", unit="t", stage="mine"), Item(id="metal", name="metal", unit="t",
                                                                         stage="refine")),
        stages=(Stage(id="mine", order=1), Stage(id="refine", order=2)),
        bom=(Bom(output="metal", input="ore", quantity=2.0),),
        supply=(Supply(item="ore", country="A", capacity=100, unit_cost=1.0),
                Supply(item="ore", country="B", capacity=60, unit_cost=1.0),
                Supply(item="metal", country="R", capacity=40, unit_cost=1.0),
                Supply(item="metal", country="S", capacity=100, unit_cost=1.0)),
        demand=(Demand(importer="J", item="metal", quantity=100),),
        lanes=(Lane(origin="A", importer="R", chokepoints=cp), Lane(origin="A", importer="S", chokepoints=cp),
               Lane(origin="B", importer="S"), Lane(origin="R", importer="J"), Lane(origin="S", importer="J")),
    )


def test_graph_of_the_whole_network():
    g = nw.build_graph(net())
    assert set(g.nodes) == {"ore@A", "ore@B", "metal@R", "metal@S", "demand:metal@J"}
    assert set(g.edges) == {("ore@A", "metal@R"), ("ore@A", "metal@S"), ("ore@B", "metal@S"),
                            ("metal@R", "demand:metal@J"), ("metal@S", "demand:metal@J")}
    assert [g.nodes[n]["column"] for n in ("ore@A", "metal@R", "demand:metal@J")] == [1, 2, 3]


def test_deliverable_and_min_cut_by_hand():
    # In t of metal: R takes 40 of A's 50; A's other 10 and B's 30 go to S: 80 < 100.  The min cut is the two
    # mines, 50 + 30 = 80 (cutting R instead leaves A -> S open).  Max-flow = min-cut.
    inst = net()
    g = nw.build_graph(inst)
    sub = nw.item_subgraph(g, inst, "metal")
    assert nw.deliverable(sub, inst) == pytest.approx(80.0)
    value, cut = nw.min_cut(g, inst, "metal")
    assert value == pytest.approx(80.0)
    assert {r["element"] for r in cut} == {"ore@A", "ore@B"}
    assert sum(r["capacity_equivalent"] for r in cut) == pytest.approx(80.0)


def test_single_points_of_failure_by_hand():
    # Losing (t of metal, share of 100): A -> B's 30 via S (30 %); B -> A's 50, R taking 40 (50 %);
    # R -> A 50 + B 30 via S (80 %, not below 0.8); S -> only R, 40 (40 %).
    # With both of A's lanes through 'strait', closing it is losing A (30 %).
    t = nw.single_points_of_failure(nw.build_graph(net(strait_on_a=True)), net(strait_on_a=True), beta=0.8)
    share = {(r.kind, r.element): r.deliverable_share for r in t.itertuples()}
    assert share == pytest.approx({
        ("country", "A"): 0.3, ("country", "B"): 0.5, ("country", "R"): 0.8, ("country", "S"): 0.4,
        ("facility", "ore@A"): 0.3, ("facility", "ore@B"): 0.5, ("facility", "metal@R"): 0.8,
        ("facility", "metal@S"): 0.4, ("chokepoint", "strait"): 0.3})
    assert set(t.loc[t["spof"], "element"]) == {"A", "B", "S", "ore@A", "ore@B", "metal@S", "strait"}
    assert t["intact_share"].tolist() == pytest.approx([0.8] * len(t))


def test_a_plant_with_two_inputs_is_solved_by_lp_not_min_cut():
    # metal needs 1 t ore (100 t at A) and 1 t flux (30 t at X) per t: at most 30 t for J's 100.
    inst = Instance(
        meta=Meta(name="two"), countries=tuple(Country(code=c, name=c, tier="ally") for c in "AJRX"),
        items=(Item(id="ore", name="ore", unit="t"), Item(id="flux", name="flux", unit="t"),
               Item(id="metal", name="metal", unit="t")),
        bom=(Bom(output="metal", input="ore", quantity=1.0), Bom(output="metal", input="flux", quantity=1.0)),
        supply=tuple(Supply(item=i, country=c, capacity=cap, unit_cost=1.0)
                     for i, c, cap in [("ore", "A", 100), ("flux", "X", 30), ("metal", "R", 200)]),
        demand=(Demand(importer="J", item="metal", quantity=100),),
        lanes=(Lane(origin="A", importer="R"), Lane(origin="X", importer="R"), Lane(origin="R", importer="J")),
    )
    g = nw.build_graph(inst)
    assert nw.deliverable(nw.item_subgraph(g, inst, "metal"), inst) == pytest.approx(30.0)
    assert nw.min_cut(g, inst, "metal") is None
    res = nw.analyse(inst, None)
    assert res.tables["min_cut"].empty and any("several inputs" in n for n in res.notes)


def test_sourcing_network_uses_qualified_capacity_and_volumes():
    # A plan that qualified only A and R: the network holds A, R and J; R ships 40 t.
    from planner.analysis.stress import Sourcing

    src = Sourcing("plan", {("metal", "R", "J"): 40.0}, frozenset({("ore", "A"), ("metal", "R")}),
                   feeds={("ore", "A", "R"): 80.0})
    g = nw.build_graph(net(), src)
    assert set(g.nodes) == {"ore@A", "metal@R", "demand:metal@J"}
    assert g.edges["ore@A", "metal@R"]["volume"] == pytest.approx(80.0)
    st = nw.stage_table(g, net()).set_index("country")
    assert st.loc["A", "utilisation"] == pytest.approx(0.8) and st.loc["R", "stage_share"] == pytest.approx(1.0)


def test_graphml_and_drawing(tmp_path):
    inst = net(strait_on_a=True)
    g = nw.build_graph(inst)
    nw.write_graphml(g, tmp_path / "n.graphml")
    back = nx.read_graphml(tmp_path / "n.graphml")
    assert set(back.nodes) == set(g.nodes) and back.number_of_edges() == g.number_of_edges()
    assert back.edges["ore@A", "metal@R"]["chokepoints"] == "strait"
    assert back.nodes["ore@A"]["tier"] == "concern" and "x" in back.nodes["ore@A"]
    nw.draw(g, inst, tmp_path / "a.png", tmp_path / "a.svg")
    nw.draw(g, inst, tmp_path / "b.png", tmp_path / "b.svg")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()  # no dates or random ids
    assert b"<svg" in (tmp_path / "a.svg").read_bytes()


def test_cli_network_magnets(tmp_path):
    out = tmp_path / "net"
    r = runner.invoke(app, ["network", str(MAGNETS), "--sourcing", "baseline", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "single points of failure" in r.output
    for name in ("stages", "exposure", "exposure_tiers", "exposure_stages", "spof", "min_cut", "edges"):
        assert (out / f"{name}.csv").exists(), name
    for name in ("network.graphml", "network.png", "network.svg", "run.json"):
        assert (out / name).stat().st_size > 0, name
    spof = pd.read_csv(out / "spof.csv")
    assert "CN" in set(spof.loc[spof["spof"], "element"])  # losing China cuts today's magnets below 80 %
    tiers = pd.read_csv(out / "exposure_tiers.csv").set_index(["importer", "tier"])
    assert tiers.at[("JP", "concern"), "upstream_share"] > tiers.at[("JP", "concern"), "direct_share"] + 0.3
    run = json.loads((out / "run.json").read_text())
    assert run["command"] == "network" and run["sourcing"] == "baseline" and run["multi_tier"] is True


def test_cli_network_single_tier_and_bad_beta(tmp_path):
    r = runner.invoke(app, ["network", str(ROOT / "instances" / "transport"), "--sourcing", "all"])
    assert r.exit_code == 0, r.output
    assert "single-tier" in r.output
    r = runner.invoke(app, ["network", str(MAGNETS), "--beta", "1.5", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--beta" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x").exists()


def test_a_network_lp_does_not_break_later_solves_in_the_process():
    # Defect: the deliverable-supply LP ran HiGHS with its default thread count (all cores); HiGHS keeps one
    # scheduler per process, so every later one-thread Pyomo solve in that process ended "unknown" with no
    # solution (seen when tests/test_network.py ran before tests/test_scenarios.py).
    from planner.analysis.cases import solve_case
    from tests.conftest import tiny

    from planner.instance.io import load_instance

    inst = load_instance(MAGNETS)
    assert len(nw.single_points_of_failure(nw.build_graph(inst), inst))  # runs the deliverable LPs
    res, s = solve_case(tiny([("x", "A", 100, 1.0)], [("J", "x", 50)]), "friendshored")
    assert res.proven_optimal and s.total_cost == pytest.approx(50.0)  # 50 t at 1/t on a free lane
