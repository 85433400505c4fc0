"""Write tidy tables and run records; every write is atomic.

:func:`export_tables` is the one function that writes tables in every format
(CSV, XLSX, Parquet, JSON).  :func:`atomic_dir` stages a whole output folder
and swaps it in only when every file is written, so a failure or a kill leaves
the previous output intact and never a half-written one.  The same tables give
the same bytes in every format (the XLSX zip carries no write time).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

FORMATS = ("csv", "xlsx", "parquet", "json")

PAUSE_ENV = "FRIENDSHORE_TEST_PAUSE_BEFORE_SWAP"
"""Test-only hook: seconds :func:`atomic_dir` sleeps after staging, just before the swap,
so a test can kill the process at that point deterministically.  Never set it otherwise."""


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
            strip_zip_times(path)
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


_FIXED_TIME = "1980-01-01T00:00:00Z"
"""Creation/modification time written into XLSX files (and their zip entries), so equal tables give equal bytes."""


def strip_zip_times(path: Path) -> None:
    """Rewrite an .xlsx with fixed zip entry times and document-property dates (openpyxl stamps 'now')."""
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info)) for info in zin.infolist()]
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                              lambda m: m.group(1) + _FIXED_TIME.encode() + m.group(3), data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            zout.writestr(fixed, data)
    os.replace(tmp, path)


def _finite(x):
    """JSON has no NaN or infinity: such numbers (e.g. a bound of -inf) are written as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def write_json(path: Path, data: dict) -> None:
    """Write strict JSON atomically (temporary file, then rename); NaN and infinities become null."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(_finite(data), fh, indent=2, sort_keys=False, default=str, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _stale_pattern(target: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(target.name)}\.(staging|old)-(\d+)-[A-Za-z0-9_]+")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OSError:
        return True  # cannot tell: leave its folders alone
    return True


def clean_stale(target: Path) -> list[Path]:
    """Remove staging/old folders of ``target`` left by killed writers; returns what was removed.

    Folders are named ``.<target>.staging-<pid>-<random>`` and ``.<target>.old-<pid>-<random>``;
    those of a process that is still running are left alone.  If a writer was killed between
    its two renames (``target`` missing, the previous output moved aside), that previous
    output is put back instead of being removed.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pat, prefix = _stale_pattern(target), f".{target.name}."
    stale = []
    with os.scandir(target.parent) as entries:  # cheap even next to thousands of study run folders
        for e in entries:
            m = pat.fullmatch(e.name) if e.name.startswith(prefix) else None
            if m and e.is_dir() and not _alive(int(m.group(2))):
                stale.append((m.group(1), target.parent / e.name))
    olds = sorted((p for kind, p in stale if kind == "old"), key=lambda p: p.stat().st_mtime)
    removed = []
    if olds and not target.exists():
        os.replace(olds.pop(), target)  # the newest previous output
    for _, p in stale:
        if p.exists():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _fsync_tree(folder: Path) -> None:
    """Flush staged files to disk before the swap, so a power cut cannot swap in empty files."""
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _test_pause(stage: Path) -> None:
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        print(f"{PAUSE_ENV}: staged {stage}; sleeping {seconds} s before the swap", file=sys.stderr, flush=True)
        time.sleep(float(seconds))


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
            f"a new or empty folder, or an earlier output of this command; this is {why}, and writing "
            "would replace everything in it"))])


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces ``target`` whole.

    On any error the staging folder is removed and ``target`` is untouched.
    The swap is two renames on one file system; a previous ``target`` is moved
    aside first and deleted only after the new one is in place.  A kill leaves
    at most dot-prefixed staging/old folders next to ``target``; the next
    write to ``target`` cleans them up (:func:`clean_stale`).
    """
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    pid = os.getpid()
    stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging-{pid}-"))
    # mkdtemp makes the folder 0700: give it the mode the folder had, or a new folder's mode.
    if target.is_dir():
        os.chmod(stage, target.stat().st_mode & 0o7777)
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)
    try:
        yield stage
        _fsync_tree(stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _test_pause(stage)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-{pid}-"))
        os.rmdir(old)
        os.replace(target, old)
    os.replace(stage, target)
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
