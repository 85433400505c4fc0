"""One column schema per exported table (planner/results/schema.py): what a solve, a stress test
and a network analysis write is exactly what the schema lists, so the report reader, which checks
against the same entries, reads every table the exporter writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.analysis import network as nw
from planner.analysis import stress as st
from planner.analysis.compare import run_comparison
from planner.analysis.run import result_tables
from planner.instance.io import load_instance
from planner.results.schema import KPI_KEYS, TABLES, stacked

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["critical-minerals-us-japan", "rare-earth-magnets"])
def test_solve_tables_have_the_schemas_columns(name):
    tables = result_tables(run_comparison(load_instance(ROOT / "instances" / name)))
    assert "stress" in tables or name == "rare-earth-magnets"
    for table, df in tables.items():
        if table == "kpis":
            assert list(df.columns[:len(KPI_KEYS)]) == [c for c, _ in KPI_KEYS]
            continue
        assert list(df.columns) == list(stacked(table)), table


def test_stress_and_network_tables_have_the_schemas_columns():
    inst = load_instance(ROOT / "instances" / "critical-minerals-us-japan")
    res = st.run(inst, "baseline")
    assert list(res.table.columns) == [c for c, _ in TABLES["stress"]]
    assert list(res.unserved.columns) == [c for c, _ in TABLES["unserved"]]
    assert list(st.scenario_table(res.scenarios).columns) == [c for c, _ in TABLES["scenarios"]]
    magnets = load_instance(ROOT / "instances" / "rare-earth-magnets")
    for table, df in nw.run(magnets, "all").tables.items():
        assert list(df.columns) == [c for c, _ in TABLES[table]], table
