"""Who counts as a friend: trust tiers derived from UN General Assembly votes and memberships.

``policy.trust`` (:class:`planner.instance.schema.TrustRule`) says how the countries' tiers are set:
from countries.csv as written (``source: table``, the default), from how closely each country votes
with the anchors (``source: votes``), or from memberships alone (``source: groups``). This module is
the one place that turns a rule into tiers; :attr:`Instance.tier_of` calls it, so every solve, check
and study sees the same tiers.

Scores, one per country, 0 to 1 (1: votes as the anchors do):
  agreement       share of the roll calls both cast a vote in where they voted alike;
  agreement_half  the same, an abstention against a yes or a no counting half (1 - mean |a - b|,
                  yes = 1, abstain = 0.5, no = 0);
  ideal_point     1 - |position - the anchor's| / (range of positions), the positions a one-dimensional
                  classical (Torgerson) scaling of the pairwise vote distances (1 - agreement_half).
Several anchors: the mean of the per-anchor scores. ``scale: percentile`` turns each anchor's scores
into percentile ranks among the countries voting in the window before the mean (the US agrees with
almost everyone rarely, so absolute thresholds mean different things per anchor).

The data (planner/instance/unga/README.md) ends in January 2020 and has no Taiwan; countries without
enough votes keep their countries.csv tier or take ``fallback``, and the result names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner.errors import Problem

if TYPE_CHECKING:
    from planner.instance.schema import Instance, TrustRule

DATA = Path(__file__).with_name("unga")
FIRST_YEAR, LAST_YEAR = 1991, 2020
"""Years the vote data covers (the last roll call is of 2020-01-14)."""
_CODES = {"yes": 1, "abstain": 2, "no": 3}
_VALUE = np.array([np.nan, 1.0, 0.5, 0.0])  # code -> position on the yes (1) .. no (0) scale


@dataclass(frozen=True)
class Votes:
    """Roll calls x countries: 0 no vote recorded (absent, not a member), 1 yes, 2 abstain, 3 no."""

    matrix: np.ndarray
    codes: tuple[str, ...]
    years: np.ndarray

    def window(self, first: int, last: int) -> "Votes":
        keep = (self.years >= first) & (self.years <= last)
        return Votes(self.matrix[keep], self.codes, self.years[keep])

    def column(self, code: str) -> int:
        return self.codes.index(code)


@lru_cache(maxsize=1)
def votes() -> Votes:
    """The packaged votes as a matrix (read once per process)."""
    v = pd.read_parquet(DATA / "votes.parquet")
    rc = pd.read_csv(DATA / "roll_calls.csv", keep_default_na=False, na_values=[""])
    codes = tuple(sorted(str(c) for c in v["country_code"].astype(str).unique()))
    rows = {r: k for k, r in enumerate(rc["rcid"])}
    m = np.zeros((len(rc), len(codes)), dtype=np.int8)
    col = {c: k for k, c in enumerate(codes)}
    m[v["rcid"].map(rows).to_numpy(), v["country_code"].astype(str).map(col).to_numpy()] = \
        v["vote"].astype(str).map(_CODES).to_numpy()
    years = pd.to_datetime(rc["date"]).dt.year.to_numpy()
    return Votes(m, codes, years)


@lru_cache(maxsize=1)
def country_names() -> dict[str, str]:
    c = pd.read_csv(DATA / "countries.csv", keep_default_na=False, na_values=[""])  # Namibia is "NA"
    return dict(zip(c["country_code"], c["country"]))


def agreement(v: Votes, anchor: str, half: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(share agreeing with ``anchor``, number of shared votes) of every country, over ``v``'s roll calls.
    Absences count in neither; ``half``: an abstention against a yes or a no counts half."""
    a = v.matrix[:, v.column(anchor)]
    both = (a > 0)[:, None] & (v.matrix > 0)
    n = both.sum(axis=0)
    if half:
        same = 1.0 - np.abs(_VALUE[v.matrix] - _VALUE[a][:, None])
    else:
        same = (v.matrix == a[:, None]).astype(float)
    hits = np.where(both, same, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, hits / np.maximum(n, 1), np.nan), n


def ideal_points(v: Votes, min_votes: int) -> np.ndarray:
    """One-dimensional positions of the countries with at least ``min_votes`` votes in ``v`` (NaN for
    the rest): classical multidimensional scaling (Torgerson) of the pairwise distances
    1 - agreement_half, the first coordinate. Oriented so that more yes votes lie higher."""
    cast = (v.matrix > 0).sum(axis=0)
    ok = np.flatnonzero(cast >= min_votes)
    m = v.matrix[:, ok]
    ind = [(m == k).astype(float) for k in (1, 2, 3)]  # yes, abstain, no indicators
    y, ab, no = ind
    # Sum over shared roll calls of |x_i - x_j|: 1 for yes-no, 0.5 when one abstains and the other does not.
    diff = y.T @ no + no.T @ y + 0.5 * (y.T @ ab + ab.T @ y + ab.T @ no + no.T @ ab)
    shared = (m > 0).astype(float)
    n = shared.T @ shared
    d = np.where(n > 0, diff / np.maximum(n, 1), 1.0)
    k = len(ok)
    j = np.eye(k) - 1.0 / k
    b = -0.5 * j @ (d**2) @ j
    w, vec = np.linalg.eigh(b)
    pos = vec[:, -1] * np.sqrt(max(w[-1], 0.0))
    yes_share = y.sum(axis=0) / np.maximum(shared.sum(axis=0), 1)
    if np.corrcoef(pos, yes_share)[0, 1] < 0:
        pos = -pos
    out = np.full(len(v.codes), np.nan)
    out[ok] = pos
    return out


@dataclass(frozen=True)
class Trust:
    """Tiers under a rule and how each was set."""

    tiers: dict[str, str]
    table: pd.DataFrame
    """One row per instance country: code, name, table_tier, score, percentile, votes, tier, basis."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Plain-words warnings: countries without votes and what they were given."""


def anchors_of(rule: TrustRule, inst: Instance) -> tuple[str, ...]:
    """The rule's anchors; none given: the instance's importers."""
    return tuple(rule.anchors) or tuple(sorted({d.importer for d in inst.demand}))


def scores(rule: TrustRule, anchors: tuple[str, ...]) -> pd.DataFrame:
    """Score of every country in the vote data against ``anchors`` over the rule's window: one row per
    country (code, name, votes, score_<anchor>..., score, percentile); score and percentile NaN where a
    country has fewer than ``rule.min_votes`` shared votes with an anchor."""
    v = votes().window(rule.from_year, rule.to_year)
    per: dict[str, np.ndarray] = {}
    shared = np.full(len(v.codes), np.iinfo(np.int64).max)
    if rule.measure == "ideal_point":
        pos = ideal_points(v, rule.min_votes)
        span = np.nanmax(pos) - np.nanmin(pos)
        for a in anchors:
            per[a] = 1.0 - np.abs(pos - pos[v.column(a)]) / span if span > 0 else np.where(np.isnan(pos), np.nan, 1.0)
        shared = np.where(np.isnan(pos), 0, (v.matrix > 0).sum(axis=0))
    else:
        for a in anchors:
            per[a], n = agreement(v, a, half=rule.measure == "agreement_half")
            shared = np.minimum(shared, n)
            per[a] = np.where(n >= rule.min_votes, per[a], np.nan)
    names = country_names()
    df = pd.DataFrame({"code": v.codes, "name": [names.get(c, c) for c in v.codes],
                       "votes": (v.matrix > 0).sum(axis=0), "shared_votes": shared})
    for a in anchors:
        df[f"score_{a}"] = per[a]
    cols = [f"score_{a}" for a in anchors]
    df["score"] = df[cols].mean(axis=1, skipna=False)
    # Percentile within each anchor's scores (the anchor itself included, at the top), then the mean.
    pct = df[cols].rank(pct=True, method="max")
    df["percentile"] = pct.mean(axis=1, skipna=False)
    return df


def derive(inst: Instance) -> Trust:
    """The tiers of ``inst``'s countries under its ``policy.trust`` (countries.csv's tiers when it has none)."""
    rule = inst.meta.policy.trust
    table_tier = {c.code: c.tier for c in inst.countries}
    names = {c.code: c.name for c in inst.countries}
    tiers = list(inst.meta.tiers)
    rows, notes, out = [], [], {}
    if rule is None or rule.source == "table":
        for c in inst.countries:
            rows.append((c.code, c.name, c.tier, np.nan, np.nan, 0, c.tier, "countries.csv"))
        return Trust(dict(table_tier), _frame(rows))
    anchors = anchors_of(rule, inst)
    s = scores(rule, anchors).set_index("code") if rule.source == "votes" else None
    value = "percentile" if rule.scale == "percentile" else "score"
    others = rule.others or tiers[-1]
    # The anchors define who is a friend: they take the most trusted tier the rule gives (their own
    # percentile against the other anchors can be low: the US and Japan agree on 42 % of votes).
    top = min(list(rule.cutoffs) or [tiers[0]], key=tiers.index)
    missing = []
    for c in inst.countries:
        code = c.code
        if c.tier in rule.keep:
            out[code] = c.tier
            rows.append((code, c.name, c.tier, np.nan, np.nan, 0, c.tier, f"kept: tier {c.tier} is in trust.keep"))
            continue
        if s is not None and code in anchors:
            sc, pct = (float(s.loc[code, "score"]), float(s.loc[code, "percentile"])) if code in s.index \
                else (np.nan, np.nan)
            out[code] = top
            rows.append((code, c.name, c.tier, sc, pct, int(s.loc[code, "votes"]) if code in s.index else 0, top,
                         "anchor"))
            continue
        candidates, basis = [], []
        sc = pct = np.nan
        nv = 0
        if s is not None:
            if code in s.index and not np.isnan(s.loc[code, value]):
                sc, pct, nv = float(s.loc[code, "score"]), float(s.loc[code, "percentile"]), int(s.loc[code, "votes"])
                x = pct if value == "percentile" else sc
                hit = next((t for t in tiers if t in rule.cutoffs and x >= rule.cutoffs[t] - 1e-12), None)
                if hit is not None:
                    candidates.append(hit)
                    basis.append(f"{value} {x:.2f} >= {rule.cutoffs[hit]:g}")
            else:
                missing.append(code)
        for t, groups in rule.groups.items():
            hit_groups = [g for g in groups if g in c.groups]
            if hit_groups:
                candidates.append(t)
                basis.append(f"member of {', '.join(hit_groups)}")
        if code in missing and not candidates:
            tier = c.tier if rule.fallback == "table" else rule.fallback
            basis.append("no votes in the window: " + ("kept its countries.csv tier" if rule.fallback == "table"
                                                        else f"fallback tier {rule.fallback}"))
        elif candidates:
            tier = min(candidates, key=tiers.index)  # the most trusted tier any part of the rule gives
        else:
            tier = others
            basis.append(f"below every cut-off: {others}" if s is not None else f"in no listed group: {others}")
        out[code] = tier
        rows.append((code, names[code], c.tier, sc, pct, nv, tier, "; ".join(basis)))
    if missing:
        what = "keep their countries.csv tier" if rule.fallback == "table" else f"get the fallback tier {rule.fallback}"
        notes.append(f"no UN General Assembly votes in {rule.from_year}-{rule.to_year} (data to January 2020) for "
                     f"{', '.join(missing)}: they {what}" + (" (Taiwan is not a UN member)" if "TW" in missing else ""))
    return Trust(out, _frame(rows), tuple(notes))


def _frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["code", "name", "table_tier", "score", "percentile", "votes", "tier", "basis"])


def check_rule(rule: TrustRule | None, tiers: set[str], groups: set[str] | None, importers: set[str] | None,
               file: str) -> list[Problem]:
    """A rule's names and window must exist: tiers, groups, anchors with votes in the window."""
    if rule is None or rule.source == "table":
        return []
    out: list[Problem] = []
    listing = ", ".join(sorted(tiers))
    named = [("cutoffs", t) for t in rule.cutoffs] + [("groups", t) for t in rule.groups] + \
        [("keep", t) for t in rule.keep] + [("others", t) for t in (rule.others,) if t]
    for where, t in named:
        if t not in tiers:
            out.append(Problem(file, None, f"policy.trust.{where}", t, f"unknown tier; expected one of: {listing}"))
    if rule.fallback != "table" and rule.fallback not in tiers:
        out.append(Problem(file, None, "policy.trust.fallback", rule.fallback,
                           f"unknown tier; expected 'table' or one of: {listing}"))
    for t, gs in rule.groups.items():
        for g in gs:
            if groups is not None and g not in groups:
                out.append(Problem(file, None, f"policy.trust.groups.{t}", g,
                                   "unknown group (no country has it in countries.csv); expected one of: "
                                   + ", ".join(sorted(groups))))
    if rule.source == "groups":
        if not rule.groups:
            out.append(Problem(file, None, "policy.trust.groups", "{}",
                               "a membership rule needs at least one tier's groups, e.g. {ally: [MSP]}"))
        return out
    if not rule.cutoffs:
        out.append(Problem(file, None, "policy.trust.cutoffs", "{}",
                           "a voting rule needs at least one cut-off, e.g. {ally: 0.8}"))
    window = f"{rule.from_year}-{rule.to_year}"
    if rule.from_year > rule.to_year or rule.to_year < FIRST_YEAR or rule.from_year > LAST_YEAR:
        out.append(Problem(file, None, "policy.trust.from_year", window,
                           f"a window with no votes; expected from_year <= to_year within {FIRST_YEAR}-{LAST_YEAR} "
                           "(the vote data ends in January 2020)"))
        return out
    v = votes().window(rule.from_year, rule.to_year)
    cast = dict(zip(v.codes, (v.matrix > 0).sum(axis=0)))
    anchors = list(rule.anchors) or sorted(importers or ())
    column = "policy.trust.anchors" if rule.anchors else "policy.trust.anchors (empty: the importers)"
    for a in anchors:
        if cast.get(a, 0) < rule.min_votes:
            out.append(Problem(file, None, column, a,
                               f"unknown anchor: {cast.get(a, 0)} UN General Assembly votes in {window} (Taiwan has "
                               f"none); expected an ISO code that voted at least min_votes = {rule.min_votes} times"))
    return out


def describe(rule: TrustRule, anchors: tuple[str, ...]) -> str:
    """The rule in one line of plain words (the sources.csv row of a baked copy, and run.json)."""
    if rule.source == "table":
        return "tiers as written in countries.csv"
    parts = []
    if rule.source == "votes":
        cut = ", ".join(f"{t} if {rule.scale} >= {v:g}" for t, v in rule.cutoffs.items())
        parts.append(f"UN General Assembly votes {rule.from_year}-{rule.to_year}, {rule.measure} with "
                     f"{', '.join(anchors)} ({rule.scale}, mean over the anchors): {cut}; the anchors take the "
                     "most trusted of these tiers")
    for t, gs in rule.groups.items():
        parts.append(f"{t} if a member of {' or '.join(gs)}")
    parts.append(f"otherwise {rule.others or 'the last tier'}")
    if rule.source == "votes":
        parts.append("no votes: " + ("countries.csv tier" if rule.fallback == "table" else rule.fallback))
    if rule.keep:
        parts.append(f"tiers kept: {', '.join(rule.keep)}")
    return "; ".join(parts)


def baked(inst: Instance) -> Instance:
    """``inst`` with its derived tiers written into the countries table and no trust rule left: a copy
    that solves the same, read by anyone without the vote data."""
    tiers = inst.tier_of
    countries = tuple(c.model_copy(update={"tier": tiers[c.code]}) for c in inst.countries)
    policy = inst.policy.model_copy(update={"trust": None})
    return inst.replace(countries=countries, meta=inst.meta.model_copy(update={"policy": policy}))
