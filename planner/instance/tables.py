"""Tables as text: read CSV files and workbook sheets into frames of strings,
parse them into row models, and format rows back into cells.

Reading is vectorised because generated instances can hold 150k lane rows:
every file is read with ``dtype=str``, each column is converted in one go, the
bad cells are found with masks and only those become :class:`Problem` objects
one by one.  Row models are then built with ``model_construct`` from values
that have already been checked, instead of running pydantic per row.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import types
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, Annotated, Any, Union, get_args, get_origin

import numpy as np
import pandas as pd
from annotated_types import Ge, Le

from planner.errors import Problem
from planner.instance.schema import TABLES, Strict

LINE = "_line"
"""Frame column holding each row's line in its file (header = line 1)."""
OK = "_ok"
"""Frame column: True when every cell of the row parsed."""
MISSING = "missing"
"""``frame.attrs`` key: required columns the file lacks."""


# --------------------------------------------------------------------------- column specs
@dataclass(frozen=True)
class Column:
    """How one schema field is read from a text cell."""

    name: str
    kind: str  # "text", "list", "number" or "integer"
    required: bool
    default: Any
    nullable: bool
    lo: float | None
    hi: float | None
    doc: str

    def expected(self) -> str:
        """What a valid cell looks like, for messages."""
        if self.kind == "text":
            what = "a non-empty text"
        elif self.kind == "list":
            what = "ids separated by ';'"
        else:
            what = "a whole number" if self.kind == "integer" else "a number"
            if self.lo is not None and self.hi is not None:
                what = f"{what} in [{self.lo:g}, {self.hi:g}]"
            elif self.lo is not None:
                what = f"{what} >= {self.lo:g}"
            elif self.hi is not None:
                what = f"{what} <= {self.hi:g}"
        return f"{what} ({self.doc.rstrip('.')})" if self.doc else what


@cache
def columns_of(cls: type[Strict]) -> tuple[Column, ...]:
    """The columns of a row schema, derived from its field annotations."""
    return tuple(_column(name, fi) for name, fi in cls.model_fields.items())


def _column(name: str, fi: Any) -> Column:
    ann, meta, nullable = fi.annotation, list(fi.metadata), False
    if get_origin(ann) in (Union, types.UnionType):  # "X | None"
        args = [a for a in get_args(ann) if a is not type(None)]
        nullable, ann = True, args[0]
    if get_origin(ann) is Annotated:  # constraints of Rate / NonNeg live inside
        ann, *extra = get_args(ann)
        for x in extra:
            meta += getattr(x, "metadata", [x])
    if get_origin(ann) is tuple:
        kind = "list"
    elif get_origin(ann) is Literal:  # a choice: text, the schema's model validation names the choices
        kind = "text"
    else:
        kind = {str: "text", float: "number", int: "integer"}[ann]
    lo = next((m.ge for m in meta if isinstance(m, Ge)), None)
    hi = next((m.le for m in meta if isinstance(m, Le)), None)
    return Column(name, kind, fi.is_required(), fi.default, nullable, lo, hi, fi.description or "")


# --------------------------------------------------------------------------- raw tables
@dataclass
class RawTable:
    """One table as read: stripped string cells, one column per header name."""

    name: str
    file: str
    """Label used in problems, e.g. 'supply.csv' or 'book.xlsx[supply]'."""
    frame: pd.DataFrame
    lines: np.ndarray
    """Line (or sheet row) of each frame row; the header is line 1."""


def empty_raw(name: str, file: str) -> RawTable:
    """An absent optional table: all schema columns, no rows."""
    cols = [c.name for c in columns_of(TABLES[name])]
    return RawTable(name, file, pd.DataFrame({c: pd.Series([], dtype=object) for c in cols}), np.array([], dtype=int))


def decode_utf8(data: bytes, file: str) -> tuple[str | None, Problem | None]:
    """UTF-8 text with or without BOM; anything else is a problem naming the first bad byte."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8"), None
    except UnicodeDecodeError as e:
        offset = bom + e.start
        line = data.count(b"\n", 0, offset) + 1
        return None, Problem(
            file,
            row=line,
            value=f"0x{data[offset]:02x}",
            expected=f"not UTF-8 at byte offset {offset} (line {line}), the file looks Latin-1/Windows-1252 "
            "encoded; expected UTF-8 text (save it as 'CSV UTF-8')",
        )


def read_csv(path: Path, name: str, file: str) -> tuple[RawTable | None, list[Problem]]:
    """Read one table file; None (with problems) when it cannot be used at all."""
    try:
        data = path.read_bytes()
    except OSError as e:
        return None, [Problem(file, expected=f"unreadable file ({e.strerror or e}); expected a readable CSV file")]
    text, bad = decode_utf8(data, file)
    if bad is not None:
        return None, [bad]
    expected_cols = ", ".join(c.name for c in columns_of(TABLES[name]))
    if not text.strip():
        return None, [Problem(file, expected=f"empty file; expected a header line with the columns {expected_cols}")]
    header = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]  # not splitlines(): it also splits at \x1c, \u2028...
    if "," not in header and (";" in header or "\t" in header):
        # Excel in many locales saves ';'-separated "CSV"; read as ',' it would be one column.
        sep = "semicolon" if ";" in header else "tab"
        return None, [
            Problem(file, row=1, value=header[:120],
                    expected=f"wrong delimiter (the header is {sep}-separated); expected columns separated by ','")
        ]
    try:
        grid = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.ParserError as e:
        return None, [_parser_problem(file, text, str(e))]
    cells = grid.to_numpy(dtype=object)
    return _from_grid(name, file, cells[0], cells[1:], _record_lines(text, len(cells))[1:])


def _parser_problem(file: str, text: str, msg: str) -> Problem:
    """A clear problem from pandas' tokenizer error, at the file's line (pandas counts records)."""
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        want, record, got = (int(x) for x in m.groups())
        return Problem(file, _line_of(text, record - 1), value=f"{got} cells",
                       expected=f"too many cells; expected as many cells as the header ({want}; quote cells that "
                                "contain a comma)")
    m = re.search(r"EOF inside string starting at row (\d+)", msg)
    if m:
        return Problem(file, _line_of(text, int(m.group(1))),
                       expected='a quote (") that is never closed; expected every quoted cell to end with a quote')
    return Problem(file, expected=f"unreadable CSV ({msg.strip()}); expected comma-separated cells")


def _line_of(text: str, record: int) -> int | None:
    """Line of the 0-based CSV record (the header is record 0, line 1)."""
    lines = _record_lines(text, record + 1)
    return int(lines[record]) if len(lines) > record else None


def _record_lines(text: str, n: int) -> np.ndarray:
    """Line where each of the n CSV records starts.

    Without quoted line breaks, record i is line i+1; only otherwise is the
    text walked again with the csv module (rare, so the fast path stays fast).
    """
    nlines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if nlines == n:
        return np.arange(1, n + 1)
    # newline="": a lone \r ends a line here as it does for pandas (else csv raises on it).
    reader, starts, prev = csv.reader(io.StringIO(text, newline="")), [], 0
    try:
        for _ in reader:
            starts.append(prev + 1)
            prev = reader.line_num
    except csv.Error:  # e.g. a NUL byte; line numbers then fall back to one record per line
        pass
    return np.array(starts[:n]) if len(starts) >= n else np.arange(1, n + 1)


def xl_text(v: Any) -> str:
    """A workbook cell as the text a CSV would hold."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def sheet_table(name: str, file: str, rows: list[tuple]) -> tuple[RawTable | None, list[Problem]]:
    """A sheet's rows (values from openpyxl) as a raw table."""
    if not rows:
        return None, [Problem(file, expected="empty sheet; expected a header row")]
    width = max(len(r) for r in rows)
    cells = np.array([[xl_text(v) for v in r] + [""] * (width - len(r)) for r in rows], dtype=object)
    return _from_grid(name, file, cells[0], cells[1:], np.arange(2, len(rows) + 1))


def _from_grid(name: str, file: str, header: np.ndarray, body: np.ndarray,
               lines: np.ndarray) -> tuple[RawTable, list[Problem]]:
    """Name the columns, drop unnamed empty columns and blank rows, strip cells."""
    problems, cols = [], {}
    # Cells are text, or NaN where a row is short.  Plain Python: pandas' string methods cost more
    # per call than a whole small table takes, and are no faster on large ones.
    rows = [["" if not isinstance(v, str) else v.strip() for v in r] for r in body.reshape(len(body), len(header)).tolist()]
    for j, h in enumerate(str(h).strip() for h in header):
        if not h:
            if any(r[j] for r in rows):  # a trailing empty header column is harmless, data under no name is not
                problems.append(Problem(file, 1, f"#{j + 1}", expected="data under no name; expected a column name"))
            continue
        if h in cols:
            problems.append(Problem(file, row=1, column=h, expected="repeated column; expected each column once"))
            continue
        cols[h] = j
    keep = [i for i, r in enumerate(rows) if any(r[j] for j in cols.values())]  # blank rows are dropped
    frame = pd.DataFrame({h: pd.Series([rows[i][j] for i in keep], dtype=str) for h, j in cols.items()},
                         index=pd.RangeIndex(len(keep)))
    return RawTable(name, file, frame, np.asarray(lines)[np.array(keep, dtype=int)].astype(int)), problems


# --------------------------------------------------------------------------- parsing
def parse_table(raw: RawTable, defaults: frozenset[str] | set[str] | None = frozenset(),
                meta_file: str = "instance.yaml") -> tuple[pd.DataFrame, list[Problem]]:
    """Typed values of a raw table: one column per field (None where a cell is bad), plus LINE and OK.

    ``defaults``: 'table.column' names the instance lets default when absent (Meta.defaults); None when
    instance.yaml itself is invalid (its own problems are reported; absent columns are not judged)."""
    cols = columns_of(TABLES[raw.name])
    problems = _header_problems(raw, cols)
    if len(raw.frame) and defaults is not None:  # an absent optional table has no columns to miss
        for c in getattr(TABLES[raw.name], "guarded", ()):
            if c not in raw.frame and f"{raw.name}.{c}" not in defaults:
                problems.append(Problem(raw.file, row=1, column=c, expected=(
                    f"missing column '{c}'; expected it, as it carries a cost, capacity or quantity, or "
                    f"'{raw.name}.{c}' listed under 'defaults' in {meta_file} to give every row its default "
                    f"({_default_text(TABLES[raw.name], c)})")))
    n = len(raw.frame)
    ok = np.ones(n, bool)
    out: dict[str, Any] = {LINE: raw.lines}
    for col in cols:
        if n == 0:  # an absent optional table: nothing to parse (and parsing nothing is not free)
            out[col.name] = np.empty(0, dtype=object)
            continue
        if col.name in raw.frame:
            cells = raw.frame[col.name]
        elif col.required:  # reported once as a missing column, not once per row
            out[col.name] = np.full(n, None, dtype=object)
            ok[:] = False
            continue
        else:
            cells = pd.Series([""] * n, dtype=str)
        values, bad, probs = _parse_column(col, cells.reset_index(drop=True), raw)
        out[col.name] = values
        ok &= ~bad
        problems += probs
    out[OK] = ok
    frame = pd.DataFrame(out)
    # Cross-table checks must not read a missing column as "no ids at all".
    frame.attrs[MISSING] = frozenset(c.name for c in cols if c.required and c.name not in raw.frame)
    problems += _duplicate_problems(raw, frame)
    return frame, problems


def _default_text(cls: type[Strict], name: str) -> str:
    d = cls.model_fields[name].default
    return "empty" if d is None else f"{d:g}" if isinstance(d, float) else str(d)


def _header_problems(raw: RawTable, cols: tuple[Column, ...]) -> list[Problem]:
    names = [c.name for c in cols]
    listing = ", ".join(names)
    out = [
        Problem(raw.file, row=1, column=h, expected=f"unknown column; expected only the columns {listing}")
        for h in raw.frame.columns
        if h not in names
    ]
    out += [
        Problem(raw.file, row=1, column=c.name, expected=f"missing column '{c.name}'; expected the columns {listing}")
        for c in cols
        if c.required and c.name not in raw.frame
    ]
    return out


def _parse_column(col: Column, cells: pd.Series, raw: RawTable) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    """Values, bad-cell mask and problems of one column, all at once."""
    empty = (cells == "").to_numpy(dtype=bool, copy=True)
    checks: list[tuple[np.ndarray, str]] = []
    if col.kind == "text":
        values = np.array(cells.tolist(), dtype=object)
    elif col.kind == "list":
        values = np.empty(len(cells), dtype=object)
        values[:] = [tuple(p.strip() for p in c.split(";") if p.strip()) for c in cells.tolist()]
        empty |= np.array([not v for v in values], dtype=bool)  # ";" alone means nothing listed
    else:
        values, checks = _parse_numbers(col, cells, empty)
    if col.nullable:
        values[empty] = None
    elif not col.required:
        for i in np.flatnonzero(empty):  # item by item: numpy would unpack a tuple default
            values[i] = col.default
    else:
        checks.insert(0, (empty, f"missing value; expected {col.expected()}"))
    bad = np.zeros(len(cells), bool)
    problems = []
    for mask, message in checks:
        for i in np.flatnonzero(mask & ~bad):  # one problem per cell, the first that applies
            problems.append(Problem(raw.file, int(raw.lines[i]), col.name, cells.iat[i], message))
        bad |= mask
    values[bad] = None
    return values, bad, problems


_NONZERO = re.compile(r"[+-]?[0-9.]*[1-9]")
"""A number's text with a non-zero digit before any exponent."""


def _parse_numbers(col: Column, cells: pd.Series, empty: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    nums = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float) + 0.0  # + 0.0 turns -0.0 into 0.0
    finite = np.isfinite(nums)
    texts = cells.tolist()
    # to_numeric reads "nan"/"inf" as numbers: tell them apart from text that is no number at all.
    spelled = np.zeros(len(nums), bool)
    for i in np.flatnonzero(~finite & ~empty):
        spelled[i] = texts[i].lower().lstrip("+-") in ("nan", "inf", "infinity")
    expected = col.expected()
    # A float overflows to inf above ~1.8e308 and underflows to 0 below ~5e-324: say so, never read them silently.
    zero = np.zeros(len(nums), bool)
    for i in np.flatnonzero(finite & (nums == 0)):
        zero[i] = texts[i] not in ("0", "0.0") and _NONZERO.match(texts[i]) is not None
    checks = [
        (np.isnan(nums) & ~empty & ~spelled, f"not a number; expected {expected}"),
        (~finite & ~empty & spelled, f"NaN or infinity; expected a finite value, {expected}"),
        (~finite & ~empty, f"too large for a floating-point number; expected a finite value, {expected}"),
        (zero, f"too small for a floating-point number (it would be read as 0); expected 0 or {expected}"),
    ]
    if col.lo is not None:
        checks.append((finite & (nums < col.lo), f"out of range; expected {expected}"))
    if col.hi is not None:
        checks.append((finite & (nums > col.hi), f"out of range; expected {expected}"))
    if col.kind == "integer":
        checks.append((finite & (nums != np.floor(nums)), f"not a whole number; expected {expected}"))
        values = np.array([int(v) if np.isfinite(v) else None for v in nums.tolist()], dtype=object)
    else:
        values = np.array(nums.tolist(), dtype=object)  # Python floats, so models dump without warnings
    return values, checks


def _duplicate_problems(raw: RawTable, frame: pd.DataFrame) -> list[Problem]:
    """Rows repeating a key, each naming the first row with that key."""
    key = list(TABLES[raw.name].key)
    if "period" in TABLES[raw.name].model_fields and frame["period"].notna().any():  # dated rows: one per key and period
        frame = frame.assign(period=frame["period"].map(lambda p: "" if p is None or p != p else str(int(p))))
        key.append("period")
    keys = list(zip(*(frame[k].tolist() for k in key)))
    if len(set(keys)) == len(keys):  # the usual case, found without pandas' fixed cost per call
        return []
    sub = frame.loc[frame[key].notna().all(axis=1), key + [LINE]]
    dup = sub[sub.duplicated(key, keep=False)]
    if dup.empty:
        return []
    first = dup.groupby(key)[LINE].transform("min")
    out = []
    for (_, row), first_line in zip(dup.iterrows(), first):
        if row[LINE] != first_line:
            out.append(
                Problem(
                    raw.file,
                    int(row[LINE]),
                    ",".join(key),
                    ":".join(str(row[k]) for k in key),
                    f"duplicate key ({', '.join(key)}), also on row {first_line}; expected each key once",
                )
            )
    return out


def build_rows(cls: type[Strict], frame: pd.DataFrame) -> tuple[Strict, ...]:
    """Row models of the rows that parsed; values are checked, so skip pydantic validation."""
    ok = frame[frame[OK]]
    names = list(cls.model_fields)
    columns = [ok[n].tolist() for n in names]
    return tuple(cls.model_construct(**dict(zip(names, vals))) for vals in zip(*columns))


# --------------------------------------------------------------------------- writing
def number_text(v: float) -> str:
    """Shortest text that reads back as exactly ``v`` (repr precision; whole numbers without '.0')."""
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (tuple, list)):
        return ";".join(str(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return number_text(v)
    return str(v)


def text_frame(cls: type[Strict], rows: tuple[Strict, ...]) -> pd.DataFrame:
    """Rows as a frame of cell texts (the form they have in a CSV)."""
    names = list(cls.model_fields)
    return pd.DataFrame({n: pd.Series([cell_text(getattr(r, n)) for r in rows], dtype=str) for n in names})


def written_names(cls: type[Strict], rows: tuple[Strict, ...]) -> list[str]:
    """Columns written to files: all, except a ``sparse`` column that holds its default in every row.

    Columns added to the format later (e.g. supply.surge) are listed in the row
    schema's ``sparse``, so files of instances that do not use them stay as they were.
    """
    sparse = getattr(cls, "sparse", ())
    fields = cls.model_fields
    return [n for n in fields if n not in sparse or any(getattr(r, n) != fields[n].default for r in rows)]


def write_csv(path: Path, cls: type[Strict], rows: tuple[Strict, ...]) -> None:
    names = written_names(cls, rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(names)
        w.writerows([cell_text(getattr(r, n)) for n in names] for r in rows)


def sheet_frame(cls: type[Strict], rows: tuple[Strict, ...]) -> pd.DataFrame:
    """Rows as a frame for a workbook sheet: numbers stay numbers where Excel keeps them exact."""
    frame = {}
    names = set(written_names(cls, rows))
    for col in columns_of(cls):
        if col.name not in names:
            continue
        vals = [getattr(r, col.name) for r in rows]
        if col.kind in ("number", "integer"):
            frame[col.name] = pd.Series([_sheet_number(v) for v in vals], dtype=object)
        else:
            frame[col.name] = pd.Series([cell_text(v) for v in vals], dtype=object)
    return pd.DataFrame(frame)


def _sheet_number(v: float | int | None) -> float | int | str | None:
    # openpyxl writes numbers with '%.16g'; the few floats that need 17 digits
    # are stored as text so the round trip stays exact.
    if v is None or float("%.16g" % v) == v:
        return v
    return repr(v)
