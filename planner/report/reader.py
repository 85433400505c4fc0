"""Reading an output folder for the report: the tables a run exported (CSV, Parquet, JSON or
``results.xlsx``), ``run.json`` or ``study.json``, each table checked and typed against the
results' one schema (:mod:`planner.results.schema`)."""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import InstanceError, Problem
from planner.results.export import restore_csv_frame
from planner.results.schema import ADDED, TABLES, WIDE, stacked

READ_FORMATS = ("csv", "parquet", "json")  # preference when a table exists in several formats
ALL = "all"

# Columns each known table must have, and their kinds, come from the results' one schema
# (planner/results/schema.py): a table lacking one is a bad folder (exit 2), never a half-drawn chart.
# Other columns are kept as they are (and offered for download).
AUTO_TABLES = tuple(sorted(WIDE - {"kpis"}))  # the study's runs table: a column per parameter and KPI
"""Tables whose other columns are typed by content (numbers if every cell is one), e.g. study parameters."""
OPTIONAL_KINDS = {"status": "text", "gap": "num", "unit_cost": "num", "transport": "num", "tariff": "num",
                  "qualification_cost": "num", "utilisation": "num", "rate": "num", "funding_country": "text",
                  "penalty": "num"}
SOLVE_NEEDS = ("kpis", "allocations")


# --------------------------------------------------------------------------- reading
@dataclass
class Folder:
    """An output folder's tables, typed, and its run record."""

    path: Path
    kind: str
    """'solve' (a `friendshore solve --out` folder) or 'study'."""
    tables: dict[str, pd.DataFrame]
    files: dict[str, str]
    """table -> the file (or workbook sheet) it was read from."""
    record: dict[str, Any]
    """run.json of a solve, study.json of a study (empty if the folder has none)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Facts found beside the tables, e.g. a study's currency (from one of its run folders)."""


def bad_input(path: Path | str, expected: str, **kw) -> InstanceError:
    return InstanceError([Problem(str(path), expected=expected, **kw)])


def _read_one(path: Path) -> pd.DataFrame | None:
    """A table file as a DataFrame (all CSV cells as text; typed later). None for JSON that is not a table."""
    ext = path.suffix.lower().lstrip(".")
    try:
        if ext == "csv":
            # Text first: country codes like NA (Namibia) must not become NaN, nor "01" become 1.
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            if not isinstance(df.index, pd.RangeIndex):  # pandas moved surplus leading fields into the index
                raise bad_input(path, "a CSV table whose rows have as many fields as its header (a stray quote or comma?)")
            return restore_csv_frame(df)
        if ext == "parquet":
            return pd.read_parquet(path)
        if ext == "json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                return None
            return pd.DataFrame.from_records(data)
    except (ValueError, OSError, UnicodeDecodeError, ImportError) as e:
        raise bad_input(path, f"a readable {ext.upper()} table ({type(e).__name__}: {e})") from None
    return None


def read_folder(folder: Path) -> Folder:
    """Read and type every table of an output folder; raise :class:`InstanceError` (exit 2) for a bad folder."""
    folder = Path(folder)
    if not folder.exists():
        raise bad_input(folder, "an existing output folder (from `friendshore solve --out DIR`)")
    if not folder.is_dir():
        raise bad_input(folder, "a folder (from `friendshore solve --out DIR`), not a file")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    tables: dict[str, pd.DataFrame] = {}
    source: dict[str, str] = {}
    for fmt in READ_FORMATS:
        for p in files:
            if p.suffix.lower() != f".{fmt}" or p.stem in tables or p.name == "run.json":
                continue
            df = _read_one(p)
            if df is not None:
                tables[p.stem], source[p.stem] = df, p.name
    xlsx = folder / "results.xlsx"
    if xlsx.exists():
        try:
            sheets = pd.read_excel(xlsx, sheet_name=None, dtype=str, keep_default_na=False)
        except Exception as e:  # noqa: BLE001 - openpyxl raises many types for a damaged workbook
            raise bad_input(xlsx, f"a readable workbook ({type(e).__name__}: {e})") from None
        for name, df in sheets.items():
            if name not in tables:
                tables[name], source[name] = df, f"results.xlsx, sheet {name}"
    run_json = folder / "run.json"
    record: dict[str, Any] = _read_json(run_json) if run_json.exists() else {}

    study_json = folder / "study.json"
    if "kpis" in tables:
        kind = "solve"
        missing = [t for t in SOLVE_NEEDS if t not in tables]
        if missing:
            raise bad_input(folder, f"the tables of a solve: {', '.join(missing)} missing "
                               f"(as .csv, .parquet, .json or a sheet of results.xlsx)")
    elif "diagnosis" in tables:
        kind = "infeasible"  # `solve` found no feasible plan and wrote why
    elif "results" in tables and {"run_id", "status"} <= set(tables["results"].columns):
        kind = "study"
        record = _read_json(study_json) if study_json.exists() else {}
    elif study_json.exists():
        status = _read_json(study_json).get("status", "unknown")
        raise bad_input(folder, f"a finished study: its runs table (results.csv or results.parquet) is written when the "
                           f"study ends; study.json says status '{status}' (resume the study to finish it)")
    elif (folder / "instance.yaml").exists():
        raise bad_input(folder, "an output folder, but this is an instance: solve it first, e.g. "
                           f"`friendshore solve {folder} --out out/ --report`")
    else:
        found = ", ".join(p.name for p in files[:12]) or "no files"
        raise bad_input(folder, "a Friendshore output folder: kpis.csv (or .parquet/.json, or results.xlsx) and "
                           f"allocations from `friendshore solve --out DIR`, or a study's results.csv and study.json; "
                           f"found {found}")
    problems: list[Problem] = []
    for name in list(tables):
        tables[name] = _typed(name, tables[name], source[name], problems)
    if problems:
        raise InstanceError(problems[:20])
    meta = {"currency": _study_currency(folder)} if kind == "study" else {}
    return Folder(folder, kind, tables, source, record, meta)


def _study_currency(folder: Path) -> str:
    """The currency of a study's money columns: the total_cost unit in the kpis of its first run folder."""
    runs = folder / "runs"
    for run in sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else ():
        for fmt in READ_FORMATS:
            f = run / f"kpis.{fmt}"
            if f.exists():
                with contextlib.suppress(Exception):  # best effort: money is shown without a unit otherwise
                    df = _read_one(f)
                    if df is not None:
                        unit = df.loc[df["kpi"] == "total_cost", "unit"]
                        return str(unit.iloc[0]) if len(unit) else ""
                return ""
    return ""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise bad_input(path, f"valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise bad_input(path, "a JSON object")
    return data


def _typed(name: str, df: pd.DataFrame, file: str, problems: list[Problem]) -> pd.DataFrame:
    """Check required columns, then convert text/number/bool columns, naming any bad cell."""
    periods = "period" in df.columns  # a multi-period run's tables lead with the period
    spec = {c: ("num" if k == "int" else k) for c, k in stacked(name, periods).items()} \
        if name in TABLES or name == "kpis" else {}
    if len(df) == 0 and len(df.columns) == 0:  # an empty JSON table ([]) has no header to check
        df = pd.DataFrame(columns=list(spec))
    for col in spec:
        if col not in df.columns and col in ADDED.get(name, ()):
            df = df.assign(**{col: math.nan})  # an older folder: the column came later
        elif col not in df.columns:
            problems.append(Problem(file, column=col, expected=f"a '{col}' column, as `friendshore solve` writes it"))
    if name == "kpis":
        for col in df.columns:
            if col not in spec:
                spec[col] = "num"  # one column per case
    for col in df.columns:
        spec.setdefault(col, OPTIONAL_KINDS.get(col, "auto" if name in AUTO_TABLES else "keep"))
    df = df.copy()
    for col, kind in spec.items():
        if col not in df.columns or kind == "keep":
            continue
        s = df[col]
        if kind == "auto":  # numbers if every non-empty cell is one, else text
            raw = pd.Series([None if (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))
                             else v for v in s], index=s.index, dtype=object)
            vals = pd.to_numeric(raw, errors="coerce")
            has = raw.notna()
            kind = "num" if has.any() and bool(vals[has].notna().all()) and not raw[has].map(
                lambda v: isinstance(v, bool)).any() else "text"
        if kind == "text":
            df[col] = [("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)) for v in s]
        elif kind == "num":
            raw = pd.Series([None if (isinstance(v, str) and not v.strip()) else v for v in s], index=s.index,
                            dtype=object)
            vals = pd.to_numeric(raw, errors="coerce")
            bad = vals.isna() & raw.notna() & ~raw.map(lambda v: isinstance(v, float) and math.isnan(v))
            for k in list(bad[bad].index[:3]):
                problems.append(Problem(file, row=int(k) + 2, column=col, value=str(s[k]), expected="expected a number"))
            df[col] = vals.astype(float)
        elif kind == "bool":
            out = []
            for k, v in s.items():
                t = str(v).strip().lower()
                if isinstance(v, bool) or t in ("true", "false", "1", "0", "1.0", "0.0"):
                    out.append(v if isinstance(v, bool) else t in ("true", "1", "1.0"))
                else:
                    out.append(False)
                    problems.append(Problem(file, row=int(k) + 2, column=col, value=str(v), expected="True or False"))
            df[col] = out
    return df


