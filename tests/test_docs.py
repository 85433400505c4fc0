"""The docs stay in step with the code: every constraint and every instance column is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyomo.environ import Constraint

import models
from planner.instance.schema import TABLES, Bom, Investment, Item, Policy, Programme, Stage, Supply
from tests.conftest import tiny

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _full_model():
    # An instance that switches on every constraint family.
    pol = Policy(country_share_cap=0.9, tier_caps={"concern": 0.5}, group_caps={"G": 0.9}, min_suppliers=2,
                 n1_beta=0.3, allow_shortage=True)
    inst = tiny(
        [("x", "A", 100, 1.0, 1.0, 5.0), ("x", "B", 100, 2.0, 1.0), ("x", "J", 0, 3.0)],
        [("J", "x", 100)],
        tiers={"A": "concern"}, groups={"B": ("G",)}, policy=pol,
        investments=[Investment(option="o", item="x", country="J", capacity=50, capex=10, programmes=("p", "q"))],
        programmes=[Programme(id="p", funding_country="J", budget=5), Programme(id="q", funding_country="J", budget=5)],
    )
    # Multi-tier families: x is made from ore (mined in A and B) under a stage cap and an upstream cap.
    pol = pol.model_copy(update={"stage_caps": {"s2": {"concern": 0.5}}, "upstream_caps": {"concern": 0.6}})
    inst = inst.replace(
        meta=inst.meta.model_copy(update={"policy": pol}),
        items=(Item(id="ore", name="ore", unit="t", stage="s1"), Item(id="x", name="x", unit="t", stage="s2")),
        stages=(Stage(id="s1", order=1), Stage(id="s2", order=2)),
        bom=(Bom(output="x", input="ore", quantity=1.0),),
        supply=inst.supply + (Supply(item="ore", country="A", capacity=200, unit_cost=0.5),
                              Supply(item="ore", country="B", capacity=200, unit_cost=0.6)),
    )
    m = models.build(inst)
    assert len(m.Bom_Balance) and len(m.Taint_Balance) and len(m.Stage_Share_Cap) and len(m.Upstream_Share_Cap)
    return m


def test_every_constraint_is_in_formulation_md_with_a_docstring():
    text = (DOCS / "formulation.md").read_text()
    m = _full_model()
    names = [c.name for c in m.component_objects(Constraint)]
    assert len(names) >= 14
    for c in m.component_objects(Constraint):
        assert f"`{c.name}`" in text, f"{c.name} missing from docs/formulation.md"
        doc = c.rule._fcn.__doc__ if hasattr(c.rule, "_fcn") else None
        assert doc, f"{c.name}: no docstring"
        # The docstring opens with the row's statement: a relation, and the index set it runs over by name.
        statement = doc.strip().split("\n\n")[0]
        assert re.search(r"<=|>=|(?<![<>=!])=(?!=)", statement), f"{c.name}: no relation (<=, >= or =) in {statement!r}"
        if c.is_indexed():
            assert re.search(rf"\bfor\b.*\b{re.escape(c.index_set().name)}\b", statement, re.S), \
                f"{c.name}: the statement must end 'for ... in {c.index_set().name}': {statement!r}"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_instance_column_is_in_instance_format_md(table):
    text = (DOCS / "instance-format.md").read_text()
    assert f"`{table}`" in text
    for field in TABLES[table].model_fields:
        assert f"`{field}`" in text, f"{table}.{field} missing from docs/instance-format.md"
