"""The plain-dict look-ups the constraint families share, in one small typed object (``m.look``)
instead of attributes hung on the model one by one. ``sets.py`` fills most of them, ``flows.py``
and ``bom.py`` the variables shipping out of each option, ``bom.py`` the plants and feed routes,
``recourse.py`` its scenario blocks. Plain dicts keep the build fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Lookups:
    routes_from: dict[tuple[str, str], list] = field(default_factory=dict)
    """(item, country) -> its routes (item, country, importer)."""
    routes_to: dict[tuple[str, str], list] = field(default_factory=dict)
    """(item, importer) -> routes reaching it."""
    option_site: dict[str, tuple[str, str]] = field(default_factory=dict)
    """investment option -> (item, country)."""
    options_at: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(item, country) -> investment options there."""
    countries_of: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """item -> its supply options (item, country)."""
    max_capacity_u: dict[tuple[str, str], float] = field(default_factory=dict)
    """(item, country) -> most it could ever deliver: existing capacity plus every investment, unit per year."""
    item_demand_u: dict[str, float] = field(default_factory=dict)
    """item -> total demand over importers, unit per year."""
    outflows: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    """(item, country) -> every variable shipping out of the option: final flows and feeds to plants."""
    plants_using: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(input, plant country) -> outputs made there from it (multi-tier)."""
    feeds_to: dict[tuple[str, str], list] = field(default_factory=dict)
    """(input, plant country) -> feed routes reaching it."""
    feeds_from: dict[tuple[str, str], list] = field(default_factory=dict)
    """(input, origin) -> feed routes leaving it."""
    shared_stocks: dict[str, Any] = field(default_factory=dict)
    """shared stockpile id -> its row (items in demand, with members)."""
    rerouted: dict[tuple[str, str, str, str], Any] = field(default_factory=dict)
    """(scenario, item, supplier, importer) -> expression of the volume sent over the route's detour."""
    recourse_blocks: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(scenario, item) -> its block of the second stage."""
