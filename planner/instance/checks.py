"""Checks across tables (references, baseline, policy names) and plain-infeasibility checks.

``check_references`` works on the parsed frames of ``planner.instance.tables`` so that
it runs even when some rows are broken and scales to large tables (``isin``
on whole columns).  ``check_feasibility`` needs a valid :class:`Instance` and
is only run when nothing else is wrong: on a broken instance its findings
would mostly echo the rows that were dropped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable

import pandas as pd

from planner.instance import multitier, trust
from planner.errors import Problem
from planner.instance.schema import ALL, DISTRIBUTIONS, KEY_SEP, TABLES, Instance, ItemPolicy, Meta, Policy, join_key
from planner.instance.tables import LINE, MISSING, OK

SHARE_TOL = 1e-3
"""Baseline shares of one (importer, item) must sum to 1 within this."""
REL_TOL = 1e-9
"""Relative slack in capacity comparisons, so rounding never flags a tight but feasible instance."""

Frames = dict[str, pd.DataFrame | None]
"""Parsed table -> frame; None when the table could not be read (its references are not checked)."""


# --------------------------------------------------------------------------- helpers
# These two loop in Python: a set lookup per cell beats pandas' isin/explode, whose fixed cost per call
# dominates on the small tables most instances have, and is as fast on 150k-row tables.
def _unknown(frame: pd.DataFrame, file: str, column: str, allowed: set[str], what: str) -> list[Problem]:
    """Rows whose (present) value in ``column`` is not in ``allowed``."""
    bad = [(ln, v) for ln, v in zip(frame[LINE].tolist(), frame[column].tolist())
           if v is not None and v == v and v not in allowed]
    if not bad:
        return []
    expected = f"unknown {what}; expected one of: {_listing(allowed)}"
    return [Problem(file, int(ln), column, v, expected) for ln, v in bad]


def _exploded(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per entry of a list column (entries keep their row's line)."""
    rows = [(ln, x) for ln, xs in zip(frame[LINE].tolist(), frame[column].tolist()) if xs is not None for x in xs]
    return pd.DataFrame(rows, columns=[LINE, column]) if rows else frame[[LINE, column]].iloc[:0]


def _pairs(frame: pd.DataFrame, a: str, b: str) -> pd.Series:
    """Two key columns joined into one string per row (NA where either is missing)."""
    return frame[a].astype("string") + "\x1f" + frame[b].astype("string")


def _ids(t: Frames, table: str, *cols: str) -> set[str] | None:
    """Values (or value pairs) a table declares; None when unknown (table unreadable, column missing)."""
    f = t[table]
    if f is None or set(cols) & f.attrs.get(MISSING, frozenset()):
        return None
    return set(f[cols[0]].dropna()) if len(cols) == 1 else set(_pairs(f, *cols).dropna())


def _declared(frame: pd.DataFrame, codes: set | None, items: set | None, *country_cols: str) -> pd.Series:
    """Rows whose item and countries are declared; the others already have an 'unknown' problem."""
    ok = frame["item"].isin(list(items)) if items is not None else pd.Series(True, index=frame.index)
    for col in country_cols:
        ok &= frame[col].isin(list(codes)) if codes is not None else True
    return ok


def _listing(names: Iterable[str], most: int = 12) -> str:
    names = sorted(set(names))
    more = f", ... ({len(names)} in all)" if len(names) > most else ""
    return ", ".join(names[:most]) + more if names else "(none)"


# --------------------------------------------------------------------------- references
def check_references(t: Frames, files: dict[str, str], meta: Meta | None, meta_file: str,
                     moved: set[str] = frozenset()) -> list[Problem]:
    """Every id used in one table must be declared in another (``moved``: override keys of table cells,
    whose ranges need not be at their central value)."""
    out: list[Problem] = []
    codes, items = _ids(t, "countries", "code"), _ids(t, "items", "id")
    tiers = set(meta.tiers) if meta is not None else None

    def ref(table: str, column: str, known: set[str] | None, what: str) -> None:
        if t[table] is not None and known is not None:
            out.extend(_unknown(t[table], files[table], column, known, what))

    ref("countries", "tier", tiers, f"tier (tiers are declared in {meta_file})")
    for table, column in [("supply", "country"), ("demand", "importer"), ("lanes", "origin"), ("lanes", "importer"),
                          ("investments", "country"), ("programmes", "funding_country"),
                          ("baseline", "importer"), ("baseline", "country"), ("stock", "importer")]:
        ref(table, column, codes, "country code (codes come from countries.csv)")
    for table in ("supply", "demand", "investments", "baseline", "stock"):
        ref(table, "item", items, "item id (ids come from items.csv)")
    ref("lanes", "item", None if items is None else items | {ALL}, "item id (ids come from items.csv, or '*')")
    out += _programme_refs(t, files, codes, items, tiers)
    out += _investment_refs(t, files, codes, items)
    out += _baseline_checks(t, files, codes, items, meta, meta_file)
    out += _scenario_checks(t, files, codes, items)
    out += _stock_checks(t, files, codes, items)
    out += _shared_stock_checks(t, files, items, meta)
    out += _detour_checks(t, files)
    out += _range_checks(t, files, moved)
    out += multitier.check_references(t, files, meta, meta_file)  # stages, bill of materials, stage/upstream caps
    if meta is not None:
        out += _policy_names(meta, meta_file, t, files)
    return out


def _scenario_checks(t: Frames, files: dict[str, str], codes: set | None, items: set | None) -> list[Problem]:
    """Scenario references (countries, items, chokepoints named on some lane) and their numbers."""
    sc = t["scenarios"]
    if sc is None or sc.empty:
        return []
    file, out = files["scenarios"], []
    if codes is not None:
        out += _unknown(_exploded(sc, "countries"), file, "countries", codes,
                        "country code (codes come from countries.csv)")
    if items is not None:
        out += _unknown(_exploded(sc, "items"), file, "items", items | {ALL},
                        "item id (ids come from items.csv, or '*')")
    lanes = t["lanes"]
    if lanes is not None and "chokepoints" not in lanes.attrs.get(MISSING, frozenset()):
        named = set(_exploded(lanes, "chokepoints")["chokepoints"])
        if "detour_chokepoints" in lanes:  # a scenario may block a detour's chokepoint alone
            named |= set(_exploded(lanes, "detour_chokepoints")["detour_chokepoints"])
        out += _unknown(_exploded(sc, "chokepoints"), file, "chokepoints", named,
                        "chokepoint (a name listed in lanes.csv, column chokepoints)")
    ok = sc[sc[OK]]
    for _, r in ok.iterrows():
        line = int(r[LINE])
        if not r["countries"] and not r["chokepoints"]:
            out.append(Problem(file, line, "countries", None,
                               "nothing disrupted; expected disrupted countries or blocked chokepoints (or both)"))
        if r["duration_weeks"] <= 0:
            out.append(Problem(file, line, "duration_weeks", f"{r['duration_weeks']:g}",
                               "out of range; expected a number of weeks > 0"))
        elif r["recovery_weeks"] is not None and r["recovery_weeks"] < r["duration_weeks"]:
            out.append(Problem(file, line, "recovery_weeks", f"{r['recovery_weeks']:g}",
                               f"recovery before the disruption ends; expected at least duration_weeks "
                               f"({r['duration_weeks']:g}), or empty"))
    return out


def _range_checks(t: Frames, files: dict[str, str], moved: set[str] = frozenset()) -> list[Problem]:
    """Each range names an existing numeric cell, and its central value is the value there (unless an
    override in ``moved`` set that cell)."""
    from planner.instance.tables import columns_of

    rg = t.get("ranges")
    if rg is None or rg.empty:
        return []
    file, out = files["ranges"], []
    tables = [n for n in TABLES if n != "ranges"]
    keyed: dict[str, pd.Series] = {}  # table -> each row's key, joined once (not once per range)
    for _, r in rg[rg[OK]].iterrows():
        line, table, column = int(r[LINE]), r["table"], r["column"]
        cls = TABLES.get(table)
        if cls is None or table == "ranges":
            out.append(Problem(file, line, "table", table, f"unknown table; expected one of {', '.join(tables)}"))
            continue
        cols = {c.name: c for c in columns_of(cls)
                if c.kind in ("number", "integer") and c.name not in cls.key and c.name != "period"}
        if column not in cols:
            out.append(Problem(file, line, "column", column,
                               f"not a numeric column of {table}; expected one of {', '.join(cols) or '(none)'}"))
            continue
        c = cols[column]
        lo, mid, hi = r["low"], r["central"], r["high"]
        if r["distribution"] not in DISTRIBUTIONS:
            out.append(Problem(file, line, "distribution", r["distribution"], f"expected one of {', '.join(DISTRIBUTIONS)}"))
        if not (lo <= mid <= hi and lo < hi):
            out.append(Problem(file, line, "central", f"{mid:g}",
                               f"outside [low, high] = [{lo:g}, {hi:g}]; expected low <= central <= high, low < high"))
        elif (c.lo is not None and lo < c.lo) or (c.hi is not None and hi > c.hi):
            out.append(Problem(file, line, "low" if c.lo is not None and lo < c.lo else "high",
                               f"{lo if c.lo is not None and lo < c.lo else hi:g}",
                               f"outside what {table}.{column} allows; expected {c.expected()}"))
        elif r["distribution"] == "lognormal" and lo <= 0:
            out.append(Problem(file, line, "low", f"{lo:g}", "expected low > 0 for a lognormal range"))
        frame = t.get(table)
        if frame is None:
            continue  # the table could not be read: reported already
        if table not in keyed:
            keyed[table] = pd.Series([join_key(k) for k in zip(*(frame[c] for c in cls.key))], index=frame.index,
                                     dtype=object) if len(frame) else pd.Series([], dtype=object)
        hit = frame[keyed[table] == r["row"]]
        if hit.empty:
            out.append(Problem(file, line, "row", r["row"], f"no row of {files[table]} with this key; expected the "
                                                            f"key ({KEY_SEP.join(cls.key)}) of an existing row"))
            continue
        if f"{table}.{r['row']}.{column}" in moved:
            continue
        for _, h in hit.iterrows():
            v = h[column]
            if v is None or v != v or abs(float(v) - mid) > 1e-9 * max(1.0, abs(mid)):
                held = "nothing" if v is None or v != v else f"{float(v):g}"
                out.append(Problem(file, line, "central", f"{mid:g}",
                                   f"differs from {files[table]}, row {int(h[LINE])}, column '{column}', which holds "
                                   f"{held}; expected the central value to equal the table's value"))
                break
    return out


def _stock_checks(t: Frames, files: dict[str, str], codes: set | None, items: set | None) -> list[Problem]:
    """A stockpile needs the importer's demand for the item; its cap is at least what is held."""
    st = t["stock"]
    if st is None or st.empty:
        return []
    file, out = files["stock"], []
    known = _ids(t, "demand", "importer", "item")
    if known is not None:
        pairs = _pairs(st, "importer", "item")
        bad = pairs.notna() & ~pairs.isin(known) & _declared(st, codes, items, "importer")
        for _, r in st[bad].iterrows():
            out.append(Problem(file, int(r[LINE]), "importer", r["importer"],
                               f"no demand row for ({r['importer']}, {r['item']}); expected a stockpile only where "
                               "demand.csv has a row"))
    ok = st[st[OK]]
    for _, r in ok.iterrows():
        if r["max_stock"] is not None and r["max_stock"] < r["existing"]:
            out.append(Problem(file, int(r[LINE]), "max_stock", f"{r['max_stock']:g}",
                               f"below the existing stockpile {r['existing']:g}; expected max_stock >= existing "
                               "(or empty for no limit)"))
    return out


def _detour_checks(t: Frames, files: dict[str, str]) -> list[Problem]:
    """A lane's alternative route has a cost; multi-tier instances take none yet."""
    lanes = t["lanes"]
    if lanes is None or lanes.empty or "detour_cost" not in lanes:
        return []
    file, out = files["lanes"], []
    bom = t.get("bom")
    for _, r in lanes[lanes[OK]].iterrows():
        line = int(r[LINE])
        has = r["detour_cost"] is not None
        if not has and (r["detour_days"] or r["detour_chokepoints"]):
            out.append(Problem(file, line, "detour_cost", None, "a detour (detour_days or detour_chokepoints) needs "
                               "its extra cost; expected a number >= 0 in detour_cost"))
        if has and bom is not None and not bom.empty:
            out.append(Problem(file, line, "detour_cost", f"{r['detour_cost']:g}",
                               "not available for multi-tier instances (bill of materials) yet; expected it empty"))
        if has and not r["chokepoints"]:
            out.append(Problem(file, line, "detour_cost", f"{r['detour_cost']:g}",
                               "a detour of a lane that passes no chokepoint is never taken; expected chokepoints "
                               "on the lane, or no detour"))
    return out


def _shared_stock_checks(t: Frames, files: dict[str, str], items: set | None, meta: Meta | None) -> list[Problem]:
    """A shared stockpile names a known item and a tier or group with a member that imports the item."""
    st = t.get("shared_stock")
    if st is None or st.empty:
        return []
    file, out = files["shared_stock"], []
    if items is not None:
        out += _unknown(st, file, "item", items, "item id (ids come from items.csv)")
    cty, dem = t["countries"], t["demand"]
    tiers = set(meta.tiers) if meta is not None else set()
    ok = st[st[OK]]
    for _, r in ok.iterrows():
        line = int(r[LINE])
        if r["max_stock"] is not None and r["max_stock"] < r["existing"]:
            out.append(Problem(file, line, "max_stock", f"{r['max_stock']:g}",
                               f"below the existing stockpile {r['existing']:g}; expected max_stock >= existing "
                               "(or empty for no limit)"))
        for col, choices in (("release", ("pooled", "pro_rata")), ("cost_split", ("demand", "equal"))):
            if r[col] not in choices:
                out.append(Problem(file, line, col, r[col], f"unknown choice; expected one of: {', '.join(choices)}"))
        if cty is None or dem is None:
            continue
        in_group = {c for c, tier, gs in zip(cty["code"], cty["tier"], cty["groups"])
                    if tier == r["group"] or r["group"] in (gs or ())}
        importers = {j for j, i, q in zip(dem["importer"], dem["item"], dem["quantity"])
                     if i == r["item"] and q is not None and q > 0}
        if not in_group:
            known = sorted(tiers | {g for gs in cty["groups"].dropna() for g in gs})
            out.append(Problem(file, line, "group", r["group"],
                               f"unknown tier or group; expected one of: {_listing(known)}"))
        elif not in_group & importers:
            out.append(Problem(file, line, "group", r["group"],
                               f"no member of {r['group']} has demand for {r['item']}; expected a group with an "
                               "importer of the item"))
    return out


def _programme_refs(t: Frames, files: dict[str, str], codes: set | None, items: set | None,
                    tiers: set | None) -> list[Problem]:
    out: list[Problem] = []
    prog, inv = t["programmes"], t["investments"]
    if prog is not None and items is not None:
        out += _unknown(_exploded(prog, "items"), files["programmes"], "items", items | {ALL},
                        "item id (ids come from items.csv, or '*')")
    if prog is not None and codes is not None and tiers is not None:
        out += _unknown(_exploded(prog, "hosts"), files["programmes"], "hosts", codes | tiers | {ALL},
                        "host (a country code, a tier name or '*')")
    ids = _ids(t, "programmes", "id")
    if inv is not None and ids is not None:
        out += _unknown(_exploded(inv, "programmes"), files["investments"], "programmes", ids,
                        "programme id (ids come from programmes.csv)")
    return out


def _investment_refs(t: Frames, files: dict[str, str], codes: set | None, items: set | None) -> list[Problem]:
    """An option needs a supply row (its unit cost) and must fit the programmes it lists."""
    inv, prog, cty = t["investments"], t["programmes"], t["countries"]
    if inv is None:
        return []
    out: list[Problem] = []
    supplied = _ids(t, "supply", "item", "country")
    if supplied is not None:
        pairs = _pairs(inv, "item", "country")
        bad = pairs.notna() & ~pairs.isin(supplied) & _declared(inv, codes, items, "country")
        for _, r in inv[bad].iterrows():
            out.append(Problem(files["investments"], int(r[LINE]), "country", r["country"],
                               f"no supply row for ({r['item']}, {r['country']}); expected one: add a supply row "
                               "with capacity 0 to give its unit cost"))
    if prog is None or cty is None:
        return out
    progs = {r["id"]: r for _, r in prog.iterrows() if r["id"] is not None}
    tier_of = dict(zip(cty["code"], cty["tier"]))
    for _, r in inv[inv["programmes"].notna()].iterrows():
        for pid in r["programmes"]:
            p = progs.get(pid)
            if p is None or r["item"] is None or r["country"] is None:
                continue  # unknown programme: reported above
            items, hosts = p["items"] or (), p["hosts"] or ()
            if ALL not in items and r["item"] not in items:
                out.append(Problem(files["investments"], int(r[LINE]), "programmes", pid,
                                   f"programme {pid} does not cover item {r['item']}; expected a programme whose "
                                   f"items include it ({pid} covers {_listing(items)})"))
            host_tier = tier_of.get(r["country"])
            if ALL not in hosts and r["country"] not in hosts and host_tier not in hosts:
                out.append(Problem(files["investments"], int(r[LINE]), "programmes", pid,
                                   f"programme {pid} is not open to host {r['country']} (tier {host_tier}); expected "
                                   f"a programme whose hosts include it ({pid} is open to {_listing(hosts)})"))
    return out


def _baseline_checks(t: Frames, files: dict[str, str], codes: set | None, items: set | None,
                     meta: Meta | None = None, meta_file: str = "instance.yaml") -> list[Problem]:
    b = t["baseline"]
    chosen = meta.baseline_basis if meta is not None else ""
    used = set(b["basis"]) - {""} if b is not None and "basis" in b else set()
    out = [] if not chosen or chosen in used or b is None else [Problem(
        meta_file, None, "baseline_basis", chosen, f"unknown basis; expected one used in {files['baseline']}'s "
        f"basis column ({', '.join(sorted(used)) if used else 'none: no row names a basis'})")]
    if b is None or b.empty:
        return out
    file = files["baseline"]
    if "basis" not in b:
        b = b.assign(basis="")
    for other, cols, what in [("demand", ("importer", "item"), "demand"), ("supply", ("item", "country"), "supply")]:
        known = _ids(t, other, *cols)
        if known is None:
            continue
        if other == "demand":  # multi-tier: a baseline row may also split a plant's input among its suppliers
            known |= multitier.processing_pairs(t)
        pairs = _pairs(b, *cols)
        bad = pairs.notna() & ~pairs.isin(known) & _declared(b, codes, items, "importer", "country")
        for _, r in b[bad].iterrows():
            out.append(Problem(file, int(r[LINE]), cols[-1], r[cols[-1]],
                               f"no {what} row for ({r[cols[0]]}, {r[cols[1]]}); expected a baseline only where "
                               f"{other}.csv has a row"))
    ok = b[b[OK]]  # rows with a bad share/volume cell are reported already
    share, volume = ok["share"].notna(), ok["volume"].notna()
    for _, r in ok[share == volume].iterrows():
        got = "both share and volume" if r["share"] is not None else "neither share nor volume"
        out.append(Problem(file, int(r[LINE]), "share", None, f"{got} given; expected exactly one of them"))
    one = ok[share != volume].assign(kind=share.map({True: "share", False: "volume"}))
    for (imp, item, basis), g in one.groupby(["importer", "item", "basis"], sort=False):
        kinds = g["kind"].tolist()
        of = f"({imp}, {item}" + (f", basis {basis})" if basis else ")")
        if len(set(kinds)) > 1:
            r = g[g["kind"] != kinds[0]].iloc[0]
            out.append(Problem(file, int(r[LINE]), r["kind"], None,
                               f"shares and volumes mixed for {of}; expected the same kind on every row "
                               f"(row {int(g[LINE].iloc[0])} gives a {kinds[0]})"))
        elif kinds[0] == "share":
            total = float(g["share"].sum())
            if abs(total - 1.0) > SHARE_TOL:
                out.append(Problem(file, int(g[LINE].iloc[0]), "share", f"{total:.6g}",
                                   f"baseline shares of {of} sum to {total:.6g}; expected them to sum to 1"))
    return out


def _item_policies(policy: Policy) -> list[tuple[str, ItemPolicy]]:
    """(dotted prefix, policy part) for the instance-wide policy and every item override."""
    return [("policy", policy)] + [(f"policy.items.{k}", v) for k, v in policy.items.items()]


def _policy_names(meta: Meta, file: str, t: Frames, files: dict[str, str]) -> list[Problem]:
    """Names used in the policy must be declared tiers, groups used by a country, known items."""
    pol, tiers, out = meta.policy, set(meta.tiers), []
    cty = t["countries"]
    groups = set(g for gs in cty["groups"].dropna() for g in gs) if cty is not None else None
    items = _ids(t, "items", "id")
    bad_tier = f"unknown tier; expected one of: {_listing(tiers)}"
    for tier in pol.exclude_tiers:
        if tier not in tiers:
            out.append(Problem(file, None, "policy.exclude_tiers", tier, bad_tier))
    for prefix, part in _item_policies(pol):
        for tier in part.tier_caps or {}:
            if tier not in tiers:
                out.append(Problem(file, None, f"{prefix}.tier_caps.{tier}", tier, bad_tier))
        for group in part.group_caps or {}:
            if groups is not None and group not in groups:
                out.append(Problem(file, None, f"{prefix}.group_caps.{group}", group,
                                   "unknown group (no country has it in countries.csv); expected one of: "
                                   + _listing(groups)))
    dem0 = t["demand"]
    known_importers = set(dem0["importer"].dropna()) if dem0 is not None and "importer" in dem0 else None
    for prefix, part in _item_policies(pol):
        for field in ("group_floors", "pooled_caps"):
            for name, v in (getattr(part, field) or {}).items():
                if name not in tiers and (groups is None or name not in groups):
                    out.append(Problem(file, None, f"{prefix}.{field}.{name}", name,
                                       "unknown tier or group; expected one of: "
                                       + _listing(tiers | (groups or set()))))
                if field == "group_floors" and isinstance(v, dict) and known_importers is not None:
                    out += [Problem(file, None, f"{prefix}.{field}.{name}.{j}", j,
                                    f"unknown importer; expected one of: {_listing(known_importers)}")
                            for j in v if j not in known_importers]
    out += _crisis_names(pol, file, t, tiers, groups, files)
    out += _control_names(pol, file, t, tiers, groups, items)
    for item in pol.items:
        if items is not None and item not in items:
            out.append(Problem(file, None, f"policy.items.{item}", item,
                               f"unknown item; expected one of: {_listing(items)}"))
    dem = t["demand"]
    importers = set(dem["importer"].dropna()) if dem is not None and "importer" in dem else None
    out += trust.check_rule(pol.trust, tiers, groups, importers, file)
    if pol.scenario_mode in ("expected", "both") and not any(
            part.scenario_shortage_cost is not None for _, part in _item_policies(pol)):
        out.append(Problem(file, None, "policy.scenario_mode", pol.scenario_mode,
                           "the expected mode needs a shortage cost; expected policy.scenario_shortage_cost (or one "
                           "under policy.items.<item>), or scenario_mode robust"))
    return out


def _control_names(pol: Policy, file: str, t: Frames, tiers: set[str], groups: set[str] | None,
                   items: set[str] | None) -> list[Problem]:
    """Every export control names known countries, tiers or groups and a known item, and its action
    and licence cost agree."""
    codes = _ids(t, "countries", "code")
    names = tiers | (groups or set()) | (codes or set())
    out = []
    for n, x in enumerate(pol.export_controls):
        at = f"policy.export_controls.{n}"
        for field in ("origin", "importer"):
            v = getattr(x, field)
            if codes is not None and v not in names and not (field == "importer" and v == ALL):
                out.append(Problem(file, None, f"{at}.{field}", v, "unknown country, tier or group; expected a code "
                                   "of countries.csv, a tier or a group" + (" (or '*')" if field == "importer" else "")))
        if items is not None and x.item != ALL and x.item not in items:
            out.append(Problem(file, None, f"{at}.item", x.item, f"unknown item; expected one of: {_listing(items)}, "
                               "or '*'"))
        if x.action == "licence" and x.licence_cost <= 0:
            out.append(Problem(file, None, f"{at}.licence_cost", x.licence_cost,
                               "a licence with no cost changes nothing; expected licence_cost > 0 (or action forbid)"))
        if x.action == "licence" and t.get("bom") is not None and not t["bom"].empty:
            out.append(Problem(file, None, f"{at}.action", x.action,
                               "licences are not charged on feeds between plants (multi-tier instances) yet; "
                               "expected action forbid"))
        if x.action == "forbid" and x.licence_cost > 0:
            out.append(Problem(file, None, f"{at}.licence_cost", x.licence_cost,
                               "a forbidden route pays no licence; expected action licence, or no licence_cost"))
    return out


def _crisis_names(pol: Policy, file: str, t: Frames, tiers: set[str], groups: set[str] | None,
                  files: dict[str, str]) -> list[Problem]:
    """policy.crisis names a known group, and multi-tier instances (whose chain recourse has one
    phase and no sharing rule yet) use neither a response clock nor a sharing group."""
    rule, out = pol.crisis, []
    name = rule.sharing_group
    if name is not None and groups is not None and name not in groups and name not in tiers:
        out.append(Problem(file, None, "policy.crisis.sharing_group", name,
                           "unknown group (no country has it in countries.csv, and it is no tier); expected one of: "
                           + _listing(groups | tiers)))
    bom = t.get("bom")
    if bom is not None and not bom.empty:
        for field in ("delay_weeks", "ramp_weeks", "sharing_group"):
            if getattr(rule, field) not in (0.0, None):
                out.append(Problem(file, None, f"policy.crisis.{field}", getattr(rule, field),
                                   "not available for multi-tier instances (bill of materials) yet; expected it unset"))
        sc = t.get("scenarios")
        if sc is not None and not sc.empty:
            for field in ("delay_weeks", "ramp_weeks"):
                if field in sc:
                    for _, r in sc[sc[field].notna()].iterrows():
                        out.append(Problem(files["scenarios"], int(r[LINE]), field, r[field],
                                           "not available for multi-tier instances (bill of materials) yet; "
                                           "expected it empty"))
    return out


# --------------------------------------------------------------------------- feasibility
def check_feasibility(inst: Instance, meta_file: str, demand_file: str,
                      demand_lines: dict[tuple[str, str], int]) -> list[Problem]:
    """Policies and data that no solver could satisfy, found without solving.

    Each check is a necessary condition only (capacity shared by several
    importers is not split), so nothing feasible is ever rejected. A multi-period instance is
    checked on every period's view, each problem naming its period.
    """
    if inst.periods:
        from planner.instance.period_checks import check_period_views

        return check_period_views(inst, lambda v: check_feasibility(v, meta_file, demand_file, demand_lines), meta_file)
    pol = inst.policy
    # With shortage allowed any policy is feasible; a demand nobody could ever supply is still worth saying.
    excluded = set() if pol.allow_shortage else set(pol.exclude_tiers)
    potential: dict[tuple[str, str], float] = {k: s.capacity for k, s in inst.supply_by_key.items()}
    for inv in inst.investments:
        potential[(inv.item, inv.country)] = potential.get((inv.item, inv.country), 0.0) + inv.capacity
    allowed = {k for k in potential if inst.tier_of[k[1]] not in excluded}
    reach: dict[tuple[str, str], set[str]] = defaultdict(set)  # (item, importer) -> usable origins
    for item, origin, imp in inst.open_lanes:
        if (item, origin) in allowed and potential[(item, origin)] > 0:
            reach[(item, imp)].add(origin)
    out = _no_supplier(inst, reach, excluded, demand_file, demand_lines)
    if pol.allow_shortage:
        return out
    importers: dict[str, dict[str, float]] = defaultdict(dict)
    for d in inst.demand:
        if d.quantity > 0 and reach[(d.item, d.importer)]:
            importers[d.item][d.importer] = d.quantity
    units = {i.id: i.unit for i in inst.items}
    for item, dem in importers.items():
        cap = {o: potential[(item, o)] for imp in dem for o in reach[(item, imp)]}
        ctx = _Ctx(inst, item, units.get(item, ""), dem, cap, reach, excluded, meta_file)
        out += ctx.capacity() + ctx.country_share() + ctx.caps() + ctx.floors() + ctx.min_suppliers(allowed) + ctx.n1()
    return out


def _no_supplier(inst: Instance, reach: dict, excluded: set[str], file: str, lines: dict) -> list[Problem]:
    out = []
    note = f" (tiers excluded: {', '.join(sorted(excluded))})" if excluded else ""
    for d in inst.demand:
        if d.quantity > 0 and not reach[(d.item, d.importer)]:
            out.append(Problem(file, lines.get((d.importer, d.item)), "item", d.item,
                               f"no possible supplier of {d.item} for {d.importer}; expected a supply row with "
                               f"capacity or an investment option, of an allowed tier{note}, in {d.importer} itself "
                               f"or with a lane to {d.importer}", item=d.item))
    return out


class _Ctx:
    """The numbers of one item's plain-infeasibility checks."""

    def __init__(self, inst: Instance, item: str, unit: str, dem: dict[str, float], cap: dict[str, float],
                 reach: dict, excluded: set[str], file: str):
        self.inst, self.item, self.unit, self.dem, self.cap = inst, item, unit, dem, cap
        self.reach, self.excluded, self.file = reach, excluded, file
        self.ip = inst.policy.for_item(item)
        self.total_demand = sum(dem.values())

    def source(self, field: str) -> str:
        """Where the effective value of a policy field is set (item override or instance-wide)."""
        over = self.inst.policy.items.get(self.item)
        if over is not None and getattr(over, field) is not None:
            return f"policy.items.{self.item}.{field}"
        return f"policy.{field}"

    def problem(self, column: str, value: object, text: str) -> Problem:
        return Problem(self.file, None, column, None if value is None else f"{value:g}", f"policy: {self.item}: {text}",
                       item=self.item)

    def q(self, x: float) -> str:
        return f"{x:g} {self.unit}".rstrip()

    def capacity(self) -> list[Problem]:
        total = sum(self.cap.values())
        column = "policy.exclude_tiers" if self.excluded else "policy.allow_shortage"
        excl = f"tiers excluded: {', '.join(sorted(self.excluded))}" if self.excluded else "no tier excluded"
        if total < self.total_demand * (1 - REL_TOL):
            return [self.problem(column, None, f"allowed capacity {self.q(total)} is below demand "
                                 f"{self.q(self.total_demand)} ({excl}); expected capacity (with investments) "
                                 "at least the demand, or allow_shortage")]
        out = []
        for imp, q in self.dem.items():
            own = sum(self.cap[o] for o in self.reach[(self.item, imp)])
            if own < q * (1 - REL_TOL):
                out.append(self.problem(column, None, f"allowed capacity that can reach {imp} is {self.q(own)}, below "
                                        f"its demand {self.q(q)} ({excl}); expected more capacity or lanes to {imp}"))
        return out

    def country_share(self) -> list[Problem]:
        c = self.ip.country_share_cap
        if c is None:
            return []
        out = []
        for imp in self.dem:
            n = len(self.reach[(self.item, imp)])
            if n * c < 1 - REL_TOL:
                need = math.ceil(1 / c - REL_TOL) if c > 0 else "infinitely many"
                out.append(self.problem(self.source("country_share_cap"), c,
                                        f"{imp} can reach {n} allowed supplier countr{'y' if n == 1 else 'ies'}, so a "
                                        f"country share cap of {c:g} covers only {n * c:.0%} of its demand; expected "
                                        f"at least {need} reachable suppliers or a cap of at least {1 / n:.4g}"))
        return out

    def caps(self) -> list[Problem]:
        out = []
        for kind in ("tier", "group"):
            field = f"{kind}_caps"
            for name, cap in (getattr(self.ip, field) or {}).items():
                members = self.inst.members(name)
                need = (1 - cap) * self.total_demand
                outside = sum(v for o, v in self.cap.items() if o not in members)
                if outside < need * (1 - REL_TOL):
                    out.append(self.problem(f"{self.source(field)}.{name}", cap,
                                            f"{kind} cap {name} <= {cap:g} needs {self.q(need)} from outside {name}, "
                                            f"but allowed capacity outside it is {self.q(outside)}; expected a higher "
                                            "cap or more capacity elsewhere"))
        return out

    def floors(self) -> list[Problem]:
        """A group floor needs the group's capacity that can reach the importer (necessary only)."""
        out = []
        for name in self.ip.group_floors or {}:
            members = self.inst.members(name)
            for imp, d in self.dem.items():
                level = self.ip.floor(imp, name)
                if not level:
                    continue
                inside = sum(self.cap[o] for o in self.reach[(self.item, imp)] if o in members)
                if inside < level * d * (1 - REL_TOL):
                    out.append(self.problem(f"{self.source('group_floors')}.{name}", level,
                                            f"{imp} must take at least {level:g} of its demand ({self.q(level * d)}) "
                                            f"from {name}, but capacity in {name} that can reach it is "
                                            f"{self.q(inside)}; expected a lower floor or more capacity in {name}"))
        return out

    def min_suppliers(self, allowed: set[tuple[str, str]]) -> list[Problem]:
        k = self.ip.min_suppliers
        n = sum(1 for it, _ in allowed if it == self.item)
        if k is None or k <= n:
            return []
        return [self.problem(self.source("min_suppliers"), k,
                             f"min_suppliers {k} but only {n} allowed supplier countr{'y' if n == 1 else 'ies'} "
                             f"have a supply row; expected min_suppliers <= {n}")]

    def n1(self) -> list[Problem]:
        beta = self.ip.n1_beta
        if not beta or not self.cap:
            return []
        top = max(self.cap, key=lambda o: self.cap[o])
        rest = sum(self.cap.values()) - self.cap[top]
        need = beta * self.total_demand
        if rest >= need * (1 - REL_TOL):
            return []
        return [self.problem(self.source("n1_beta"), beta,
                             f"without its largest allowed supplier {top} ({self.q(self.cap[top])}) the others' "
                             f"capacity {self.q(rest)} is below n1_beta {beta:g} x demand "
                             f"{self.q(self.total_demand)} = {self.q(need)}; expected a lower n1_beta or more "
                             "capacity")]


# --------------------------------------------------------------------------- numerical hygiene
SPAN_LIMIT = 1e9
"""Largest / smallest non-zero magnitude above which a group of coefficients is ill-conditioned."""
COST_SPREAD = 1e3
"""Unit costs of one item more than this factor apart look like mixed units or currencies."""
CAPACITY_RATIO = 1e4
"""Capacity (with investments) more than this many times an item's demand looks like mixed units."""
BASELINE_RATIO = 10.0
"""Baseline volumes of an (importer, item) this factor away from its demand look like mixed units."""


TARIFF_WARN = 3.0
"""A tariff rate above this (300 %) gets a warning: it was probably written in percent."""


def check_numerics(inst: Instance, source: str | None = None) -> list[Problem]:
    """Warnings, not errors: numbers that make the model ill-conditioned or look like inconsistent units.

    HiGHS works in double precision with tolerances around 1e-6 to 1e-9, so
    coefficients spanning more than :data:`SPAN_LIMIT` can make it report a
    wrong optimum or a spurious infeasibility.  Each warning names the file,
    column and values, and suggests a rescaling.  ``source`` is the instance
    path, used only to label workbook sheets (``book.xlsx[supply]``).
    """
    book = str(source) if source is not None and str(source).lower().endswith(".xlsx") else None

    def file(table: str) -> str:
        if book is None:
            return f"{table}.csv" if table != "meta" else "instance.yaml"
        name = book.replace("\\", "/").rsplit("/", 1)[-1]
        return f"{name}[{table if table != 'meta' else 'instance'}]"

    cur, units = inst.meta.currency, {i.id: i.unit for i in inst.items}
    out: list[Problem] = []
    # (value, table, column, key) of every number that becomes a coefficient, bound or right-hand side.
    volumes = [(s.capacity, "supply", "capacity", f"{s.item}:{s.country}") for s in inst.supply]
    volumes += [(s.min_order, "supply", "min_order", f"{s.item}:{s.country}") for s in inst.supply]
    volumes += [(d.quantity, "demand", "quantity", f"{d.importer}:{d.item}") for d in inst.demand]
    volumes += [(v.capacity, "investments", "capacity", v.option) for v in inst.investments]
    volumes += [(b.volume, "baseline", "volume", f"{b.importer}:{b.item}:{b.country}") for b in inst.baseline
                if b.volume is not None]
    costs = [(s.unit_cost, "supply", "unit_cost", f"{s.item}:{s.country}") for s in inst.supply]
    costs += [(s.qualification_cost, "supply", "qualification_cost", f"{s.item}:{s.country}") for s in inst.supply]
    costs += [(ln.transport_cost, "lanes", "transport_cost", f"{ln.origin}:{ln.importer}:{ln.item}")
              for ln in inst.lanes]
    costs += [(v.capex, "investments", "capex", v.option) for v in inst.investments]
    costs += [(p.budget, "programmes", "budget", p.id) for p in inst.programmes]
    if inst.policy.allow_shortage:
        costs.append((inst.policy.shortage_penalty, "meta", "policy.shortage_penalty", "policy"))
    # Volumes multiply binaries next to unit coefficients (flow <= capacity x qualified), hence the 1.
    for what, group, unit_one, advice in [
        ("volumes", volumes, True, "express large volumes in a bigger unit (e.g. kt instead of kg) and drop "
                                   "negligible ones"),
        ("costs", costs, False, f"express costs in a bigger currency unit (e.g. '{cur} million') and drop "
                                "negligible ones"),
    ]:
        nz = [g for g in group if g[0] > 0]
        if unit_one:
            nz.append((1.0, None, None, None))
        if len(nz) < 2:
            continue
        lo, hi = min(nz, key=lambda g: g[0]), max(nz, key=lambda g: g[0])
        if hi[0] / lo[0] > SPAN_LIMIT:
            big = f"{hi[0]:g} ({hi[1]}.{hi[2]}, {hi[3]})" if hi[1] else "1 (the flow coefficients)"
            small = f"{lo[0]:g} ({lo[1]}.{lo[2]}, {lo[3]})" if lo[1] else "1 (the flow coefficients)"
            at = hi if hi[1] else lo
            out.append(Problem(file(at[1]), None, at[2], f"{at[0]:g}",
                               f"ill-conditioned {what}: {big} is {hi[0] / lo[0]:.1e} times {small}, more than "
                               f"{SPAN_LIMIT:.0e}; the solver may return a wrong answer. Suggestion: {advice}"))
    # Tariffs are fractions: above TARIFF_WARN (300 %) one was probably written in percent.
    for ln in inst.lanes:
        if ln.tariff_rate > TARIFF_WARN:
            out.append(Problem(file("lanes"), None, "tariff_rate", f"{ln.tariff_rate:g}",
                               f"a tariff of {100 * ln.tariff_rate:g} % on {ln.origin} -> {ln.importer} ({ln.item}); "
                               f"rates are fractions (1.45 = 145 %). Suggestion: check it is not written in percent"))
    # Mixed units: numbers of one item that differ by far more than real data does.
    by_item: dict[str, list] = defaultdict(list)
    for s in inst.supply:
        if s.unit_cost > 0:
            by_item[s.item].append(s)
    for item, rows in by_item.items():
        lo = min(rows, key=lambda s: s.unit_cost)
        hi = max(rows, key=lambda s: s.unit_cost)
        if hi.unit_cost > COST_SPREAD * lo.unit_cost:
            out.append(Problem(file("supply"), None, "unit_cost", f"{hi.unit_cost:g}",
                               f"unit costs of {item} range from {lo.unit_cost:g} ({lo.country}) to {hi.unit_cost:g} "
                               f"({hi.country}), a factor of {hi.unit_cost / lo.unit_cost:.3g}; units look "
                               f"inconsistent. Suggestion: check every unit_cost of {item} is in {cur} per "
                               f"{units.get(item, 'item unit')}"))
    demand: dict[str, float] = defaultdict(float)
    for d in inst.demand:
        demand[d.item] += d.quantity
    capacity: dict[str, float] = defaultdict(float)
    for s in inst.supply:
        capacity[s.item] += s.capacity
    for v in inst.investments:
        capacity[v.item] += v.capacity
    for item, q in demand.items():
        if q > 0 and capacity[item] > CAPACITY_RATIO * q:
            out.append(Problem(file("supply"), None, "capacity", f"{capacity[item]:g}",
                               f"capacity of {item} ({capacity[item]:g}) is {capacity[item] / q:.3g} times its "
                               f"demand ({q:g}); units look inconsistent. Suggestion: check that supply, investments "
                               f"and demand of {item} are all in {units.get(item, 'the item unit')}"))
    base: dict[tuple[str, str], float] = defaultdict(float)
    for b in inst.today:
        if b.volume is not None:
            base[(b.importer, b.item)] += b.volume
    for (imp, item), v in base.items():
        q = inst.demand_qty.get((item, imp), 0.0)
        if q > 0 and v > 0 and not 1 / BASELINE_RATIO <= v / q <= BASELINE_RATIO:
            out.append(Problem(file("baseline"), None, "volume", f"{v:g}",
                               f"baseline volumes of ({imp}, {item}) sum to {v:g}, {v / q:.3g} times its demand "
                               f"{q:g}; units look inconsistent. Suggestion: give baseline volumes in "
                               f"{units.get(item, 'the item unit')} per year, or give shares instead"))
    pol = inst.policy
    if pol.allow_shortage:
        dearest = max((s.unit_cost for s in inst.supply), default=0.0)
        if pol.shortage_penalty < dearest:
            out.append(Problem(file("meta"), None, "policy.shortage_penalty", f"{pol.shortage_penalty:g}",
                               f"shortage is cheaper than buying (the dearest unit_cost is {dearest:g}), so the plan "
                               "may leave demand unmet to save money. Suggestion: a shortage_penalty well above every "
                               "unit cost"))
    return out
