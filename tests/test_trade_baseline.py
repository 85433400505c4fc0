"""Today's sourcing from trade data (issue 22): `friendshore baseline --from-trade`, baseline bases.

Shares are recomputed here with pandas straight from the shared BACI extract (../shared/data/trade,
as CI has it), independently of planner/instance/trade.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli.app import app
from planner.instance.io import load_instance
from planner.instance.trade import derive, read_trade
from tests.io_fixtures import LEFT_OUT

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "trade" / "imports.csv"
DATA = ROOT / "data" / "trade"
runner = CliRunner()

# How each shipped instance's trade basis was written (its instance.yaml says the same).
SHIPPED = {
    "critical-minerals-us-japan": ["--rest-of-world", "XW"],
    "batteries-japan": ["--rest-of-world", "XW"],
    "rare-earth-magnets": ["--rest-of-world", "XW", "--domestic", "JP:magnet=0.3112"],
}


def _imports() -> pd.DataFrame:
    return pd.read_csv(SHARED, dtype={"importer": str, "partner": str, "hs": str}, keep_default_na=False,
                       na_values={"value_usd_thousand": [""], "quantity_t": [""]})


def _today(inst, importer: str, item: str) -> dict[str, float]:
    return {b.country: b.share for b in inst.today if b.importer == importer and b.item == item}


def test_the_project_copy_of_the_trade_data_is_the_shared_extract():
    assert (DATA / "imports.csv").read_bytes() == SHARED.read_bytes()


@pytest.mark.parametrize("name,importer,item,hs,domestic", [
    # Japan has no lithium refining in the instance: domestic 0, shares = import shares.
    ("critical-minerals-us-japan", "JP", "lithium", "283691", 0.0),
    # Korea: 20,000 t LCE of domestic refining for 120,000 t demand: d = 1/6 (the capacity rule).
    ("critical-minerals-us-japan", "KR", "lithium", "283691", 20000 / 120000),
    # The US buys cobalt chemicals abroad only (no US supply row): d = 0.
    ("batteries-japan", "US", "cobalt_chemicals", "282200", 0.0),
    # Japan's magnets: domestic share stated as 1 - 10,332 t imported / 15,000 t demand = 0.3112.
    ("rare-earth-magnets", "JP", "magnet", "850511", 0.3112),
    # Germany: 1,500 t of magnet capacity for 8,000 t demand: d = 0.1875.
    ("rare-earth-magnets", "DE", "magnet", "850511", 1500 / 8000),
])
def test_shares_recomputed_from_imports_equal_the_shipped_baseline(name, importer, item, hs, domestic):
    inst = load_instance(ROOT / "instances" / name)
    df = _imports()
    flows = df[(df["importer"] == importer) & (df["hs"] == hs) & (df["year"] == 2024)]
    by = flows.groupby("partner")["value_usd_thousand"].sum()
    share = by / by.sum()
    suppliers = {c for (i, c) in inst.supply_by_key if i == item}
    want: dict[str, float] = {}
    for p, s in share.items():
        c = p if p in suppliers else "XW"  # the stated rest of world
        want[c] = want.get(c, 0.0) + (1 - domestic) * s
    if domestic:
        want[importer] = want.get(importer, 0.0) + domestic
    have = _today(inst, importer, item)
    assert set(have) == {c for c, v in want.items() if round(v, 6) > 0}
    for c, v in have.items():
        assert v == pytest.approx(want[c], abs=2e-6), c  # 6 decimals as written


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_shipped_baseline_is_what_the_command_writes(tmp_path, name):
    # Re-running the documented command on the shipped instance gives back its baseline.csv rows.
    folder = ROOT / "instances" / name
    out = tmp_path / "out"
    res = runner.invoke(app, ["baseline", str(folder), "--from-trade", str(DATA), "--year", "2024",
                              *SHIPPED[name], "--out", str(out)])
    assert res.exit_code == 0, res.output
    again = load_instance(out / "instance")
    assert set(again.baseline) == set(load_instance(folder).baseline)
    rec = json.loads((out / "run.json").read_text())
    assert rec["command"] == "baseline" and rec["settings"]["year"] == 2024 and rec["trade_data"]["sha256"]


def test_the_world_share_baseline_is_kept_as_a_variant():
    # Before trade data, every importer had the same lithium shares (refining shares: CN 0.58 ...).
    base = load_instance(ROOT / "instances" / "critical-minerals-us-japan")
    world = load_instance(ROOT / "instances" / "critical-minerals-us-japan", variant="world_shares")
    assert _today(world, "JP", "lithium") == _today(world, "US", "lithium") == \
        {"CN": 0.58, "CL": 0.29, "AR": 0.1, "AU": 0.02, "US": 0.01}
    assert _today(base, "JP", "lithium")["CL"] == pytest.approx(0.5, abs=0.01)  # README: CL 50 %
    # An item the data do not cover has the same rows under both.
    assert _today(base, "JP", "cobalt") == _today(world, "JP", "cobalt")


# --------------------------------------------------------------------------- a tiny instance, by hand
def _files(**over: str) -> dict[str, str]:
    files = {
        "instance.yaml": "name: t\ntiers: [ally, neutral, concern]\n" + LEFT_OUT + "\n# keep me\n",
        "countries.csv": "code,name,tier\nJP,JP,ally\nAU,AU,ally\nCN,CN,concern\nXW,Rest of world,neutral\n",
        "items.csv": "id,name,unit,hs_codes\nx,x,t,111111\ny,y,t,\nz,z,t,222222\n",
        "supply.csv": "item,country,capacity,unit_cost\nx,AU,100,1\nx,CN,100,1\nx,JP,10,2\nx,XW,100,1.5\n"
                      "y,AU,100,1\nz,AU,100,1\n",
        "demand.csv": "importer,item,quantity\nJP,x,40\nJP,y,10\nJP,z,5\n",
        "lanes.csv": "origin,importer,transport_cost\nAU,JP,0.1\nCN,JP,0.1\nXW,JP,0.1\n",
        "baseline.csv": "importer,item,country,share\nJP,x,AU,0.5\nJP,x,CN,0.5\nJP,y,AU,1\nJP,z,AU,1\n",
        "sources.csv": "table,column,source_title,source_url,source_year,kind,note\n"
                       "supply,capacity,,,,assumption,\"made up, for a test\"\n",
    }
    files.update(over)
    return files


TRADE = ("importer,partner,hs,year,value_usd_thousand,quantity_t\n"
         "JP,AU,111111,2024,60,30\nJP,CN,111111,2024,30,10\nJP,CL,111111,2024,10,60\n"
         "JP,AU,111111,2022,10,\nJP,AU,222222,2022,5,\n")
"""JP's 2024 imports of x: AU 60, CN 30, CL 10 (CL is not in the instance); z has data for 2022 only."""


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def tiny(tmp_path):
    inst = _write(tmp_path / "inst", _files())
    (tmp_path / "trade.csv").write_text(TRADE)
    return inst, tmp_path / "trade.csv"


def test_hand_derived_shares_domestic_and_folding(tiny):
    # x: JP has 10 t of capacity for 40 t demand, so d = 10/40 = 0.25 (capacity rule); imports fill 0.75
    # by value: AU 0.75 x 0.6 = 0.45, CN 0.75 x 0.3 = 0.225, CL (not modelled) 0.75 x 0.1 = 0.075 into XW.
    folder, data = tiny
    inst = load_instance(folder)
    new = derive(inst, read_trade(data), 2024, basis="trade-2024", rest_of_world="XW")
    got = {b.country: b.share for b in new.rows if b.item == "x"}
    assert got == pytest.approx({"AU": 0.45, "CN": 0.225, "XW": 0.075, "JP": 0.25}, abs=1e-12)
    # Tonnes instead: AU 30, CN 10, CL 60 of 100 t: AU 0.225, CN 0.075, XW 0.45, JP 0.25.
    new_t = derive(inst, read_trade(data), 2024, basis="t", rest_of_world="XW", measure="tonnes")
    assert {b.country: b.share for b in new_t.rows} == pytest.approx({"AU": 0.225, "CN": 0.075, "XW": 0.45, "JP": 0.25})
    # AU stated domestic share replaces the capacity rule: d = 0.5, AU 0.3, CN 0.15, XW 0.05.
    new_d = derive(inst, read_trade(data), 2024, basis="d", rest_of_world="XW", domestic={("JP", "x"): 0.5})
    assert {b.country: b.share for b in new_d.rows} == pytest.approx({"AU": 0.3, "CN": 0.15, "XW": 0.05, "JP": 0.5})


def test_folding_partners_into_rest_of_world_preserves_the_total(tiny):
    folder, data = tiny
    new = derive(load_instance(folder), read_trade(data), 2024, basis="trade-2024", rest_of_world="XW")
    p = new.partners
    assert p["import_share"].sum() == pytest.approx(1.0)
    folded = p[p["partner"] != p["country"]]
    assert list(folded["partner"]) == ["CL"] and set(folded["country"]) == {"XW"}
    w = next(b.share for b in new.rows if b.country == "XW")
    assert w == pytest.approx(folded["baseline_share"].sum())
    cov = new.coverage.set_index(["importer", "item"]).loc[("JP", "x")]
    assert sum(b.share for b in new.rows) == pytest.approx(1.0)  # 0.25 domestic + 0.75 imports, nothing lost
    assert cov["folded_share"] == pytest.approx(0.075) and cov["folded_partners"] == "CL"


def test_items_without_data_keep_their_baseline_and_are_reported(tiny, tmp_path):
    # y has no HS codes; z has codes but no 2024 imports: both keep their rows and are listed.
    folder, data = tiny
    out = tmp_path / "out"
    res = runner.invoke(app, ["baseline", str(folder), "--from-trade", str(data), "--year", "2024",
                              "--rest-of-world", "XW", "--out", str(out)])
    assert res.exit_code == 0, res.output
    cov = pd.read_csv(out / "trade_coverage.csv", keep_default_na=False).set_index("item")
    assert cov.loc["x", "status"] == "covered" and cov.loc["y", "status"] == "no_codes" and \
        cov.loc["z", "status"] == "no_imports"
    new = load_instance(out / "instance")
    assert new.meta.baseline_basis == "trade-2024"
    assert _today(new, "JP", "y") == {"AU": 1.0} and _today(new, "JP", "z") == {"AU": 1.0}
    assert _today(new, "JP", "x") == pytest.approx({"AU": 0.45, "CN": 0.225, "XW": 0.075, "JP": 0.25})
    # The previous rows stay, under the empty basis: the world-share variant of the issue.
    assert _today(new.replace(meta=new.meta.model_copy(update={"baseline_basis": ""})), "JP", "x") == \
        {"AU": 0.5, "CN": 0.5}
    text = (out / "instance" / "instance.yaml").read_text()
    assert "# keep me" in text and text.rstrip().endswith("baseline_basis: trade-2024")
    sources = (out / "instance" / "sources.csv").read_text()
    assert '"made up, for a test"' in sources  # other records kept byte for byte
    assert sources.count("basis=trade-2024 importer=JP item=x") == 1
    # Run again on the output's instance: the basis's source rows are replaced, not repeated.
    res = runner.invoke(app, ["baseline", str(out / "instance"), "--from-trade", str(data), "--year", "2024",
                              "--rest-of-world", "XW", "--out", str(tmp_path / "again")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "again" / "instance" / "sources.csv").read_text().count("basis=trade-2024 importer=JP") == 1


def test_namibia_is_a_partner_not_a_missing_value(tiny, tmp_path):
    folder, _ = tiny
    data = tmp_path / "na.csv"
    data.write_text("importer,partner,hs,year,value_usd_thousand,quantity_t\nJP,NA,111111,2024,1,\nJP,AU,111111,2024,3,\n"
                    "JP,AU,222222,2024,1,\n")
    new = derive(load_instance(folder), read_trade(data), 2024, basis="b", rest_of_world="XW")
    # x: d = 0.25; AU 3 of 4 -> 0.5625, Namibia 1 of 4, not modelled -> XW 0.1875.
    assert {b.country: b.share for b in new.rows if b.item == "x"} == \
        pytest.approx({"AU": 0.5625, "XW": 0.1875, "JP": 0.25})


# --------------------------------------------------------------------------- bad input: exit 2, nothing written
def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case,expect", [
    ("hs_format", ["items.csv", "row 2", "hs_codes", "11111"]),
    ("hs_absent", ["items.csv", "row 2", "hs_codes", "333333", "not in"]),
    ("partner", ["trade.csv", "row 3", "partner", "Bx", "unknown partner code"]),
    ("year", ["--year", "2023", "2022, 2024"]),
    ("unmatched", ["trade.csv", "row 4", "partner", "'CL'", "--rest-of-world"]),
    ("row_no_supply", ["trade.csv", "row 4", "partner", "rest-of-world country XW"]),
    ("named", ["trade.csv", "row 3", "partner", "'CN'", "CN 30 %", "--min-share 0.02"]),
    ("quantity", ["trade.csv", "row 7", "quantity_t", "tonnes"]),
    ("sum", ["baseline.csv", "row 2", "share", "basis t", "sum to 1"]),
    ("basis", ["instance.yaml", "baseline_basis", "nope", "unknown basis"]),
])
def test_bad_input_exits_2_naming_file_row_column_value(tiny, tmp_path, case, expect):
    folder, data = tiny
    args = ["--year", "2024", "--rest-of-world", "XW"]
    if case == "hs_format":
        _write(folder, {"items.csv": "id,name,unit,hs_codes\nx,x,t,11111\ny,y,t,\nz,z,t,\n"})
    elif case == "hs_absent":
        _write(folder, {"items.csv": "id,name,unit,hs_codes\nx,x,t,333333\ny,y,t,\nz,z,t,\n"})
    elif case == "partner":
        data.write_text(TRADE.replace("JP,CN,111111", "JP,Bx,111111"))
    elif case == "year":
        args = ["--year", "2023", "--rest-of-world", "XW"]
    elif case == "unmatched":
        args = ["--year", "2024"]
    elif case == "row_no_supply":  # XW sells y here, not x
        _write(folder, {"supply.csv": "item,country,capacity,unit_cost\nx,AU,100,1\nx,CN,100,1\nx,JP,10,2\n"
                                      "y,AU,100,1\nz,AU,100,1\ny,XW,100,1\n"})
    elif case == "named":  # CN is a country of the instance selling 30 % of the imports, without a supply row
        _write(folder, {"supply.csv": "item,country,capacity,unit_cost\nx,AU,100,1\nx,JP,10,2\nx,XW,100,1.5\n"
                                      "y,AU,100,1\nz,AU,100,1\n",
                        "baseline.csv": "importer,item,country,share\nJP,x,AU,1\nJP,y,AU,1\nJP,z,AU,1\n"})
    elif case == "quantity":
        data.write_text(TRADE + "JP,XW,111111,2024,5,\n")
        args += ["--measure", "tonnes"]
    elif case == "sum":
        _write(folder, {"baseline.csv": "importer,item,country,share,basis\nJP,x,AU,0.5,t\nJP,x,CN,0.4,t\nJP,x,AU,0.5,\n"
                                        "JP,x,CN,0.5,\nJP,y,AU,1,\nJP,z,AU,1,\n"})
    elif case == "basis":
        _write(folder, {"instance.yaml": _files()["instance.yaml"] + "baseline_basis: nope\n"})
    out = tmp_path / "out"
    res = _run("baseline", str(folder), "--from-trade", str(data), *args, "--out", str(out))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    said = " ".join(res.stderr.split())  # the console wraps long lines
    for text in expect:
        assert text in said, (text, res.stderr)
    assert not out.exists()


def test_out_refuses_a_folder_that_is_not_ours(tiny, tmp_path):
    folder, data = tiny
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    res = runner.invoke(app, ["baseline", str(folder), "--from-trade", str(data), "--year", "2024",
                              "--rest-of-world", "XW", "--out", str(out)])
    assert res.exit_code == 2 and "not a Friendshore output" in res.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_baseline_cell_override_names_its_basis_or_leaves_an_empty_one_out(tiny):
    folder, _ = tiny
    _write(folder, {"baseline.csv": "importer,item,country,share,basis\nJP,x,AU,0.5,\nJP,x,CN,0.5,\nJP,x,AU,1,t\n"
                                    "JP,y,AU,1,\nJP,z,AU,1,\n"})
    inst = load_instance(folder, ["baseline.JP:x:AU.share=0.25", "baseline.JP:x:CN.share=0.75"])
    assert _today(inst, "JP", "x") == {"AU": 0.25, "CN": 0.75}
    inst = load_instance(folder, ["baseline_basis=t"])
    assert _today(inst, "JP", "x") == {"AU": 1.0} and _today(inst, "JP", "y") == {"AU": 1.0}


def test_a_small_seller_the_instance_names_without_a_supply_row_is_folded(tiny):
    # CN sells 30 % of JP's imports of x but has no supply row for x: refused at --min-share 0.02 (above),
    # folded into the rest of world at 0.5: XW gets 0.75 x (0.3 + 0.1) = 0.3, AU 0.45, JP 0.25.
    folder, data = tiny
    _write(folder, {"supply.csv": "item,country,capacity,unit_cost\nx,AU,100,1\nx,JP,10,2\nx,XW,100,1.5\n"
                                  "y,AU,100,1\nz,AU,100,1\n",
                    "baseline.csv": "importer,item,country,share\nJP,x,AU,1\nJP,y,AU,1\nJP,z,AU,1\n"})
    new = derive(load_instance(folder), read_trade(data), 2024, basis="b", rest_of_world="XW", min_share=0.5)
    assert {b.country: b.share for b in new.rows if b.item == "x"} == pytest.approx({"AU": 0.45, "XW": 0.3, "JP": 0.25})


@pytest.mark.parametrize("variant,basis", [(None, "trade-2024"), ("world_shares", "")])
def test_run_json_says_which_baseline_was_today(tmp_path, variant, basis):
    out = tmp_path / "o"
    args = ["solve", str(ROOT / "instances" / "rare-earth-magnets"), "--out", str(out)]
    res = runner.invoke(app, args + (["--variant", variant] if variant else []))
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "run.json").read_text())
    assert rec["instance"]["baseline_basis"] == basis
    # The baseline's cost is today's rows of that basis: recomputed from the allocations table.
    inst = load_instance(ROOT / "instances" / "rare-earth-magnets", variant=variant)
    alloc = pd.read_csv(out / "allocations.csv", keep_default_na=False)
    base = alloc[(alloc["case"] == "baseline") & (alloc["importer"] == "JP")].set_index("country")["share"]
    assert base.to_dict() == pytest.approx(_today(inst, "JP", "magnet"), abs=1e-9)
