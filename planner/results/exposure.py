"""Upstream exposure of a sourcing: which countries, tiers and stages an importer's supply passes through.

Exposure is measured by *loss*: the upstream share of importer j's supply of
item o to a country X is the share of that supply that would be lost if X
stopped supplying at every stage, with

* **pro-rata mixing** (an assumption): each plant's inputs are pooled, so
  every unit it ships carries the same mix of origins, and
* **no re-sourcing**: a plant keeps its contracted inputs; it ships at most
  the share of its output that its scarcest input still covers (a unit of
  output needs every input of the bill of materials).

For a chain with one input per stage this is the content share (90 % of a
plant's oxide from X makes 90 % of its magnets X-exposed).  The direct share
is the share bought from X at the last tier, what a single-tier analysis sees.
The stress test does not use this pro-rata view: in a crisis its plants
re-source inputs from any surviving qualified supplier, as the model's
second stage does (planner/analysis/stress.py).

The model's stage and upstream caps (``models/upstream.py``) use tagged flows
that let plants keep materials apart by origin, so a capped plan's tagged
share can be below the pro-rata share reported here; docs/network.md says more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import pandas as pd

from planner.results.schema import columns
from planner.instance.schema import Instance

EPS = 1e-7

Flows = dict[tuple[str, str, str], float]
"""(item, origin country, destination) -> volume per year: final flows (destination = importer) or feeds (plant)."""

EXPOSURE_COLUMNS = columns("exposure")
TIER_COLUMNS = columns("exposure_tiers")
STAGE_COLUMNS = columns("exposure_stages")


def survival(inst: Instance, feeds: Flows, hit: Callable[[str, str], float],
             lane_open: Callable[[str, str, str], float] | None = None,
             nodes: set[tuple[str, str]] | None = None) -> dict[tuple[str, str], float]:
    """(item, country) -> share of the option's output that survives, inputs first.

    ``hit(item, country)`` is the option's own loss (fraction); ``lane_open``
    (input, origin, plant) the share of a feed lane still open.  A plant keeps
    min(1 - own loss, share of each input that survives); an option without
    inputs keeps 1 - own loss.
    """
    chain = inst.chain
    into: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for (i, c, k), v in feeds.items():
        if v > EPS:
            into[(i, k)].append((c, v))
    if nodes is None:
        nodes = {(i, c) for (i, c, _) in feeds} | set(inst.supply_by_key)
    by_item: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for k in sorted(nodes):
        by_item[k[0]].append(k)
    out: dict[tuple[str, str], float] = {}
    for item in chain.item_order:
        for i, c in by_item.get(item, ()):
            s = 1.0 - hit(i, c)
            for inp in chain.inputs_of.get(i, {}):
                arcs = into.get((inp, c))
                total = sum(v for _, v in arcs) if arcs else 0.0
                if total > EPS:
                    got = sum(v * out.get((inp, o), 1.0) * (lane_open(inp, o, c) if lane_open else 1.0)
                              for o, v in arcs)
                    s = min(s, got / total)
            out[(i, c)] = max(s, 0.0)
    return out


def received(flows: Flows) -> dict[tuple[str, str], float]:
    """(item, importer) -> total volume received."""
    out: dict[tuple[str, str], float] = defaultdict(float)
    for (i, _, j), v in flows.items():
        if v > EPS:
            out[(i, j)] += v
    return dict(out)


def lost_share(flows: Flows, surv: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """(item, importer) -> share of what it receives that is lost, given each origin's surviving share."""
    got = received(flows)
    kept: dict[tuple[str, str], float] = defaultdict(float)
    for (i, c, j), v in flows.items():
        if v > EPS:
            kept[(i, j)] += v * surv.get((i, c), 1.0)
    return {k: max(0.0, 1.0 - kept[k] / q) for k, q in got.items()}


def exposure_tables(inst: Instance, flows: Flows, feeds: Flows) -> dict[str, pd.DataFrame]:
    """``exposure`` (importer x item x country), ``exposure_tiers`` (x tier) and ``exposure_stages`` (x stage x country).

    Only countries the sourcing passes through get rows; tiers get a row each.
    """
    chain, tier = inst.chain, inst.tier_of
    got = received(flows)
    pairs = sorted(got)
    nodes = {(i, c) for (i, c, _), v in flows.items() if v > EPS} | {(i, c) for (i, c, _), v in feeds.items() if v > EPS}
    countries = sorted({c for _, c in nodes})
    direct: dict[tuple[str, str, str], float] = defaultdict(float)
    for (i, c, j), v in flows.items():
        if v > EPS:
            direct[(i, j, c)] += v / got[(i, j)]

    def lost(hit) -> dict[tuple[str, str], float]:
        return lost_share(flows, survival(inst, feeds, hit, nodes=nodes))

    rows = []
    for x in countries:
        up = lost(lambda i, c, x=x: 1.0 if c == x else 0.0)
        for i, j in pairs:
            d, u = direct.get((i, j, x), 0.0), up.get((i, j), 0.0)
            if d > EPS or u > EPS:
                rows.append({"importer": j, "item": i, "country": x, "tier": tier[x], "direct_share": d,
                             "upstream_share": u})
    exposure = pd.DataFrame(rows, columns=EXPOSURE_COLUMNS)

    rows = []
    for t in inst.meta.tiers:
        members = inst.members(t)
        up = lost(lambda i, c, members=members: 1.0 if c in members else 0.0)
        for i, j in pairs:
            d = sum(v for (ii, jj, c), v in direct.items() if ii == i and jj == j and c in members)
            rows.append({"importer": j, "item": i, "tier": t, "direct_share": d, "upstream_share": up.get((i, j), 0.0)})
    tiers = pd.DataFrame(rows, columns=TIER_COLUMNS).sort_values(["importer", "item"], kind="stable")

    rows = []
    stages = sorted({chain.stage(i) for i, _ in nodes}, key=lambda s: (chain.stage_order.get(s, 0), s))
    for s in stages:
        for x in countries:
            if not any(c == x and chain.stage(i) == s for i, c in nodes):
                continue
            share = lost(lambda i, c, s=s, x=x: 1.0 if c == x and chain.stage(i) == s else 0.0)
            for i, j in pairs:
                if share.get((i, j), 0.0) > EPS:
                    rows.append({"importer": j, "item": i, "stage": s, "country": x, "tier": tier[x],
                                 "share": share[(i, j)]})
    stages_df = pd.DataFrame(rows, columns=STAGE_COLUMNS)
    stages_df = stages_df.sort_values(["importer", "item"], kind="stable").reset_index(drop=True)
    return {"exposure": exposure.sort_values(["importer", "item", "upstream_share", "country"],
                                             ascending=[True, True, False, True], kind="stable").reset_index(drop=True),
            "exposure_tiers": tiers.reset_index(drop=True), "exposure_stages": stages_df}


def baseline_feeds(inst: Instance, flows: Flows) -> tuple[Flows, list[str]]:
    """Today's feeds of every plant, top-down from the baseline's final flows, and notes on defaults.

    A plant in k needs quantity x output of each input; baseline rows with
    importer k and the input's item split it among suppliers (shares, or
    volumes as proportions).  Without such rows the need is split in proportion
    to the capacity of the suppliers that can reach k (noted).
    """
    chain = inst.chain
    if not chain.multi_tier:
        return {}, []
    split: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for b in inst.today:
        w = b.share if b.share is not None else (b.volume or 0.0)
        if w > 0:
            split[(b.importer, b.item)].append((b.country, w))
    origins: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i, c, k in chain.feed_routes:
        origins[(i, k)].append(c)
    out_vol: dict[tuple[str, str], float] = defaultdict(float)
    for (i, c, _), v in flows.items():
        out_vol[(i, c)] += v
    feeds: dict[tuple[str, str, str], float] = defaultdict(float)
    notes = []
    for item in reversed(chain.item_order):  # outputs before their inputs
        for (i, c) in sorted(k for k in out_vol if k[0] == item):
            v = out_vol[(i, c)]
            if v <= EPS or i not in chain.inputs_of:
                continue
            for inp, q in sorted(chain.inputs_of[i].items()):
                parts = split.get((c, inp))
                if not parts:
                    cap = {o: inst.supply_by_key[(inp, o)].capacity for o in origins.get((inp, c), ())}
                    total = sum(cap.values())
                    parts = [(o, w) for o, w in sorted(cap.items()) if w > 0] if total > 0 else []
                    notes.append(f"baseline has no rows for the {inp} of the {i} plant in {c}; split by capacity "
                                 f"among {', '.join(o for o, _ in parts) or 'no supplier'}")
                total = sum(w for _, w in parts)
                for o, w in parts:
                    feeds[(inp, o, c)] += q * v * w / total
                    out_vol[(inp, o)] += q * v * w / total
    return dict(feeds), notes
