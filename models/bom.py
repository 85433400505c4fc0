"""Multi-tier material flows: inputs fed to plants, and flow conservation with the bill of materials.

A supply row (o, k) of an item o with BOM inputs is a plant in k.  Every unit
it ships (to importers through ``Flow``, or to other plants through ``Feed``)
consumes quantity(o, i) units of each input i, which reach k through
``Feed[i, c, k]`` from supply rows (i, c).  A single-tier instance has no
BOM: every set here is empty and nothing is added to the cost.
"""

from __future__ import annotations

from pyomo.environ import Constraint, NonNegativeReals, Param, Set, Var, quicksum

from .registry import register_cost


def add_to(m, inst) -> None:
    chain = inst.chain
    options = set(m.SUPPLY_OPTIONS)
    routes = chain.feed_routes if chain.multi_tier else {}
    routes_out: dict[tuple[str, str], list[str]] = {}  # (input, origin) -> plant countries it can reach
    for i, c, k in routes:
        routes_out.setdefault((i, c), []).append(k)
    by_item: dict[str, list[str]] = {}
    for i, c in sorted(options):
        by_item.setdefault(i, []).append(c)
    # Live options, outputs first: an option is live if it ships to an importer or feeds a live plant.
    live_plants: dict[tuple[str, str], list[str]] = {}  # (input, plant country) -> live outputs there
    feed_routes = []
    live = set(m.look.routes_from)
    for i in reversed(chain.item_order):
        for c in by_item.get(i, ()):
            out = [(i, c, k) for k in routes_out.get((i, c), ()) if (i, k) in live_plants]
            if out:
                live.add((i, c))
                feed_routes += out
        for c in by_item.get(i, ()):
            if i in chain.inputs_of and (i, c) in live:
                for inp in chain.inputs_of[i]:
                    live_plants.setdefault((inp, c), []).append(i)

    m.FEED_ROUTES = Set(dimen=3, initialize=sorted(feed_routes),
                        doc="(input, origin, plant country) usable feed routes to live plants")
    m.BOM_NODES = Set(dimen=2, initialize=sorted(live_plants), doc="(input, plant country) where a live plant uses it")
    m.BOM_PAIRS = Set(dimen=2, initialize=sorted({(o, i) for (i, _), outs in live_plants.items() for o in outs}),
                      doc="(output, input) bill-of-materials pairs with a live plant")
    m.bom_quantity_u_per_u = Param(m.BOM_PAIRS, initialize={(o, i): chain.inputs_of[o][i] for o, i in m.BOM_PAIRS})
    m.feed_transport_cur_per_u = Param(m.FEED_ROUTES, initialize={r: routes[r][0] for r in m.FEED_ROUTES})
    m.feed_tariff_frac = Param(m.FEED_ROUTES, initialize={r: routes[r][1] for r in m.FEED_ROUTES})
    m.look.plants_using = {k: sorted(v) for k, v in live_plants.items()}  # (input, plant country) -> outputs
    m.look.feeds_to = {}
    m.look.feeds_from = {}
    for r in m.FEED_ROUTES:
        m.look.feeds_to.setdefault((r[0], r[2]), []).append(r)
        m.look.feeds_from.setdefault((r[0], r[1]), []).append(r)

    m.Feed = Var(m.FEED_ROUTES, domain=NonNegativeReals, doc="input shipped to a plant, input unit per year")
    for r in m.FEED_ROUTES:
        m.look.outflows.setdefault((r[0], r[1]), []).append(m.Feed[r])
    if len(m.FEED_ROUTES):
        cost = m.unit_cost_cur_per_u
        register_cost(m, "feed_purchase", quicksum(cost[i, c] * m.Feed[i, c, k] for i, c, k in m.FEED_ROUTES))
        register_cost(m, "feed_transport", quicksum(m.feed_transport_cur_per_u[r] * m.Feed[r] for r in m.FEED_ROUTES))
        register_cost(m, "feed_tariff", quicksum(m.feed_tariff_frac[i, c, k] * cost[i, c] * m.Feed[i, c, k]
                                                 for i, c, k in m.FEED_ROUTES if m.feed_tariff_frac[i, c, k]))

    def bom_balance(m, i, k):
        """sum_c Feed[i,c,k] = sum_{o uses i at k} bom_quantity_u_per_u[o,i] * (sum_j Flow[o,k,j] + sum_k' Feed[o,k,k'])
        for (i,k) in BOM_NODES.

        Flow conservation with the bill of materials: what a country's plants
        ship of every output consumes its inputs, which are shipped in.
        """
        used = quicksum(m.bom_quantity_u_per_u[o, i] * quicksum(m.look.outflows.get((o, k), ())) for o in m.look.plants_using[i, k])
        return quicksum(m.Feed[r] for r in m.look.feeds_to.get((i, k), ())) == used

    m.Bom_Balance = Constraint(m.BOM_NODES, rule=bom_balance)

