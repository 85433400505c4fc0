"""Today's sourcing from trade data: each importer's import shares by partner (``friendshore baseline
--from-trade``; docs/trade-baseline.md).

THE rules for turning bilateral imports (CEPII BACI layout: importer, partner, hs, year,
value_usd_thousand, quantity_t) into baseline rows:

- an item is covered through its ``hs_codes`` (items.csv); its imports are the sum over those codes;
- a partner outside the instance's countries is folded into the stated rest-of-world country
  (``rest_of_world``), or refused when none is stated. A country the instance names but that has no
  supply row for the item is folded too while it sells less than ``min_share`` of the imports (small
  re-exports); from that share on it needs a supply row (so it keeps its tier), or is refused;
- trade data show imports only: the domestic share ``d`` is stated (``domestic``) or, by default,
  ``min(1, domestic capacity / demand)`` (home plants serve home demand first); imports fill ``1 - d``
  in proportion to each partner's imports;
- a pair the data do not cover (no codes, or no imports in that year) keeps its baseline and is listed.

Everything is checked before anything is written: a bad code, partner or year is an InstanceError
(exit 2) naming the file, row, column and value.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from planner.errors import InstanceError, Problem
from planner.instance.schema import HS_CODE, Baseline, Instance

DATA_FILE = "imports.csv"
COLUMNS = ("importer", "partner", "hs", "year", "value_usd_thousand", "quantity_t")
MEASURES = {"value": "value_usd_thousand", "tonnes": "quantity_t"}
CODE = re.compile(r"^[A-Z]{2}$")
HS = re.compile(HS_CODE)
DIGITS = 6
"""Shares are written with 6 decimals; the largest row absorbs the rounding so each pair sums to 1."""
CITATION = ("CEPII BACI, HS 2017, release V202601 (Gaulier and Zignago 2010, CEPII WP 2010-23), "
            "reconciled UN Comtrade; extract of github.com/Varcolacus/critical-materials-atlas")


@dataclass(frozen=True)
class TradeData:
    """Bilateral imports, checked: one row per (importer, partner, hs, year)."""

    frame: pd.DataFrame
    """Columns COLUMNS plus ``line`` (the file's line of each row)."""
    file: str
    """The file's path as the user gave it, for messages."""
    sha256: str
    """Of the file's bytes, for run.json."""


@dataclass(frozen=True)
class TradeBaseline:
    """What the rules give: the new rows, and how each (importer, item) was treated."""

    rows: tuple[Baseline, ...]
    """Rows of the new basis (only for covered pairs)."""
    coverage: pd.DataFrame
    """One row per demand (importer, item): status covered | no_codes | no_imports, and the numbers used."""
    partners: pd.DataFrame
    """One row per (importer, item, partner): its imports, the instance country it counts as, its share."""
    notes: list[str] = field(default_factory=list)


def read_trade(path: str | Path) -> TradeData:
    """Read and check a trade file (or a folder holding imports.csv). Namibia's code is the text NA,
    so no cell is ever read as missing."""
    p = Path(path)
    if p.is_dir():
        p = p / DATA_FILE
    label = str(p)
    if not p.is_file():
        raise InstanceError([Problem("--from-trade", value=str(path), expected=(
            f"no trade data here; expected a CSV file, or a folder holding {DATA_FILE}, with the columns "
            f"{', '.join(COLUMNS)}"))])
    raw = p.read_bytes()
    try:
        df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise InstanceError([Problem(label, expected=f"unreadable CSV ({e}); expected a UTF-8 CSV file")]) from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InstanceError([Problem(label, 1, missing[0], None, (
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; expected the columns "
            f"{', '.join(COLUMNS)}"))])
    df = df[list(COLUMNS)].apply(lambda s: s.str.strip())
    df["line"] = range(2, len(df) + 2)
    problems: list[Problem] = []

    def bad(mask: pd.Series, column: str, expected: str) -> None:
        for r in df[mask].head(5).itertuples(index=False):
            problems.append(Problem(label, int(r.line), column, getattr(r, column), expected))

    bad(~df["importer"].str.fullmatch(CODE), "importer", "expected an ISO 3166 alpha-2 country code, e.g. JP")
    bad(~df["partner"].str.fullmatch(CODE), "partner",
        "unknown partner code; expected an ISO 3166 alpha-2 country code, e.g. CN (Namibia is NA)")
    bad(df["partner"] == df["importer"], "partner", "expected a partner other than the importer (imports only)")
    bad(~df["hs"].str.fullmatch(HS), "hs", "expected a six-digit HS code as text, e.g. 283691")
    bad(~df["year"].str.fullmatch(r"[0-9]{4}"), "year", "expected a four-digit year, e.g. 2024")
    for column in ("value_usd_thousand", "quantity_t"):
        num = pd.to_numeric(df[column], errors="coerce")
        blank = df[column] == ""
        ok_blank = blank if column == "quantity_t" else pd.Series(False, index=df.index)
        bad(~ok_blank & ~(num >= 0), column,  # NaN and negatives fail
            "expected a number >= 0" + (" (or a blank cell where the source has no quantity)"
                                        if column == "quantity_t" else ""))
        df[column] = num
    key = ["importer", "partner", "hs", "year"]
    bad(df.duplicated(key, keep="first"), "partner", "expected one row per (importer, partner, hs, year)")
    if problems:
        raise InstanceError(problems)
    df["year"] = df["year"].astype(int)
    return TradeData(df, label, hashlib.sha256(raw).hexdigest())


def parse_domestic(texts: list[str]) -> dict[tuple[str, str], float]:
    """``['JP:magnet=0.31']`` -> ``{('JP', 'magnet'): 0.31}`` (a stated domestic share)."""
    out: dict[tuple[str, str], float] = {}
    problems = []
    for t in texts:
        m = re.fullmatch(r"\s*([^:=\s]+):([^:=\s]+)\s*=\s*([0-9.eE+-]+)\s*", t)
        try:
            share = float(m.group(3)) if m else None
        except ValueError:
            share = None
        if share is None or not 0.0 <= share <= 1.0:
            problems.append(Problem("--domestic", value=t, expected="expected IMPORTER:ITEM=SHARE with a share from "
                                                                    "0 to 1, e.g. JP:magnet=0.31"))
            continue
        out[m.group(1), m.group(2)] = share
    if problems:
        raise InstanceError(problems)
    return out


def derive(inst: Instance, data: TradeData, year: int, *, basis: str, rest_of_world: str | None = None,
           domestic: dict[tuple[str, str], float] | None = None, measure: str = "value", min_share: float = 0.02,
           items_file: str = "items.csv", item_lines: dict[str, int] | None = None) -> TradeBaseline:
    """Baseline rows of ``basis`` for every demand (importer, item) the data cover in ``year``."""
    domestic = dict(domestic or {})
    problems: list[Problem] = []
    lines = item_lines or {it.id: n + 2 for n, it in enumerate(inst.items)}
    if measure not in MEASURES:
        raise InstanceError([Problem("--measure", value=measure, expected=f"expected one of {', '.join(MEASURES)}")])
    df = data.frame
    years = sorted(set(df["year"]))
    if year not in years:
        raise InstanceError([Problem("--year", value=str(year), expected=(
            f"a year not in {data.file}; expected one of {', '.join(map(str, years)) or '(none: the file is empty)'}"))])
    codes_in_data = set(df["hs"])
    for it in inst.items:
        for code in it.hs_codes:
            if code not in codes_in_data:
                problems.append(Problem(items_file, lines.get(it.id), "hs_codes", code, (
                    f"HS code of item {it.id} not in {data.file}; expected one of its codes "
                    f"({', '.join(sorted(codes_in_data))}), or no code if the data do not cover the item")))
    pairs = sorted(inst.demand_qty)  # (item, importer)
    for (imp, item), _ in domestic.items():
        if (item, imp) not in inst.demand_qty:
            problems.append(Problem("--domestic", value=f"{imp}:{item}", expected=(
                "expected an (importer, item) with a demand row (demand.csv)")))
    if not 0.0 <= min_share <= 1.0:
        problems.append(Problem("--min-share", value=f"{min_share:g}", expected="expected a share from 0 to 1"))
    if rest_of_world is not None and rest_of_world not in {c.code for c in inst.countries}:
        problems.append(Problem("--rest-of-world", value=rest_of_world,
                                expected="expected a country code of countries.csv (e.g. XW, 'rest of world')"))
    if problems:
        raise InstanceError(problems)

    col = MEASURES[measure]
    countries = {c.code for c in inst.countries}
    codes_of = {it.id: set(it.hs_codes) for it in inst.items}
    suppliers_of: dict[str, set[str]] = {}
    for i, c in inst.supply_by_key:
        suppliers_of.setdefault(i, set()).add(c)
    sel = df[df["year"] == year]
    rows: list[Baseline] = []
    coverage: list[dict] = []
    partner_rows: list[dict] = []
    for item, imp in pairs:
        codes = codes_of.get(item, set())
        demand = inst.demand_qty[item, imp]
        base = {"importer": imp, "item": item, "hs_codes": ";".join(sorted(codes)), "year": year, "measure": measure,
                "basis": basis}
        if not codes:
            coverage.append({**base, "status": "no_codes", "imports": float("nan"), "domestic_share": float("nan"),
                             "domestic_from": "", "folded_share": float("nan"), "folded_partners": "", "partners": 0})
            continue
        flows = sel[(sel["importer"] == imp) & sel["hs"].isin(codes)]
        if measure == "tonnes" and (flows[col].isna()).any():
            r = flows[flows[col].isna()].iloc[0]
            problems.append(Problem(data.file, int(r["line"]), col, "", (
                f"no quantity for {imp}'s imports of {item} from {r['partner']}; expected tonnes on every row used, "
                "or --measure value")))
            continue
        by_partner = flows.groupby("partner", sort=True)[col].sum()
        by_partner = by_partner[by_partner > 0]
        total = float(by_partner.sum())
        if total <= 0:
            coverage.append({**base, "status": "no_imports", "imports": 0.0, "domestic_share": float("nan"),
                             "domestic_from": "", "folded_share": float("nan"), "folded_partners": "", "partners": 0})
            continue
        suppliers = suppliers_of.get(item, set())
        # A country the instance names keeps its identity (and tier) once it sells min_share of the imports:
        # it needs a supply row of its own. Smaller re-exports (hubs) are folded like any other partner.
        named = [p for p in by_partner.index if p in countries and p not in suppliers
                 and by_partner[p] / total >= min_share]
        if named:
            r = flows[flows["partner"] == max(named, key=lambda p: by_partner[p])].iloc[0]
            problems.append(Problem(data.file, int(r["line"]), "partner", r["partner"], (
                f"a country of the instance without a supply row for {item}, selling "
                + ", ".join(f"{p} {100 * float(by_partner[p]) / total:.2g} %" for p in named)
                + f" of {imp}'s imports (at least --min-share {min_share:g}); expected a supply row for each "
                f"(capacity and cost are never defaulted: it keeps its tier), or the country left out of "
                f"countries.csv so it is folded into the rest of world")))
            continue
        fold = [p for p in by_partner.index if p not in suppliers]
        if fold and (rest_of_world is None or rest_of_world not in suppliers):
            worst = max(fold, key=lambda p: by_partner[p])
            r = flows[flows["partner"] == worst].iloc[0]
            expected = (f"a supplier of {item} in the instance (supply.csv); or pass --rest-of-world CODE to fold "
                        f"the partners that are not ({', '.join(fold)}) into a stated country"
                        if rest_of_world is None else
                        f"a supplier of {item} in the instance; the rest-of-world country {rest_of_world} that would "
                        f"take it has no supply row for {item} (add one to supply.csv)")
            problems.append(Problem(data.file, int(r["line"]), "partner", worst, expected))
            continue
        if (imp, item) in domestic:
            d, source = domestic[imp, item], "stated"
        elif (item, imp) in inst.supply_by_key:
            d, source = min(1.0, inst.supply_by_key[item, imp].capacity / demand) if demand > 0 else 0.0, "capacity"
        else:
            d, source = 0.0, "none"
        shares: dict[str, float] = {}
        for p, v in by_partner.items():
            country = rest_of_world if p in fold else p
            share = float(v) / total
            shares[country] = shares.get(country, 0.0) + (1.0 - d) * share
            partner_rows.append({"importer": imp, "item": item, "year": year, "partner": p, "country": country,
                                 "measure": measure, "imports": float(v), "import_share": share,
                                 "baseline_share": (1.0 - d) * share})
        if d > 0:
            shares[imp] = shares.get(imp, 0.0) + d
        written = _rounded(shares)  # sums to 1; checks.py re-checks it when the written copy is loaded
        rows += [Baseline(importer=imp, item=item, country=c, share=s, basis=basis)
                 for c, s in sorted(written.items(), key=lambda kv: (-kv[1], kv[0])) if s > 0]
        folded = float(sum(by_partner[p] for p in fold)) / total
        coverage.append({**base, "status": "covered", "imports": total, "domestic_share": d, "domestic_from": source,
                         "folded_share": (1.0 - d) * folded, "folded_partners": ";".join(sorted(fold)),
                         "partners": int(len(by_partner))})
    if problems:
        raise InstanceError(problems)
    # Columns are chosen by the exporter (planner/results/schema.py: trade_coverage, trade_partners).
    cov, parts = pd.DataFrame(coverage), pd.DataFrame(partner_rows)
    notes = [f"{r.importer} {r.item}: " + ("no hs_codes in items.csv" if r.status == "no_codes" else
                                          f"no imports of {r.hs_codes} in {year}") + "; the baseline is kept"
             for r in cov.itertuples() if r.status != "covered"]
    return TradeBaseline(tuple(rows), cov, parts, notes)


def _rounded(shares: dict[str, float]) -> dict[str, float]:
    """Shares to DIGITS decimals, the largest absorbing the rounding, so they sum to 1 exactly as written."""
    out = {c: round(s, DIGITS) for c, s in shares.items()}
    top = max(out, key=lambda c: (out[c], c))
    out[top] = round(out[top] + 1.0 - sum(out.values()), DIGITS)
    return {c: s for c, s in out.items() if s > 0}


def merged(inst: Instance, new: TradeBaseline, basis: str) -> tuple[Baseline, ...]:
    """The instance's baseline rows with those of ``basis`` replaced by the new ones (other bases kept)."""
    return tuple(b for b in inst.baseline if b.basis != basis) + new.rows


def source_rows(new: TradeBaseline, *, data_file: str, rest_of_world: str | None) -> list[list[str]]:
    """sources.csv rows recording where each covered (importer, item) of the basis comes from."""
    out = []
    for r in new.coverage.itertuples():
        if r.status != "covered":
            continue
        dom = {"stated": f"domestic share {r.domestic_share:.4g} (stated)",
               "capacity": f"domestic share {r.domestic_share:.4g} = min(1, domestic capacity / demand)",
               "none": "no domestic supply row: domestic share 0"}[r.domestic_from]
        fold = (f"; partners not in the instance ({r.folded_partners.replace(';', ', ')}) folded into "
                f"{rest_of_world}: {r.folded_share:.4g} of demand" if r.folded_partners else "")
        out.append(["baseline", "share", CITATION, "https://www.cepii.fr/CEPII/en/bdd_modele/bdd_modele_item.asp?id=37",
                    str(r.year), "public",
                    f"basis={r.basis} importer={r.importer} item={r.item}: imports of HS {r.hs_codes.replace(';', ', ')} "
                    f"by partner (shipping country, not mine origin), {r.year}, by {r.measure}, from {data_file}; "
                    f"{dom}{fold}"])
    return out
