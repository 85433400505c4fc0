"""sources.csv of an instance folder: THE columns and THE appender used by commands that write a copy
of an instance (`friendshore trust`, `friendshore baseline`). The loader never reads sources.csv."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

SOURCE_COLUMNS = ["table", "column", "source_title", "source_url", "source_year", "kind", "note"]


def append_sources(path: Path, rows: list[list[str]], drop: Callable[[dict[str, str]], bool] | None = None) -> None:
    """Append ``rows`` (in SOURCE_COLUMNS order) to sources.csv, matched to its own header by name;
    records for which ``drop`` is true are removed. Every other record keeps its text byte for byte."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines)
    head = next(reader, None) or SOURCE_COLUMNS
    kept, start = (lines[:reader.line_num] if text else []), reader.line_num
    for rec in reader:
        span = lines[start:reader.line_num]  # a record may span lines (a quoted newline)
        start = reader.line_num
        if drop is None or not drop(dict(zip(head, rec))):
            kept += span
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if not kept:
        w.writerow(head)
    elif not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    w.writerows([dict(zip(SOURCE_COLUMNS, r)).get(h, "") for h in head] for r in rows)
    path.write_text("".join(kept) + buf.getvalue(), encoding="utf-8")
