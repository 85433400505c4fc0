"""Checks across tables (references, baseline, policy names) and plain-infeasibility checks.

``check_references`` works on the parsed frames of ``planner.tables`` so that
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

from planner.errors import Problem
from planner.schema import ALL, Instance, ItemPolicy, Meta, Policy
from planner.tables import LINE, MISSING, OK

SHARE_TOL = 1e-3
"""Baseline shares of one (importer, item) must sum to 1 within this."""
REL_TOL = 1e-9
"""Relative slack in capacity comparisons, so rounding never flags a tight but feasible instance."""

Frames = dict[str, pd.DataFrame | None]
"""Parsed table -> frame; None when the table could not be read (its references are not checked)."""


# --------------------------------------------------------------------------- helpers
def _unknown(frame: pd.DataFrame, file: str, column: str, allowed: set[str], what: str) -> list[Problem]:
    """Rows whose (present) value in ``column`` is not in ``allowed``."""
    s = frame[column]
    bad = s.notna() & ~s.isin(list(allowed))
    expected = f"unknown {what}; expected one of: {_listing(allowed)}"
    return [Problem(file, int(ln), column, v, expected) for ln, v in zip(frame.loc[bad, LINE], s[bad])]


def _exploded(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per entry of a list column (entries keep their row's line)."""
    return frame[[LINE, column]].explode(column).dropna(subset=[column])


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
def check_references(t: Frames, files: dict[str, str], meta: Meta | None, meta_file: str) -> list[Problem]:
    """Every id used in one table must be declared in another."""
    out: list[Problem] = []
    codes, items = _ids(t, "countries", "code"), _ids(t, "items", "id")
    tiers = set(meta.tiers) if meta is not None else None

    def ref(table: str, column: str, known: set[str] | None, what: str) -> None:
        if t[table] is not None and known is not None:
            out.extend(_unknown(t[table], files[table], column, known, what))

    ref("countries", "tier", tiers, f"tier (tiers are declared in {meta_file})")
    for table, column in [("supply", "country"), ("demand", "importer"), ("lanes", "origin"), ("lanes", "importer"),
                          ("investments", "country"), ("programmes", "funding_country"),
                          ("baseline", "importer"), ("baseline", "country")]:
        ref(table, column, codes, "country code (codes come from countries.csv)")
    for table in ("supply", "demand", "investments", "baseline"):
        ref(table, "item", items, "item id (ids come from items.csv)")
    ref("lanes", "item", None if items is None else items | {ALL}, "item id (ids come from items.csv, or '*')")
    out += _programme_refs(t, files, codes, items, tiers)
    out += _investment_refs(t, files, codes, items)
    out += _baseline_checks(t, files, codes, items)
    if meta is not None:
        out += _policy_names(meta, meta_file, t)
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


def _baseline_checks(t: Frames, files: dict[str, str], codes: set | None, items: set | None) -> list[Problem]:
    b = t["baseline"]
    if b is None or b.empty:
        return []
    file, out = files["baseline"], []
    for other, cols, what in [("demand", ("importer", "item"), "demand"), ("supply", ("item", "country"), "supply")]:
        known = _ids(t, other, *cols)
        if known is None:
            continue
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
    for (imp, item), g in one.groupby(["importer", "item"], sort=False):
        kinds = g["kind"].tolist()
        if len(set(kinds)) > 1:
            r = g[g["kind"] != kinds[0]].iloc[0]
            out.append(Problem(file, int(r[LINE]), r["kind"], None,
                               f"shares and volumes mixed for ({imp}, {item}); expected the same kind on every row "
                               f"(row {int(g[LINE].iloc[0])} gives a {kinds[0]})"))
        elif kinds[0] == "share":
            total = float(g["share"].sum())
            if abs(total - 1.0) > SHARE_TOL:
                out.append(Problem(file, int(g[LINE].iloc[0]), "share", f"{total:.6g}",
                                   f"baseline shares of ({imp}, {item}) sum to {total:.6g}; expected them to sum to 1"))
    return out


def _item_policies(policy: Policy) -> list[tuple[str, ItemPolicy]]:
    """(dotted prefix, policy part) for the instance-wide policy and every item override."""
    return [("policy", policy)] + [(f"policy.items.{k}", v) for k, v in policy.items.items()]


def _policy_names(meta: Meta, file: str, t: Frames) -> list[Problem]:
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
    for item in pol.items:
        if items is not None and item not in items:
            out.append(Problem(file, None, f"policy.items.{item}", item,
                               f"unknown item; expected one of: {_listing(items)}"))
    return out


# --------------------------------------------------------------------------- feasibility
def check_feasibility(inst: Instance, meta_file: str, demand_file: str,
                      demand_lines: dict[tuple[str, str], int]) -> list[Problem]:
    """Policies and data that no solver could satisfy, found without solving.

    Each check is a necessary condition only (capacity shared by several
    importers is not split), so nothing feasible is ever rejected.
    """
    pol = inst.policy
    # With shortage allowed any policy is feasible; a demand nobody could ever supply is still worth saying.
    excluded = set() if pol.allow_shortage else set(pol.exclude_tiers)
    potential: dict[tuple[str, str], float] = {k: s.capacity for k, s in inst.supply_by_key.items()}
    for inv in inst.investments:
        potential[(inv.item, inv.country)] = potential.get((inv.item, inv.country), 0.0) + inv.capacity
    allowed = {k for k in potential if inst.tier_of[k[1]] not in excluded}
    reach: dict[tuple[str, str], set[str]] = defaultdict(set)  # (item, importer) -> usable origins
    for item, origin, imp in inst.lane_for:
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
        out += ctx.capacity() + ctx.country_share() + ctx.caps() + ctx.min_suppliers(allowed) + ctx.n1()
    return out


def _no_supplier(inst: Instance, reach: dict, excluded: set[str], file: str, lines: dict) -> list[Problem]:
    out = []
    note = f" (tiers excluded: {', '.join(sorted(excluded))})" if excluded else ""
    for d in inst.demand:
        if d.quantity > 0 and not reach[(d.item, d.importer)]:
            out.append(Problem(file, lines.get((d.importer, d.item)), "item", d.item,
                               f"no possible supplier of {d.item} for {d.importer}; expected a supply row with "
                               f"capacity or an investment option, of an allowed tier{note}, in {d.importer} itself "
                               f"or with a lane to {d.importer}"))
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
        return Problem(self.file, None, column, None if value is None else f"{value:g}", f"policy: {self.item}: {text}")

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
