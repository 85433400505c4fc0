"""Second stage: recourse in each disruption scenario (robust and/or expected).

For every scenario block (scenario s, item i) that the scenario touches (see
``planner/instance/scenarios.py``), the importers are served over the disruption's
duration from what survives: qualified suppliers' crisis supply on open
lanes, plus stockpile drawdown.  ``policy.scenario_mode`` chooses a floor on
every importer's served share (robust: ``scenario_beta``), a
probability-weighted shortage cost in the objective (expected:
``scenario_shortage_cost``), or both.

Volumes in a block are crisis volumes: annual rates times tau_s = duration / 52.

Multi-tier instances: a scenario that touches an item upstream of a block's
item (a supplier of an input loses capacity, or a feed lane is blocked) makes
the block a *chain block*: the plants' crisis output is limited, through the
bill of materials, by the crisis feeds of their touched inputs, which come from
surviving qualified input suppliers (their own crisis supply) over open feed
lanes (``RecourseFeed``, ``Recourse_Bom``).  Only items whose own supply or
upstream supply the scenario touches get rows; inputs the scenario leaves
untouched are not limiting.  Single-tier models are unchanged.
"""

from __future__ import annotations

from pyomo.environ import Constraint, NonNegativeReals, Param, Set, Var, quicksum, value

from planner.instance.scenarios import (blocks, chain_recourse, expected_weights, model_scenarios, reroute_weight,
                                        response, spot_weights)

from .registry import Lever, register_cost, register_lever

UPDATES = {
    "scenario_beta_frac": lambda x, k: x.ip[k].scenario_beta,
    # probability x shortage cost, the one rule of planner.instance.scenarios (the sign is structure).
    "shortage_weight_cur_per_u": lambda x, k: x.weights[k],
    "spot_weight_cur_per_u": lambda x, k: x.spot[k],
    # probability x the detour's extra freight, the one rule of planner.instance.scenarios.
    "reroute_weight_cur_per_u": lambda x, k: reroute_weight(x.inst, x.scenario[k[0]], x.inst.lane_detours[k[1:]][0]),
}
"""Mutable Param -> its value at index k, read from the instance's inputs (models.Inputs): models.update."""


def add_to(m, inst) -> None:
    pol = inst.policy
    mode = pol.scenario_mode
    item_pol = {i: pol.for_item(i) for i in m.ITEMS}
    beta = {i: p.scenario_beta for i, p in item_pol.items() if p.scenario_beta is not None} \
        if mode in ("robust", "both") else {}
    cost = {i: p.scenario_shortage_cost for i, p in item_pol.items() if p.scenario_shortage_cost} \
        if mode in ("expected", "both") else {}
    priced = expected_weights(inst)  # (scenario, item) -> probability x shortage cost, where positive
    found = blocks(inst, model_scenarios(inst), m.ROUTES, set(beta) | set(cost))

    def matters(s, i) -> bool:  # a block matters if it has a floor or a positive expected cost
        return i in beta or (s.id, i) in priced

    found = [b for b in found if matters(b.scenario, b.item)]
    up = chain_recourse(inst, model_scenarios(inst), set(m.look.outflows), set(beta) | set(cost), matters) \
        if len(m.BOM_NODES) else None
    if up is not None:  # multi-tier: chain blocks replace the direct ones of the same (scenario, item)
        keys = {b.key for b in up.blocks}
        found = sorted([b for b in found if b.key not in keys] + up.blocks, key=lambda b: (b.scenario.id, b.item))
    # Phases of the response clock (planner.instance.scenarios.Response): p indexes b.phases.
    phases = {(*b.key, p): ph for b in found for p, ph in enumerate(b.phases)}
    # Pooled in the model: every survivor reaches every importer (pooled), or every member supplier every member
    # importer (group_pool: outsiders' lanes carry contracts, whose limits their own contracted volume implies).
    pools = {b.key for b in found if b.pooled or b.group_pool}
    limits = {(*b.key, c): v for b in found if b.key not in pools for c, v in b.surviving.items()}
    if up is not None:
        limits.update(up.limits)
    m.look.recourse_blocks = {b.key: b for b in found}
    weight = {b.key: priced.get(b.key, 0.0) for b in found}
    share = {b.key: b.spare_share for b in found}  # the coalition's share of spare capacity
    if up is not None:
        by_id = {sc.id: sc for sc in model_scenarios(inst)}
        share.update({(sid, i): response(inst, by_id[sid], i).spare_share for sid, i in up.inputs})
    # A phase's share of the surge: its level x the spare share (0 in the delay: no variables at all there).
    level = {k: ph.level * share[k[0], k[1]] for k, ph in phases.items()}
    live = {k: ph for k, ph in phases.items() if not ph.delay}
    limit_rows = []  # a supplier's row per phase after the delay; inputs only fed in a chain: one phase
    for s_, i, c in limits:
        b = m.look.recourse_blocks.get((s_, i))
        limit_rows += [(s_, i, c, 0)] if b is None else [(s_, i, c, p) for p, ph in enumerate(b.phases) if not ph.delay]

    m.SCENARIO_BLOCKS = Set(dimen=2, initialize=[b.key for b in found], doc="(scenario, item) touched by the scenario")
    m.BLOCK_PHASES = Set(dimen=3, initialize=list(phases), doc="(scenario, item, phase) of the response clock")
    m.SCENARIO_DEMANDS = Set(dimen=3, initialize=[(*b.key, j) for b in found for j in b.importers],
                             doc="(scenario, item, importer) of the blocks")
    m.POOLED_BLOCKS = Set(dimen=2, initialize=[b.key for b in found if b.key in pools])
    m.POOLED_PHASES = Set(dimen=3, initialize=[k for k in live if k[:2] in set(m.POOLED_BLOCKS)])
    m.RECOURSE_LIMITS = Set(dimen=4, initialize=list(limit_rows),
                            doc="(scenario, item, surviving supplier, phase) of blocks that are not pooled, after the "
                                "delay, and of inputs fed in a chain block")
    m.RECOURSE_ROUTES = Set(dimen=5, initialize=[(*b.key, c, j, p) for b in found for c, j in b.routes
                                                 if b.key not in pools or (c, j) in b.contract_routes
                                                 for p, ph in enumerate(b.phases)
                                                 if not ph.delay and b.open_in(c, j, ph)],
                            doc="(scenario, item, supplier, importer, phase) open routes of blocks that are not pooled")
    m.CONTRACT_ROUTES = Set(dimen=5, initialize=[k for k in m.RECOURSE_ROUTES
                                                 if (k[2], k[3]) in m.look.recourse_blocks[k[0], k[1]].contract_routes],
                            doc="recourse routes outside the crisis-sharing group: contracted volume only")
    suppliers = {(*b.key, c): v for b in found for c, v in b.surviving.items()} | limits
    m.CRISIS_OPTIONS = Set(dimen=2, initialize=sorted({(i, c) for _, i, c in suppliers}),
                           doc="(item, supplier) surviving in some block")
    m.BLOCK_SUPPLIERS = Set(dimen=3, initialize=list(suppliers), doc="(scenario, item, surviving supplier)")
    # Multi-tier chain blocks: inputs fed over the scenario, and each plant's input limit (empty for single tier).
    m.UPSTREAM_BLOCKS = Set(dimen=2, initialize=sorted(up.inputs - set(m.look.recourse_blocks)) if up else [],
                            doc="(scenario, input) fed in a chain block's recourse that is not itself a block")
    m.RECOURSE_FEEDS = Set(dimen=4, initialize=sorted(up.feeds) if up else [],
                           doc="(scenario, input, surviving supplier, plant country) open feed routes of chain blocks")
    m.RECOURSE_BOM = Set(dimen=3, initialize=sorted(up.bom) if up else [],
                         doc="(scenario, touched input, plant country) whose output the scenario's recourse ships")
    m.POOLED_DEMANDS = Set(dimen=4, initialize=[(*b.key, j, p) for b in found if b.key in pools
                                                for j in b.pool_importers
                                                for p, ph in enumerate(b.phases) if not ph.delay])
    m.SCENARIO_DRAWS = Set(dimen=3, initialize=[k for k in m.SCENARIO_DEMANDS if (k[1], k[2]) in m.STOCKS])
    # Shared stockpiles: (scenario, item, importer, stock) for members of a shared stock of the block's item.
    share_of = {k: inst.shared_members(r) for k, r in m.look.shared_stocks.items()}
    stocks_of = {}
    for k, r in m.look.shared_stocks.items():
        stocks_of.setdefault(r.item, []).append(k)
    m.SHARED_DRAWS = Set(dimen=4, initialize=[(s_, i, j, k) for s_, i, j in m.SCENARIO_DEMANDS
                                              for k in stocks_of.get(i, ()) if j in share_of[k]],
                         doc="(scenario, item, importer, shared stock) a member may draw from")
    m.SHARED_RELEASES = Set(dimen=3, initialize=sorted({(s_, i, k) for s_, i, _, k in m.SHARED_DRAWS}),
                            doc="(scenario, item, shared stock) released in the scenario")
    m.PRO_RATA_DRAWS = Set(dimen=4, initialize=[x for x in m.SHARED_DRAWS
                                                if m.look.shared_stocks[x[3]].release == "pro_rata"])
    m.member_share_frac = Param(m.PRO_RATA_DRAWS, initialize={x: share_of[x[3]][x[2]] for x in m.PRO_RATA_DRAWS},
                                doc="the member's share of the members' demand")
    m.ROBUST_DEMANDS = Set(dimen=3, initialize=[k for k in m.SCENARIO_DEMANDS if k[1] in beta])
    # A shortage variable only where it is priced (expected mode); robust-only rows bound what is served instead.
    m.SHORT_DEMANDS = Set(dimen=3, initialize=[k for k in m.SCENARIO_DEMANDS if weight[k[0], k[1]] > 0])
    m.PRICED_ROBUST = Set(dimen=3, initialize=[k for k in m.ROBUST_DEMANDS if k in m.SHORT_DEMANDS])
    # Blocks of several phases: what arrives in a phase serves that phase's demand only (no carry-over).
    m.CAPPED_PHASES = Set(dimen=4, initialize=[(*b.key, j, p) for b in found if len(b.phases) > 1
                                               for p, ph in enumerate(b.phases) if not ph.delay for j in b.importers])

    m.tau_frac = Param(m.SCENARIO_BLOCKS, initialize={b.key: b.tau for b in found}, doc="duration / 52")
    m.phase_tau_frac = Param(m.BLOCK_PHASES, initialize={k: ph.tau for k, ph in phases.items()},
                             doc="phase length / 52")
    m.phase_surge_frac = Param(m.BLOCK_PHASES, initialize=level,
                               doc="share of the surge available in the phase: ramp level x spare share")
    m.upstream_tau_frac = Param(m.UPSTREAM_BLOCKS, initialize={k: up.tau[k[0]] for k in m.UPSTREAM_BLOCKS},
                                doc="duration / 52")
    m.upstream_surge_frac = Param(m.UPSTREAM_BLOCKS, initialize={k: share[k] for k in m.UPSTREAM_BLOCKS},
                                  doc="spare share of inputs fed in a chain block")
    m.surviving_frac = Param(m.BLOCK_SUPPLIERS, initialize=suppliers)
    m.surge_frac = Param(m.CRISIS_OPTIONS, initialize={k: inst.supply_by_key[k].surge for k in m.CRISIS_OPTIONS})
    m.scenario_beta_frac = Param(sorted(beta), initialize=beta, mutable=True)

    m.CrisisSupply = Var(m.CRISIS_OPTIONS, domain=NonNegativeReals,
                         doc="what a supplier can ship in a crisis, item unit per year")
    m.Receive = Var(m.POOLED_DEMANDS, domain=NonNegativeReals,
                    doc="crisis supply received by the importer in a phase of a pooled block, item unit")
    m.RecourseFlow = Var(m.RECOURSE_ROUTES, domain=NonNegativeReals,
                         doc="crisis shipment on an open route in a phase, item unit")
    m.RecourseFeed = Var(m.RECOURSE_FEEDS, domain=NonNegativeReals,
                         doc="crisis feed of an input to a plant over the scenario, input unit")
    m.Drawdown = Var(m.SCENARIO_DRAWS, domain=NonNegativeReals, doc="stockpile drawn in the scenario, item unit")
    m.SharedDraw = Var(m.SHARED_DRAWS, domain=NonNegativeReals,
                       doc="shared stockpile released to a member in the scenario, item unit")
    m.ScenarioShort = Var(m.SHORT_DEMANDS, domain=NonNegativeReals,
                          doc="demand left unserved in the scenario, item unit")
    # A Param, so that a re-solve with other probabilities (models.update) moves it too.
    m.shortage_weight_cur_per_u = Param(sorted(k for k, w in weight.items() if w > 0),
                                        initialize={k: w for k, w in weight.items() if w > 0}, mutable=True)
    if len(m.SHORT_DEMANDS):
        register_cost(m, "scenario_shortage", quicksum(m.shortage_weight_cur_per_u[s, i] * m.ScenarioShort[s, i, j]
                                                       for s, i, j in m.SHORT_DEMANDS))

    def crisis_supply_def(m, i, c):
        """CrisisSupply[i,c] = (1 - surge_frac[i,c]) * (sum_j Flow[i,c,j] + sum_k Feed[i,c,k])
        + surge_frac[i,c] * (capacity_u[i,c] * Qualify[i,c] + sum_{o at (i,c)} added_capacity_u[o] * Build[o])
        for (i,c) in CRISIS_OPTIONS.

        In a crisis a supplier keeps shipping its contracted volume (to
        importers and to plants) and can add the surge share of its spare
        qualified capacity; an unqualified supplier ships nothing (its flows
        and qualified capacity are 0).
        """
        # Everything contracted counts, feeds to plants too: spare capacity is what is left after all of it.
        shipped = quicksum(m.look.outflows.get((i, c), ()))
        qualified = m.capacity_u[i, c] * m.Qualify[i, c] + quicksum(
            m.added_capacity_u[o] * m.Build[o] for o in m.look.options_at.get((i, c), ()))
        surge = m.surge_frac[i, c]
        if surge == 1:
            return m.CrisisSupply[i, c] == qualified
        if surge == 0:
            return m.CrisisSupply[i, c] == shipped
        return m.CrisisSupply[i, c] == (1 - surge) * shipped + surge * qualified

    m.Crisis_Supply_Def = Constraint(m.CRISIS_OPTIONS, rule=crisis_supply_def)

    def available(m, i, c, f):
        """Crisis supply with only the share f of its surge: contracted + f x surge x spare, per year."""
        if f == 1:
            return m.CrisisSupply[i, c]
        shipped = quicksum(m.look.outflows.get((i, c), ()))
        return shipped if f == 0 else (1 - f) * shipped + f * m.CrisisSupply[i, c]

    def recourse_pool(m, s, i, p):
        """sum_{j in pool} Receive[s,i,j,p] + sum_{(c,j) contract, c in pool} RecourseFlow[s,i,c,j,p]
        <= phase_tau_frac[s,i,p] * sum_{c in pool} surviving_frac[s,i,c]
        * ((1 - phase_surge_frac[s,i,p]) * shipped[i,c] + phase_surge_frac[s,i,p] * CrisisSupply[i,c])
        for (s,i,p) in POOLED_PHASES, with shipped = sum_j Flow[i,c,j] + sum_k Feed[i,c,k].

        When every surviving supplier reaches every importer (or, with a sharing
        group, every member supplier every member importer), the pool's importers
        share its crisis supply of the phase in any split (exact); members'
        contracts to outsiders draw on it too, while outsiders' own contracts never
        exceed their contracted volume. A ramp phase, or a spare share below 1,
        offers only part of the surge.
        """
        b = m.look.recourse_blocks[s, i]
        f = value(m.phase_surge_frac[s, i, p])
        members = set(b.pool_suppliers)
        # A member supplier's contracts to outsiders draw on the same pool (group_pool only).
        outside = [m.RecourseFlow[s, i, c, j, p] for c, j in b.contract_routes if c in members]
        return quicksum(m.Receive[s, i, j, p] for j in b.pool_importers) + quicksum(outside) <= \
            m.phase_tau_frac[s, i, p] * quicksum(m.surviving_frac[s, i, c] * available(m, i, c, f)
                                                 for c in b.pool_suppliers)

    m.Recourse_Pool = Constraint(m.POOLED_PHASES, rule=recourse_pool)

    by_limit: dict = {}
    for s, i, c, j, p in m.RECOURSE_ROUTES:
        by_limit.setdefault((s, i, c, p), []).append(m.RecourseFlow[s, i, c, j, p])
    for s, i, c, k in m.RECOURSE_FEEDS:
        by_limit.setdefault((s, i, c, 0), []).append(m.RecourseFeed[s, i, c, k])

    def recourse_limit(m, s, i, c, p):
        """sum_j RecourseFlow[s,i,c,j,p] + sum_k RecourseFeed[s,i,c,k] <= tau * surviving_frac[s,i,c]
        * ((1 - f) * shipped[i,c] + f * CrisisSupply[i,c])  for (s,i,c,p) in RECOURSE_LIMITS, with
        tau = phase_tau_frac[s,i,p], f = phase_surge_frac[s,i,p] (blocks) or upstream_tau_frac,
        upstream_surge_frac (inputs only fed; one phase).

        A surviving supplier ships at most its surviving crisis supply over the
        phase, to importers and (multi-tier) to plants, on lanes the scenario
        leaves open; in the ramp, or with a spare share below 1, only part of its surge.
        """
        if (s, i) in m.SCENARIO_BLOCKS:
            tau, f = m.phase_tau_frac[s, i, p], value(m.phase_surge_frac[s, i, p])
        else:
            tau, f = m.upstream_tau_frac[s, i], value(m.upstream_surge_frac[s, i])
        return quicksum(by_limit.get((s, i, c, p), ())) <= tau * m.surviving_frac[s, i, c] * available(m, i, c, f)

    m.Recourse_Limit = Constraint(m.RECOURSE_LIMITS, rule=recourse_limit)

    def recourse_contract(m, s, i, c, j, p):
        """RecourseFlow[s,i,c,j,p] <= phase_tau_frac[s,i,p] * surviving_frac[s,i,c] * Flow[i,c,j]
        for (s,i,c,j,p) in CONTRACT_ROUTES.

        Members-only sharing: outside the crisis-sharing group a lane carries
        its contracted volume (what survives of it), never spare capacity.
        """
        return m.RecourseFlow[s, i, c, j, p] <= m.phase_tau_frac[s, i, p] * m.surviving_frac[s, i, c] * m.Flow[i, c, j]

    m.Recourse_Contract = Constraint(m.CONTRACT_ROUTES, rule=recourse_contract)

    feeds_in: dict = {}
    for s, i, c, k in m.RECOURSE_FEEDS:
        feeds_in.setdefault((s, i, k), []).append(m.RecourseFeed[s, i, c, k])

    def recourse_bom(m, s, i, k):
        """sum_{o uses i at k} bom_quantity_u_per_u[o,i] * (sum_j RecourseFlow[s,o,k,j,0] + sum_k' RecourseFeed[s,o,k,k'])
        <= sum_c RecourseFeed[s,i,c,k]  for (s,i,k) in RECOURSE_BOM.

        Multi-tier: over the disruption a plant ships no more than its crisis
        feeds of a touched input make, so an upstream loss starves it unless
        other qualified suppliers of the input survive and can reach it.
        """
        return quicksum(m.bom_quantity_u_per_u[o, i] * quicksum(by_limit.get((s, o, k, 0), ()))
                        for o in up.bom[s, i, k]) <= quicksum(feeds_in.get((s, i, k), ()))

    m.Recourse_Bom = Constraint(m.RECOURSE_BOM, rule=recourse_bom)

    detoured: dict = {}  # (scenario, item, supplier, importer) -> what arrives over the route's detour
    for s, i, c, j, p in m.RECOURSE_ROUTES:
        if (c, j) in m.look.recourse_blocks[s, i].opens:
            detoured.setdefault((s, i, c, j), []).append(m.RecourseFlow[s, i, c, j, p])
    into: dict = {}  # (scenario, item, importer, phase) -> what arrives: recourse flows or the pooled receipt
    for s, i, c, j, p in m.RECOURSE_ROUTES:
        into.setdefault((s, i, j, p), []).append(m.RecourseFlow[s, i, c, j, p])
    for s, i, j, p in m.POOLED_DEMANDS:
        into.setdefault((s, i, j, p), []).append(m.Receive[s, i, j, p])
    for (s, i, p), ph in phases.items():
        if ph.delay:  # the delay: contracted volumes on their own open lanes, what survives of them
            b = m.look.recourse_blocks[s, i]
            for c, j in b.routes:
                if b.open_in(c, j, ph):
                    into.setdefault((s, i, j, p), []).append(
                        m.phase_tau_frac[s, i, p] * m.surviving_frac[s, i, c] * m.Flow[i, c, j])
                    if (c, j) in b.opens:
                        detoured.setdefault((s, i, c, j), []).append(into[s, i, j, p][-1])

    shared_into: dict = {}
    for s_, i, j, k in m.SHARED_DRAWS:
        shared_into.setdefault((s_, i, j), []).append(k)

    def phase_cap(m, s, i, j, p):
        """sum_c RecourseFlow[s,i,c,j,p] (or Receive[s,i,j,p]) <= phase_tau_frac[s,i,p] * demand_u[i,j]
        for (s,i,j,p) in CAPPED_PHASES.

        What arrives in a phase serves that phase's demand only: a surplus late
        in the disruption cannot make up for a shortfall early in it.
        """
        got = into.get((s, i, j, p))
        if not got:  # nothing can arrive in this phase (a route before its detour delivers): no row
            return Constraint.Skip
        return quicksum(got) <= m.phase_tau_frac[s, i, p] * m.demand_u[i, j]

    m.Phase_Cap = Constraint(m.CAPPED_PHASES, rule=phase_cap)

    # Crisis prices: what an importer receives beyond its own surviving contracts is bought at a premium.
    spot_w = spot_weights(inst)
    m.SPOT_DEMANDS = Set(dimen=3, initialize=[k for k in m.SCENARIO_DEMANDS if (k[0], k[1]) in spot_w],
                         doc="(scenario, item, importer) whose crisis purchases pay a spot premium")
    m.spot_weight_cur_per_u = Param(sorted({k[:2] for k in m.SPOT_DEMANDS}),
                                    initialize={k[:2]: spot_w[k[:2]] for k in m.SPOT_DEMANDS}, mutable=True)
    m.Spot = Var(m.SPOT_DEMANDS, domain=NonNegativeReals,
                 doc="crisis supply received beyond the importer's own surviving contracts, item unit")

    def spot_def(m, s, i, j):
        """Spot[s,i,j] >= sum_p received[s,i,j,p] - sum_{p, c open in p} phase_tau_frac[s,i,p] * surviving_frac[s,i,c]
        * Flow[i,c,j]  for (s,i,j) in SPOT_DEMANDS.

        Everything received beyond what the importer's own contracts deliver in
        the scenario was bought in the crisis, at the spot premium.
        """
        b = m.look.recourse_blocks[s, i]
        got = quicksum(v for p in range(len(b.phases)) for v in into.get((s, i, j, p), ()))
        own = quicksum(m.phase_tau_frac[s, i, p] * m.surviving_frac[s, i, c] * m.Flow[i, c, j]
                       for p, ph in enumerate(b.phases) for c, jj in b.routes if jj == j and b.open_in(c, j, ph))
        return m.Spot[s, i, j] >= got - own

    m.Spot_Def = Constraint(m.SPOT_DEMANDS, rule=spot_def)
    if len(m.SPOT_DEMANDS):
        register_cost(m, "scenario_spot", quicksum(m.spot_weight_cur_per_u[s, i] * m.Spot[s, i, j]
                                                   for s, i, j in m.SPOT_DEMANDS))

    # Rerouting: in the expected modes every unit sent over a detour costs probability x its extra freight.
    scen = {sc.id: sc for sc in model_scenarios(inst)}
    rw = {k: reroute_weight(inst, scen[k[0]], m.look.recourse_blocks[k[0], k[1]].detour_cost[k[2], k[3]])
          for k in detoured}
    m.look.rerouted = {k: quicksum(v) for k, v in detoured.items()}
    m.REROUTED = Set(dimen=4, initialize=sorted(k for k, w in rw.items() if w > 0),
                     doc="(scenario, item, supplier, importer) routes sent over a priced detour")
    m.reroute_weight_cur_per_u = Param(m.REROUTED, initialize={k: rw[k] for k in m.REROUTED}, mutable=True)
    if len(m.REROUTED):
        register_cost(m, "scenario_reroute", quicksum(m.reroute_weight_cur_per_u[k] * m.look.rerouted[k]
                                                      for k in m.REROUTED))

    def scenario_served(m, s, i, j):
        """received[s,i,j] + Drawdown[s,i,j] + sum_k SharedDraw[s,i,j,k] + ScenarioShort[s,i,j] >= tau_frac[s,i] * demand_u[i,j]
        for (s,i,j) in SCENARIO_DEMANDS, with received = sum over phases p of Receive[s,i,j,p] (pooled) or
        sum_c RecourseFlow[s,i,c,j,p], and in the delay phase sum_c phase_tau_frac * surviving_frac[s,i,c] * Flow[i,c,j];
        without a priced shortage (robust mode only) the row is received + Drawdown >= scenario_beta_frac[i] * tau_frac[s,i] * demand_u[i,j].

        Over the disruption the importer's demand is met from crisis supply, its
        stockpile, or counted short; in the robust mode alone, at least beta of it
        is met (one row instead of a shortage variable and a bound row).
        """
        got = quicksum(v for p in range(len(m.look.recourse_blocks[s, i].phases)) for v in into.get((s, i, j, p), ()))
        if (s, i, j) in m.SCENARIO_DRAWS:
            got = got + m.Drawdown[s, i, j]
        for k in shared_into.get((s, i, j), ()):
            got = got + m.SharedDraw[s, i, j, k]
        if (s, i, j) in m.SHORT_DEMANDS:
            return got + m.ScenarioShort[s, i, j] >= m.tau_frac[s, i] * m.demand_u[i, j]
        return got >= m.scenario_beta_frac[i] * m.tau_frac[s, i] * m.demand_u[i, j]

    m.Scenario_Served = Constraint(m.SCENARIO_DEMANDS, rule=scenario_served)
    # Rows with a priced shortage do not hold beta: their nudge reads a slope of 0 and no price.
    register_lever(m, Lever("Scenario_Served", "policy.scenario_beta", "floor", 0.01,
                            lambda k: {"item": k[1], "importer": k[2], "group": k[0]},
                            param="scenario_beta_frac", key=lambda k: k[1]))

    def stock_drawdown(m, s, i, j):
        """Drawdown[s,i,j] <= StrategicStock[i,j]  for (s,i,j) in SCENARIO_DRAWS.

        A scenario draws at most the stockpile held (each scenario is an
        alternative future, so each may use the whole stockpile).
        """
        return m.Drawdown[s, i, j] <= m.StrategicStock[i, j]

    m.Stock_Drawdown = Constraint(m.SCENARIO_DRAWS, rule=stock_drawdown)

    members_of: dict = {}
    for s_, i, j, k in m.SHARED_DRAWS:
        members_of.setdefault((s_, i, k), []).append(j)

    def shared_release(m, s, i, k):
        """sum_j SharedDraw[s,i,j,k] <= SharedStock[k]  for (s,i,k) in SHARED_RELEASES.

        A coordinated release: the members of the group draw at most the shared
        stockpile between them over the scenario (each scenario may use all of it).
        """
        return quicksum(m.SharedDraw[s, i, j, k] for j in members_of[s, i, k]) <= m.SharedStock[k]

    m.Shared_Release = Constraint(m.SHARED_RELEASES, rule=shared_release)

    def shared_pro_rata(m, s, i, j, k):
        """SharedDraw[s,i,j,k] <= member_share_frac[s,i,j,k] * SharedStock[k]  for (s,i,j,k) in PRO_RATA_DRAWS.

        Release pro rata to demand: each member may draw at most its share of the
        members' demand for the item (a share it does not need is not passed on).
        """
        return m.SharedDraw[s, i, j, k] <= m.member_share_frac[s, i, j, k] * m.SharedStock[k]

    m.Shared_Pro_Rata = Constraint(m.PRO_RATA_DRAWS, rule=shared_pro_rata)

    def scenario_beta(m, s, i, j):
        """ScenarioShort[s,i,j] <= (1 - scenario_beta_frac[i]) * tau_frac[s,i] * demand_u[i,j]
        for (s,i,j) in PRICED_ROBUST.

        Both modes: the priced shortage in every scenario leaves each importer
        served at least beta of its demand over the disruption.
        """
        return m.ScenarioShort[s, i, j] <= (1 - m.scenario_beta_frac[i]) * m.tau_frac[s, i] * m.demand_u[i, j]

    m.Scenario_Beta = Constraint(m.PRICED_ROBUST, rule=scenario_beta)
    register_lever(m, Lever("Scenario_Beta", "policy.scenario_beta", "floor", 0.01,
                            lambda k: {"item": k[1], "importer": k[2], "group": k[0]},
                            param="scenario_beta_frac", key=lambda k: k[1]))
