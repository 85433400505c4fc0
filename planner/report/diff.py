"""Why the plan changed: two solve output folders compared table by table.

Each compared table is keyed by its scope columns (strings) and compared on its value columns;
a row present on one side only shows the other side empty. Only the friendshored case is compared
(the plan); the kpis table compares its friendshored column.
"""

from __future__ import annotations

import math

import pandas as pd

from planner.report.reader import Folder, bad_input
from planner.results.schema import columns

# table -> (key columns, value columns); "period" joins the keys of a multi-period run's tables.
COMPARED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "allocations": (("item", "importer", "country"), ("volume", "share")),
    "suppliers": (("item", "country"), ("qualified", "shipped")),
    "investments": (("option",), ("built", "subsidy", "capex")),
    "costs": (("component",), ("value",)),
    "kpis": (("kpi", "item", "importer", "group"), ("friendshored",)),
    "binding": (("family", "item", "importer", "country", "group"), ("price", "slack")),
}


def _frame(f: Folder, name: str) -> pd.DataFrame | None:
    df = f.tables.get(name)
    if df is None:
        return None
    if "case" in df.columns:
        df = df[df["case"] == "friendshored"]
    keys, values = COMPARED[name]
    keys = (("period",) if "period" in df.columns else ()) + keys
    df = df[[*keys, *values]].copy()
    for k in keys:
        df[k] = df[k].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    for v in values:
        df[v] = pd.to_numeric(df[v].map(lambda x: float(x) if isinstance(x, bool) else x), errors="coerce")
    # Rows the table repeats under one key (none expected) are summed, never silently dropped.
    return df.groupby(list(keys), sort=True, dropna=False)[list(values)].sum(min_count=1).reset_index()


def diff_runs(a: Folder, b: Folder, rtol: float = 1e-6, atol: float = 1e-9) -> pd.DataFrame:
    """One row per changed value: table, key (``col=value; ...``), column, a, b, change (b - a)."""
    for f in (a, b):
        if f.kind != "solve":
            raise bad_input(f.path, "the output folder of `friendshore solve --out DIR` (diff compares two plans)")
    rows = []
    for name, (_, values) in COMPARED.items():
        fa, fb = _frame(a, name), _frame(b, name)
        if fa is None and fb is None:
            continue
        fa = fa if fa is not None else pd.DataFrame(columns=fb.columns)
        fb = fb if fb is not None else pd.DataFrame(columns=fa.columns)
        keys = [c for c in fa.columns if c not in values]
        if list(fb.columns) != list(fa.columns):  # one run multi-period, the other not: nothing comparable
            raise bad_input(b.path, f"a run of the same kind as {a.path} (the {name} tables have different keys)")
        m = fa.merge(fb, on=keys, how="outer", suffixes=("_a", "_b"))
        for r in m.to_dict("records"):
            key = "; ".join(f"{k}={r[k]}" for k in keys if r[k] not in ("", "all"))
            for v in values:
                x, y = r[f"{v}_a"], r[f"{v}_b"]
                x = float("nan") if x is None else float(x)
                y = float("nan") if y is None else float(y)
                if x != x and y != y:
                    continue
                if x == x and y == y and abs(y - x) <= atol + rtol * max(abs(x), abs(y)):
                    continue
                rows.append({"table": name, "key": key or "all", "column": v, "a": x, "b": y,
                             "change": y - x if x == x and y == y else float("nan")})
    return pd.DataFrame(rows, columns=columns("diff"))
