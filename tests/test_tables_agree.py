"""Tables agree with the model's variables (issue 14): allocations are the Flow values, suppliers'
``qualified`` the Qualify values, investments' ``built`` the Build values, the N-1 coverage KPI
what the N-1 rows give, and the summed cost table the objective."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyomo.environ import value

import models
from planner.analysis.compare import kpi_table
from planner.instance.io import load_instance
from planner.results.solution import from_model
from planner.solve.highs import SolveOptions, solve_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["critical-minerals-us-japan", "rare-earth-magnets", "batteries-japan"])
def test_tables_are_the_models_values(name):
    inst = load_instance(ROOT / "instances" / name)
    m = models.build(inst)
    res = solve_model(m, SolveOptions(rel_gap=0))
    assert res.proven_optimal
    s = from_model(m, inst, res, "friendshored")

    a = s.allocations.set_index(["item", "country", "importer"])["volume"]
    flows = {k: v for k, v in m.Flow.extract_values().items() if v and v > 1e-9}
    assert set(a[a > 1e-9].index) == set(flows)
    for k, v in flows.items():
        assert a[k] == pytest.approx(v, rel=1e-9, abs=1e-9)

    sup = s.suppliers.set_index(["item", "country"])["qualified"]
    for k, v in m.Qualify.extract_values().items():
        assert bool(sup.get(k, False)) == (v > 0.5), k

    built = s.investments.set_index("option")["built"]
    for o, v in m.Build.extract_values().items():
        assert bool(built[o]) == (v > 0.5), o

    assert float(s.costs["value"].sum()) == pytest.approx(res.objective, rel=1e-9)

    kpis = kpi_table(inst, {"friendshored": s}, {"friendshored": res})
    cover = kpis[kpis["kpi"] == "n1_coverage"].set_index("item")["friendshored"]
    for i in m.N1_ITEMS:
        def qcap(c, i=i):  # qualified capacity at (i, c): existing if qualified, plus built options
            return value(m.capacity_u[i, c] * m.Qualify[i, c]) + sum(
                value(m.added_capacity_u[o] * m.Build[o]) for o in m.look.options_at.get((i, c), ()))
        # The N-1 rows' left side: qualified capacity left after losing each country in turn.
        left = min(value(m.QualifiedCap[i]) - qcap(c) for (_, c) in m.look.countries_of[i])
        assert cover[i] == pytest.approx(left / m.look.item_demand_u[i], rel=1e-9, abs=1e-9), i
