"""Strict, frozen schemas of a Friendshore instance.

Every table row is a pydantic model with ``extra="forbid"`` and ``frozen=True``;
its field docstrings give the unit and are the single source for
``docs/instance-format.md``.  ``planner.instance.io`` reads files into these models and
checks references across tables; ``models/`` only ever sees a validated
:class:`Instance`.
"""

from __future__ import annotations

from functools import cached_property
from collections import defaultdict
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALL = "*"
"""Wildcard accepted in list columns (all items, all hosts) and in lanes.item."""

# Strict numbers: YAML's true/yes/on and a quoted '0.5' are refused, never read as 1.0 or 0.5
# (whole numbers are fine).  Table cells are parsed from text by planner.instance.tables, not by these.
Rate = Annotated[float, Field(ge=0.0, le=1.0, strict=True)]
NonNeg = Annotated[float, Field(ge=0.0, allow_inf_nan=False, strict=True)]


HS_CODE = r"^[0-9]{6}$"
HsCode = Annotated[str, Field(pattern=HS_CODE)]
"""A six-digit Harmonized System code, as text (leading zeros kept)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# --------------------------------------------------------------------------- tables
class Country(Strict):
    key: ClassVar[tuple[str, ...]] = ("code",)
    code: str
    """Short country code used in every other table (e.g. JP, US, CN)."""
    name: str
    """Display name."""
    tier: str
    """Trust tier; must be one of the tiers declared in instance.yaml."""
    groups: tuple[str, ...] = ()
    """Partnerships the country belongs to, separated by ';' (e.g. MSP;IPEF;Chip4)."""


class Item(Strict):
    key: ClassVar[tuple[str, ...]] = ("id",)
    sparse: ClassVar[tuple[str, ...]] = ("stage", "hs_codes")
    id: str
    """Item identifier (e.g. gallium)."""
    name: str
    """Display name."""
    unit: str
    """Physical unit of every volume of this item (e.g. t, GWh, wafers)."""
    category: str = ""
    """Free grouping label (e.g. critical mineral, semiconductor)."""
    stage: str = ""
    """Supply-chain stage id from stages.csv (e.g. mining, separation, magnet); empty in single-tier instances."""
    hs_codes: tuple[HsCode, ...] = ()
    """HS 2017 six-digit codes whose imports stand for the item in trade data, separated by ';' (used by ``friendshore baseline --from-trade``; empty: the data do not cover the item)."""


class Supply(Strict):
    key: ClassVar[tuple[str, ...]] = ("item", "country")
    guarded: ClassVar[tuple[str, ...]] = ("qualification_cost", "min_order")
    """Optional columns carrying a cost, capacity or quantity: absent only if instance.yaml's
    ``defaults`` lists them (never a silent default)."""
    sparse: ClassVar[tuple[str, ...]] = ("surge", "period")
    item: str
    """Item id."""
    country: str
    """Supplier country code."""
    capacity: NonNeg
    """Existing capacity available to the importers, item unit per year."""
    unit_cost: NonNeg
    """Ex-works purchase price, currency per item unit."""
    qualification_cost: NonNeg = 0.0
    """Fixed cost paid once per year if the country is qualified as a supplier of the item, currency per year."""
    min_order: NonNeg = 0.0
    """Minimum total volume bought from a qualified supplier, item unit per year (0 = none)."""
    period: int | None = None
    """Period id (periods.csv) from which the row holds, until the key's row of a later period; empty: every period (instances without periods.csv leave it empty)."""
    surge: Rate = 1.0
    """Share of a qualified supplier's spare capacity (qualified capacity minus contracted volume) it can ship to the importers in a crisis, fraction in [0, 1] (default 1: all of it)."""


class Demand(Strict):
    key: ClassVar[tuple[str, ...]] = ("importer", "item")
    sparse: ClassVar[tuple[str, ...]] = ("period",)
    importer: str
    """Importing country code."""
    item: str
    """Item id."""
    quantity: NonNeg
    """Demand to be met, item unit per year."""
    period: int | None = None
    """Period id (periods.csv) from which the row holds, until the key's row of a later period; empty: every period (instances without periods.csv leave it empty)."""


class Lane(Strict):
    key: ClassVar[tuple[str, ...]] = ("origin", "importer", "item")
    guarded: ClassVar[tuple[str, ...]] = ("transport_cost", "tariff_rate")
    sparse: ClassVar[tuple[str, ...]] = ("chokepoints", "transit_days", "period", "detour_cost", "detour_days",
                                         "detour_chokepoints")
    origin: str
    """Supplier country code."""
    importer: str
    """Importing country code."""
    item: str = ALL
    """Item id, or '*' for every item (a row for a named item overrides the '*' row)."""
    transport_cost: NonNeg = 0.0
    """Freight and insurance, currency per item unit."""
    tariff_rate: NonNeg = 0.0
    """Ad-valorem tariff on the unit cost, a fraction (1.45 = 145 %; any non-negative rate, a warning above 3)."""
    chokepoints: tuple[str, ...] = ()
    """Named sea lanes the route passes (e.g. malacca;red_sea), separated by ';'; a scenario blocking one closes the lane."""
    transit_days: NonNeg = 0.0
    """Door-to-door transit time, days (reported in network outputs; not used by the optimisation)."""
    detour_cost: NonNeg | None = None
    """Extra freight of the alternative route taken when a scenario blocks one of the lane's chokepoints, currency per item unit (empty: no alternative, the lane closes)."""
    detour_days: NonNeg = 0.0
    """Extra transit days of the alternative route: in a crisis, supply on it arrives that much later."""
    detour_chokepoints: tuple[str, ...] = ()
    """Chokepoints the alternative route passes, separated by ';' (a scenario blocking one closes it too)."""
    period: int | None = None
    """Period id (periods.csv) from which the row holds, until the key's row of a later period; empty: every period (instances without periods.csv leave it empty)."""


class Investment(Strict):
    key: ClassVar[tuple[str, ...]] = ("option",)
    sparse: ClassVar[tuple[str, ...]] = ("lead_time_years", "earliest_decision", "ramp_up", "lifetime_years")
    option: str
    """Investment option id."""
    item: str
    """Item id the new capacity produces."""
    country: str
    """Host country code; needs a supply row for (item, country), which gives the unit cost (capacity 0 is fine)."""
    capacity: NonNeg
    """Capacity added if built, item unit per year."""
    capex: NonNeg
    """Annualised investment cost if built, currency per year."""
    programmes: tuple[str, ...] = ()
    """Programme ids whose subsidy the option may receive, separated by ';'."""
    lead_time_years: int = Field(default=0, ge=0)
    """Multi-period: years from the decision to first production (the capacity counts from the first period starting at or after decision + lead time)."""
    earliest_decision: int | None = None
    """Multi-period: first period id in which the option may be decided (empty: the first period)."""
    ramp_up: Rate = 1.0
    """Multi-period: share of the capacity available in the first period online (full capacity afterwards), fraction."""
    lifetime_years: int | None = Field(default=None, ge=1)
    """Multi-period: years of service from first production (empty: beyond the horizon); also the annuity period of the overnight cost."""


class Programme(Strict):
    key: ClassVar[tuple[str, ...]] = ("id",)
    sparse: ClassVar[tuple[str, ...]] = ("carry_over", "period")
    guarded: ClassVar[tuple[str, ...]] = ("rate",)
    id: str
    """Programme id."""
    funding_country: str
    """Country code of the government paying the subsidy."""
    rate: Rate = 1.0 / 3.0
    """Share of capex paid by the programme, fraction in [0, 1] (default one-third)."""
    budget: NonNeg
    """Most the programme pays per year over all options, currency per year."""
    items: tuple[str, ...] = (ALL,)
    """Eligible item ids separated by ';', or '*' for all."""
    hosts: tuple[str, ...] = (ALL,)
    """Eligible host country codes or tier names separated by ';', or '*' for all."""
    carry_over: int = Field(default=0, ge=0, le=1)
    """Multi-period: 1 if money unspent in a fiscal year may be spent in later periods, 0 if it lapses."""
    period: int | None = None
    """Period id (periods.csv) from which the row holds, until the key's row of a later period; empty: every period (instances without periods.csv leave it empty)."""


class Baseline(Strict):
    key: ClassVar[tuple[str, ...]] = ("importer", "item", "country", "basis")
    sparse: ClassVar[tuple[str, ...]] = ("basis",)
    importer: str
    """Importing country code."""
    item: str
    """Item id."""
    country: str
    """Supplier country code today."""
    share: Rate | None = None
    """Share of the importer's demand for the item sourced from the country today, fraction (give share or volume)."""
    volume: NonNeg | None = None
    """Volume sourced from the country today, item unit per year (give share or volume)."""
    basis: str = ""
    """What the row rests on, when the table holds several (e.g. trade-2024 for shares from trade data); instance.yaml's ``baseline_basis`` chooses one, and rows with an empty basis serve every (importer, item) the chosen basis leaves out."""


class Scenario(Strict):
    key: ClassVar[tuple[str, ...]] = ("id",)
    sparse: ClassVar[tuple[str, ...]] = ("periods", "delay_weeks", "ramp_weeks", "spare_share")
    guarded: ClassVar[tuple[str, ...]] = ("loss", "probability")
    id: str
    """Scenario id (generated scenarios use n1:<country>, n2:<country>+<country>, chokepoint:<name>)."""
    name: str = ""
    """Display name."""
    countries: tuple[str, ...] = ()
    """Disrupted supplier country codes, separated by ';'."""
    chokepoints: tuple[str, ...] = ()
    """Blocked chokepoints, separated by ';' (names as in lanes.chokepoints): every lane listing one is closed."""
    items: tuple[str, ...] = (ALL,)
    """Items the disruption hits, separated by ';', or '*' for all (e.g. an export ban on some items)."""
    loss: Rate = 1.0
    """Share of the disrupted countries' capacity (existing and built) lost for the duration, fraction in [0, 1]."""
    duration_weeks: NonNeg
    """How long the loss or blockage lasts, weeks (> 0); the crisis volume is annual demand x duration / 52."""
    recovery_weeks: NonNeg | None = None
    """Time to recover (TTR): weeks from the start until supply is fully back, at least duration_weeks (empty = duration_weeks)."""
    probability: Rate = 0.0
    """Probability that the scenario happens in a year, fraction (used by the expected mode)."""
    periods: tuple[str, ...] = ()
    """Multi-period: period ids in which the scenario can strike, separated by ';' (empty: every period)."""
    delay_weeks: NonNeg | None = None
    """Crisis response delay of this scenario, weeks: until then only stockpiles and contracted supply serve demand (empty = policy.crisis.delay_weeks)."""
    ramp_weeks: NonNeg | None = None
    """Weeks after the delay over which spare capacity ramps up to its surge level (empty = policy.crisis.ramp_weeks)."""
    spare_share: Rate | None = None
    """Share of the surviving spare capacity the coalition gets in this scenario, other buyers take the rest (empty = the policy's spare_share)."""

    @property
    def ttr_weeks(self) -> float:
        return self.duration_weeks if self.recovery_weeks is None else self.recovery_weeks

    def hits(self, item: str) -> bool:
        """True if the scenario concerns ``item``."""
        return ALL in self.items or item in self.items


class Stock(Strict):
    key: ClassVar[tuple[str, ...]] = ("item", "importer")
    guarded: ClassVar[tuple[str, ...]] = ("existing", "holding_cost", "max_stock")
    item: str
    """Item id."""
    importer: str
    """Importing country code holding the stockpile."""
    existing: NonNeg = 0.0
    """Stockpile held today, item unit (kept: the plan may add to it, never sell it)."""
    holding_cost: NonNeg = 0.0
    """Cost of holding one unit for a year (storage, insurance, capital tied up), currency per item unit per year."""
    max_stock: NonNeg | None = None
    """Most the importer may hold, item unit (empty = no limit); at least existing."""


class SharedStock(Strict):
    key: ClassVar[tuple[str, ...]] = ("id",)
    guarded: ClassVar[tuple[str, ...]] = ("existing", "holding_cost", "max_stock")
    id: str
    """Shared stockpile id."""
    item: str
    """Item id."""
    group: str
    """Tier or group of countries.csv holding it together: its members with demand for the item draw from it in a crisis."""
    existing: NonNeg = 0.0
    """Stockpile held today, item unit (kept: the plan may add to it, never sell it)."""
    holding_cost: NonNeg = 0.0
    """Cost of holding one unit for a year, currency per item unit per year (split between the members by cost_split)."""
    max_stock: NonNeg | None = None
    """Most the group may hold, item unit (empty = no limit); at least existing."""
    release: Literal["pooled", "pro_rata"] = "pooled"
    """pooled: a coordinated release, any split between the members; pro_rata: each member may draw at most its share of the members' demand."""
    cost_split: Literal["demand", "equal"] = "demand"
    """Key that splits the holding cost between the members: pro rata to their demand for the item, or equally."""


class Stage(Strict):
    key: ClassVar[tuple[str, ...]] = ("id",)
    id: str
    """Stage id used in items.stage and policy.stage_caps (e.g. mining, separation, magnet)."""
    name: str = ""
    """Display name."""
    order: int
    """Position in the chain, upstream first (e.g. 1 mining, 2 separation, 3 magnet); a bill-of-materials input is never at a later stage than its output."""


class Bom(Strict):
    key: ClassVar[tuple[str, ...]] = ("output", "input")
    output: str
    """Item id made from the input (a supply row of it in a country is a plant there)."""
    input: str
    """Item id consumed."""
    quantity: NonNeg
    """Input consumed per unit of output, yield losses included, input unit per output unit (> 0)."""


class Period(Strict):
    key: ClassVar[tuple[str, ...]] = ("period",)
    period: int
    """Period id: the first calendar year it represents (e.g. 2025); periods follow each other without gaps."""
    years: int = Field(ge=1)
    """Number of years the period represents (its operating costs count once per year, discounted)."""
    discount_rate: Rate | None = None
    """Discount rate per year within the period, fraction (empty: instance.yaml's discount_rate)."""


KEY_SEP = ":"
"""Joins a row's key columns into the row key that overrides and ranges name (``supply.gallium:CN.capacity``)."""


def join_key(values: Iterable[Any]) -> str:
    """THE row key: the key columns' values as text, joined by :data:`KEY_SEP`."""
    return KEY_SEP.join(str(v) for v in values)


DISTRIBUTIONS = ("uniform", "triangular", "normal", "lognormal")


class Range(Strict):
    key: ClassVar[tuple[str, ...]] = ("table", "row", "column")
    table: str
    """Table of the uncertain input (supply, lanes, investments, programmes, scenarios, stock, demand, ...)."""
    row: str
    """The row's key columns joined by ':', as overrides name it (e.g. 'gallium:CN' in supply)."""
    column: str
    """The uncertain numeric column of that row (e.g. unit_cost, capacity, capex, probability)."""
    low: float = Field(allow_inf_nan=False)
    """Lowest plausible value, in the column's unit."""
    central: float = Field(allow_inf_nan=False)
    """Central value: must equal the value in the table (the instance as solved)."""
    high: float = Field(allow_inf_nan=False)
    """Highest plausible value, in the column's unit (> low)."""
    distribution: str
    """One of DISTRIBUTIONS. Shape between low and high: uniform; triangular with its mode at central; normal around central,
    truncated to [low, high]; lognormal around central (low > 0), truncated to [low, high]."""
    group: str = ""
    """Correlation group: inputs of one group move together (one draw, each mapped to its own range)."""
    source: str
    """Where the range comes from (a source id of sources.csv), or 'assumption'."""


TABLES: dict[str, type[Strict]] = {
    "countries": Country,
    "items": Item,
    "supply": Supply,
    "demand": Demand,
    "lanes": Lane,
    "investments": Investment,
    "programmes": Programme,
    "baseline": Baseline,
    "scenarios": Scenario,
    "stock": Stock,
    "shared_stock": SharedStock,
    "stages": Stage,
    "bom": Bom,
    "periods": Period,
    "ranges": Range,
}
"""Table name -> row schema, in reading order.  The file is ``<name>.csv`` or a sheet ``<name>``."""

REQUIRED_TABLES = ("countries", "items", "supply", "demand")
"""Tables every instance must have; the others may be absent (empty)."""


# --------------------------------------------------------------------------- policy
Level = Rate | dict[int, Rate]
"""A cap or level: one fraction for every period, or a trajectory {year: fraction} (multi-period
instances; a dated value holds from the first period starting at or after its year)."""
Count = Annotated[int, Field(ge=0, strict=True)]


class ItemPolicy(Strict):
    """Per-item overrides of the instance-wide policy; unset fields inherit."""

    country_share_cap: Level | None = None
    """Most any one country may supply of an importer's demand for the item, fraction."""
    tier_caps: dict[str, Level] | None = None
    """Tier name -> most that tier may supply of an importer's demand, fraction."""
    group_caps: dict[str, Level] | None = None
    """Group name -> most that group's members may supply of an importer's demand, fraction."""
    min_suppliers: Count | dict[int, Count] | None = None
    """Least number of qualified supplier countries for the item."""
    n1_beta: Level | None = None
    """N-1 level: qualified capacity outside any one country covers at least this fraction of total demand."""
    scenario_beta: Level | None = None
    """Robust level: in every scenario each importer is served at least this fraction of its demand over the disruption."""
    scenario_shortage_cost: NonNeg | None = None
    """Expected mode: cost of each unit short in a scenario, weighted by its probability, currency per item unit."""
    stage_caps: dict[str, dict[str, Level]] | None = None
    """Multi-tier: stage id -> {tier, group or country code -> most of an importer's supply of the item whose processing at that stage happened there, fraction}."""
    upstream_caps: dict[str, Level] | None = None
    """Multi-tier: tier, group or country code -> most of an importer's supply of the item whose path passes through it at any stage, fraction."""
    max_shift: Rate | None = None
    """Multi-period: most a supplier's volume for an importer may rise or fall from one period to the next, fraction of the importer's demand in the later period."""
    group_floors: dict[str, Rate | dict[str, Rate]] | None = None
    """Tier or group name -> least share of an importer's demand for the item its members must supply, fraction; or {importer: fraction} for some importers only (e.g. a clean-vehicle rule: US or FTA partners)."""
    pooled_caps: dict[str, Level] | None = None
    """Tier or group name -> most its members may supply of the coalition's total demand for the item (all importers together), fraction."""
    spot_premium: NonNeg | None = None
    """Crisis, expected modes: extra price per item unit of what an importer receives in a crisis beyond its own surviving contracts (bought at crisis prices), currency per item unit, weighted by the scenario's probability."""
    spare_share: Rate | None = None
    """Crisis: share of surviving suppliers' spare capacity the coalition can get, other buyers take the rest (empty = 1; a scenario's spare_share wins)."""

    def floor(self, importer: str, group: str) -> float | None:
        """THE reading of ``group_floors``: one level for every importer, or {importer: level} (None: no floor)."""
        v = (self.group_floors or {}).get(group)
        return v.get(importer) if isinstance(v, dict) else v


_CAP_MAPS = frozenset({"tier_caps", "group_caps", "stage_caps", "upstream_caps", "group_floors", "pooled_caps"})
"""Policy fields keyed by a set name: an item's override merges into them key by key (a trajectory
under a key is replaced whole)."""

Generator = Literal["n1", "n2", "chokepoints"]


class ScenarioGenerator(Strict):
    """Parameters of generated scenarios (policy.scenario_generators)."""

    loss: Rate = 1.0
    """Capacity loss of the disrupted countries, fraction."""
    duration_weeks: float = Field(default=13.0, gt=0, allow_inf_nan=False, strict=True)
    """Duration of each generated disruption, weeks."""
    recovery_weeks: float = Field(default=26.0, gt=0, allow_inf_nan=False, strict=True)
    """Time to recover (TTR) of each generated disruption, weeks."""
    probability: Rate = 0.02
    """Annual probability of each generated scenario."""
    top_k: int = Field(default=4, ge=2, strict=True)
    """N-2 pairs are drawn from the k supplier countries with the largest share of any item's capacity."""


class TrustRule(Strict):
    """How the countries' trust tiers are set (``policy.trust``; docs/trust.md). Without one, or with
    ``source: table``, the tiers are countries.csv's. ``planner.instance.trust`` applies it."""

    source: Literal["table", "votes", "groups"] = "table"
    """table: countries.csv's tiers; votes: by how closely each country votes with the anchors in the UN General Assembly (and ``groups``); groups: by memberships alone."""
    measure: Literal["agreement", "agreement_half", "ideal_point"] = "agreement"
    """agreement: share of identical votes; agreement_half: an abstention against a yes or no counts half; ideal_point: closeness of one-dimensional positions scaled from the votes."""
    anchors: tuple[str, ...] = ()
    """Countries (ISO codes) the scores are measured against; empty: the instance's importers."""
    from_year: int = Field(default=2010, strict=True)
    """First year of the vote window."""
    to_year: int = Field(default=2020, strict=True)
    """Last year of the vote window (the data ends in January 2020)."""
    scale: Literal["percentile", "score"] = "percentile"
    """Compare cut-offs with each country's percentile rank among the voting countries (per anchor, then averaged) or with the score itself."""
    cutoffs: dict[str, Rate] = {}
    """Tier -> least percentile (or score) for that tier, 0 to 1; the most trusted tier a country reaches wins."""
    groups: dict[str, tuple[str, ...]] = {}
    """Tier -> groups (countries.csv ``groups``, e.g. MSP, IPEF) whose members are at least that tier."""
    others: str | None = None
    """Tier of countries that reach no cut-off and are in no listed group; default: the last tier."""
    keep: tuple[str, ...] = ()
    """Tiers kept from countries.csv whatever the rule (e.g. domestic)."""
    fallback: str = "table"
    """Tier of countries without votes in the window (Taiwan has none): 'table' keeps countries.csv's, or a tier name."""
    min_votes: int = Field(default=100, ge=1, strict=True)
    """Fewest votes shared with every anchor for a score to count; fewer: treated as no votes."""


class ExportControl(Strict):
    """A standing export control (``policy.export_controls``; docs/crisis.md): routes from ``origin`` to
    ``importer`` for ``item`` are forbidden, or pay a licence cost per unit. Domestic routes are never
    exports. ``Instance.open_lanes`` and ``Instance.licence_for`` apply it, for every consumer."""

    origin: str
    """Exporting country code, tier or group (e.g. CN; or the US-Japan-Netherlands equipment controls as a group)."""
    importer: str = ALL
    """Importing country code, tier or group, or '*' for every importer."""
    item: str = ALL
    """Item id, or '*' for every item."""
    action: Literal["forbid", "licence"] = "forbid"
    """forbid: the route may not be used, in normal times or in a crisis; licence: it pays licence_cost per unit."""
    licence_cost: NonNeg = 0.0
    """Cost of the licence, currency per item unit (action licence; several licences on one route add up)."""
    note: str = ""
    """What the control is and where it comes from."""


class CrisisRule(Strict):
    """How a crisis is answered (``policy.crisis``; docs/crisis.md): the response clock and who shares.
    ``planner.instance.scenarios.response`` applies it, for the model and the stress test alike."""

    delay_weeks: NonNeg = 0.0
    """Response delay, weeks (IPEF: an emergency meeting within 15 days = 2.14 weeks): until then only stockpiles and contracted supply serve demand."""
    ramp_weeks: NonNeg = 0.0
    """Weeks after the delay over which spare capacity ramps up to its surge level (a staircase of up to 4 equal steps)."""
    sharing_group: str | None = None
    """Crisis-sharing group (a group or tier of countries.csv, e.g. IPEF-SCA): in a crisis, spare capacity moves from a supplier to an importer only if both are members; other lanes carry their contracted volume alone. Empty: everyone shares."""


class Policy(ItemPolicy):
    """Security policy.  Every field can be overridden with ``--set policy.<field>=<value>``."""

    exclude_tiers: tuple[str, ...] = ()
    """Tiers that may not supply at all."""
    allow_shortage: bool = False
    """If true, unmet demand is allowed at shortage_penalty (and reported loudly)."""
    shortage_penalty: NonNeg = 1e6
    """Cost of each unit of unmet demand when allow_shortage is true, currency per item unit."""
    items: dict[str, ItemPolicy] = {}
    """Item id -> overrides for that item."""
    scenario_mode: Literal["robust", "expected", "both", "off"] = "robust"
    """How scenarios enter the plan: robust (scenario_beta in every scenario), expected (probability-weighted scenario_shortage_cost in the objective), both, or off."""
    scenario_generators: tuple[Generator, ...] = ()
    """Scenarios generated besides scenarios.csv: n1 (each supplier country), n2 (each pair of top suppliers), chokepoints (each chokepoint)."""
    generator: ScenarioGenerator = ScenarioGenerator()
    """Loss, duration, recovery, probability and top_k of generated scenarios."""
    export_controls: tuple[ExportControl, ...] = ()
    """Standing export controls: forbidden or licensed (origin, importer, item) routes (docs/crisis.md)."""
    crisis: CrisisRule = CrisisRule()
    """Crisis response: delay, ramp and members-only sharing (docs/crisis.md); the default is an instant, world-wide response."""
    trust: TrustRule | None = None
    """How the countries' tiers are set: None keeps countries.csv's; a rule derives them from UN General Assembly votes and memberships (docs/trust.md)."""

    def for_item(self, item: str) -> ItemPolicy:
        """The effective policy of one item: the item override where set, else the instance-wide value."""
        base = {f: getattr(self, f) for f in ItemPolicy.model_fields}
        over = self.items.get(item)
        if over is not None:
            for k, v in over.model_dump().items():
                if v is None:
                    continue
                if k in _CAP_MAPS and isinstance(base.get(k), dict):
                    # Cap dicts merge key by key: an item's tier_caps.neutral keeps the instance-wide
                    # tier_caps.concern (stage_caps: per stage too).
                    merged = dict(base[k])
                    for kk, vv in v.items():
                        merged[kk] = {**merged[kk], **vv} if k == "stage_caps" and isinstance(merged.get(kk), dict) else vv
                    base[k] = merged
                else:
                    base[k] = v
        return ItemPolicy.model_construct(**base)

    @staticmethod
    def security_off() -> "Policy":
        """The cost-only policy: no caps, no exclusions, no diversification or N-1."""
        return Policy()


class Meta(Strict):
    """The contents of instance.yaml."""

    name: str
    """Instance name."""
    description: str = ""
    """What the instance represents."""
    currency: str = "USD"
    """Currency of every cost column (e.g. USD, 'USD million', JPY)."""
    units: dict[str, str] = {}
    """Free notes on units (e.g. money: 'USD million per year')."""
    sources: tuple[str, ...] = ()
    """Where the numbers come from (see sources.csv for per-column detail)."""
    tiers: tuple[str, ...] = ("domestic", "ally", "partner", "neutral", "concern")
    """Trust tiers the countries table may use, most trusted first."""
    policy: Policy = Policy()
    """Default policy."""
    variants: dict[str, dict[str, Any]] = {}
    """Named overrides (dotted key -> value) applied with ``--variant NAME``."""
    discount_rate: Rate | None = None
    """Multi-period: discount rate per year, fraction (periods.csv may set one per period); required with periods.csv unless every period has its own."""
    capex_payment: Literal["annualised", "overnight"] = "annualised"
    """Multi-period: how a built option's capex is paid: annualised (investments.capex every year in service within the horizon) or overnight (capex x annuity factor over the lifetime, paid in the decision period)."""
    baseline_basis: str = ""
    """Which rows of baseline.csv are today's sourcing: for each (importer, item), the rows whose ``basis`` is this one if it has any, else the rows with an empty basis (empty: those rows only)."""
    defaults: tuple[str, ...] = ()
    """Columns ('table.column', e.g. lanes.transport_cost) of cost, capacity or quantity that a table leaves out on purpose: every row then takes the column's documented default.  Such a column left out without being listed here is an error."""

    @field_validator("defaults")
    @classmethod
    def _known_defaults(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        allowed = sorted(f"{t}.{c}" for t, m in TABLES.items() for c in getattr(m, "guarded", ()))
        bad = [x for x in v if x not in allowed]
        if bad:
            raise ValueError(f"unknown {', '.join(bad)}; expected some of {', '.join(allowed)}")
        return v

    @field_validator("tiers")
    @classmethod
    def _unique_tiers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("tiers must be unique")
        return v


# --------------------------------------------------------------------------- instance
class Instance(Strict):
    """A validated instance.  Build it with ``planner.instance.io.load_instance``."""

    meta: Meta
    countries: tuple[Country, ...]
    items: tuple[Item, ...]
    supply: tuple[Supply, ...]
    demand: tuple[Demand, ...]
    lanes: tuple[Lane, ...] = ()
    investments: tuple[Investment, ...] = ()
    programmes: tuple[Programme, ...] = ()
    baseline: tuple[Baseline, ...] = ()
    scenarios: tuple[Scenario, ...] = ()
    stock: tuple[Stock, ...] = ()
    shared_stock: tuple[SharedStock, ...] = ()
    stages: tuple[Stage, ...] = ()
    bom: tuple[Bom, ...] = ()
    periods: tuple[Period, ...] = ()
    ranges: tuple[Range, ...] = ()

    @property
    def policy(self) -> Policy:
        return self.meta.policy

    # Lookups derived once; cached_property writes to __dict__, which frozen allows.
    @cached_property
    def tier_of(self) -> dict[str, str]:
        """country -> its trust tier: countries.csv's, or derived by ``policy.trust`` (planner/instance/trust.py)."""
        return self.trust.tiers

    @cached_property
    def trust(self):
        """The tiers under ``policy.trust``, the table of how each was set, and warnings (planner.instance.trust.Trust)."""
        from planner.instance.trust import derive

        return derive(self)

    @cached_property
    def today(self) -> tuple[Baseline, ...]:
        """Today's sourcing: THE rule choosing baseline rows by ``baseline_basis``.

        For each (importer, item), the rows of the chosen basis if it has any there, else the rows
        with an empty basis; so a trade-based basis replaces only the pairs the trade data cover."""
        chosen = self.meta.baseline_basis
        covered = {(b.importer, b.item) for b in self.baseline if chosen and b.basis == chosen}
        return tuple(b for b in self.baseline
                     if (b.basis == chosen and chosen) or (not b.basis and (b.importer, b.item) not in covered))

    @cached_property
    def groups_of(self) -> dict[str, tuple[str, ...]]:
        return {c.code: c.groups for c in self.countries}

    @cached_property
    def demand_qty(self) -> dict[tuple[str, str], float]:
        """(item, importer) -> quantity."""
        return {(d.item, d.importer): d.quantity for d in self.demand}

    @cached_property
    def supply_by_key(self) -> dict[tuple[str, str], Supply]:
        """(item, country) -> supply row."""
        return {(s.item, s.country): s for s in self.supply}

    @cached_property
    def lane_for(self) -> dict[tuple[str, str, str], tuple[float, float]]:
        """(item, origin, importer) -> (transport_cost, tariff_rate) for every usable route.

        A named-item lane overrides the '*' lane; a domestic route (origin ==
        importer) is free and tariff-free unless a lane row says otherwise.
        """
        out: dict[tuple[str, str, str], tuple[float, float]] = {}
        importers_of: dict[str, list[str]] = {}
        for d in self.demand:
            importers_of.setdefault(d.item, []).append(d.importer)
        star = {(ln.origin, ln.importer): ln for ln in self.lanes if ln.item == ALL}
        named = {(ln.item, ln.origin, ln.importer): ln for ln in self.lanes if ln.item != ALL}
        for s in self.supply:
            for imp in importers_of.get(s.item, ()):
                ln = named.get((s.item, s.country, imp)) or star.get((s.country, imp))
                if ln is not None:
                    out[(s.item, s.country, imp)] = (ln.transport_cost, ln.tariff_rate)
                elif s.country == imp:
                    out[(s.item, s.country, imp)] = (0.0, 0.0)
        return out

    def _controls_on(self, i: str, c: str, j: str) -> list[ExportControl]:
        """The export controls that apply to a route (domestic routes are never exports)."""
        if c == j:
            return []

        def hits(name: str, code: str) -> bool:
            return name == ALL or name == code or code in self.members(name)

        return [x for x in self.policy.export_controls
                if (x.item == ALL or x.item == i) and hits(x.origin, c) and hits(x.importer, j)]

    @cached_property
    def open_lanes(self) -> dict[tuple[str, str, str], tuple[float, float]]:
        """:attr:`lane_for` without the routes an export control forbids: THE routes a plan (and its
        recourse in a crisis) may use. Costs of any flow, today's included, read :attr:`lane_for`."""
        if not self.policy.export_controls:
            return self.lane_for
        return {k: v for k, v in self.lane_for.items() if not any(x.action == "forbid" for x in self._controls_on(*k))}

    @cached_property
    def licence_for(self) -> dict[tuple[str, str, str], float]:
        """(item, origin, importer) -> licence cost per unit of the open routes that need one."""
        out = {}
        for k in self.lane_for:
            cost = sum(x.licence_cost for x in self._controls_on(*k) if x.action == "licence")
            if cost > 0:
                out[k] = cost
        return out

    @cached_property
    def lane_detours(self) -> dict[tuple[str, str, str], tuple[float, float, frozenset[str]]]:
        """(item, origin, importer) -> (extra cost per unit, extra days, chokepoints) of the alternative route of
        the lane a route uses (the lane choice of :attr:`lane_for`), for lanes that list one."""
        star = {(ln.origin, ln.importer): ln for ln in self.lanes if ln.item == ALL}
        named = {(ln.item, ln.origin, ln.importer): ln for ln in self.lanes if ln.item != ALL}
        out = {}
        for (i, c, j) in self.lane_for:
            ln = named.get((i, c, j)) or star.get((c, j))
            if ln is not None and ln.detour_cost is not None:
                out[(i, c, j)] = (ln.detour_cost, ln.detour_days, frozenset(ln.detour_chokepoints))
        return out

    @cached_property
    def lane_chokepoints(self) -> dict[tuple[str, str, str], frozenset[str]]:
        """(item, origin, importer) -> chokepoints of the lane used by that route (only routes passing one).

        The same lane choice as :attr:`lane_for`: a named-item lane overrides
        the '*' lane; a domestic route without a lane row passes none.
        """
        star = {(ln.origin, ln.importer): ln for ln in self.lanes if ln.item == ALL}
        named = {(ln.item, ln.origin, ln.importer): ln for ln in self.lanes if ln.item != ALL}
        out: dict[tuple[str, str, str], frozenset[str]] = {}
        for (i, c, j) in self.lane_for:
            ln = named.get((i, c, j)) or star.get((c, j))
            if ln is not None and ln.chokepoints:
                out[(i, c, j)] = frozenset(ln.chokepoints)
        return out

    @cached_property
    def chain(self) -> Chain:
        """Multi-tier structure: stages, bill of materials, lanes for intermediate goods (:class:`Chain`)."""
        return Chain(self)

    def shared_members(self, k: "SharedStock") -> dict[str, float]:
        """THE rule of a shared stockpile's members: importer -> its share of the members' demand for the item
        (members of the group with positive demand; the pro-rata release and the demand cost key read it)."""
        dem = {j: q for (i, j), q in self.demand_qty.items() if i == k.item and q > 0 and j in self.members(k.group)}
        total = sum(dem.values())
        return {j: q / total for j, q in sorted(dem.items())} if total > 0 else {}

    @cached_property
    def stock_by_key(self) -> dict[tuple[str, str], Stock]:
        """(item, importer) -> stock row."""
        return {(s.item, s.importer): s for s in self.stock}

    def members(self, name: str) -> frozenset[str]:
        """Countries in the tier or group called ``name``."""
        return frozenset(c.code for c in self.countries if self.tier_of[c.code] == name or name in c.groups)

    def programme_hosts(self, p: Programme) -> frozenset[str] | None:
        """Countries eligible to host under ``p`` (None = all)."""
        if ALL in p.hosts:
            return None
        return frozenset(c.code for c in self.countries if c.code in p.hosts or self.tier_of[c.code] in p.hosts)

    def replace(self, **update: Any) -> "Instance":
        """A copy with some fields replaced (already-validated parts are not re-validated).

        Not ``model_copy``: that would carry the cached lookups of the old tables.
        """
        fields = {f: getattr(self, f) for f in type(self).model_fields}
        fields.update(update)
        return type(self).model_construct(**fields)

    def with_policy(self, policy: Policy) -> "Instance":
        return self.replace(meta=self.meta.model_copy(update={"policy": policy}))


class Chain:
    """The multi-tier structure of one instance (empty BOM: single tier)."""

    def __init__(self, inst: "Instance"):
        self.inst = inst
        self.inputs_of: dict[str, dict[str, float]] = defaultdict(dict)  # output -> {input: quantity}
        self.outputs_of: dict[str, dict[str, float]] = defaultdict(dict)  # input -> {output: quantity}
        for b in inst.bom:
            self.inputs_of[b.output][b.input] = b.quantity
            self.outputs_of[b.input][b.output] = b.quantity
        self.inputs_of, self.outputs_of = dict(self.inputs_of), dict(self.outputs_of)
        self.item_order: list[str] = sorted(i.id for i in inst.items)
        if inst.bom:  # networkx only for multi-tier instances (it costs start-up time)
            import networkx as nx

            g = nx.DiGraph()
            g.add_nodes_from(self.item_order)
            g.add_edges_from((b.input, b.output) for b in inst.bom)
            try:
                self.item_order = list(nx.lexicographical_topological_sort(g))
            except nx.NetworkXUnfeasible:
                cycle = " -> ".join(u for u, _ in nx.find_cycle(g))
                raise ValueError(f"the bill of materials has a cycle ({cycle}); expected inputs upstream of outputs") \
                    from None
        self.stage_order = {s.id: s.order for s in inst.stages}
        self.stage_name = {s.id: (s.name or s.id) for s in inst.stages}
        self.stage_of = {i.id: i.stage for i in inst.items}
        self._lanes: tuple[dict, dict] | None = None  # built on first use: single-tier models never need it

    @property
    def multi_tier(self) -> bool:
        return bool(self.inputs_of)

    # ------------------------------------------------------------------ items and stages
    def closure(self, items: Iterable[str]) -> set[str]:
        """``items`` and every item upstream of them in the bill of materials."""
        todo = list(items)
        out = set(todo)
        while todo:
            for i in self.inputs_of.get(todo.pop(), {}):
                if i not in out:
                    out.add(i)
                    todo.append(i)
        return out

    def stage(self, item: str) -> str:
        """The item's stage id; in an instance without stages, the item id itself."""
        return self.stage_of.get(item) or item

    def column(self, item: str) -> int:
        """Column of the item in drawings: its stage's order, else its depth in the BOM (raw materials 1)."""
        s = self.stage_of.get(item)
        if s and s in self.stage_order:
            return self.stage_order[s]
        return self.depth(item)

    def depth(self, item: str) -> int:
        ins = self.inputs_of.get(item)
        return 1 if not ins else 1 + max(self.depth(i) for i in ins)

    def makers(self, item: str) -> list[str]:
        """Countries with a supply row (a plant) of ``item``."""
        return [c for (i, c) in self.inst.supply_by_key if i == item]

    # ------------------------------------------------------------------ lanes
    def lane(self, item: str, origin: str, dest: str) -> Lane | None:
        """The lane row used to ship ``item`` from ``origin`` to ``dest`` (None: none; domestic needs none).

        A named-item lane overrides the '*' lane, as for final routes.
        """
        if self._lanes is None:
            lanes = self.inst.lanes
            self._lanes = ({(ln.item, ln.origin, ln.importer): ln for ln in lanes if ln.item != ALL},
                           {(ln.origin, ln.importer): ln for ln in lanes if ln.item == ALL})
        named, star = self._lanes
        return named.get((item, origin, dest)) or star.get((origin, dest))

    def route_terms(self, item: str, origin: str, dest: str) -> tuple[float, float] | None:
        """(transport_cost, tariff_rate) of a shipment, or None when no lane exists (domestic: free)."""
        ln = self.lane(item, origin, dest)
        if ln is not None:
            return ln.transport_cost, ln.tariff_rate
        return (0.0, 0.0) if origin == dest else None

    def chokepoints(self, item: str, origin: str, dest: str) -> frozenset[str]:
        ln = self.lane(item, origin, dest)
        return frozenset(ln.chokepoints) if ln is not None else frozenset()

    def transit_days(self, item: str, origin: str, dest: str) -> float:
        ln = self.lane(item, origin, dest)
        return ln.transit_days if ln is not None else 0.0

    @property
    def plants(self) -> dict[tuple[str, str], dict[str, float]]:
        """(output, country) -> {input: quantity} for every supply row of an item with BOM inputs."""
        if "_plants" not in self.__dict__:
            self._plants = {k: self.inputs_of[k[0]] for k in self.inst.supply_by_key if k[0] in self.inputs_of}
        return self._plants

    @property
    def feed_routes(self) -> dict[tuple[str, str, str], tuple[float, float]]:
        """(input, origin, plant country) -> (transport_cost, tariff_rate) for every usable feed route.

        An origin needs a supply row of the input, the destination a plant of an
        output using it, and a lane between them (or the same country) that no export control
        forbids (``policy.export_controls``: a feed to a plant abroad is an export too).
        """
        if "_feed_routes" not in self.__dict__:
            dests: dict[str, set[str]] = defaultdict(set)
            for (o, k), ins in self.plants.items():
                for i in ins:
                    dests[i].add(k)
            out = {}
            for (i, c) in self.inst.supply_by_key:
                for k in sorted(dests.get(i, ())):
                    terms = self.route_terms(i, c, k)
                    if terms is not None and not any(x.action == "forbid" for x in self.inst._controls_on(i, c, k)):
                        out[(i, c, k)] = terms
            self._feed_routes = out
        return self._feed_routes

    def members(self, name: str) -> frozenset[str]:
        """Countries of a tier, a group, or the country with that code (names used in stage and upstream caps)."""
        found = self.inst.members(name)
        return found if found else frozenset(c.code for c in self.inst.countries if c.code == name)


# --------------------------------------------------------------------------- checks on frames
