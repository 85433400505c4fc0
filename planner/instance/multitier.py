"""Multi-tier supply chains: stages, bill of materials, lanes for intermediate goods, and their checks.

A *single-tier* instance has no ``bom.csv``: every item is bought from a
supplier country and shipped to the importers, as before.  A *multi-tier*
instance adds a bill of materials (``bom.csv``: output, input, quantity of
input per unit of output) and, optionally, stages (``stages.csv``) that
items belong to (``items.stage``).  A supply row of an item with BOM inputs
is a *plant* in that country; it needs its inputs shipped in ("fed") from
supply rows of the input items, over a lane (origin -> the plant's country,
``lanes.importer`` read as the destination) or domestically.

The derived structure every other part uses (the BOM both ways, items in
topological order, stages, feed routes and their lanes) is
:class:`planner.instance.schema.Chain` (``inst.chain``, computed once per
instance). This module holds the multi-tier checks: :func:`check_references`
(frames) and :func:`check_chain` (a built instance), called by
``planner.instance.checks`` / ``planner.instance.io``.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from planner.errors import Problem
from planner.instance.schema import Instance, Meta

def check_references(t: dict, files: dict[str, str], meta: Meta | None, meta_file: str) -> list[Problem]:
    """Stages, BOM and the multi-tier policy refer to declared ids; the BOM has no cycle; quantities are > 0.

    Works on the parsed frames of ``planner.instance.tables`` (rows whose cells failed to
    parse are skipped: they are reported already).
    """
    from planner.instance.tables import LINE, OK

    out: list[Problem] = []
    items_f, stages_f, bom_f = t.get("items"), t.get("stages"), t.get("bom")
    item_ids = set(items_f["id"].dropna()) if items_f is not None else None
    stage_ids = set(stages_f["id"].dropna()) if stages_f is not None else None
    if items_f is not None and stages_f is not None and "stage" in items_f:
        for ln, v in zip(items_f[LINE], items_f["stage"]):
            if v and v not in stage_ids:
                listing = ", ".join(sorted(stage_ids)) or "(none: add a stages.csv)"
                out.append(Problem(files["items"], int(ln), "stage", v,
                                   f"unknown stage; expected a stage id from stages.csv: {listing}"))
    if bom_f is None or bom_f.empty:
        return out + _policy_names(meta, meta_file, stage_ids, t)
    file = files["bom"]
    ok = bom_f[bom_f[OK]]
    for _, r in ok.iterrows():
        for col in ("output", "input"):
            if item_ids is not None and r[col] not in item_ids:
                out.append(Problem(file, int(r[LINE]), col, r[col], "unknown item id (ids come from items.csv)"))
        if r["output"] == r["input"]:
            out.append(Problem(file, int(r[LINE]), "input", r["input"],
                               "an item made from itself; expected a different input item"))
        if r["quantity"] <= 0:
            out.append(Problem(file, int(r[LINE]), "quantity", f"{r['quantity']:g}",
                               "out of range; expected input units per output unit > 0"))
    import networkx as nx  # only when a bill of materials is checked (start-up time)

    g = nx.DiGraph()
    line_of = {}
    for _, r in ok.iterrows():
        if r["output"] != r["input"]:
            g.add_edge(r["input"], r["output"])
            line_of[(r["input"], r["output"])] = int(r[LINE])
    for cycle in sorted(sorted(c) for c in nx.simple_cycles(g)):
        sub = g.subgraph(cycle)
        edges = sorted(nx.find_cycle(sub))
        path = " -> ".join([edges[0][0]] + [v for _, v in nx.find_cycle(sub, edges[0][0])])
        u, v = edges[0]
        out.append(Problem(file, line_of[(u, v)], "input", u,
                           f"cycle in the bill of materials ({path}); expected every input upstream of its output"))
    if items_f is not None and stages_f is not None and "stage" in items_f:
        order = {s: o for s, o in zip(stages_f["id"], stages_f["order"]) if s is not None and o is not None}
        stage_of = dict(zip(items_f["id"], items_f["stage"]))
        for _, r in ok.iterrows():
            si, so = stage_of.get(r["input"]), stage_of.get(r["output"])
            if si in order and so in order and order[si] > order[so]:
                out.append(Problem(file, int(r[LINE]), "input", r["input"],
                                   f"input at stage {si} (order {order[si]}) is downstream of its output "
                                   f"{r['output']} at stage {so} (order {order[so]}); expected inputs at the same "
                                   "or an earlier stage"))
    return out + _policy_names(meta, meta_file, stage_ids, t)


def _policy_names(meta: Meta | None, meta_file: str, stage_ids: set | None, t: dict) -> list[Problem]:
    """Names in policy.stage_caps / upstream_caps: declared stages; tiers, groups or country codes."""
    if meta is None:
        return []
    pol = meta.policy
    parts = [("policy", pol)] + [(f"policy.items.{k}", v) for k, v in pol.items.items()]
    if not any(p.stage_caps or p.upstream_caps for _, p in parts):
        return []
    cty = t.get("countries")
    names = set(meta.tiers)
    if cty is not None:
        names |= set(cty["code"].dropna()) | {g for gs in cty["groups"].dropna() for g in gs}
    listing = ", ".join(sorted(names))
    out = []
    bom_f = t.get("bom")
    if bom_f is None or bom_f.empty:
        first = next(p for p, part in parts if part.stage_caps or part.upstream_caps)
        out.append(Problem(meta_file, None, f"{first}.stage_caps", None,
                           "stage and upstream caps need a multi-tier instance; expected a bom.csv"))
    for prefix, part in parts:
        for stage, caps in (part.stage_caps or {}).items():
            if stage_ids is not None and stage not in stage_ids:
                # Named down to a set (when there is one), so a --set override gets the blame, not instance.yaml.
                column = f"{prefix}.stage_caps.{stage}" + (f".{next(iter(caps))}" if caps else "")
                out.append(Problem(meta_file, None, column, stage,
                                   f"unknown stage; expected a stage id from stages.csv: "
                                   f"{', '.join(sorted(stage_ids)) or '(none)'}"))
            for name in caps:
                if cty is not None and name not in names:
                    out.append(Problem(meta_file, None, f"{prefix}.stage_caps.{stage}.{name}", name,
                                       f"unknown tier, group or country; expected one of: {listing}"))
        for name in part.upstream_caps or {}:
            if cty is not None and name not in names:
                out.append(Problem(meta_file, None, f"{prefix}.upstream_caps.{name}", name,
                                   f"unknown tier, group or country; expected one of: {listing}"))
    return out


def processing_pairs(t: dict) -> set[str] | None:
    """'country\\x1finput' pairs of plants' inputs (a baseline may give the split of a plant's input)."""
    sup, bom_f = t.get("supply"), t.get("bom")
    if sup is None or bom_f is None or bom_f.empty:
        return set()
    ins: dict[str, set[str]] = defaultdict(set)
    for o, i in zip(bom_f["output"], bom_f["input"]):
        if o is not None and i is not None:
            ins[o].add(i)
    return {f"{c}\x1f{i}" for o, c in zip(sup["item"], sup["country"]) if o in ins for i in ins[o]}


# --------------------------------------------------------------------------- checks on an instance
def check_chain(inst: Instance, files: dict[str, str], frames: dict[str, pd.DataFrame | None]) -> list[Problem]:
    """Multi-tier network checks, found without solving (none for a single-tier instance).

    * a plant whose input no supplier can reach (no supply row of the input in
      the plant's country and no lane to it from one);
    * a supplier with no lane: its item reaches neither an importer with demand
      for it nor a plant using it;
    * demand that no path can reach: every supplier of the item that reaches the
      importer lacks an input somewhere upstream (capacity and investments
      counted, tiers excluded by the policy left out unless shortage is allowed).
    """
    chain = inst.chain
    if not chain.multi_tier:
        return []
    from planner.instance.tables import LINE

    def lines(table: str, *cols: str) -> dict[tuple, int]:
        f = frames.get(table)
        if f is None:
            return {}
        return {k: int(ln) for k, ln in zip(zip(*(f[c] for c in cols)), f[LINE])}

    sup_line = lines("supply", "item", "country")
    dem_line = lines("demand", "importer", "item")
    out: list[Problem] = []
    feed = chain.feed_routes
    fed_from: dict[tuple[str, str], list[str]] = defaultdict(list)  # (input, plant country) -> origins
    for i, c, k in feed:
        fed_from[(i, k)].append(c)
    for (o, k), ins in sorted(chain.plants.items()):
        for i in sorted(ins):
            if not fed_from.get((i, k)):
                out.append(Problem(files["supply"], sup_line.get((o, k)), "country", k,
                                   f"plant of {o} in {k} cannot receive its input {i}; expected a supply row of {i} "
                                   f"in {k} or a lane (origin, importer={k}, item {i} or '*') from a country with a "
                                   f"supply row of {i}"))
    demanded = {i for (i, _), q in inst.demand_qty.items() if q > 0}
    ships = {(i, c) for (i, c, _) in inst.open_lanes} | {(i, c) for (i, c, _) in feed}
    for (i, c) in sorted(inst.supply_by_key):
        if (i, c) not in ships:
            uses = sorted(chain.outputs_of.get(i, ()))
            where = (f"an importer with demand for {i}" if i in demanded else "") + \
                (" or " if i in demanded and uses else "") + \
                (f"a plant of {', '.join(uses)}" if uses else "")
            why = f"expected a lane from {c} to {where}" if where else \
                f"{i} has no demand and is no input of any item (bom.csv); expected demand or a bom row"
            out.append(Problem(files["supply"], sup_line.get((i, c)), "country", c,
                               f"supplier of {i} in {c} with no lane; {why}"))
    # Producible nodes, bottom-up: capacity (with options), an allowed tier, every input reachable from one.
    pol = inst.policy
    excluded = set() if pol.allow_shortage else set(pol.exclude_tiers)
    potential = {k: s.capacity for k, s in inst.supply_by_key.items()}
    for inv in inst.investments:
        potential[(inv.item, inv.country)] = potential.get((inv.item, inv.country), 0.0) + inv.capacity
    ok = {k for k, v in potential.items() if v > 0 and inst.tier_of[k[1]] not in excluded}
    producible: set[tuple[str, str]] = set()
    for item in chain.item_order:
        for (i, c) in sorted(k for k in ok if k[0] == item):
            if all(any((j, o) in producible for o in fed_from.get((j, c), ())) for j in chain.inputs_of.get(i, {})):
                producible.add((i, c))
    reach: dict[tuple[str, str], set[str]] = defaultdict(set)
    for i, c, j in inst.open_lanes:
        if (i, c) in ok:
            reach[(i, j)].add(c)
    for d in inst.demand:
        if d.quantity <= 0 or not reach[(d.item, d.importer)]:
            continue  # no supplier at all: planner.instance.checks says so
        if not any((d.item, c) in producible for c in reach[(d.item, d.importer)]):
            lacking = sorted({j for c in reach[(d.item, d.importer)]
                              for j in chain.closure([d.item]) - {d.item}
                              if not any((j, o) in producible for o in chain.makers(j))})
            note = f" (tiers excluded: {', '.join(sorted(excluded))})" if excluded else ""
            out.append(Problem(files["demand"], dem_line.get((d.importer, d.item)), "item", d.item,
                               f"no path can reach demand of {d.importer} for {d.item}: every supplier reaching "
                               f"{d.importer} lacks an input upstream ({', '.join(lacking) or 'a lane'}){note}; "
                               "expected a chain of plants with capacity and lanes from raw material to the importer"))
    return out
