"""ONE column schema per exported table: the code that builds a table takes its columns from here,
the exporter writes them, and the report reader checks and types what it reads against the same
entry. A column added to a table is added here, once.

Kinds: ``text``, ``num`` (float), ``bool``, ``int``. Tables of a solve are stacked over the cases:
:func:`stacked` adds ``case`` before and ``status``, ``gap`` after their own columns.
"""

from __future__ import annotations

TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    # A solution's accounting (planner/results/solution.py), one table per case before stacking.
    "allocations": (("item", "text"), ("importer", "text"), ("country", "text"), ("tier", "text"), ("volume", "num"),
                    ("share", "num"), ("unit_cost", "num"), ("purchase", "num"), ("transport", "num"),
                    ("tariff", "num")),
    "suppliers": (("item", "text"), ("country", "text"), ("tier", "text"), ("qualified", "bool"),
                  ("qualification_cost", "num"), ("capacity", "num"), ("built_capacity", "num"), ("shipped", "num"),
                  ("utilisation", "num")),
    "investments": (("option", "text"), ("item", "text"), ("country", "text"), ("tier", "text"), ("built", "bool"),
                    ("capacity", "num"), ("capex", "num"), ("subsidy", "num"), ("net_cost", "num"),
                    ("programmes", "text")),
    "programmes": (("programme", "text"), ("funding_country", "text"), ("rate", "num"), ("budget", "num"),
                   ("used", "num"), ("left", "num")),
    "shortages": (("item", "text"), ("importer", "text"), ("volume", "num"), ("share", "num"), ("penalty", "num")),
    "shared_stockpiles": (("id", "text"), ("item", "text"), ("group", "text"), ("importer", "text"), ("existing", "num"),
                          ("level", "num"), ("added", "num"), ("max_stock", "num"), ("holding_cost", "num"),
                          ("cost_share", "num"), ("cost", "num")),
    "stockpiles": (("item", "text"), ("importer", "text"), ("existing", "num"), ("level", "num"), ("added", "num"),
                   ("max_stock", "num"), ("holding_cost", "num"), ("cost", "num")),
    "costs": (("component", "text"), ("value", "num")),
    "feeds": (("item", "text"), ("country", "text"), ("tier", "text"), ("destination", "text"),
              ("destination_tier", "text"), ("volume", "num"), ("unit_cost", "num"), ("purchase", "num"),
              ("transport", "num"), ("tariff", "num")),
    # Upstream exposure of multi-tier solutions (planner/results/exposure.py).
    "exposure": (("importer", "text"), ("item", "text"), ("country", "text"), ("tier", "text"),
                 ("direct_share", "num"), ("upstream_share", "num")),
    "exposure_tiers": (("importer", "text"), ("item", "text"), ("tier", "text"), ("direct_share", "num"),
                       ("upstream_share", "num")),
    "exposure_stages": (("importer", "text"), ("item", "text"), ("stage", "text"), ("country", "text"),
                        ("tier", "text"), ("share", "num")),
    # The stress test (planner/analysis/stress.py): volumes over the disruption (annual x duration / 52).
    "stress": (("scenario", "text"), ("name", "text"), ("item", "text"), ("importer", "text"),
               ("duration_weeks", "num"), ("ttr_weeks", "num"), ("probability", "num"), ("demand", "num"),
               ("received", "num"), ("drawdown", "num"), ("stock", "num"), ("shortfall", "num"),
               ("shortfall_pct", "num"), ("demand_per_week", "num"), ("supply_per_week", "num"), ("tts_weeks", "num"),
               ("cover_weeks", "num"), ("tts_below_ttr", "bool"), ("rerouted", "num"), ("spot", "num")),
    "profile": (("scenario", "text"), ("item", "text"), ("importer", "text"), ("week", "int"), ("demand", "num"),
                ("received", "num"), ("drawdown", "num"), ("shortfall", "num"), ("served_pct", "num")),
    "unserved": (("item", "text"), ("importer", "text"), ("demand", "num"), ("received", "num"), ("shortfall", "num"),
                 ("shortfall_pct", "num")),
    "scenarios": (("scenario", "text"), ("name", "text"), ("countries", "text"), ("chokepoints", "text"),
                  ("items", "text"), ("loss", "num"), ("duration_weeks", "num"), ("ttr_weeks", "num"),
                  ("probability", "num")),
    # Why a solve found no feasible plan (planner/analysis/diagnose.py).
    "diagnosis": (("constraint", "text"), ("item", "text"), ("importer", "text"), ("group", "text"), ("limit", "num"),
                  ("needed", "num"), ("shortfall", "num"), ("unit", "text"), ("message", "text"), ("status", "text")),
    # The supply network (planner/analysis/network.py).
    "stages": (("stage", "text"), ("order", "int"), ("item", "text"), ("country", "text"), ("tier", "text"),
                       ("capacity", "num"), ("output", "num"), ("stage_share", "num"), ("utilisation", "num")),
    "spof": (("item", "text"), ("kind", "text"), ("element", "text"), ("tier", "text"),
                                 ("demand", "num"), ("deliverable", "num"), ("deliverable_share", "num"),
                                 ("intact_share", "num"), ("spof", "bool")),
    "min_cut": (("item", "text"), ("cut_value", "num"), ("demand", "num"), ("element", "text"), ("kind", "text"),
                ("capacity_equivalent", "num")),
    "edges": (("source", "text"), ("target", "text"), ("item", "text"), ("origin", "text"), ("destination", "text"),
              ("tier", "text"), ("volume", "num"), ("transport_cost", "num"), ("tariff_rate", "num"),
              ("transit_days", "num"), ("chokepoints", "text")),
    # Explanations of the friendshored plan (planner/analysis/explain.py): binding rows and their
    # marginal prices, from the fixed-plan LP; entry prices of what the plan leaves out.
    "binding": (("case", "text"), ("family", "text"), ("input", "text"), ("sense", "text"), ("item", "text"), ("importer", "text"),
                ("country", "text"), ("group", "text"), ("level", "num"), ("limit", "num"), ("value", "num"),
                ("slack", "num"), ("dual", "num"), ("step", "num"), ("price", "num"), ("sentence", "text"),
                ("status", "text"), ("gap", "num")),
    "entry": (("case", "text"), ("kind", "text"), ("item", "text"), ("country", "text"), ("option", "text"), ("forced", "num"),
              ("shipped", "num"), ("cost_change", "num"), ("per_unit", "num"), ("status", "text"), ("gap", "num"),
              ("sentence", "text")),
    # Two plans compared (planner/report/diff.py): one row per changed value.
    "diff": (("table", "text"), ("key", "text"), ("column", "text"), ("a", "num"), ("b", "num"), ("change", "num")),
    # A study's frontiers: what changed between consecutive levels (planner/study/core.py).
    "frontier_diffs": (("frontier", "text"), ("from_run", "text"), ("to_run", "text"), ("from_level", "num"),
                       ("to_level", "num"), ("table", "text"), ("key", "text"), ("column", "text"), ("a", "num"),
                       ("b", "num"), ("change", "num")),
    # A study's Monte Carlo over the uncertain inputs (planner/study/uncertainty.py).
    "uncertainty": (("kpi", "text"), ("samples", "int"), ("mean", "num"), ("std", "num"), ("p05", "num"),
                    ("p50", "num"), ("p95", "num"), ("failed", "int")),
    "uncertainty_choices": (("kind", "text"), ("id", "text"), ("samples", "int"), ("share", "num")),
    "sensitivity": (("kpi", "text"), ("input", "text"), ("s1", "num"), ("s1_conf", "num"), ("st", "num"),
                    ("st_conf", "num")),
    # Who counts as a friend (planner/instance/trust.py, `friendshore trust` and solves with policy.trust).
    "tiers": (("code", "text"), ("name", "text"), ("table_tier", "text"), ("score", "num"), ("percentile", "num"),
              ("votes", "int"), ("tier", "text"), ("basis", "text")),
    # friendshore baseline --from-trade (planner/instance/trade.py): how each (importer, item) was treated,
    # and each partner's imports and the share it gets.
    "trade_coverage": (("importer", "text"), ("item", "text"), ("hs_codes", "text"), ("year", "int"),
                       ("measure", "text"), ("basis", "text"), ("status", "text"), ("imports", "num"),
                       ("domestic_share", "num"), ("domestic_from", "text"), ("folded_share", "num"),
                       ("folded_partners", "text"), ("partners", "int")),
    "trade_partners": (("importer", "text"), ("item", "text"), ("year", "int"), ("partner", "text"),
                       ("country", "text"), ("measure", "text"), ("imports", "num"), ("import_share", "num"),
                       ("baseline_share", "num")),
    # A two-stage plan (friendshore two-stage): its first-stage decisions and its cost in each scenario.
    "first_stage": (("decision", "text"), ("variable", "text"), ("index", "text"), ("value", "num")),
    "scenario_costs": (("scenario", "text"), ("probability", "num"), ("cost", "num"), ("overrides", "text")),
    # A study (planner/study/): its runs table is wide (a column per parameter and KPI); these lead it.
    "results": (("run_id", "text"), ("kind", "text"), ("group", "text"), ("status", "text")),
    "frontiers": (("frontier", "text"), ("run_id", "text"), ("level", "num"), ("measure", "text"),
                  ("measure_value", "num"), ("total_cost", "num"), ("status", "text"), ("pareto", "bool"),
                  ("knee", "bool"), ("knee_distance", "num")),
}

ADDED: dict[str, frozenset[str]] = {"stress": frozenset({"cover_weeks", "rerouted", "spot"})}
"""Columns added to a table after folders were first written with it: a folder without one is read
with the column empty (a report of an older run), not refused."""

CASE_TABLES = frozenset({"allocations", "suppliers", "investments", "programmes", "shortages", "stockpiles", "shared_stockpiles", "costs",
                         "feeds", "exposure", "exposure_tiers", "exposure_stages", "stress", "profile"})
"""Tables a solve writes once per case, stacked (:func:`stacked`)."""
KPI_KEYS = (("kpi", "text"), ("item", "text"), ("importer", "text"), ("group", "text"), ("unit", "text"))
"""The kpis table's key columns; a numeric column per case follows (baseline, cost_only, friendshored)."""
WIDE = frozenset({"results", "kpis"})
"""Tables with more columns than their schema lists (typed by content when read)."""


PERIOD_EXTRA: dict[str, tuple[tuple[str, str], ...]] = {
    "investments": (("online_from", "int"),),
    "costs": (("annual", "num"),),
}
"""Multi-period runs: columns a table has besides ``period`` (which leads every table of a case)."""


def columns(name: str, periods: bool = False) -> list[str]:
    """The columns of table ``name``, in order, as its builder writes them (``periods``: of a multi-period run)."""
    own = [c for c, _ in TABLES[name]]
    return ["period", *own, *(c for c, _ in PERIOD_EXTRA.get(name, ()))] if periods else own


def stacked(name: str, periods: bool = False) -> dict[str, str]:
    """Column -> kind of table ``name`` as exported: with ``case``, ``status`` and ``gap`` for a solve's tables."""
    if name == "kpis":  # a multi-period run's per-period rows name their period ('all': the horizon)
        return {**dict(KPI_KEYS), "period": "text"} if periods else dict(KPI_KEYS)
    own = dict(TABLES[name])
    if periods:
        own = {"period": "int", **own, **dict(PERIOD_EXTRA.get(name, ()))}
    if name in CASE_TABLES:
        return {"case": "text", **own, "status": "text", "gap": "num"}
    return own
