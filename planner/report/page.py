"""Analyst report: one self-contained HTML file from an output folder.

``friendshore report DIR --to report.html`` reads only the tables a run exported
(CSV, Parquet, JSON or ``results.xlsx``, whichever exists) and ``run.json``, so a
report can be made at any time from any output folder.  The page has no
external resources: charts are inline SVG (:mod:`planner.report.svg`), the
style and a small script are inlined (:mod:`planner.report.assets`), and every
table can be downloaded as CSV from data embedded in the page.

The page is a list of sections.  Each :class:`Section` names the folder kinds
and the tables it needs and renders only when they exist, so a new result table
(say, time-to-survive per scenario) gets its section by adding one decorated
function below, without touching the others.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from planner.report import svg as sv
from planner.files import write_text
from planner.report.reader import ALL, Folder, bad_input, read_folder
from planner.report.assets import CSS, JS
from planner.report.svg import esc

CASE_ORDER = ("baseline", "cost_only", "friendshored")
CASE_LABELS = {"baseline": "Baseline (today)", "cost_only": "Cost-only", "friendshored": "Friendshored"}
KNOWN_TIERS = ("domestic", "ally", "partner", "neutral", "concern")
def override_text(value: Any) -> str:
    """An override value as it would be typed after ``--set key=`` (JSON is YAML flow text)."""
    return value if isinstance(value, str) else json.dumps(value)


# --------------------------------------------------------------------------- formatting
SCALES = {"thousand": 1e3, "k": 1e3, "thousands": 1e3, "million": 1e6, "millions": 1e6, "m": 1e6, "mn": 1e6,
          "billion": 1e9, "bn": 1e9}


def finite(v: Any) -> bool:
    """A real, finite number (numpy scalars included; booleans are not numbers here)."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)


def fmt_num(v: Any) -> str:
    if not finite(v):
        return "–"
    a = abs(v)
    if a >= 100 or a == 0:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:,.2f}"
    return f"{v:.3g}"


def fmt_frac(v: Any, digits: int = 0) -> str:
    return f"{100 * v:.{digits}f} %" if finite(v) else "–"


def fmt_share(v: Any) -> str:
    """A share for a label: whole percent, one decimal below 1 % so small suppliers do not read as 0 %."""
    return fmt_frac(v, 1 if finite(v) and 0 < abs(v) < 0.0095 else 0)


class Money:
    """Money in the instance's currency, e.g. 'USD thousand' -> 'USD 11.0 bn'."""

    def __init__(self, currency: str):
        self.currency = currency
        words = currency.split()
        self.scale = 1.0
        self.name = currency
        if len(words) >= 2 and words[-1].lower() in SCALES:
            self.scale, self.name = SCALES[words[-1].lower()], " ".join(words[:-1])

    def __call__(self, v: Any, signed: bool = False) -> str:
        if not finite(v):
            return "–"
        x = v * self.scale
        a = abs(x)
        body = f"{a:,.0f}"
        for div, suf in ((1e12, " tn"), (1e9, " bn"), (1e6, " m"), (1e3, " k")):
            if a >= div:
                q = a / div
                body = f"{q:.{2 if q < 10 else 1 if q < 100 else 0}f}{suf}"
                break
        sign = ("+" if x > 0 else "−" if x < 0 else "±") if signed else ("−" if x < 0 else "")
        return f"{sign}{self.name} {body}".strip() if self.name else f"{sign}{body}"


# --------------------------------------------------------------------------- tables on the page
@dataclass(frozen=True)
class Col:
    name: str
    """Machine name: the CSV header."""
    label: str
    kind: str = "text"
    """text | num | money | frac (shown as %) | pct (already in %) | gap | int | dec2 | g (as given, e.g. a cap)"""


def _json_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (bool, int, str)):
        return v
    return None if pd.isna(v) else str(v)


class Ctx:
    """Everything a section needs: the folder's tables, look-ups, formatters and the page's data store."""

    def __init__(self, folder: Folder):
        self.folder = folder
        self.t = folder.tables
        self.record = folder.record
        self.data: dict[str, dict[str, Any]] = {}
        kpis = self.t.get("kpis", pd.DataFrame(columns=["kpi", "item", "importer", "group", "unit"]))
        # A multi-period run: the sections show the plan of the last period (and the horizon's totals);
        # the trajectory section reads every period from t_all and kpis_all.
        self.t_all, self.kpis_all, self.periods = self.t, kpis, []
        if "period" in kpis.columns:
            self.periods = sorted(int(p) for p in kpis["period"].unique() if str(p) != ALL)
            last = str(self.periods[-1])
            totals = kpis[kpis["period"] == ALL]
            kpis = pd.concat([kpis[(kpis["period"] == last) & ~kpis["kpi"].isin(set(totals["kpi"]))], totals])
            kpis = kpis.drop(columns="period")
            self.t = {name: (df[df["period"] == self.periods[-1]] if "period" in df.columns
                             and name not in ("costs", "investments", "kpis") else df)
                      for name, df in self.t.items()}
        self.kpi_cases = [c for c in kpis.columns if c not in ("kpi", "item", "importer", "group", "unit")]
        self._kpi: dict[tuple[str, str, str, str], dict[str, float]] = {}
        self._unit: dict[str, str] = {}
        for row in kpis.to_dict("records"):
            self._kpi[row["kpi"], row["item"], row["importer"], row["group"]] = {c: row[c] for c in self.kpi_cases}
            self._unit.setdefault(row["kpi"], row["unit"])
        self.money = Money(self._unit.get("total_cost", "") or folder.meta.get("currency", ""))
        present = set(self.kpi_cases)
        for name in ("allocations", "costs"):
            if name in self.t and "case" in self.t[name]:
                present |= set(self.t[name]["case"])
        # A case is shown if it has any KPI value (a --no-compare run has an empty cost_only column).
        self.cases = [c for c in CASE_ORDER if c in present and self._has_values(c)]
        self.cases += sorted(c for c in present - set(CASE_ORDER) if self._has_values(c))
        self.tiers = self._tier_order()
        self.worst_tier = self.tiers[-1] if len(self.tiers) > 1 else None
        self.policy = self.record.get("policy") or {}

    def _has_values(self, case: str) -> bool:
        if case in self.kpi_cases:
            return any(finite(v.get(case)) for v in self._kpi.values())
        return True

    def _tier_order(self) -> list[str]:
        declared = ((self.record.get("instance") or {}).get("tiers")) or []
        seen: set[str] = set()
        for name in ("allocations", "suppliers", "investments"):
            if name in self.t and "tier" in self.t[name]:
                seen |= set(self.t[name]["tier"])
        seen |= {g for (k, _, _, g) in self._kpi if k == "tier_share"}
        seen.discard("")
        order = [t for t in declared if t in seen]
        order += [t for t in KNOWN_TIERS if t in seen and t not in order]
        order += sorted(t for t in seen if t not in order)
        return order

    # look-ups
    def kpi(self, name: str, case: str, item: str = ALL, importer: str = ALL, group: str = ALL) -> float:
        v = self._kpi.get((name, item, importer, group), {}).get(case)
        return float(v) if finite(v) else math.nan

    def kpi_rows(self, name: str) -> list[tuple[str, str, str]]:
        return [(i, j, g) for (k, i, j, g) in self._kpi if k == name]

    def items(self) -> list[str]:
        out = {i for (k, i, _, _) in self._kpi if k in ("hhi", "n1_coverage", "max_country_share") and i != ALL}
        if "allocations" in self.t:
            out |= set(self.t["allocations"]["item"])
        return sorted(out)

    def per_item(self, name: str, case: str, how: str = "max", group: str = ALL) -> dict[str, float]:
        """item -> the KPI over its importers (worst case: max, or min)."""
        acc: dict[str, list[float]] = {}
        for (k, i, j, g), vals in self._kpi.items():
            if k == name and i != ALL and g == group and finite(vals.get(case)):
                acc.setdefault(i, []).append(float(vals[case]))
        f = max if how == "max" else min
        return {i: f(v) for i, v in acc.items()}

    def overall(self, name: str, case: str, how: str = "max", group: str = ALL) -> float:
        vals = list(self.per_item(name, case, how, group).values())
        if not vals:
            return math.nan
        return max(vals) if how == "max" else min(vals)

    def status(self, case: str) -> tuple[str, float]:
        """(status, gap) of a case: run.json first, else the tables' status and gap columns."""
        c = (self.record.get("cases") or {}).get(case)
        if isinstance(c, dict) and c.get("status"):
            gap = c.get("gap")
            return str(c["status"]), (float(gap) if finite(gap) else (0.0 if c["status"] == "evaluated" else math.nan))
        for name in ("costs", "allocations", "suppliers", "programmes"):
            df = self.t.get(name)
            if df is not None and "status" in df and "case" in df:
                rows = df[df["case"] == case]
                if len(rows):
                    gap = rows["gap"].iloc[0] if "gap" in rows else math.nan
                    return str(rows["status"].iloc[0]), float(gap) if finite(gap) else math.nan
        return "unknown", math.nan

    def proven(self, case: str) -> bool:
        st, _ = self.status(case)
        return st in ("optimal", "evaluated")

    def label(self, case: str) -> str:
        return CASE_LABELS.get(case, case)

    def tier_colour(self, tier: str) -> str:
        return sv.tier_colour(tier, self.tiers)

    def case_tables(self, name: str) -> dict[str, pd.DataFrame]:
        df = self.t.get(name)
        if df is None:
            return {}
        return {c: df[df["case"] == c] for c in self.cases}

    def cap(self, key: str, item: str | None = None) -> float:
        """A policy number from run.json (an item override first); NaN when off or unknown."""
        if item is not None:
            v = ((self.policy.get("items") or {}).get(item) or {}).get(key)
            if finite(v):
                return float(v)
        v = self.policy.get(key)
        return float(v) if finite(v) else math.nan

    # page data
    def register(self, tid: str, columns: list[str], rows: list[list[Any]], file: str) -> None:
        if tid in self.data:
            raise ValueError(f"duplicate table id {tid}")  # a bug in a section, not bad input
        self.data[tid] = {"file": file, "columns": columns,
                          "rows": [[_json_value(v) for v in r] for r in rows]}

    def register_df(self, tid: str, df: pd.DataFrame, file: str) -> None:
        self.register(tid, [str(c) for c in df.columns], df.astype(object).values.tolist(), file)

    def download(self, tid: str, columns: list[str], rows: list[list[Any]], what: str = "the data of this chart") -> str:
        """A CSV button for a chart's own numbers (registered like a table)."""
        self.register(tid, columns, rows, f"{tid}.csv")
        return (f' <button class="dl" type="button" data-download="{esc(tid)}" title="Download {esc(what)} as CSV">'
                f'CSV</button>')

    def table(self, tid: str, caption: str, cols: list[Col], rows: list[list[Any]], *, note: str = "",
              classes: Callable[[int, Col, Any], str] | None = None, fold: int = 15,
              groups: list[tuple[str, int]] | None = None) -> str:
        """A sortable HTML table with a CSV download of its raw values; folded away if longer than ``fold`` rows.

        ``groups`` adds a first header row of (label, number of columns spanned) over the column labels.
        """
        self.register(tid, [c.name for c in cols], rows, f"{tid}.csv")
        head = "".join(f'<th class="{"n" if c.kind != "text" else ""}" scope="col">{esc(c.label)}</th>' for c in cols)
        if groups:
            top = "".join(f'<th class="grp" colspan="{n}" scope="colgroup">{esc(g)}</th>' for g, n in groups)
            head = f"{top}</tr><tr>{head}"
        body = []
        for r_k, r in enumerate(rows):
            cells = []
            for c, v in zip(cols, r):
                extra = classes(r_k, c, v) if classes else ""
                if c.kind == "text" or not finite(v):
                    text = "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else str(v)
                    cls = ("n " if c.kind != "text" else "") + extra
                    dv = ' data-v=""' if c.kind != "text" else ""
                    cells.append(f'<td class="{cls.strip()}"{dv}>{esc(text)}</td>')
                else:
                    cls = f"n {extra}".strip()
                    cells.append(f'<td class="{cls}" data-v="{esc(repr(float(v)))}">{esc(self.fmt(v, c.kind))}</td>')
            body.append(f"<tr>{''.join(cells)}</tr>")
        note_html = f'<div class="muted" style="font-size:12px">{esc(note)}</div>' if note else ""
        tbl = (f'<div class="tblwrap"><table class="t" data-table="{esc(tid)}"><thead><tr>{head}</tr></thead>'
               f'<tbody>{"".join(body)}</tbody></table></div>')
        if len(rows) > fold:
            tbl = f"<details><summary>Show all {len(rows):,} rows</summary>{tbl}</details>"
        return (f'<div class="tblhead"><span class="cap">{esc(caption)}</span>'
                f'<button class="dl" type="button" data-download="{esc(tid)}" title="Download as CSV">CSV</button></div>'
                f'{tbl}{note_html}')

    def fmt(self, v: Any, kind: str) -> str:
        if kind == "money":
            return fmt_num(v)
        if kind == "frac":
            return fmt_frac(v, 1)
        if kind == "pct":
            return f"{v:,.2f} %" if finite(v) else "–"
        if kind == "gap":
            return f"{v:.2e}" if finite(v) else "–"
        if kind == "g":
            return f"{v:g}" if finite(v) else "–"
        if kind == "dec2":
            return f"{v:.2f}" if finite(v) else "–"
        if kind == "int":
            return f"{v:,.0f}" if finite(v) else "–"
        return fmt_num(v)


# --------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class Section:
    id: str
    title: str
    kinds: tuple[str, ...]
    needs: tuple[str, ...]
    """Tables that must exist and have rows; otherwise the section is left out."""
    render: Callable[[Ctx], str | None]
    order: float
    """Position on the page (solve: headline 10 ... resilience 50; study: 10 ... 40; data 90)."""


SECTIONS: list[Section] = []


def section(id: str, title: str, *, order: float, kinds: tuple[str, ...] = ("solve",), needs: tuple[str, ...] = ()):
    """Register a section renderer.  It may return None to leave itself out."""

    def deco(fn: Callable[[Ctx], str | None]) -> Callable[[Ctx], str | None]:
        SECTIONS.append(Section(id, title, kinds, needs, fn, order))
        return fn

    return deco


def figure(svg: str, caption: str = "", legend: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure>{cap}{legend}{svg}</figure>"


def banner(kind: str, html_text: str) -> str:
    return f'<div class="banner {kind}" role="{"alert" if kind != "info" else "note"}">{html_text}</div>'


def banners(ctx: Ctx) -> str:
    """Warnings that belong at the top of the page: unproven optimality, unmet demand, data notes."""
    out = []
    for case in ctx.cases:
        st, gap = ctx.status(case)
        if case == "baseline" or st in ("optimal", "evaluated"):
            continue
        gap_txt = f"relative gap {gap:.2%}" if finite(gap) else "gap unknown"
        what = {"friendshored": "Its cost, premium and KPIs are those of the best plan found; a cheaper plan may exist "
                                "(by at most the gap).",
                "cost_only": "The premium over the cost-only plan is measured against a plan that may not be the cheapest, "
                             "so the true premium may be larger."}.get(case, "")
        out.append(banner("bad" if case == "friendshored" else "warn",
                          f"<b>{esc(ctx.label(case))}: NOT PROVEN OPTIMAL</b> — the solver stopped with status "
                          f"<b>{esc(st)}</b> ({esc(gap_txt)}). {esc(what)}"))
    sh = ctx.t.get("shortages")
    if sh is not None and len(sh):
        for case in ctx.cases:
            rows = sh[sh["case"] == case]
            if len(rows) and case != "baseline":
                worst = rows.sort_values("share", ascending=False).iloc[0]
                out.append(banner("bad", f"<b>{esc(ctx.label(case))} leaves demand unmet</b> in {len(rows)} "
                                         f"item–importer pair{'s' if len(rows) != 1 else ''} (worst: {esc(worst['item'])} in "
                                         f"{esc(worst['importer'])}, {fmt_frac(worst['share'])} of demand)."))
    for case, c in (ctx.record.get("cases") or {}).items():
        for note in (c.get("notes") or []) if isinstance(c, dict) else []:
            out.append(banner("info", f"<b>Note ({esc(ctx.label(case))}):</b> {esc(note)}"))
    if "cost_only" not in ctx.cases and ctx.kpi_cases:
        out.append(banner("info", "The cost-only plan was not solved (<code>--no-compare</code>): "
                                  "no premium over the cheapest plan is shown."))
    return "".join(out)


# --------------------------------------------------------------------------- page
def _json_script(data: dict) -> str:
    """JSON that is safe inside <script>: no '<', '>' or '&' can end the element or start a comment."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text


def _version() -> str:
    try:
        return metadata.version("friendshore")
    except metadata.PackageNotFoundError:
        return "dev"


def solve_header(ctx: Ctx) -> tuple[str, str, list[str]]:
    """Title, status pill (HTML) and subtitle parts of a solve's report."""
    rec = ctx.record
    inst = rec.get("instance") or {}
    name = inst.get("name") or ctx.folder.path.resolve().name
    main_status, gap = ctx.status("friendshored") if "friendshored" in ctx.cases else ("", math.nan)
    pill = ""
    if main_status:
        ok = main_status == "optimal"
        label = "OPTIMAL" if ok else f"NOT PROVEN OPTIMAL ({main_status})"
        pill = f'<span class="pill{"" if ok else " warn"}">{esc(label)}</span>'
    sub = []
    if inst.get("path"):
        sub.append(f"instance {inst['path']}")
    if rec.get("variant"):
        sub.append(f"variant {rec['variant']}")
    if rec.get("overrides"):
        sub.append("overrides " + ", ".join(f"{k}={override_text(v)}" for k, v in rec["overrides"].items()))
    started = (rec.get("timing") or {}).get("started_utc")
    if started:
        sub.append(f"solved {started.replace('T', ' ').replace('+00:00', ' UTC')}")
    if finite(gap):
        sub.append(f"gap {gap:.1e}")
    if ctx.money.currency:
        sub.append(f"money in {ctx.money.currency} per year")
    return name, pill, sub


def infeasible_header(ctx: Ctx) -> tuple[str, str, list[str]]:
    name, _, sub = solve_header(ctx)
    return name, '<span class="pill bad">NO FEASIBLE PLAN</span>', sub


HEADERS: dict[str, Callable[[Ctx], tuple[str, str, list[str]]]] = {"solve": solve_header,
                                                                    "infeasible": infeasible_header}
"""Folder kind -> its page header; planner.report.study_sections adds 'study'."""


def build_html(folder: Folder) -> str:
    """The whole page as one string."""
    ctx = Ctx(folder)
    rendered = []
    for s in sorted(SECTIONS, key=lambda s: s.order):
        if folder.kind not in s.kinds or any(n not in ctx.t or not len(ctx.t[n]) for n in s.needs):
            continue
        body = s.render(ctx)
        if body:
            rendered.append((s, body))
    name, pill, sub = HEADERS[folder.kind](ctx)
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s, _ in rendered)
    secs = "".join(f'<section class="card" id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{body}</section>'
                   for s, body in rendered)
    csp = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Friendshore report: {esc(name)}</title><style>{CSS}</style></head>\n"
        f'<body><header class="top"><div class="wrap"><h1>{esc(name)}{pill}</h1>'
        f'<div class="sub">Friendshore report · {esc(" · ".join(x for x in sub if x))}</div></div></header>'
        f'<nav class="toc"><div class="wrap">{nav}</div></nav>'
        f'<main class="wrap">{secs}</main>'
        f'<footer>Made by friendshore {esc(_version())} from the tables in {esc(folder.path.resolve().name)}/ · '
        f'self-contained: no network needed</footer>\n'
        f'<script type="application/json" id="fs-data">{_json_script({"tables": ctx.data})}</script>\n'
        f"<script>{JS}</script></body></html>\n"
    )


def write_report(folder: Path, to: Path | None = None) -> Path:
    """Read an output folder and write its report (default ``FOLDER/report.html``); return the path written."""
    folder = Path(folder)
    to = Path(to) if to is not None else folder / "report.html"
    if to.exists() and to.is_dir():
        raise bad_input(to, "a file path for the report (e.g. report.html), not a folder")
    page = build_html(read_folder(folder))
    write_text(to, page)
    return to
