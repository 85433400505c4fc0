"""Supply-network analytics (networkx): the graph, stages, exposure, single points of failure, GraphML, drawing.

The graph of an instance has a node per supply option (``item@country``: a
mine, a plant) and per demand (``demand:item@importer``); an edge per usable
shipment: a feed route of an input to a plant using it, or a route of an item
to an importer.  For a *sourcing* (baseline, optimised plan, a solve's output,
or ``all`` for the whole data network) the nodes are the options it qualifies
or ships from, with their qualified capacity, and edges carry its volumes.

**Deliverable supply** of a final item is the most its importers can receive
(each at most its demand) from the network's capacity, every plant consuming
its bill of materials: a generalised max-flow, solved as a small LP with
HiGHS (exact for any bill of materials, each final item on its own).  An
element (a country, a supply option, a chokepoint) is a **single point of
failure** when losing it alone cuts an item's deliverable supply below beta x
its demand.  For items whose chain has one input per plant, the networkx
**minimum cut** (in units of the final item) names the bottleneck and equals
the deliverable supply (max-flow = min-cut).

Outputs (:func:`write`): tables ``stages``, ``exposure``, ``exposure_tiers``,
``exposure_stages``, ``spof``, ``min_cut``, ``edges``; ``network.graphml``
(Gephi, yEd); ``network.png`` and ``network.svg`` (stages as columns, edge
width = volume, colour = trust tier of the origin); ``run.json``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import networkx as nx
import numpy as np
import pandas as pd

from planner.errors import InstanceError, NoSolutionError, Problem
from planner.results.exposure import EPS, exposure_tables
from planner.instance.schema import Instance
from planner.results.schema import columns
from planner.solve import matrix
from planner.analysis.stress import Sourcing

ALL_SOURCING = "all"
DEFAULT_BETA = 0.8
"""Deliverable share below which a loss is a single point of failure (``--beta``)."""

STAGE_COLUMNS = columns("stages")
SPOF_COLUMNS = columns("spof")
CUT_COLUMNS = columns("min_cut")
EDGE_COLUMNS = columns("edges")
TIER_COLOURS = ("#1a9641", "#2b83ba", "#66c2a5", "#fdae61", "#d7191c", "#8c510a", "#762a83")
"""Colours of the trust tiers, most trusted first; the least trusted tier is always red."""


def fid(item: str, country: str) -> str:
    """Node id of a supply option."""
    return f"{item}@{country}"


def did(item: str, importer: str) -> str:
    """Node id of a demand."""
    return f"demand:{item}@{importer}"


def tier_colours(inst: Instance) -> dict[str, str]:
    tiers = list(inst.meta.tiers)
    out = {t: TIER_COLOURS[min(n, len(TIER_COLOURS) - 1)] for n, t in enumerate(tiers)}
    out[tiers[-1]] = "#d7191c"
    return out


# --------------------------------------------------------------------------- the graph
def build_graph(inst: Instance, src: Sourcing | None = None) -> nx.DiGraph:
    """The supply graph of the instance, restricted to a sourcing's options (None: the whole data network)."""
    chain, tier, colour = inst.chain, inst.tier_of, tier_colours(inst)
    added: dict[tuple[str, str], float] = defaultdict(float)
    for o in inst.investments:
        if src is None or o.option in src.built:
            added[(o.item, o.country)] += o.capacity
    shipped: dict[tuple[str, str], float] = defaultdict(float)
    if src is not None:
        for (i, c, _), v in (*src.flows.items(), *src.feeds.items()):
            if v > EPS:
                shipped[(i, c)] += v
        keep = set(src.qualified) | set(shipped)
    else:
        keep = set(inst.supply_by_key)
    dem = {k: q for k, q in inst.demand_qty.items() if q > 0}
    last = 1 + max((chain.column(i) for i in inst.chain.item_order), default=0)
    g = nx.DiGraph(name=inst.meta.name, sourcing=src.name if src is not None else ALL_SOURCING,
                   tiers=";".join(inst.meta.tiers))
    for (i, c) in sorted(keep):
        row = inst.supply_by_key[(i, c)]
        qualified = src is None or (i, c) in src.qualified
        cap = (row.capacity if qualified else 0.0) + added.get((i, c), 0.0)
        cap = max(cap, shipped.get((i, c), 0.0))  # a baseline may buy above capacity: today's fact
        g.add_node(fid(i, c), kind="facility", item=i, country=c, tier=tier[c], stage=chain.stage(i),
                   column=chain.column(i), capacity=float(cap), output=float(shipped.get((i, c), 0.0)),
                   unit_cost=float(row.unit_cost), color=colour[tier[c]], label=f"{c} {i}")
    for (i, j), q in sorted(dem.items()):
        g.add_node(did(i, j), kind="demand", item=i, country=j, tier=tier[j], stage="demand", column=last,
                   capacity=float(q), output=float(q), unit_cost=0.0, color=colour[tier[j]], label=f"{j} demand {i}")
    feeds = src.feeds if src is not None else {}
    flows = src.flows if src is not None else {}
    for (i, c, k) in sorted(chain.feed_routes):
        if fid(i, c) not in g:
            continue
        outs = [o for o in sorted(chain.outputs_of.get(i, {})) if fid(o, k) in g]
        weight = {o: chain.inputs_of[o][i] * g.nodes[fid(o, k)]["output"] for o in outs}
        total = sum(weight.values())
        for o in outs:
            share = weight[o] / total if total > EPS else 1.0 / len(outs)
            _edge(g, inst, fid(i, c), fid(o, k), i, c, k, feeds.get((i, c, k), 0.0) * share)
    for (i, c, j) in sorted(inst.open_lanes):
        if fid(i, c) in g and did(i, j) in g:
            _edge(g, inst, fid(i, c), did(i, j), i, c, j, flows.get((i, c, j), 0.0))
    return g


def _edge(g, inst, u, v, item, origin, dest, volume) -> None:
    chain = inst.chain
    terms = chain.route_terms(item, origin, dest) or (0.0, 0.0)
    t = inst.tier_of[origin]
    g.add_edge(u, v, item=item, origin=origin, destination=dest, tier=t, volume=float(volume),
               transport_cost=float(terms[0]), tariff_rate=float(terms[1]),
               transit_days=float(chain.transit_days(item, origin, dest)),
               chokepoints=";".join(sorted(chain.chokepoints(item, origin, dest))), color=tier_colours(inst)[t])


def write_graphml(g: nx.DiGraph, path: Path) -> None:
    """GraphML for Gephi and yEd: every attribute a string, number or bool; x, y from the drawing layout."""
    pos = layout(g)
    h = g.copy()
    for n, (x, y) in pos.items():
        h.nodes[n]["x"], h.nodes[n]["y"] = float(100 * x), float(-100 * y)
    nx.write_graphml(h, path)


# --------------------------------------------------------------------------- deliverable supply (LP)
def item_subgraph(g: nx.DiGraph, inst: Instance, item: str) -> nx.DiGraph:
    """The part of the graph that can serve ``item``'s demand: its demand nodes and everything upstream in its BOM."""
    chain = inst.chain
    items = chain.closure([item])
    nodes = [n for n, d in g.nodes(data=True)
             if (d["kind"] == "facility" and d["item"] in items) or (d["kind"] == "demand" and d["item"] == item)]
    sub = g.subgraph(nodes).copy()
    # Keep feed edges into plants of this chain and final edges of the item only.
    drop = [(u, v) for u, v, d in sub.edges(data=True)
            if sub.nodes[v]["kind"] == "demand" and d["item"] != item]
    sub.remove_edges_from(drop)
    return sub


def deliverable(sub: nx.DiGraph, inst: Instance, lost_nodes: Iterable[str] = (),
                lost_edges: Iterable[tuple[str, str]] = ()) -> float:
    """Most the demand nodes of ``sub`` can receive (each at most its demand), plants consuming their BOM.

    An LP: a column per edge; rows: capacity of every facility (0 if lost),
    the BOM balance of every plant and input, demand caps; lost edges get an
    upper bound of 0.  Maximises what reaches the demand nodes.
    """
    chain = inst.chain
    edges = list(sub.edges())
    col = {e: n for n, e in enumerate(edges)}
    lost_n, lost_e = set(lost_nodes), set(lost_edges)
    inf = matrix.INF
    rows: list[matrix.Row] = []
    for n, d in sub.nodes(data=True):
        outs = [col[e] for e in sub.out_edges(n)]
        ins = [col[e] for e in sub.in_edges(n)]
        if d["kind"] == "demand":
            if ins:
                rows.append((-inf, d["capacity"], ins, [1.0] * len(ins)))
            continue
        if outs:
            cap = 0.0 if n in lost_n else d["capacity"]
            rows.append((-inf, cap, outs, [1.0] * len(outs)))
        for inp, q in chain.inputs_of.get(d["item"], {}).items():
            feed = [col[e] for e in sub.in_edges(n) if sub.nodes[e[0]]["item"] == inp]
            if outs or feed:  # in = q x out; no feed at all forces the plant to ship nothing
                rows.append((0.0, 0.0, feed + outs, [1.0] * len(feed) + [-q] * len(outs)))
    if not edges:
        return 0.0
    cost = np.array([-1.0 if sub.nodes[v]["kind"] == "demand" else 0.0 for _, v in edges])
    upper = np.array([0.0 if e in lost_e else inf for e in edges])
    h = matrix.lp(cost, upper, rows)
    h.run()
    if not matrix.optimal(h):
        raise NoSolutionError(f"the deliverable-supply LP ended {matrix.status_text(h)}")
    return max(0.0, -float(h.getInfo().objective_function_value))


def single_points_of_failure(g: nx.DiGraph, inst: Instance, beta: float = DEFAULT_BETA) -> pd.DataFrame:
    """Every country, supply option and chokepoint of each final item's network, with the deliverable share left
    if it alone is lost; ``spof`` is True where that share is below ``beta``."""
    rows = []
    for item in sorted({d["item"] for _, d in g.nodes(data=True) if d["kind"] == "demand"}):
        sub = item_subgraph(g, inst, item)
        total = sum(d["capacity"] for _, d in sub.nodes(data=True) if d["kind"] == "demand")
        if total <= 0:
            continue
        intact = deliverable(sub, inst) / total
        facilities = sorted(n for n, d in sub.nodes(data=True) if d["kind"] == "facility")
        countries = sorted({sub.nodes[n]["country"] for n in facilities})
        chokes = sorted({c for _, _, d in sub.edges(data=True) for c in d["chokepoints"].split(";") if c})
        cases = [("country", c, inst.tier_of[c], [n for n in facilities if sub.nodes[n]["country"] == c], [])
                 for c in countries]
        cases += [("facility", n, sub.nodes[n]["tier"], [n], []) for n in facilities]
        cases += [("chokepoint", cp, "", [], [(u, v) for u, v, d in sub.edges(data=True)
                                             if cp in d["chokepoints"].split(";")]) for cp in chokes]
        for kind, element, tier, nodes, edges in cases:
            got = deliverable(sub, inst, nodes, edges)
            rows.append({"item": item, "kind": kind, "element": element, "tier": tier, "demand": total,
                         "deliverable": got, "deliverable_share": got / total, "intact_share": intact,
                         "spof": got / total < beta - 1e-7})  # LP tolerance: exactly beta is not a failure
    df = pd.DataFrame(rows, columns=SPOF_COLUMNS)
    return df.sort_values(["item", "deliverable_share", "kind", "element"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- min cut (networkx)
def is_chain(inst: Instance, item: str) -> bool:
    """True if every plant upstream of ``item`` has exactly one input (single-commodity equivalents are exact)."""
    chain = inst.chain
    return all(len(chain.inputs_of.get(i, {})) <= 1 for i in chain.closure([item]))


def min_cut(g: nx.DiGraph, inst: Instance, item: str) -> tuple[float, list[dict]] | None:
    """networkx minimum cut of ``item``'s network in units of the final item (None unless :func:`is_chain`).

    Each facility is split into in/out nodes joined by its capacity divided by
    the units of its item one final unit needs; demand nodes lead to the sink
    with their demand; every shipment edge is uncapacitated.  The cut value is
    the most the importers can receive (max-flow = min-cut).
    """
    if not is_chain(inst, item):
        return None
    chain = inst.chain
    need = {item: 1.0}  # units of each upstream item per unit of the final item
    for i in reversed(chain.item_order):
        if i in need:
            for inp, q in chain.inputs_of.get(i, {}).items():
                need[inp] = need[i] * q
    sub = item_subgraph(g, inst, item)
    h = nx.DiGraph()
    for n, d in sub.nodes(data=True):
        if d["kind"] == "demand":
            h.add_edge(n, "sink", capacity=d["capacity"], element=n, kind="demand")
        else:
            h.add_edge(f"in:{n}", f"out:{n}", capacity=d["capacity"] / need[d["item"]], element=n, kind="facility")
            if not chain.inputs_of.get(d["item"]):
                h.add_edge("source", f"in:{n}")
    for u, v in sub.edges():
        h.add_edge(f"out:{u}", v if sub.nodes[v]["kind"] == "demand" else f"in:{v}")
    if "source" not in h or "sink" not in h:
        return 0.0, []
    value, (reach, _) = nx.minimum_cut(h, "source", "sink")
    cut = [{"item": item, "cut_value": float(value), "element": d["element"], "kind": d["kind"],
            "capacity_equivalent": float(d["capacity"])}
           for u, v, d in h.edges(data=True) if u in reach and v not in reach and "capacity" in d]
    return float(value), sorted(cut, key=lambda r: (r["kind"], r["element"]))


# --------------------------------------------------------------------------- tables
def stage_table(g: nx.DiGraph, inst: Instance) -> pd.DataFrame:
    """One row per supply option of the network, by stage: capacity, output, share of its item's output."""
    total: dict[str, float] = defaultdict(float)
    facilities = [(n, d) for n, d in g.nodes(data=True) if d["kind"] == "facility"]
    for _, d in facilities:
        total[d["item"]] += d["output"]
    rows = [{"stage": d["stage"], "order": d["column"], "item": d["item"], "country": d["country"], "tier": d["tier"],
             "capacity": d["capacity"], "output": d["output"],
             "stage_share": d["output"] / total[d["item"]] if total[d["item"]] > EPS else 0.0,
             "utilisation": d["output"] / d["capacity"] if d["capacity"] > EPS else math.nan} for _, d in facilities]
    df = pd.DataFrame(rows, columns=STAGE_COLUMNS)
    return df.sort_values(["order", "item", "output", "country"], ascending=[True, True, False, True],
                          kind="stable").reset_index(drop=True)


def edge_table(g: nx.DiGraph) -> pd.DataFrame:
    rows = [{"source": u, "target": v, **{k: d[k] for k in EDGE_COLUMNS[2:]}} for u, v, d in g.edges(data=True)]
    return pd.DataFrame(rows, columns=EDGE_COLUMNS)


@dataclass(frozen=True)
class NetworkResult:
    sourcing: str
    beta: float
    graph: nx.DiGraph
    tables: dict[str, pd.DataFrame]
    notes: tuple[str, ...] = field(default=())
    seconds: float = 0.0


def analyse(inst: Instance, src: Sourcing | None, beta: float = DEFAULT_BETA) -> NetworkResult:
    """Graph, stage table, exposure (for a sourcing), single points of failure and minimum cuts."""
    t0 = time.perf_counter()
    g = build_graph(inst, src)
    tables = {"stages": stage_table(g, inst)}
    if src is not None:
        tables.update(exposure_tables(inst, src.flows, src.feeds))
    tables["spof"] = single_points_of_failure(g, inst, beta)
    cuts, notes = [], []
    for item in sorted({d["item"] for _, d in g.nodes(data=True) if d["kind"] == "demand"}):
        found = min_cut(g, inst, item)
        if found is None:
            notes.append(f"{item}: a plant upstream has several inputs, so no single-commodity minimum cut; "
                         "see the spof table (deliverable supply by LP)")
            continue
        value, rows = found
        demand = sum(q for (i, _), q in inst.demand_qty.items() if i == item)
        cuts += [{**r, "demand": demand} for r in rows]
    tables["min_cut"] = pd.DataFrame(cuts, columns=CUT_COLUMNS)
    tables["edges"] = edge_table(g)
    return NetworkResult(src.name if src is not None else ALL_SOURCING, beta, g, tables, tuple(notes),
                         time.perf_counter() - t0)


def sourcing(inst: Instance, which: str, options=None) -> Sourcing | None:
    """``all`` (None: the whole data network), or a sourcing as ``friendshore stress`` reads it."""
    if which == ALL_SOURCING:
        return None
    from planner.analysis.stress import sourcing_for

    return sourcing_for(inst, which, options)


# --------------------------------------------------------------------------- drawing
def layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Stages as columns (x = stage order, importers last); within a column, by tier then country, centred."""
    cols: dict[int, list[str]] = defaultdict(list)
    for n, d in g.nodes(data=True):
        cols[d["column"]].append(n)
    order = {t: n for n, t in enumerate(g.graph.get("tiers", "").split(";"))}
    pos = {}
    for x, nodes in cols.items():
        nodes.sort(key=lambda n: (g.nodes[n]["item"], order.get(g.nodes[n]["tier"], 99), g.nodes[n]["country"]))
        k = len(nodes)
        for r, n in enumerate(nodes):
            pos[n] = (float(x), (k - 1) / 2.0 - r)
    return pos


def draw(g: nx.DiGraph, inst: Instance, png: Path, svg: Path, title: str = "") -> None:
    """PNG and SVG of the network: stages as columns, edge width = volume, colour = trust tier of the origin."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    pos = layout(g)
    colours = tier_colours(inst)
    chain = inst.chain
    ncol = max((d["column"] for _, d in g.nodes(data=True)), default=1)
    height = max((sum(1 for _, d in g.nodes(data=True) if d["column"] == c) for c in range(1, ncol + 1)), default=1)
    fig = Figure(figsize=(3.2 * ncol + 1.5, max(4.0, 0.55 * height + 2.0)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    vmax: dict[str, float] = defaultdict(float)  # widths are scaled per item: units differ between stages
    for _, _, d in g.edges(data=True):
        vmax[d["item"]] = max(vmax[d["item"]], d["volume"])
    cmax = max((d["capacity"] for _, d in g.nodes(data=True)), default=0.0)
    for u, v, d in sorted(g.edges(data=True), key=lambda e: e[2]["volume"]):
        used = d["volume"] > EPS
        width = 0.6 + 9.0 * d["volume"] / vmax[d["item"]] if used else 0.5
        ax.add_patch(FancyArrowPatch(pos[u], pos[v], arrowstyle="-|>", mutation_scale=8 + width, lw=width,
                                     color=d["color"] if used else "#bbbbbb", alpha=0.75 if used else 0.5,
                                     linestyle="-" if used else ":", shrinkA=9, shrinkB=9, zorder=1))
    for n, d in g.nodes(data=True):
        x, y = pos[n]
        size = 60 + 900 * math.sqrt(d["capacity"] / cmax) if cmax > 0 else 100
        ax.scatter([x], [y], s=size, c=d["color"], marker="s" if d["kind"] == "demand" else "o",
                   edgecolors="black", linewidths=0.6, zorder=2)
        ax.annotate(f"{d['country']} {d['item']}" if d["kind"] == "facility" else f"{d['country']}",
                    (x, y), xytext=(0, -14), textcoords="offset points", ha="center", va="top", fontsize=7, zorder=3)
    heads = {}
    for _, d in g.nodes(data=True):
        heads.setdefault(d["column"], set()).add(chain.stage_name.get(d["stage"], d["stage"]) if d["stage"] != "demand"
                                                 else "importers")
    top = max((p[1] for p in pos.values()), default=0.0) + 0.9
    for x, names in heads.items():
        ax.text(x, top, " / ".join(sorted(names)), ha="center", va="bottom", fontsize=10, fontweight="bold")
    handles = [Line2D([0], [0], color=colours[t], lw=4, label=t) for t in inst.meta.tiers
               if any(d["tier"] == t for _, d in g.nodes(data=True))]
    ax.legend(handles=handles, title="trust tier (origin)", loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize=8,
              frameon=False)
    ax.set_title(title or f"{inst.meta.name}: {g.graph.get('sourcing', '')} (edge width = volume, scaled per item)", fontsize=11)
    ys = [p[1] for p in pos.values()] or [0.0]
    ax.set_xlim(0.4, ncol + 0.6)
    ax.set_ylim(min(ys) - 1.0, top + 0.6)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(png, dpi=110, metadata={"Software": None})
    with matplotlib.rc_context({"svg.hashsalt": "friendshore", "svg.fonttype": "none"}):
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})


# --------------------------------------------------------------------------- the `network` command
def record(inst: Instance, result: NetworkResult, *, instance_path: str, files_hash: str, instance_hash: str,
           overrides: dict, variant: str | None) -> dict:
    """run.json of a network run."""
    from planner.results.provenance import provenance

    spof = result.tables["spof"]
    return {
        "command": "network",
        **provenance(name=inst.meta.name, instance_path=instance_path, files_hash=files_hash,
                     instance_hash=instance_hash, overrides=overrides, variant=variant),
        "sourcing": result.sourcing, "beta": result.beta,
        "multi_tier": inst.chain.multi_tier, "nodes": result.graph.number_of_nodes(),
        "edges": result.graph.number_of_edges(),
        "single_points_of_failure": [f"{r.item}: {r.kind} {r.element}" for r in spof[spof["spof"]].itertuples()],
        "notes": list(result.notes), "timing": {"seconds": result.seconds},
    }


def write(out: Path, inst: Instance, result: NetworkResult, rec: dict, formats: Iterable[str]) -> None:
    """Tables (every format), run.json, network.graphml, network.png and network.svg, atomically."""
    from planner.results.export import write_outputs

    write_outputs(Path(out), result.tables, rec, formats, extras={
        "network.graphml": lambda path: write_graphml(result.graph, path),
        # The drawing writes both files at once; its PNG slot does the work.
        "network.png": lambda path: draw(result.graph, inst, path, path.with_name("network.svg")),
    })



def run(inst: Instance, which: str, beta: float = DEFAULT_BETA, options=None) -> NetworkResult:
    """The `network` command's analysis of the chosen sourcing."""
    if not 0.0 <= beta <= 1.0:
        raise InstanceError([Problem("--beta", value=f"{beta:g}", expected="expected a fraction in [0, 1]")])
    return analyse(inst, sourcing(inst, which, options), beta)
