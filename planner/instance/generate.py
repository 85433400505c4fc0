"""Synthetic instances of any size with the structure of real sourcing problems.

:func:`generate` builds a valid :class:`~planner.instance.schema.Instance` from a seed:

* countries in four tiers (ally, partner, neutral, concern), placed on a map
  (distances give freight) and belonging to a few partnerships (groups); the
  importers are allies and may supply too;
* per item, one or two dominant low-cost producers (often of the concern tier,
  so tier caps bind) and a long tail of costlier ones;
* capacity open to the importers well above their demand, and checked so that
  the default policy (:data:`DEFAULT_POLICY`) has a feasible plan;
* '*' lanes for every (origin, importer) pair with distance-based freight and
  tariffs highest from the concern tier;
* about one investment option per item, two subsidy programmes, and a
  baseline in which each importer buys in proportion to producers' output;
* with ``scenarios=S > 0``: S disruptions (one or two supplier countries,
  weighted by their share of capacity, losing half or all of it, or a
  chokepoint closing), chokepoints on the lanes from neutral and concern
  countries, two weeks of demand in stock, and the ``expected`` scenario mode
  (probability-weighted shortage cost), which keeps every size feasible.

The same arguments always give the same instance (``numpy.random.default_rng``
seeded once, no other randomness), and :func:`write_generated` writes it with
:func:`planner.instance.io.write_instance`, so the same seed gives the same files.
"""

from __future__ import annotations

import math
import os

import numpy as np

from planner.instance.schema import (
    ALL,
    Baseline,
    Country,
    Demand,
    Instance,
    Investment,
    Item,
    Lane,
    Meta,
    Policy,
    Programme,
    Scenario,
    Stock,
    Supply,
)

TIERS = ("ally", "partner", "neutral", "concern")
GROUPS = ("bloc", "pact", "fta")
"""Synthetic partnerships: ``bloc`` (a security partnership of allies), ``pact`` (a regional economic framework), ``fta`` (free-trade partners of the first importer)."""

DEFAULT_POLICY = Policy(
    country_share_cap=0.6,
    tier_caps={"concern": 0.5},
    min_suppliers=2,
    n1_beta=0.5,
)
"""The policy written into every generated instance; the generator makes sure it is feasible."""

_TIER_WEIGHTS = {"ally": 0.3, "partner": 0.25, "neutral": 0.3, "concern": 0.15}
_ITEM_WORDS = ("alloy", "oxide", "wafer", "cell", "resin", "magnet", "film", "powder", "fibre", "salt")
_TAIL_MAX = 10
"""Most tail producers per item, so supply stays at tens of rows per item."""


def _sig(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant digits."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(round(x, digits - 1 - math.floor(math.log10(abs(x)))))


def _check_sizes(items: int, countries: int, importers: int) -> None:
    if items < 1:
        raise ValueError(f"items must be at least 1, got {items}")
    if countries < 3:
        raise ValueError(f"countries must be at least 3, got {countries}")
    if not 1 <= importers <= countries:
        raise ValueError(f"importers must be between 1 and countries ({countries}), got {importers}")


def _countries(rng: np.random.Generator, n: int, importers: int) -> tuple[list[Country], np.ndarray]:
    """Countries (importers first, all allies) and their map positions."""
    width = len(str(n))
    codes = [f"C{k + 1:0{width}d}" for k in range(n)]
    tiers = ["ally"] * importers
    rest = n - importers
    if rest:
        names = list(TIERS)
        p = np.array([_TIER_WEIGHTS[t] for t in names])
        drawn = list(rng.choice(names, size=rest, p=p / p.sum()))
        # Every instance gets at least one concern country (caps must have something to bind on)
        # and, when there is room, one non-concern non-importer to diversify to.
        if "concern" not in drawn:
            drawn[-1] = "concern"
        if rest >= 2 and all(t == "concern" for t in drawn):
            drawn[0] = "neutral"
        tiers += [str(t) for t in drawn]
    pos = rng.uniform(0.0, 1.0, size=(n, 2))
    out = []
    for k, (code, tier) in enumerate(zip(codes, tiers)):
        groups = []
        if tier == "ally" and (k < importers or rng.random() < 0.7):
            groups.append("bloc")
        if tier in ("ally", "partner") and rng.random() < 0.6:
            groups.append("pact")
        if k > 0 and tier != "concern" and rng.random() < 0.35:
            groups.append("fta")
        out.append(Country(code=code, name=f"Country {code[1:]}", tier=tier, groups=tuple(groups)))
    return out, pos


def _feasible_weights(cap: dict[str, float], concern: set[str], total: float, share_cap: float, tier_cap: float) -> bool:
    """Whether one buying pattern, used by every importer, meets the default caps within capacity.

    Each importer buys the fraction w[c] of its demand from c with
    w[c] <= min(share_cap, cap[c] / total) and the concern tier at most
    tier_cap in all: this exists when those bounds add up to 1.
    """
    bound = {c: min(share_cap, v / total) for c, v in cap.items()}
    outside = sum(v for c, v in bound.items() if c not in concern)
    inside = min(tier_cap, sum(v for c, v in bound.items() if c in concern))
    return outside + inside >= 1.0 + 1e-6


def generate(items: int, countries: int, importers: int, seed: int, name: str | None = None,
             scenarios: int = 0) -> Instance:
    """A synthetic instance of ``items`` items, ``countries`` countries (``importers`` of which import).

    Deterministic in its arguments.  The default policy of the instance
    (:data:`DEFAULT_POLICY`) is feasible: it passes the plain-infeasibility
    checks of :func:`planner.instance.io.load_instance` and has a feasible plan
    (one is constructed while generating).
    """
    _check_sizes(items, countries, importers)
    rng = np.random.default_rng(seed)
    ctys, pos = _countries(rng, countries, importers)
    codes = [c.code for c in ctys]
    tier = {c.code: c.tier for c in ctys}
    imps = codes[:importers]
    concern = {c for c in codes if tier[c] == "concern"}
    idx = {c: k for k, c in enumerate(codes)}
    pol = DEFAULT_POLICY

    item_rows: list[Item] = []
    supply: list[Supply] = []
    demand: list[Demand] = []
    baseline: list[Baseline] = []
    options: list[tuple[str, str, str, float, float]] = []  # option, item, host, capacity, capex
    width = len(str(items))
    size = {m: float(np.exp(rng.normal(0.0, 0.5))) for m in imps}  # importers' economic size
    for k in range(items):
        iid = f"item{k + 1:0{width}d}"
        word = _ITEM_WORDS[k % len(_ITEM_WORDS)]
        item_rows.append(Item(id=iid, name=f"Synthetic {word} {k + 1}", unit="t", category="synthetic"))
        price = _sig(10 ** rng.uniform(0.5, 2.7))  # currency per t: about 3 to 500
        base = 10 ** rng.uniform(2.0, 4.0)
        dem = {m: _sig(base * size[m], 3) for m in imps}
        total = sum(dem.values())

        # Producers: one or two dominant ones, often of the concern tier, and a tail.
        n_sup = int(min(countries, rng.integers(3, 4 + _TAIL_MAX)))
        if concern and rng.random() < 0.7:
            first = str(rng.choice(sorted(concern)))
        else:
            first = str(rng.choice(codes))
        others = [c for c in codes if c != first]
        chosen = [first] + [str(c) for c in rng.choice(others, size=n_sup - 1, replace=False)]
        trusted = sorted(set(codes) - set(concern) - set(chosen))
        if all(c in concern for c in chosen) and trusted:
            # Only concern-tier producers: the concern cap could never hold and the tail below would
            # have nothing to grow (seed 3915570, 3 items, 12 countries); one producer is not of that tier.
            chosen[-1] = str(rng.choice(trusted))
        n_dom = 1 if n_sup < 5 or rng.random() < 0.6 else 2
        dom_share = rng.uniform(0.5, 0.8)
        dom_w = rng.dirichlet(np.full(n_dom, 3.0)) * dom_share
        tail_w = rng.lognormal(0.0, 0.8, size=n_sup - n_dom)
        tail_w = tail_w / tail_w.sum() * (1.0 - dom_share)
        share = dict(zip(chosen, np.concatenate([dom_w, tail_w]).tolist()))
        headroom = rng.uniform(1.8, 2.6)
        cap = {c: _sig(s * total * headroom) for c, s in share.items()}
        # Widen the tail until the default caps have a feasible buying pattern (and N-1 holds).
        tail = [c for c in chosen[n_dom:] if c not in concern] or [c for c in chosen if c not in concern]
        for _ in range(60):
            rest = sum(cap.values()) - max(cap.values())
            if _feasible_weights(cap, concern, total, pol.country_share_cap, pol.tier_caps["concern"]) \
                    and rest >= pol.n1_beta * total * 1.05:
                break
            for c in tail:
                cap[c] = _sig(cap[c] * 1.25 + 0.05 * total)
        else:  # pragma: no cover - the loop always succeeds: the tail grows geometrically
            raise RuntimeError("could not make the generated capacities feasible")
        rank = {c: r for r, c in enumerate(chosen)}
        for c in chosen:
            cheap = 0.9 if rank[c] < n_dom else 1.0
            mult = cheap * rng.uniform(1.0, 1.1) if rank[c] < n_dom else rng.uniform(1.08, 1.6)
            if c in concern:
                mult *= 0.95
            unit_cost = round(price * mult, 2)
            qual = _sig(price * total * rng.uniform(0.002, 0.01), 2)
            vol = share[c] * total
            # Below today's volume (with room for rounding), so the baseline keeps every minimum order.
            min_order = _sig(0.8 * min(vol, 0.01 * total), 2) if rng.random() < 0.3 else 0.0
            supply.append(Supply(item=iid, country=c, capacity=cap[c], unit_cost=unit_cost,
                                 qualification_cost=qual, min_order=min_order))
        for m in imps:
            demand.append(Demand(importer=m, item=iid, quantity=dem[m]))
            # Baseline: every importer buys in proportion to output (dominant producers first).
            shares = [round(share[c], 4) for c in chosen]
            shares[0] = round(shares[0] + 1.0 - sum(shares), 4)
            baseline += [Baseline(importer=m, item=iid, country=c, share=s) for c, s in zip(chosen, shares) if s > 0]

        # One investment option: new capacity in a trusted country, importers preferred.
        trusted = [c for c in codes if tier[c] in ("ally", "partner")]
        host = str(rng.choice(imps)) if rng.random() < 0.6 else str(rng.choice(trusted))
        if host not in share:
            supply.append(Supply(item=iid, country=host, capacity=0.0, unit_cost=round(price * rng.uniform(1.15, 1.5), 2),
                                 qualification_cost=_sig(price * total * 0.005, 2), min_order=0.0))
        opt_cap = _sig(total * rng.uniform(0.2, 0.5))
        capex = _sig(opt_cap * price * rng.uniform(0.15, 0.4))
        options.append((f"build_{iid}_{host}", iid, host, opt_cap, capex))

    # Programmes: the first importer funds a broad one; another ally funds one for half the items.
    item_ids = [i.id for i in item_rows]
    funder2 = imps[1] if importers > 1 else next((c for c in codes if tier[c] == "ally" and c != imps[0]), imps[0])
    few = sorted(str(x) for x in rng.choice(item_ids, size=max(1, items // 2), replace=False))
    total_capex = sum(o[4] for o in options)
    programmes = [
        Programme(id="prog_a", funding_country=imps[0], rate=round(1 / 3, 4),
                  budget=_sig(0.3 * total_capex, 2), items=(ALL,), hosts=(imps[0], "ally")),
        Programme(id="prog_b", funding_country=funder2, rate=0.5,
                  budget=_sig(0.2 * total_capex, 2), items=tuple(few), hosts=(ALL,)),
    ]
    investments = []
    for opt, iid, host, ocap, capex in options:
        elig = tuple(p.id for p in programmes
                     if (ALL in p.items or iid in p.items) and (ALL in p.hosts or host in p.hosts or tier[host] in p.hosts))
        investments.append(Investment(option=opt, item=iid, country=host, capacity=ocap, capex=capex, programmes=elig))

    # Lanes: freight grows with distance; tariffs are highest from the concern tier.
    freight = rng.uniform(0.5, 1.5)
    lanes = []
    for o in codes:
        for m in imps:
            if o == m:
                continue
            d = float(np.linalg.norm(pos[idx[o]] - pos[idx[m]]))
            tariff = {"concern": rng.uniform(0.1, 0.25), "neutral": rng.uniform(0.0, 0.06),
                      "partner": rng.uniform(0.0, 0.03), "ally": 0.0}[tier[o]]
            lanes.append(Lane(origin=o, importer=m, item=ALL, transport_cost=round(freight * (0.1 + d), 3),
                              tariff_rate=round(tariff, 2)))

    meta = Meta(
        name=name or f"synthetic-i{items}-c{countries}-k{importers}-s{seed}",
        description=(f"Synthetic instance from planner.instance.generate (items={items}, countries={countries}, "
                     f"importers={importers}, seed={seed}). Every number is synthetic."),
        currency="USD thousand",
        units={"volume": "t per year", "money": "USD thousand per year; unit and transport costs per t"},
        sources=("synthetic: planner.generate",),
        tiers=TIERS,
        policy=DEFAULT_POLICY,
        variants={
            "loose": {"policy.n1_beta": 0, "policy.country_share_cap": 1.0},
            "no_subsidy": {"programmes.prog_a.rate": 0, "programmes.prog_b.rate": 0},
        },
    )
    inst = Instance(meta=meta, countries=tuple(ctys), items=tuple(item_rows), supply=tuple(supply),
                    demand=tuple(demand), lanes=tuple(lanes), investments=tuple(investments),
                    programmes=tuple(programmes), baseline=tuple(baseline))
    return with_disruptions(inst, scenarios, seed, pos, idx) if scenarios > 0 else inst


CHOKEPOINTS = ("strait_west", "strait_east")
"""Synthetic sea lanes: lanes from neutral and concern countries pass one, by the origin's side of the map."""


def with_disruptions(inst: Instance, n: int, seed: int, pos: np.ndarray | None = None,
                     idx: dict[str, int] | None = None) -> Instance:
    """``inst`` with ``n`` disruption scenarios, lane chokepoints, stockpiles and the expected scenario mode.

    Drawn from their own random stream, so the rest of the instance is the same
    as without scenarios.
    """
    rng = np.random.default_rng([seed, 7])
    tier = inst.tier_of
    lanes = inst.lanes
    if pos is not None and idx is not None:
        lanes = tuple(
            ln.model_copy(update={"chokepoints": (CHOKEPOINTS[int(pos[idx[ln.origin]][0] > 0.5)],)})
            if tier[ln.origin] in ("neutral", "concern") else ln
            for ln in lanes
        )
    chokes = sorted({cp for ln in lanes for cp in ln.chokepoints})
    demanded = sorted({i for (i, _), q in inst.demand_qty.items() if q > 0})
    total = {i: sum(s.capacity for s in inst.supply if s.item == i) for i in demanded}
    weight: dict[str, float] = {}
    for s in inst.supply:  # a country's weight: its summed share of each item's capacity
        if total.get(s.item, 0) > 0:
            weight[s.country] = weight.get(s.country, 0.0) + s.capacity / total[s.item]
    countries = sorted(weight)
    p = np.array([weight[c] for c in countries])
    p /= p.sum()
    scen = []
    for k in range(n):
        weeks = float(rng.choice([4, 8, 13, 26]))
        common = dict(id=f"s{k + 1}", duration_weeks=weeks, recovery_weeks=2 * weeks,
                      probability=round(float(rng.uniform(0.005, 0.05)), 3))
        if chokes and rng.random() < 0.2:
            scen.append(Scenario(chokepoints=(str(rng.choice(chokes)),), **common))
            continue
        hit = tuple(sorted(set(rng.choice(countries, size=int(rng.integers(1, 3)), p=p).tolist())))
        items = (ALL,) if rng.random() < 0.5 else (str(rng.choice(demanded)),)
        scen.append(Scenario(countries=hit, items=items, loss=float(rng.choice([0.5, 1.0])), **common))
    cost = {}
    for s in inst.supply:
        cost.setdefault(s.item, []).append(s.unit_cost)
    stock = tuple(
        Stock(item=i, importer=j, existing=_sig(q * 2 / 52), holding_cost=_sig(0.1 * float(np.median(cost[i]))))
        for (i, j), q in sorted(inst.demand_qty.items()) if q > 0
    )
    shortage = _sig(3 * max(s.unit_cost for s in inst.supply))
    policy = inst.policy.model_copy(update={"scenario_mode": "expected", "scenario_shortage_cost": shortage})
    meta = inst.meta.model_copy(update={"policy": policy})
    return inst.replace(meta=meta, lanes=lanes, scenarios=tuple(scen), stock=stock)


FACILITY_POLICY = Policy(country_share_cap=1.0, min_suppliers=1, n1_beta=0.0)
"""The policy of a facility-location instance: no caps, so the model is the textbook capacitated
facility location problem (one site may serve every customer; its fixed cost is paid once)."""


def facility_location(sites: int = 100, customers: int = 1000, seed: int = 0, capacity_ratio: float = 10.0,
                      fixed_cost_scale: float = 1.0, name: str | None = None) -> Instance:
    """A capacitated facility location instance written as a one-item sourcing problem.

    The classic generator of Cornuejols, Sridharan and Thizy (1991, "A comparison of heuristics and
    relaxations for the capacitated plant location problem", EJOR 50): sites and customers uniform
    in the unit square; demand d_j ~ U[5, 35]; capacity s_i ~ U[10, 160], scaled so that total
    capacity is ``capacity_ratio`` times total demand; fixed cost f_i = U[0, 90] + U[100, 110] *
    sqrt(s_i) (times ``fixed_cost_scale``); unit transport cost 10 x Euclidean distance.

    Sites are supplier countries S001..., customers importers D0001...; qualifying a site is opening
    it (``qualification_cost`` f_i), lanes carry the transport costs. Deterministic in its arguments.
    """
    if sites < 1 or customers < 1:
        raise ValueError(f"sites and customers must be at least 1, got {sites} and {customers}")
    if not (capacity_ratio >= 1.0 and math.isfinite(capacity_ratio)):
        raise ValueError(f"capacity_ratio must be a finite number >= 1 (capacity covers demand), got {capacity_ratio}")
    if not (fixed_cost_scale >= 0.0 and math.isfinite(fixed_cost_scale)):
        raise ValueError(f"fixed_cost_scale must be a finite number >= 0, got {fixed_cost_scale}")
    rng = np.random.default_rng([seed, 21])
    site_xy, cust_xy = rng.uniform(0, 1, (sites, 2)), rng.uniform(0, 1, (customers, 2))
    dem = np.round(rng.uniform(5, 35, customers), 1)
    raw = rng.uniform(10, 160, sites)
    cap = np.round(raw * capacity_ratio * dem.sum() / raw.sum(), 1)
    # Rounding may leave total capacity a hair short of the ratio: the largest site takes the slack.
    short = capacity_ratio * dem.sum() - cap.sum()
    if short > 0:
        cap[int(np.argmax(cap))] += math.ceil(short * 10) / 10
    fixed = np.round((rng.uniform(0, 90, sites) + rng.uniform(100, 110, sites) * np.sqrt(cap)) * fixed_cost_scale, 1)
    dist = np.linalg.norm(site_xy[:, None, :] - cust_xy[None, :, :], axis=2)
    sw, cw = len(str(sites)), len(str(customers))
    scode = [f"S{k + 1:0{sw}d}" for k in range(sites)]
    ccode = [f"D{k + 1:0{cw}d}" for k in range(customers)]
    ctys = [Country(code=c, name=f"Site {c[1:]}", tier="ally") for c in scode] + \
           [Country(code=c, name=f"Customer {c[1:]}", tier="ally") for c in ccode]
    supply = [Supply(item="good", country=c, capacity=float(cap[k]), unit_cost=0.0,
                     qualification_cost=float(fixed[k]), min_order=0.0) for k, c in enumerate(scode)]
    demand = [Demand(importer=c, item="good", quantity=float(dem[k])) for k, c in enumerate(ccode)]
    lanes = [Lane(origin=s, importer=c, transport_cost=round(10.0 * float(dist[a, b]), 4), tariff_rate=0.0)
             for a, s in enumerate(scode) for b, c in enumerate(ccode)]
    meta = Meta(
        name=name or f"facility-location-{sites}x{customers}-r{capacity_ratio:g}-f{fixed_cost_scale:g}-s{seed}",
        description=(f"Capacitated facility location (Cornuejols, Sridharan and Thizy 1991 generator): {sites} sites, "
                     f"{customers} customers, capacity {capacity_ratio:g} x demand, fixed costs x {fixed_cost_scale:g}, "
                     f"seed {seed}. Every number is synthetic."),
        currency="cost unit", units={"volume": "demand unit per year", "money": "cost unit per year"},
        sources=("synthetic: planner.instance.generate.facility_location",), tiers=("ally",),
        policy=FACILITY_POLICY,
    )
    return Instance(meta=meta, countries=tuple(ctys), items=(Item(id="good", name="Good", unit="unit"),),
                    supply=tuple(supply), demand=tuple(demand), lanes=tuple(lanes))


def write_generated(out: str | os.PathLike, items: int, countries: int, importers: int, seed: int,
                    name: str | None = None, scenarios: int = 0) -> Instance:
    """Generate an instance and write it to ``out`` (a folder, or an .xlsx workbook); returns it."""
    from planner.instance.io import write_instance

    inst = generate(items, countries, importers, seed, name, scenarios)
    write_instance(inst, out)
    return inst
