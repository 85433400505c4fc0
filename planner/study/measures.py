"""Security measures for a study's frontiers: how to cap one at a level, and how to read it from a
solved run. Apart from the study's plan (core.py) and its frontier tables (frontier.py), which both use them."""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from planner.instance.schema import Instance

class Measure:
    """A security measure for frontiers: how to cap it at a level, and how to read it from a solution.

    To add one (e.g. worst-case shortfall once the resilience model has it):
    subclass, set ``kind``, implement the four methods, add it to MEASURES.
    """

    kind: ClassVar[str] = ""
    needs_of: ClassVar[bool] = False

    def __init__(self, of: str | None = None):
        self.of = of

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.of}" if self.of else self.kind

    @property
    def title(self) -> str:
        return self.label

    def check(self, inst: Instance) -> str | None:
        """Why the measure cannot apply to ``inst``, or None."""
        return None

    def overrides(self, inst: Instance, level: float) -> dict[str, Any]:
        """Overrides that cap the measure at ``level`` everywhere (instance-wide and in every item override)."""
        raise NotImplementedError

    def value(self, kpis: pd.DataFrame, solution, inst: Instance) -> float:
        """The measure achieved by a solved run (friendshored case)."""
        raise NotImplementedError


class _CapsShare(Measure):
    needs_of = True
    field: ClassVar[str] = ""

    def overrides(self, inst: Instance, level: float) -> dict[str, Any]:
        out: dict[str, Any] = {f"policy.{self.field}.{self.of}": level}
        for item, ip in inst.policy.items.items():
            # An item's own caps replace the instance-wide ones whole: cap the measure there too.
            if getattr(ip, self.field) is not None:
                out[f"policy.items.{item}.{self.field}.{self.of}"] = level
        return out


class TierShare(_CapsShare):
    """Largest share of any importer's demand for any item supplied from one trust tier."""

    kind = "tier_share"
    field = "tier_caps"

    @property
    def title(self) -> str:
        return f"largest share from tier '{self.of}' (any item, importer)"

    def check(self, inst: Instance) -> str | None:
        if self.of not in inst.meta.tiers:
            return f"unknown tier; expected one of the base's tiers: {', '.join(inst.meta.tiers)}"
        return None

    def value(self, kpis, solution, inst) -> float:
        # Over every item and importer (and every period of a multi-period run).
        v = kpis.loc[(kpis["kpi"] == "tier_share") & (kpis["group"] == self.of), "friendshored"]
        return float(v.max()) if len(v) else 0.0


class GroupShare(_CapsShare):
    """Largest share of any importer's demand for any item supplied by members of one group (or tier)."""

    kind = "group_share"
    field = "group_caps"

    @property
    def title(self) -> str:
        return f"largest share from group '{self.of}' (any item, importer)"

    def check(self, inst: Instance) -> str | None:
        if not inst.members(self.of):
            groups = sorted({g for c in inst.countries for g in c.groups})
            return f"no country is in this group; expected one of: {', '.join(groups) or '(none)'}"
        return None

    def value(self, kpis, solution, inst) -> float:
        a = solution.allocations
        inside = a[a["country"].isin(inst.members(self.of))]
        # Multi-period: shares are per period, and the level caps every period, so take the largest.
        v = inside.groupby([c for c in ("period", "item", "importer") if c in a.columns])["share"].sum()
        return float(v.max()) if len(v) else 0.0


class CountryShare(Measure):
    """Largest share of any importer's demand for any item supplied by one country."""

    kind = "country_share"

    @property
    def title(self) -> str:
        return "largest single-country share (any item, importer)"

    def check(self, inst: Instance) -> str | None:
        return "country_share takes no 'of'; expected it left out" if self.of else None

    def overrides(self, inst: Instance, level: float) -> dict[str, Any]:
        out: dict[str, Any] = {"policy.country_share_cap": level}
        for item, ip in inst.policy.items.items():
            if ip.country_share_cap is not None:
                out[f"policy.items.{item}.country_share_cap"] = level
        return out

    def value(self, kpis, solution, inst) -> float:
        # One row, or one per period of a multi-period run: the level caps every period, so the largest.
        v = kpis.loc[(kpis["kpi"] == "max_country_share") & (kpis["item"] == "all"), "friendshored"]
        return float(v.max()) if len(v) else 0.0


MEASURES: dict[str, type[Measure]] = {m.kind: m for m in (TierShare, GroupShare, CountryShare)}
