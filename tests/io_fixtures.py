"""A tiny valid instance as CSV text, and helpers to break it one file at a time."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from planner.errors import InstanceError, Problem
from planner.instance.io import load_instance

LEFT_OUT = "defaults: [supply.qualification_cost, supply.min_order, lanes.transport_cost, lanes.tariff_rate]"
"""instance.yaml's line for test fixtures that leave these columns out on purpose (tests/test_io.py checks
that leaving one out without it is an error)."""

BASE: dict[str, str] = {
    "instance.yaml": """
        name: tiny
        description: one item, four countries
        currency: USD
        tiers: [domestic, ally, partner, neutral, concern]
        policy:
          country_share_cap: 0.8
        variants:
          strict:
            policy.country_share_cap: 0.5
            supply.gallium:US.capacity: 120
        defaults: [supply.qualification_cost, supply.min_order]
    """,
    "countries.csv": """
        code,name,tier,groups
        JP,Japan,domestic,Quad
        US,United States,ally,Quad;MSP
        AU,Australia,ally,MSP
        CN,China,concern,
    """,
    "items.csv": """
        id,name,unit,category
        gallium,Gallium,t,critical mineral
    """,
    "supply.csv": """
        item,country,capacity,unit_cost
        gallium,CN,300,10
        gallium,US,100,12.5
        gallium,AU,100,13
    """,
    "demand.csv": """
        importer,item,quantity
        JP,gallium,150
    """,
    "lanes.csv": """
        origin,importer,item,transport_cost,tariff_rate
        CN,JP,*,1,0.1
        US,JP,*,2,0
        AU,JP,gallium,2.25,0
    """,
    "investments.csv": """
        option,item,country,capacity,capex,programmes
        au_ga,gallium,AU,50,100,jp_minerals
    """,
    "programmes.csv": """
        id,funding_country,rate,budget,items,hosts
        jp_minerals,JP,0.5,1000,gallium,ally
    """,
    "baseline.csv": """
        importer,item,country,share,volume
        JP,gallium,CN,0.9,
        JP,gallium,US,0.1,
    """,
}


def base(name: str) -> str:
    """The text of one BASE file, dedented."""
    return textwrap.dedent(BASE[name]).strip() + "\n"


def make(folder: Path, **files: str | bytes | None) -> Path:
    """Write BASE into ``folder`` with some files replaced (text or bytes) or removed (None).

    Keyword names use '_' for '.', e.g. ``supply_csv="..."``, ``instance_yaml="..."``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    contents: dict[str, str | bytes | None] = dict(BASE)
    contents.update({k.replace("_csv", ".csv").replace("_yaml", ".yaml"): v for k, v in files.items()})
    for name, text in contents.items():
        if text is None:
            continue
        data = text if isinstance(text, bytes) else (textwrap.dedent(text).strip() + "\n").encode("utf-8")
        (folder / name).write_bytes(data)
    return folder


def problems_of(path: Path, *args, **kw) -> list[Problem]:
    """The problems load_instance raises (failing the test if it does not raise)."""
    with pytest.raises(InstanceError) as err:
        load_instance(path, *args, **kw)
    return err.value.problems


def find(problems: list[Problem], file: str, row: int | None = None, column: str | None = None) -> Problem:
    """The one problem at (file, row, column); fails listing all problems otherwise."""
    hits = [p for p in problems if p.file == file and p.row == row and p.column == column]
    assert len(hits) == 1, f"no single problem at {file}/{row}/{column} in:\n" + "\n".join(map(str, problems))
    return hits[0]
