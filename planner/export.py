"""Write tidy tables and run records; every write is atomic.

:func:`export_tables` is the one function that writes tables in every format
(CSV, XLSX, Parquet, JSON).  :func:`atomic_dir` stages a whole output folder
and swaps it in only when every file is written, so a failure or a kill leaves
the previous output intact and never a half-written one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

FORMATS = ("csv", "xlsx", "parquet", "json")


def parse_formats(text: str) -> tuple[str, ...]:
    """'csv,xlsx' -> ('csv', 'xlsx'); raises ValueError naming an unknown format."""
    out = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise ValueError(f"unknown format {', '.join(bad) or repr(text)}; expected a comma-separated subset of {', '.join(FORMATS)}")
    return out


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
            written.append(path)
            continue
        for name, df in tables.items():
            path = folder / f"{name}.{fmt}"
            if fmt == "csv":
                df.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
            elif fmt == "parquet":
                df.to_parquet(path, index=False)
            elif fmt == "json":
                df.to_json(path, orient="records", indent=1, double_precision=10)
            else:
                raise ValueError(f"unknown format {fmt!r}")
            written.append(path)
    return written


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces ``target`` whole.

    On any error the staging folder is removed and ``target`` is untouched.
    The swap is two renames on one file system; a previous ``target`` is moved
    aside first and deleted only after the new one is in place.
    """
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging-"))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.rmdir(old)
        os.replace(target, old)
    os.replace(stage, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
