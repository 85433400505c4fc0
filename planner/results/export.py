"""Write tidy tables and run records; every write is atomic.

:func:`export_tables` is the one function that writes tables in every format
(CSV, XLSX, Parquet, JSON), into a folder that :func:`planner.files.atomic_dir`
stages and swaps in only when every file is written, so a failure or a kill leaves
the previous output intact and never a half-written one.  The same tables give
the same bytes in every format (the XLSX zip carries no write time).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from planner.files import atomic_dir, fix_zip_times, write_json

FORMATS = ("csv", "xlsx", "parquet", "json")

def parse_formats(text: str) -> tuple[str, ...]:
    """'csv,xlsx' -> ('csv', 'xlsx'); raises ValueError naming an unknown format."""
    out = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise ValueError(f"unknown format {', '.join(bad) or repr(text)}; expected a comma-separated subset of {', '.join(FORMATS)}")
    return out


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet treat a text cell as a formula (CSV injection)."""


def _runs_as_formula(v: str) -> bool:
    """A formula start, or quotes before one (so a text that looks neutralised survives the round trip)."""
    return v.startswith(FORMULA_START) or (v.startswith("'") and _runs_as_formula(v[1:]))


def neutralise_text(v):
    """A text cell that a spreadsheet would run as a formula, prefixed with ' (the usual CSV-injection
    defence); anything else unchanged.  Numbers stay numbers: only str values are touched."""
    return "'" + v if isinstance(v, str) and _runs_as_formula(v) else v


def restore_text(v):
    """Undo :func:`neutralise_text` when reading our own CSV back."""
    return v[1:] if isinstance(v, str) and v.startswith("'") and _runs_as_formula(v[1:]) else v


def _text_cells(df: pd.DataFrame, f) -> pd.DataFrame:
    cols = [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]
    if not cols:
        return df
    out = df.copy()
    for c in cols:
        out[c] = out[c].map(f).astype(df[c].dtype) if df[c].dtype != object else out[c].map(f)
    return out


def restore_csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A table read back from one of our CSV files, with neutralised text cells restored."""
    return _text_cells(df, restore_text)


def export_tables(tables: dict[str, pd.DataFrame], folder: Path, formats: Iterable[str] = ("csv",)) -> list[Path]:
    """Write each table as ``<name>.<fmt>`` (XLSX: one ``results.xlsx``, a sheet per table).

    Rows keep their order and floats are written at full precision, so the same
    tables give byte-identical files.  Returns the paths written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in formats:
        if fmt == "xlsx":
            path = folder / "results.xlsx"
            with pd.ExcelWriter(path, engine="openpyxl") as xw:
                for name, df in tables.items():
                    df.to_excel(xw, sheet_name=name[:31], index=False)
                    # openpyxl turns a text starting with '=' into a live formula: keep every text a string.
                    for row in xw.sheets[name[:31]].iter_rows():
                        for cell in row:
                            if cell.data_type == "f":
                                cell.data_type = "s"
            fix_zip_times(path)
            written.append(path)
            continue
        for name, df in tables.items():
            path = folder / f"{name}.{fmt}"
            if fmt == "csv":
                _text_cells(df, neutralise_text).to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
            elif fmt == "parquet":
                df.to_parquet(path, index=False)
            elif fmt == "json":
                df.to_json(path, orient="records", indent=1, double_precision=10)
            else:
                raise ValueError(f"unknown format {fmt!r}")
            written.append(path)
    return written


def is_our_output(folder: Path) -> bool:
    """Whether ``folder`` holds a Friendshore output: a run.json whose versions name friendshore."""
    try:
        rec = json.loads((Path(folder) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(rec, dict) and isinstance(rec.get("versions"), dict) and "friendshore" in rec["versions"]


def check_output_folder(out: Path, protect: Iterable[Path] = (), option: str = "--out") -> None:
    """Refuse an output folder whose replacement would destroy what Friendshore did not create.

    Refused: the current folder, any folder in ``protect`` (the input instance), a parent of
    either, and an existing non-empty folder that is not an earlier output of ours (no run.json
    of ours).  Raises InstanceError (exit 2) before anything is solved or written."""
    from planner.errors import InstanceError, Problem

    target = Path(out).resolve()
    why = None
    for p in (Path.cwd(), *protect):
        p = Path(p).resolve()
        if target == p or target in p.parents:
            why = ("the current folder" if p == Path.cwd().resolve() else f"the input {p}") if target == p else \
                f"a parent of {'the current folder' if p == Path.cwd().resolve() else f'the input {p}'}"
            break
    if why is None and target.exists():
        if not target.is_dir():
            why = "an existing file"
        elif any(target.iterdir()) and not is_our_output(target):
            why = "a non-empty folder that is not a Friendshore output (it has no run.json of ours)"
    if why is not None:
        raise InstanceError([Problem(option, value=str(out), expected=(
            f"expected a new or empty folder, or an earlier output of this command; this is {why}, and writing "
            "would replace everything in it"))])


def write_outputs(out: Path, tables: dict[str, pd.DataFrame], record: dict[str, Any] | None, formats,
                  extras: dict[str, Callable[[Path], None]] | None = None) -> list[Path]:
    """THE writer of every output folder (solve, stress, network, diagnosis, study runs): the tables
    in every format, run.json, then each of ``extras`` (file name -> writer called with its path in
    the staged folder: the model, the report, the network's GraphML and drawings), atomically (all
    or nothing)."""
    formats = tuple(formats)
    with atomic_dir(Path(out)) as stage:
        export_tables(tables, stage, formats)
        if record is not None:
            write_json(stage / "run.json", {**record, "formats": list(formats)})
        for name, writer in (extras or {}).items():
            writer(stage / name)
    return sorted(Path(out).iterdir())
