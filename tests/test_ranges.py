"""Uncertain inputs as data (ranges.csv): validated against the tables they name, kept in round trips."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from planner.errors import InstanceError
from planner.instance.io import instance_hash, load_instance, write_instance

ROOT = Path(__file__).resolve().parents[1]
HEAD = "table,row,column,low,central,high,distribution,group,source\n"


def transport(tmp: Path, ranges: str) -> Path:
    folder = tmp / "t"
    shutil.copytree(ROOT / "instances" / "transport", folder)
    (folder / "ranges.csv").write_text(HEAD + ranges)
    return folder


def test_ranges_load_and_survive_a_workbook_round_trip(tmp_path):
    folder = transport(tmp_path, "supply,cases:seattle,capacity,300,350,400,triangular,west,assumption\n"
                                 "lanes,seattle:new_york:cases,transport_cost,0.2,0.225,0.3,uniform,,assumption\n")
    inst = load_instance(folder)
    assert [(r.table, r.row, r.column, r.central) for r in inst.ranges] == [
        ("supply", "cases:seattle", "capacity", 350.0), ("lanes", "seattle:new_york:cases", "transport_cost", 0.225)]
    write_instance(inst, tmp_path / "book.xlsx")
    back = load_instance(tmp_path / "book.xlsx")
    assert instance_hash(back) == instance_hash(inst)


@pytest.mark.parametrize("row, column, text", [
    # The central value is not the table's: both cells are named.
    ("supply,cases:seattle,capacity,300,340,400,uniform,,assumption", "central",
     "differs from supply.csv, row 2, column 'capacity', which holds 350"),
    ("supply,cases:nowhere,capacity,1,2,3,uniform,,x", "row", "no row of supply.csv with this key"),
    ("supply,cases:seattle,item,1,2,3,uniform,,x", "column", "not a numeric column of supply"),
    ("supply,cases:seattle,capacity,300,350,400,beta,,x", "distribution", "expected one of uniform"),
    ("supply,cases:seattle,capacity,360,350,400,uniform,,x", "central", "outside [low, high]"),
    ("lanes,seattle:new_york:cases,tariff_rate,0,0,1.5,uniform,,x", "high", "outside what lanes.tariff_rate allows"),
    ("nothing,a,b,1,2,3,uniform,,x", "table", "unknown table"),
])
def test_a_bad_range_names_file_row_column_and_value(tmp_path, row, column, text):
    folder = transport(tmp_path, row + "\n")
    with pytest.raises(InstanceError) as e:
        load_instance(folder)
    msg = str(e.value)
    assert "ranges.csv, row 2" in msg and f"column '{column}'" in msg and text in msg


def test_cli_validate_refuses_a_central_mismatch_with_exit_2(tmp_path):
    folder = transport(tmp_path, "supply,cases:seattle,capacity,300,340,400,uniform,,assumption\n")
    r = subprocess.run([sys.executable, "-m", "planner", "validate", str(folder)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout
    assert "ranges.csv, row 2, column 'central'" in r.stdout + r.stderr


def test_the_shipped_minerals_instance_carries_its_documented_ranges():
    # The documented source disagreements (sources.csv): China's gallium share 0.80-0.98, germanium
    # 0.60-0.91, DR Congo's cobalt 0.654-0.74, each as the dominant producer's capacity scaled by the ratio.
    inst = load_instance(ROOT / "instances" / "critical-minerals-us-japan")
    r = {(x.table, x.row, x.column): x for x in inst.ranges}
    ga = r["supply", "gallium:CN", "capacity"]
    assert (ga.low / ga.central, ga.high) == (pytest.approx(0.80 / 0.98), ga.central)
    ge = r["supply", "germanium:CN", "capacity"]
    assert ge.high / ge.central == pytest.approx(0.91 / 0.60)
    co = r["supply", "cobalt:CD", "capacity"]
    assert co.low / co.central == pytest.approx(0.654 / 0.74, rel=1e-6)
    assert all(x.source for x in inst.ranges)
    assert {x.row for x in inst.ranges if x.group == "cn_costs"} == {s.item + ":CN" for s in inst.supply if s.country == "CN"}
