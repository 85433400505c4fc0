"""Every shipped instance loads without problems, with each of its variants, and solves to a proven optimum."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from planner.io import load_instance

INSTANCES = Path(__file__).resolve().parent.parent / "instances"
FOLDERS = sorted(p for p in INSTANCES.iterdir() if p.is_dir() and not p.name.startswith("."))
VARIANTS = [(f, v) for f in FOLDERS for v in load_instance(f).meta.variants]
SOURCE_COLUMNS = ["table", "column", "source_title", "source_url", "source_year", "kind", "note"]


def test_instances_found():
    assert {"transport", "critical-minerals-us-japan"} <= {f.name for f in FOLDERS}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_instance_loads(folder):
    inst = load_instance(folder)  # raises InstanceError with every problem
    assert inst.meta.name == folder.name


@pytest.mark.parametrize("folder,variant", VARIANTS, ids=lambda x: getattr(x, "name", x))
def test_variant_loads(folder, variant):
    load_instance(folder, variant=variant)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_sources_and_readme(folder):
    assert (folder / "README.md").is_file()
    with open(folder / "sources.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == SOURCE_COLUMNS
    assert {r["kind"] for r in rows} <= {"public", "assumption"}
    documented = {(r["table"], r["column"]) for r in rows}
    for table in ("supply", "demand"):  # every number users see first has a source or is labelled
        for column in {"supply": ("capacity", "unit_cost"), "demand": ("quantity",)}[table]:
            assert (table, column) in documented, (table, column)
    assert {r["table"] for r in rows} >= {"countries", "supply", "demand"}


@pytest.mark.parametrize("folder,variant", [(f, None) for f in FOLDERS] + VARIANTS,
                         ids=lambda x: getattr(x, "name", str(x)))
def test_instance_solves_to_a_proven_optimum(folder, variant):
    from planner.compare import run_comparison
    from planner.solve import SolveOptions

    inst = load_instance(folder, variant=variant)
    # The limit only guards against a hang; speed is measured in benchmarks/, not asserted here.
    cmp = run_comparison(inst, SolveOptions(time_limit=300))
    for case in ("cost_only", "friendshored"):
        res = cmp.results[case]
        assert res.proven_optimal, (case, res.status)


def test_transport_known_optimum():
    from planner.compare import run_comparison

    cmp = run_comparison(load_instance(INSTANCES / "transport"))
    assert cmp.results["friendshored"].objective == pytest.approx(153.675, rel=1e-6)
