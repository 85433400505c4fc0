"""Read, check, override and write Friendshore instances.

An instance is a folder (``instance.yaml`` + ``<table>.csv``) or one ``.xlsx``
workbook (a sheet per table plus a sheet ``instance`` of dotted ``key``/``value``
rows).  :func:`load_instance` collects every problem of every file and raises
them together in one :class:`InstanceError`, so a user fixes a file in one go.

Public API: :func:`load_instance`, :func:`apply_overrides`, :func:`parse_override`,
:func:`write_instance`, :func:`instance_hash`, :func:`files_hash`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import types
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ValidationError

from planner.instance import safe_yaml
from planner.instance import tables as tb
from planner.instance import xlsx_package
from planner.instance.period_checks import check_period_frames, check_period_views
from planner.instance.checks import check_feasibility, check_references
from planner.errors import InstanceError, Problem, validation_message
from planner.files import atomic_file, fix_zip_times, staging_dir
from planner.instance.multitier import check_chain
from planner.instance.schema import KEY_SEP, REQUIRED_TABLES, TABLES, Instance, Meta, join_key

META_FILE = "instance.yaml"
META_SHEET = "instance"
SET = "--set"
"""``Problem.file`` of problems caused by an override."""

__all__ = ["load_instance", "apply_overrides", "parse_override", "parse_overrides", "write_instance", "instance_hash", "files_hash"]


# --------------------------------------------------------------------------- raw instance
@dataclass
class _Raw:
    """An instance as read, before validation: meta as plain data, tables as text."""

    meta: Any
    """Parsed instance.yaml (a dict), or None when it could not be read."""
    meta_file: str
    meta_lines: dict[str, int]
    """Dotted key -> line (or sheet row) where it is written."""
    tables: dict[str, tb.RawTable | None]
    """None: the table could not be read (problem reported; references to it are not checked)."""
    problems: list[Problem] = field(default_factory=list)


def _read(path: str | os.PathLike) -> _Raw:
    p = Path(path)
    if p.is_file() and p.name == META_FILE:
        p = p.parent
    if p.is_dir():
        return _read_folder(p)
    if p.suffix.lower() == ".xlsx" and p.is_file():
        return _read_workbook(p)
    raise InstanceError([Problem(str(path), expected="no instance here; expected a folder with instance.yaml and CSV "
                                                     "tables, or an .xlsx workbook")])


def _read_folder(folder: Path) -> _Raw:
    raw = _Raw(None, META_FILE, {}, {})
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raw.problems.append(Problem(META_FILE, expected="missing file; expected an instance.yaml next to the tables, "
                                                        "with at least 'name:'"))
    else:
        text, bad = tb.decode_utf8(meta_path.read_bytes(), META_FILE)
        if bad is not None:
            raw.problems.append(bad)
        else:
            raw.meta, raw.meta_lines = _load_yaml(text, raw.problems)
    # Only files named after a table are read: README.md, sources.csv, notes are the user's business.
    _fill_tables(raw, lambda name: f"{name}.csv",
                 lambda name, file: tb.read_csv(folder / file, name, file) if (folder / file).is_file() else None,
                 lambda name, file, cols: Problem(file, expected=f"missing file; expected the required table {file} "
                                                                 f"with the columns {cols}"))
    return raw


def _fill_tables(raw: _Raw, file_of: Callable[[str], str], read: Callable[[str, str], Any],
                 missing: Callable[[str, str, str], Problem]) -> None:
    """Every table of the schema: ``read(name, file)`` where present (None where not); a missing
    required table is ``missing(name, file, its columns)``; a missing optional one is empty."""
    for name in TABLES:
        file = file_of(name)
        found = read(name, file)
        if found is not None:
            table, probs = found
        elif name in REQUIRED_TABLES:
            table, probs = None, [missing(name, file, ", ".join(c.name for c in tb.columns_of(TABLES[name])))]
        else:
            table, probs = tb.empty_raw(name, file), []
        raw.tables[name] = table
        raw.problems += probs


def _load_yaml(text: str, problems: list[Problem]) -> tuple[Any, dict[str, int]]:
    try:
        data, node = safe_yaml.load(text, META_FILE)
    except InstanceError as e:
        problems += e.problems
        return None, {}
    lines = yaml_lines(node)
    if data is None:  # an empty file: Meta validation says what is missing
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem(META_FILE, 1, expected="not a mapping; expected keys with values (name:, ...)"))
        return None, {}
    # YAML keeps the last of two equal keys without a word: a typo'd copy would win silently.
    for key, line, value, first in yaml_repeats(node):
        problems.append(Problem(META_FILE, line, key, value,
                                f"repeated key; expected each key once (it is also on line {first})"))
    return data, lines


def yaml_repeats(node: Any, prefix: str = "") -> list[tuple[str, int, str | None, int]]:
    """(dotted key, line, value, first line) of every key repeated within one mapping."""
    out = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            key, line = f"{prefix}{k.value}", k.start_mark.line + 1
            if key in seen:
                out.append((key, line, v.value if isinstance(v, yaml.ScalarNode) else None, seen[key]))
            seen.setdefault(key, line)
            out += yaml_repeats(v, key + ".")
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            out += yaml_repeats(v, prefix)
    return out


def yaml_lines(node: Any, prefix: str = "") -> dict[str, int]:
    """Dotted key -> line of every mapping key in a composed YAML document."""
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}{k.value}"
            out[key] = k.start_mark.line + 1
            out.update(yaml_lines(v, key + "."))
    return out


def _read_workbook(path: Path) -> _Raw:
    book = path.name
    raw = _Raw(None, f"{book}[{META_SHEET}]", {}, {})
    xlsx_package.check_size(path, book)  # before openpyxl unpacks anything
    import openpyxl  # only for workbooks: a CSV instance never loads it (start-up time)
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, InvalidFileException) as e:
        problem = Problem(book, expected=f"unreadable workbook ({e}); expected an .xlsx workbook")
        raise InstanceError([problem]) from None
    try:  # only the sheets the workbook lists and Friendshore reads
        used = [ws for ws in wb.worksheets if ws.title in TABLES or ws.title == META_SHEET]
        parts = {ws.title: ws._worksheet_path.lstrip("/") for ws in used}
        sheets = {ws.title: _sheet_rows(path, book, ws) for ws in used}
    finally:
        wb.close()
    scans = {title: xlsx_package.scan_sheet(path, part) for title, part in parts.items()}
    raw.problems += _merged_cells(book, sheets, scans)
    if any(s.has_formula for s in scans.values()):
        raw.problems += _uncached_formulas(path, sheets)
    if META_SHEET in sheets:
        raw.meta, raw.meta_lines = _unflatten_sheet(raw.meta_file, sheets[META_SHEET], raw.problems)
    else:
        expected = f"missing sheet; expected a sheet '{META_SHEET}' with the columns key, value"
        raw.problems.append(Problem(book, expected=expected))
    _fill_tables(raw, lambda name: f"{book}[{name}]",
                 lambda name, file: tb.sheet_table(name, file, sheets[name]) if name in sheets else None,
                 lambda name, file, cols: Problem(book, expected=f"missing sheet; expected the required sheet "
                                                                 f"'{name}' with the columns {cols}"))
    return raw


def _sheet_rows(path: Path, book: str, ws) -> list[tuple]:
    """A sheet's rows as values; a cell openpyxl cannot read is exit 2 naming the sheet and cell."""
    rows: list[tuple] = []
    try:
        for row in ws.iter_rows(min_row=1, values_only=True):
            rows.append(row)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        bad = xlsx_package.text_in_numeric_cell(path, ws._worksheet_path.lstrip("/"))
        file = f"{book}[{ws.title}]"
        if bad is None:
            raise InstanceError([Problem(file, len(rows) + 1, expected=f"unreadable workbook ({e}); expected "
                                                                      "cells holding numbers or text")]) from None
        ref, value = bad
        letters = ref.rstrip("0123456789")
        raise InstanceError([Problem(file, int(ref[len(letters):]), _column_name(rows, letters), value,
                                     f"unreadable workbook: cell {ref} is stored as a number but holds text; "
                                     "expected a number (retype the cell, or re-save the workbook in a "
                                     "spreadsheet program)")]) from None
    return rows


def _column_name(rows: list[tuple], letters: str) -> str:
    """The header of the column with these letters (A, B, ..., AA), or the letters themselves."""
    from openpyxl.utils import column_index_from_string

    c = column_index_from_string(letters) - 1
    name = tb.xl_text(rows[0][c]).strip() if rows and c < len(rows[0]) else ""
    return name or letters


def _merged_cells(book: str, sheets: dict[str, list[tuple]],
                  scans: dict[str, xlsx_package.SheetScan]) -> list[Problem]:
    """Merged ranges: openpyxl reads all but the first cell of one as empty, so a default would
    apply silently where the sheet shows a value."""
    out = []
    for title, scan in scans.items():
        for c1, r1, c2, r2 in scan.merged:
            ref = f"{c1}{r1}:{c2}{r2}"
            out.append(Problem(f"{book}[{title}]", r1, _column_name(sheets.get(title, []), c1), ref,
                               f"merged cells; expected one value in each cell (unmerge {ref} and type the value "
                               "into every cell)"))
    return out


def _uncached_formulas(path: Path, sheets: dict[str, list[tuple]]) -> list[Problem]:
    """Formula cells without a saved result, which openpyxl reads as empty (a default would be used silently).

    Such cells get the formula text instead, so they are never read as empty.  Only workbooks
    whose read sheets hold a formula at all are opened a second time.
    """
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, InvalidFileException):
        return []  # it was readable once: leave the values as read
    out = []
    try:
        for ws in wb.worksheets:
            rows = sheets.get(ws.title)
            if rows is None:
                continue
            for r, row in enumerate(ws.iter_rows(min_row=1, values_only=True)):
                for c, v in enumerate(row):
                    if not (isinstance(v, str) and v.startswith("=")) or r >= len(rows) or c >= len(rows[r]):
                        continue
                    if rows[r][c] is None:
                        rows[r] = rows[r][:c] + (v,) + rows[r][c + 1:]
                        column = tb.xl_text(rows[0][c]).strip() if c < len(rows[0]) else None
                        out.append(Problem(f"{path.name}[{ws.title}]", r + 1, column or f"#{c + 1}", v,
                                           "a formula without a saved result (the workbook was written by a program "
                                           "that does not calculate); expected a value: open and save the workbook "
                                           "in a spreadsheet program, or type the value"))
    finally:
        wb.close()
    return out


def _unflatten_sheet(file: str, rows: list[tuple], problems: list[Problem]) -> tuple[dict | None, dict[str, int]]:
    """The 'instance' sheet (dotted key | YAML value) as nested data, plus key -> sheet row."""
    header = [tb.xl_text(v).strip() for v in rows[0]] if rows else []
    if header[:2] != ["key", "value"]:
        problems.append(Problem(file, 1, expected="wrong header; expected the columns key, value in the first row"))
        return None, {}
    data: dict = {}
    lines: dict[str, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        key = tb.xl_text(row[0]).strip() if row else ""
        text = tb.xl_text(row[1]) if len(row) > 1 else ""
        if not key:
            if text.strip():
                problems.append(Problem(file, n, "key", None,
                                        "value without a key; expected a dotted key (e.g. policy.country_share_cap)"))
            continue
        try:
            value, _ = safe_yaml.load(text, file, n, "value", expected="a YAML value")
        except InstanceError as e:
            problems += e.problems
            continue
        if key in lines or _set_path(data, key.split("."), value, strict=True) is False:
            problems.append(Problem(file, n, "key", key,
                                    "repeated key; expected each key once (not a key and also its sub-keys)"))
            continue
        lines[key] = n
    return data, lines


def _set_path(data: dict, parts: list[str], value: Any, strict: bool = False) -> bool:
    """Set ``data[p0][p1]...`` creating mappings on the way; False on a clash when strict."""
    node = data
    for p in parts[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            if strict and p in node:
                return False
            nxt = node[p] = {}
        node = nxt
    if strict and isinstance(node.get(parts[-1]), dict):
        return False
    node[parts[-1]] = value
    return True


def _from_instance(inst: Instance) -> _Raw:
    """A valid instance back in raw form, so overrides go through the same checks as files."""
    tables = {}
    for name, cls in TABLES.items():
        rows = getattr(inst, name)
        tables[name] = tb.RawTable(name, f"{name}.csv", tb.text_frame(cls, rows), np.arange(2, len(rows) + 2))
    return _Raw(_meta_data(inst.meta), META_FILE, {}, tables)


def _meta_data(meta: Meta) -> dict:
    # None only ever means "unset" in Meta, so leaving it out keeps the file short and reads back the same.
    return meta.model_dump(mode="json", exclude_none=True)


# --------------------------------------------------------------------------- overrides
def parse_override(s: str) -> tuple[str, object]:
    """``'policy.country_share_cap=0.5'`` -> ``('policy.country_share_cap', 0.5)``; the value is YAML."""
    key, sep, text = s.partition("=")
    key = key.strip()
    if not sep or not key or any(c.isspace() for c in key):
        problem = Problem(SET, value=s, expected="bad override; expected KEY=VALUE, e.g. policy.country_share_cap=0.5")
        raise InstanceError([problem])
    return key, safe_yaml.load(text, SET, column=key, expected="a YAML value")[0]


def parse_overrides(texts: Iterable[str]) -> dict[str, Any]:
    """``--set`` texts as the mapping run.json stores and :func:`load_instance` accepts.

    Each key keeps its last value, placed where it last occurred, so applying the mapping in
    order gives what applying the texts in order gives (a later ``a=...`` still replaces an
    earlier ``a.b=...``).  The values are plain data, so the mapping round-trips through JSON."""
    out: dict[str, Any] = {}
    for text in texts:
        key, value = parse_override(text)
        out.pop(key, None)
        out[key] = value
    return out


@dataclass(frozen=True)
class _Edit:
    key: str
    value: Any
    file: str
    """Where the override comes from ('--set' or the instance file) and its dotted name there."""
    column: str


def _edits(raw: _Raw, overrides: Mapping[str, object] | Iterable[str], variant: str | None,
           problems: list[Problem]) -> list[_Edit]:
    """Variant entries first, then the overrides, so an override wins."""
    out: list[_Edit] = []
    if variant is not None:
        variants = raw.meta.get("variants") if isinstance(raw.meta, dict) else None
        chosen = variants.get(variant) if isinstance(variants, dict) else None
        if not isinstance(chosen, dict):
            names = ", ".join(variants) if isinstance(variants, dict) and variants else "(none)"
            expected = f"unknown variant; expected one of the variants in {raw.meta_file}: {names}"
            problems.append(Problem("--variant", value=variant, expected=expected))
        else:
            out += [_Edit(str(k), v, raw.meta_file, f"variants.{variant}.{k}") for k, v in chosen.items()]
    if isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    else:
        pairs = []
        for s in [overrides] if isinstance(overrides, str) else overrides:
            try:
                pairs.append(parse_override(s))
            except InstanceError as e:
                problems += e.problems
    out += [_Edit(str(k), v, SET, str(k)) for k, v in pairs]
    return out


def _apply_edits(raw: _Raw, edits: list[_Edit], problems: list[Problem]) -> tuple[dict, dict]:
    """Apply overrides to the raw instance; returns where each edited key/cell came from."""
    meta_src: dict[str, _Edit] = {}
    cell_src: dict[tuple[str, int, str], _Edit] = {}
    for e in edits:
        head = e.key.split(".", 1)[0]
        if head in TABLES:
            err, lines = _edit_cell(raw, e)
            column = e.key.rsplit(".", 1)[-1]
            cell_src.update({(raw.tables[head].file, ln, column): e for ln in lines})
        else:
            err = _edit_meta(raw, e)
            if err is None:
                meta_src[e.key] = e
        if err:
            row = raw.meta_lines.get(e.column) if e.file != SET else None
            problems.append(Problem(e.file, row, e.column, _short(e.value), err))
    return meta_src, cell_src


def _edit_meta(raw: _Raw, e: _Edit) -> str | None:
    parts = e.key.split(".")
    if parts[0] == "variants":
        return "variants cannot be overridden; expected a key of the instance (choose a variant with --variant)"
    target, err = _schema_at(Meta, parts)
    if err:
        return err
    if not isinstance(raw.meta, dict):
        return None  # instance.yaml unreadable: reported already
    value = e.value
    if get_origin(target) is tuple and isinstance(value, str):  # --set policy.exclude_tiers=concern;neutral
        value = [v.strip() for v in value.split(";") if v.strip()]
    _set_path(raw.meta, parts, value)
    return None


def _schema_at(model: type[BaseModel], parts: list[str]) -> tuple[Any, str | None]:
    """The annotation a dotted key points to in a schema, or why the key is unknown."""
    ann: Any = model
    for i, part in enumerate(parts):
        ann = _unwrap(ann)
        done = ".".join(parts[:i])
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if part not in ann.model_fields:
                known = ", ".join(ann.model_fields)
                where = f"under '{done}' one of: {known}" if done else f"a table name or one of: {known}"
                return None, f"unknown key; expected {where}"
            ann = ann.model_fields[part].annotation
        elif get_origin(ann) is dict:
            ann = get_args(ann)[1]
        elif ann is Any:
            return Any, None
        else:
            return None, f"unknown key; '{done}' is a single value without sub-keys"
    return _unwrap(ann), None


def _unwrap(ann: Any) -> Any:
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        ann = args[0] if len(args) == 1 else ann
    return ann


def _edit_cell(raw: _Raw, e: _Edit) -> tuple[str | None, list[int]]:
    """``<table>.<k1:k2>.<column>=value`` sets one cell (as text, so it is checked like any cell)."""
    table, _, rest = e.key.partition(".")
    rowkey, _, column = rest.rpartition(".")
    cls = TABLES[table]
    settable = [c for c in cls.model_fields if c not in cls.key]
    example = f"{table}.{':'.join(cls.key)}.{settable[0]}"
    if not rowkey or column not in settable:
        return f"unknown table column or key; expected '{example}' with a column among: {', '.join(settable)}", []
    want = rowkey.split(KEY_SEP)
    raw_table = raw.tables.get(table)
    if raw_table is None:
        return None, []  # the table could not be read: reported already
    frame = raw_table.frame
    # Trailing key columns with a default may be left out of the key (baseline.JP:x:CN means basis '').
    optional = [c for c in cls.key[len(want):] if isinstance(cls.model_fields[c].default, str)]
    mask = np.full(len(frame), len(want) <= len(cls.key) and len(optional) == len(cls.key) - len(want))
    want = want + [cls.model_fields[c].default for c in optional]
    for col, v in zip(cls.key, want):
        cells = frame[col] if col in frame else pd.Series([""] * len(frame), dtype=str)
        default = cls.model_fields[col].default
        if isinstance(default, str):  # e.g. an empty lanes.item means '*'
            cells = cells.where(cells != "", default)
        mask &= (cells == v).to_numpy()
    if not mask.any():
        return f"unknown row '{rowkey}'; expected the key ({':'.join(cls.key)}) of an existing row of {table}", []
    if column not in frame:
        frame[column] = ""
    frame.loc[mask, column] = tb.cell_text(e.value)
    return None, [int(x) for x in raw_table.lines[mask]]


def _short(v: Any) -> str | None:
    return None if v is None else str(v)[:120]


# --------------------------------------------------------------------------- validation
def _validate_meta(raw: _Raw, problems: list[Problem]) -> Meta | None:
    if not isinstance(raw.meta, dict):
        return None
    try:
        return Meta.model_validate(raw.meta)
    except ValidationError as e:
        for err in _one_branch(e.errors(include_url=False)):
            key = ".".join(str(x) for x in err["loc"])
            value = None if err["type"] == "missing" or isinstance(err["input"], dict) else _short(err["input"])
            problems.append(Problem(raw.meta_file, None, key, value, _meta_message(err)))
        return None


def _one_branch(errors: list[dict]) -> list[dict]:
    """A value that fails both branches of a level (a number or a trajectory {year: number}) is
    reported once, for the branch its shape chose, without pydantic's branch names in the key."""
    out = []
    for err in errors:
        loc = list(err["loc"])
        tags = [n for n, x in enumerate(loc) if isinstance(x, str) and (x.startswith("dict[int,")
                                                                        or x.startswith("constrained-") or x == "int")]
        if tags:
            n = tags[0]
            is_map = loc[n].startswith("dict[")
            # The error's input is the failing leaf: a mapping given where a number was expected, or the reverse.
            if is_map != isinstance(err["input"], dict) and not (is_map and len(loc) > n + 1):
                continue  # the other branch's complaint about the same value
            err = {**err, "loc": tuple(x for k, x in enumerate(loc) if k not in tags)}
        out.append(err)
    return out


def _meta_message(err: dict) -> str:
    loc = [str(x) for x in err["loc"]]
    unknown = ""
    if err["type"] == "extra_forbidden":
        parent, _ = _schema_at(Meta, loc[:-1])
        fields = ", ".join(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else ""
        unknown = f"unknown key; expected one of: {fields}"
    return validation_message(err, unknown)


def _build(read: Callable[[], _Raw], overrides: Mapping[str, object] | Iterable[str] = (),
           variant: str | None = None, feasibility: bool = True) -> Instance:
    """Read (``read()`` gives a fresh raw instance), apply the edits, check; InstanceError otherwise.

    A problem the edits caused where they did not write (an edited capacity leaves demand.csv
    short) names the edits too, so the message points at both the table and the override."""
    raw = read()
    problems = list(raw.problems)
    edits = _edits(raw, overrides, variant, problems)
    try:
        return _check(raw, edits, problems, feasibility)
    except InstanceError as e:
        if not edits or not e.problems:
            raise
        try:
            fresh = read()
            _check(fresh, [], list(fresh.problems), feasibility)
            before: set = set()
        except InstanceError as base:
            before = {(p.file, p.row, p.column) for p in base.problems}
        raise InstanceError([_caused_by(p, edits) if p.file not in _edit_files(edits)
                             and (p.file, p.row, p.column) not in before else p for p in e.problems]) from None


def _edit_files(edits: list[_Edit]) -> set[str]:
    return {e.file for e in edits}


def _caused_by(p: Problem, edits: list[_Edit]) -> Problem:
    said = "; ".join(f"--set {e.key}={_short(e.value)}" if e.file == SET else f"{e.file} {e.column}"
                     for e in edits[:5]) + (f" and {len(edits) - 5} more" if len(edits) > 5 else "")
    return dataclasses.replace(p, expected=f"{p.expected} (this row is as the file has it; the problem comes from "
                                           f"the override{'s' if len(edits) != 1 else ''} {said}: without "
                                           f"{'them' if len(edits) != 1 else 'it'} the check passes)")


def _check(raw: _Raw, edits: list[_Edit], problems: list[Problem], feasibility: bool = True) -> Instance:
    meta_src, cell_src = _apply_edits(raw, edits, problems)
    meta = _validate_meta(raw, problems)
    frames: dict[str, pd.DataFrame | None] = {}
    for name, table in raw.tables.items():
        frames[name] = None
        if table is not None:
            frames[name], probs = tb.parse_table(table, frozenset(meta.defaults) if meta else None,
                                                 raw.meta_file)
            problems += probs
    files = {name: t.file for name, t in raw.tables.items() if t is not None}
    # A cell an override sets has left its central value on purpose (a study's sample, a --set).
    moved = {e.key for e in edits if e.key.split(".", 1)[0] in TABLES}
    problems += check_references(frames, files, meta, raw.meta_file, moved)
    problems += check_period_frames(frames, files, meta, raw.meta_file)
    inst = None
    if not problems:  # feasibility checks on a broken instance would mostly echo dropped rows
        inst = Instance(meta=meta, **{n: tb.build_rows(TABLES[n], f) for n, f in frames.items()})
        d = frames["demand"]
        lines = {(i, it): int(ln) for i, it, ln in zip(d["importer"], d["item"], d[tb.LINE])}

        def one_period(view: Instance) -> list[Problem]:
            out = check_feasibility(view, raw.meta_file, files["demand"], lines) if feasibility else []
            # Multi-tier: unreachable inputs and demand, idle suppliers. Without the feasibility checks,
            # reachability is judged as if shortage were allowed (the caller judges it later).
            chain_view = view if feasibility or view.policy.allow_shortage else \
                view.with_policy(view.policy.model_copy(update={"allow_shortage": True}))
            return out + check_chain(chain_view, files, frames)

        # A multi-period instance is checked period by period, each problem naming its period.
        problems += check_period_views(inst, one_period, raw.meta_file) if inst.periods else one_period(inst)
    if problems:
        raise InstanceError(_finish(problems, raw, meta_src, cell_src))
    return inst


def _finish(problems: list[Problem], raw: _Raw, meta_src: dict, cell_src: dict) -> list[Problem]:
    """Blame overrides for what they caused, give instance.yaml problems a line, sort by file then row."""
    out = []
    for p in problems:
        e = cell_src.get((p.file, p.row, p.column))
        if e is not None:
            p = dataclasses.replace(p, file=e.file, row=None, column=e.column)
        elif p.file == raw.meta_file and p.column:
            key = _longest_prefix(p.column, meta_src)
            if key is not None:
                e = meta_src[key]
                p = dataclasses.replace(p, file=e.file, row=None, column=e.column + p.column[len(key):])
        if p.file == raw.meta_file and p.row is None and p.column:
            key = _longest_prefix(p.column, raw.meta_lines)
            p = dataclasses.replace(p, row=raw.meta_lines[key]) if key is not None else p
        out.append(p)
    return sorted(out, key=lambda p: (p.file, p.row if p.row is not None else 0))


def _longest_prefix(dotted: str, keys: Mapping[str, Any]) -> str | None:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        k = ".".join(parts[:n])
        if k in keys:
            return k
    return None


_FAST_TABLES = frozenset(t for t, cls in TABLES.items() if all(cls.model_fields[k].is_required() for k in cls.key))
"""Tables whose row keys have no default (not lanes, whose item defaults to '*'): cells there can be set directly."""


def _prechecked(base: Instance, delta: Mapping[str, Any]) -> Instance | None:
    """``delta`` applied to the frozen instance directly, without the text round trip, or None.

    Only numbers, booleans, lists, mappings and nulls in instance.yaml keys, and
    numbers in table cells of tables with plain keys, take this path, and only for a
    caller that checked every such key and value once with the full reader (a study
    does, for all its runs), so the result is the instance the reader would give
    (tests compare their hashes). Anything else returns None: the full path decides.
    """
    meta: dict[str, Any] = {}
    cells: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
    for key, value in delta.items():
        head = key.split(".", 1)[0]
        if isinstance(value, str) or head == "variants":
            return None
        if head not in TABLES:
            meta[key] = value
            continue
        table, _, rest = key.partition(".")
        rowkey, _, column = rest.rpartition(".")
        cls = TABLES[table]
        if (table not in _FAST_TABLES or isinstance(value, bool) or not isinstance(value, (int, float))
                or column not in cls.model_fields or column in cls.key or len(rowkey.split(KEY_SEP)) != len(cls.key)):
            return None
        cells.setdefault(table, {}).setdefault(rowkey, {})[column] = float(value)
    update: dict[str, Any] = {}
    if meta:
        data = base.meta.model_dump(mode="json", exclude_none=True)
        for key, value in meta.items():
            _set_path(data, key.split("."), value)
        try:
            update["meta"] = Meta.model_validate(data)
        except ValidationError:
            return None  # the full reader words the problem
    for table, edits in cells.items():
        cls = TABLES[table]
        rows = list(getattr(base, table))
        hit = set()
        for n, r in enumerate(rows):
            k = join_key(getattr(r, c) for c in cls.key)
            if k in edits:
                hit.add(k)
                try:
                    rows[n] = cls.model_validate({**r.model_dump(), **edits[k]})
                except ValidationError:
                    return None
        if hit != set(edits):
            return None  # an unknown row: the full reader reports it
        update[table] = tuple(rows)
    return base.replace(**update) if update else base


# --------------------------------------------------------------------------- public API
def load_instance(path: str | os.PathLike, overrides: Mapping[str, object] | Iterable[str] = (),
                  variant: str | None = None, feasibility: bool = True) -> Instance:
    """Read an instance folder or workbook, apply ``variant`` then ``overrides``, check everything.

    ``overrides`` are ``'key=value'`` strings (value in YAML) or a mapping of
    dotted keys to values.  A key is either a dotted path into instance.yaml
    (``policy.tier_caps.concern``) or a cell ``<table>.<k1:k2>.<column>``
    (``supply.gallium:CN.capacity``).  Raises :class:`InstanceError` listing
    every problem found. ``feasibility=False`` leaves out the plain feasibility checks (`trust`
    shows tiers under which the policy cannot hold, and says so).
    """
    return _build(lambda: _read(path), overrides, variant, feasibility=feasibility)


def apply_overrides(inst: Instance, overrides: Mapping[str, object] | Iterable[str] = (),
                    variant: str | None = None, *, prechecked: bool = False, feasibility: bool = True) -> Instance:
    """``inst`` with a variant and overrides applied, re-checked exactly as :func:`load_instance` does.

    THE override applier (instance files, ``--set``, variants and study runs all come here).
    ``prechecked``: the caller has read every key and value once with the full reader (a study
    does), so plain data values may be set on the frozen instance directly. ``feasibility=False``
    leaves out the plain feasibility checks, for a caller that runs them later (a study, after
    its multipliers)."""
    if prechecked and variant is None and isinstance(overrides, Mapping):
        fast = _prechecked(inst, overrides)
        if fast is not None:
            return fast
    return _build(lambda: _from_instance(inst), overrides, variant, feasibility=feasibility)


def write_instance(inst: Instance, path: str | os.PathLike) -> None:
    """Write a folder (instance.yaml + one CSV per table) or, for a ``.xlsx`` path, a workbook.

    Everything is written next to the target first and moved into place at
    the end, so a failure never leaves a half-written instance behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".xlsx":
        atomic_file(target, lambda tmp: (_write_workbook(inst, tmp), fix_zip_times(tmp)))  # same data, same bytes
    else:
        _write_folder(inst, target)


def _write_folder(inst: Instance, target: Path) -> None:
    stage = staging_dir(target)
    try:
        with open(stage / META_FILE, "w", encoding="utf-8") as fh:
            yaml.safe_dump(_meta_data(inst.meta), fh, sort_keys=False, allow_unicode=True)
        for name, cls in TABLES.items():
            tb.write_csv(stage / f"{name}.csv", cls, getattr(inst, name))
        if not target.exists():
            os.rename(stage, target)
            return
        # An existing folder keeps its other files (README.md, sources.csv); ours replace theirs one by one.
        for f in sorted(stage.iterdir()):
            os.replace(f, target / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _write_workbook(inst: Instance, path: Path) -> None:
    meta_rows = [(k, _flow(v)) for k, v in _flatten(_meta_data(inst.meta))]
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame(meta_rows, columns=["key", "value"], dtype=object).to_excel(xl, sheet_name=META_SHEET, index=False)
        for name, cls in TABLES.items():
            tb.sheet_frame(cls, getattr(inst, name)).to_excel(xl, sheet_name=name, index=False)


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as dotted keys.

    A mapping is kept whole (as YAML flow text) when it is empty, when a key
    holds a '.', or under ``variants.<name>`` whose keys are dotted already.
    """
    out = []
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and prefix != "variants." and not any("." in str(x) for x in v):
            out += _flatten(v, key + ".")
        else:
            out.append((key, v))
    return out


def _flow(v: Any) -> str:
    """One value as single-line YAML, read back with yaml.safe_load."""
    text = yaml.safe_dump(v, default_flow_style=True, allow_unicode=True, width=1 << 30)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def instance_hash(inst: Instance) -> str:
    """sha256 of the instance's canonical JSON: equal for the same data read from CSV or XLSX."""
    text = json.dumps(inst.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def files_hash(path: str | os.PathLike) -> str:
    """sha256 over the bytes of the input files (instance.yaml and table files, by name), for run.json."""
    p = Path(path)
    if p.is_file() and p.name == META_FILE:
        p = p.parent
    h = hashlib.sha256()
    if p.is_dir():
        names = sorted(n for n in [META_FILE, *(f"{t}.csv" for t in TABLES)] if (p / n).is_file())
        for n in names:
            data = (p / n).read_bytes()
            h.update(f"{n}\0{len(data)}\0".encode())  # name and length: no two file sets hash alike
            h.update(data)
    else:
        h.update(p.read_bytes())
    return h.hexdigest()
