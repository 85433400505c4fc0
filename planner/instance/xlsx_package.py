"""What an .xlsx holds before and beside openpyxl: unpacked size, formulas, merged cells, and
numeric cells that hold text.

An .xlsx is a zip of XML parts. openpyxl unpacks whatever a part claims to hold (a 1.6 MB file
can unpack to gigabytes), reads a merged range as one value and empty cells (a default would then
apply silently), and raises a bare ValueError on a numeric cell whose stored value is text. Here
the package is measured first, and only the parts of the sheets Friendshore reads are scanned, in
bounded chunks, so none of these can exhaust memory or pass unnoticed.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import InstanceError, Problem

MAX_UNPACKED_BYTES = 200 * 2**20
"""Most bytes a workbook's parts may unpack to in all (a workbook of 2 million filled cells is
about 100 MB unpacked; Friendshore's largest benchmark instance is far below that)."""
_CHUNK = 1 << 20
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*\bref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
# A cell with no type or type "n" (a number) and a stored value: <c r="E3" s="1"><v>#DIV/0!</v></c>
_NUMERIC_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*)>\s*<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>')
_REF = re.compile(rb'\br="([A-Z]+\d+)"')
_TYPE = re.compile(rb'\bt="([a-zA-Z]+)"')


@dataclass
class SheetScan:
    """What one sheet part holds besides its values."""

    has_formula: bool = False
    merged: list[tuple[str, int, str, int]] = field(default_factory=list)
    """Merged ranges as (first column letters, first row, last column letters, last row)."""


def check_size(path: Path, book: str) -> None:
    """Refuse (exit 2) a workbook whose parts unpack to more than MAX_UNPACKED_BYTES.

    zipfile never unpacks a part beyond the size its header declares, so the declared sizes bound
    what any later reader can be made to unpack."""
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise InstanceError([Problem(book, expected=f"unreadable workbook ({e}); expected an .xlsx workbook")]) from None
    if total > MAX_UNPACKED_BYTES:
        raise InstanceError([Problem(book, value=f"{total / 2**20:,.1f} MiB unpacked",
                                     expected=f"too large once unpacked; expected a workbook whose parts unpack to at most "
                                              f"{MAX_UNPACKED_BYTES // 2**20} MiB; save the tables as a folder of "
                                              f"CSV files instead (friendshore convert)")])


def scan_sheet(path: Path, part: str) -> SheetScan:
    """Formulas and merged ranges of one sheet part, read in chunks (never the whole part at once)."""
    out = SheetScan()
    seen: set[tuple] = set()
    tail = b""
    with zipfile.ZipFile(path) as zf, zf.open(part) as f:
        while chunk := f.read(_CHUNK):
            text = tail + chunk
            out.has_formula = out.has_formula or _FORMULA.search(text) is not None
            for m in _MERGE.finditer(text):
                c1, r1, c2, r2 = m.group(1), m.group(2), m.group(3) or m.group(1), m.group(4) or m.group(2)
                ref = (c1.decode(), int(r1), c2.decode(), int(r2))
                if ref not in seen:
                    seen.add(ref)
                    out.merged.append(ref)
            tail = text[-512:]  # a tag cut by the chunk boundary is whole in the next window
    return out


def text_in_numeric_cell(path: Path, part: str) -> tuple[str, str] | None:
    """(cell reference, stored text) of the first number-typed cell whose value is not a number:
    what makes openpyxl raise ValueError (a program wrote ``#DIV/0!`` without the error type)."""
    tail = b""
    with zipfile.ZipFile(path) as zf, zf.open(part) as f:
        while chunk := f.read(_CHUNK):
            text = tail + chunk
            for m in _NUMERIC_CELL.finditer(text):
                attrs, value = m.group(1), m.group(2).strip()
                kind = _TYPE.search(attrs)
                if kind is not None and kind.group(1) != b"n":
                    continue
                try:
                    float(value)
                except ValueError:
                    ref = _REF.search(attrs)
                    return (ref.group(1).decode() if ref else "?"), value.decode("utf-8", "replace")
            tail = text[-512:]
    return None
