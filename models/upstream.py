"""Multi-tier policy: qualified input suppliers, and dependence caps per stage and on the whole upstream path.

``Feed_Link`` makes a plant's input suppliers qualified suppliers, as
``Flow_Link`` does for final suppliers.

Stage and upstream caps bound the share of an importer's supply of an item
that passed through a set S of countries (a tier, a group or one country):
at one stage (``policy.stage_caps``: {stage: {S: cap}}) or at any stage
(``policy.upstream_caps``: {S: cap}).  They are *tagged flows*: for every
capped (stage, S), a tag T whose sources are the supply options of S (at that
stage), and on every arc leaving an option that can carry T's material, the
tagged part of the arc (``TaintFlow`` / ``TaintFeed``, at most the arc).  An
arc leaving a source is wholly tagged; a plant outside S passes its tagged
inputs on: per input, what it ships tagged, times the input's BOM quantity,
covers its tagged input (``Taint_Balance``; a unit of output made from a
tagged unit of any input is tagged).  Plants may keep materials apart by
origin, so the tagged share is the least share of the supply that must have
passed through S given the flows; without segregation (pro-rata mixing,
what ``planner/results/exposure.py`` reports) it can only be higher.
"""

from __future__ import annotations

from pyomo.environ import Constraint, NonNegativeReals, Param, Set, Var, quicksum

from .registry import Lever, register_lever

STAGE_FAMILY = "Stage_Share_Cap"
UPSTREAM_FAMILY = "Upstream_Share_Cap"
ANY_STAGE = "*"


def add_to(m, inst) -> None:
    chain = inst.chain
    need = {(i, k): sum(m.bom_quantity_u_per_u[o, i] * m.look.max_capacity_u[o, k] for o in outs)
            for (i, k), outs in m.look.plants_using.items()}

    def feed_link(m, i, c, k):
        """Feed[i,c,k] <= min(max_capacity_u[i,c], need_u[i,k]) * Qualify[i,c]  for (i,c,k) in FEED_ROUTES,
        with need_u[i,k] = sum_{o uses i at k} bom_quantity_u_per_u[o,i] * max_capacity_u[o,k].

        No input from an unqualified supplier; the coefficient is the most the
        supplier or the plants could ever handle, not a loose big-M.
        """
        return m.Feed[i, c, k] <= min(m.look.max_capacity_u[i, c], need[i, k]) * m.Qualify[i, c]

    m.Feed_Link = Constraint(m.FEED_ROUTES, rule=feed_link)

    # ------------------------------------------------------------------ tags wanted by the policy
    pol = inst.policy
    levels: dict[str, dict[tuple[str, str, str], float]] = {STAGE_FAMILY: {}, UPSTREAM_FAMILY: {}}
    tag_def: dict[str, tuple[str, str]] = {}  # tag -> (stage or '*', set name)
    for o, j in m.DEMANDS:
        p = pol.for_item(o)
        for stage, caps in sorted((p.stage_caps or {}).items()):
            for name, level in sorted(caps.items()):
                tag = f"{stage}:{name}"
                tag_def[tag] = (stage, name)
                levels[STAGE_FAMILY][tag, o, j] = level
        for name, level in sorted((p.upstream_caps or {}).items()):
            tag = f"{ANY_STAGE}:{name}"
            tag_def[tag] = (ANY_STAGE, name)
            levels[UPSTREAM_FAMILY][tag, o, j] = level

    live = sorted(m.look.outflows)  # options that ship something
    by_item: dict[str, list[tuple[str, str]]] = {}
    for k in live:
        by_item.setdefault(k[0], []).append(k)
    sources: dict[str, set] = {}  # tag -> options wholly tagged
    carriers: dict[str, set] = {}  # tag -> options that may ship tagged material (sources included)
    for tag, (stage, name) in sorted(tag_def.items()):
        members = chain.members(name)
        src = {k for k in live if k[1] in members and (stage == ANY_STAGE or chain.stage(k[0]) == stage)}
        carry = set(src)
        for item in chain.item_order:  # inputs first
            for i, c in by_item.get(item, ()):
                if (i, c) not in carry and any(
                        r[:2] in carry for inp in chain.inputs_of.get(i, {}) for r in m.look.feeds_to.get((inp, c), ())):
                    carry.add((i, c))
        sources[tag], carriers[tag] = src, carry

    m.TAGS = Set(initialize=sorted(tag_def), doc="'stage:set' of stage caps and '*:set' of upstream caps")
    m.TAINT_FLOWS = Set(dimen=4, initialize=[(t, *r) for t in m.TAGS for r in m.ROUTES
                                             if r[:2] in carriers[t] and r[:2] not in sources[t]],
                        doc="(tag, item, country, importer) routes that may carry tagged material")
    m.TAINT_FEEDS = Set(dimen=4, initialize=[(t, *r) for t in m.TAGS for r in m.FEED_ROUTES
                                             if r[:2] in carriers[t] and r[:2] not in sources[t]],
                        doc="(tag, input, origin, plant country) feed routes that may carry tagged material")
    m.TaintFlow = Var(m.TAINT_FLOWS, domain=NonNegativeReals, doc="tagged part of a flow, item unit per year")
    m.TaintFeed = Var(m.TAINT_FEEDS, domain=NonNegativeReals, doc="tagged part of a feed, input unit per year")

    def tagged_flow(t, r):
        if r[:2] in sources[t]:
            return m.Flow[r]
        return m.TaintFlow[(t, *r)] if r[:2] in carriers[t] else 0

    def tagged_feed(t, r):
        if r[:2] in sources[t]:
            return m.Feed[r]
        return m.TaintFeed[(t, *r)] if r[:2] in carriers[t] else 0

    def taint_flow_bound(m, t, i, c, j):
        """TaintFlow[T,i,c,j] <= Flow[i,c,j]  for (T,i,c,j) in TAINT_FLOWS.

        The tagged part of a flow is part of it.
        """
        return m.TaintFlow[t, i, c, j] <= m.Flow[i, c, j]

    def taint_feed_bound(m, t, i, c, k):
        """TaintFeed[T,i,c,k] <= Feed[i,c,k]  for (T,i,c,k) in TAINT_FEEDS.

        The tagged part of a feed is part of it.
        """
        return m.TaintFeed[t, i, c, k] <= m.Feed[i, c, k]

    m.Taint_Flow_Bound = Constraint(m.TAINT_FLOWS, rule=taint_flow_bound)
    m.Taint_Feed_Bound = Constraint(m.TAINT_FEEDS, rule=taint_feed_bound)

    def tagged_out(t, o, k):
        return quicksum(tagged_flow(t, r) for r in m.look.routes_from.get((o, k), ())) + \
            quicksum(tagged_feed(t, r) for r in m.look.feeds_from.get((o, k), ()))

    balance = [(t, i, k) for t in m.TAGS for (i, k) in m.BOM_NODES
               if any(r[:2] in carriers[t] for r in m.look.feeds_to.get((i, k), ()))
               and any((o, k) not in sources[t] for o in m.look.plants_using[i, k])]

    def taint_balance(m, t, i, k):
        """sum_{o uses i at k} bom_quantity_u_per_u[o,i] * tagged_out[T,o,k] >= sum_c tagged(Feed[i,c,k])
        for (T,i,k) in TAINT_NODES, with tagged_out[T,o,k] = sum_j tagged(Flow[o,k,j]) + sum_k' tagged(Feed[o,k,k'])
        and tagged(arc) = the arc if its origin is a source of T, else its TaintFlow / TaintFeed.

        Tagged input is passed on: the plants at k ship at least as much
        tagged output as their tagged input of i makes.
        """
        return quicksum(m.bom_quantity_u_per_u[o, i] * tagged_out(t, o, k) for o in m.look.plants_using[i, k]) >= \
            quicksum(tagged_feed(t, r) for r in m.look.feeds_to.get((i, k), ()))

    m.TAINT_NODES = Set(dimen=3, initialize=balance, doc="(tag, input, plant country) receiving tagged input")
    m.Taint_Balance = Constraint(m.TAINT_NODES, rule=taint_balance)

    families = []
    for family, what, index_name, param_name in (
            (STAGE_FAMILY, "at stage s in the set S", "STAGE_CAPPED", "stage_share_cap_frac"),
            (UPSTREAM_FAMILY, "at any stage in the set S", "UPSTREAM_CAPPED", "upstream_share_cap_frac")):
        # A cap no tagged route reaches constrains nothing: no row.
        rows = {k: v for k, v in levels[family].items()
                if any(r[:2] in carriers[k[0]] for r in m.look.routes_to.get(k[1:], ()))}
        index = Set(dimen=3, initialize=sorted(rows))
        level = Param(index, initialize=rows, mutable=True)
        m.add_component(index_name, index)
        m.add_component(param_name, level)

        def share_cap(m, t, o, j, level=level):
            return quicksum(tagged_flow(t, r) for r in m.look.routes_to.get((o, j), ())) <= level[t, o, j] * m.demand_u[o, j]

        share_cap.__doc__ = f"""sum_c tagged(Flow[o,c,j]) <= {param_name}[T,o,j] * demand_u[o,j]
        for (T,o,j) in {index_name}, T = 's:S' ('*:S' for any stage).

        At most the cap of importer j's supply of o passed {what} (tagged flows).
        """
        m.add_component(family, Constraint(index, rule=share_cap))
        if rows:
            families.append(family)
            # The group is the tag 's:S' (stage s, set S) or '*:S' (any stage upstream).
            register_lever(m, Lever(family, "policy.stage_caps" if family == STAGE_FAMILY else "policy.upstream_caps",
                                    "cap", 0.01, lambda k: {"item": k[1], "importer": k[2], "group": k[0]},
                                    param=param_name, key=lambda k: k))
    if families:
        m.policy_constraints = set(getattr(m, "policy_constraints", None) or ()) | set(families)
