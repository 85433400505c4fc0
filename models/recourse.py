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

from pyomo.environ import Constraint, NonNegativeReals, Param, Set, Var, quicksum

from planner.instance.scenarios import blocks, chain_recourse, expected_weights, model_scenarios

from .registry import Lever, register_cost, register_lever

UPDATES = {
    "scenario_beta_frac": lambda x, k: x.ip[k].scenario_beta,
    # probability x shortage cost, the one rule of planner.instance.scenarios (the sign is structure).
    "shortage_weight_cur_per_u": lambda x, k: x.weights[k],
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
    limits = {(*b.key, c): v for b in found if not b.pooled for c, v in b.surviving.items()}
    if up is not None:
        limits.update(up.limits)
    m.look.recourse_blocks = {b.key: b for b in found}
    weight = {b.key: priced.get(b.key, 0.0) for b in found}

    m.SCENARIO_BLOCKS = Set(dimen=2, initialize=[b.key for b in found], doc="(scenario, item) touched by the scenario")
    m.SCENARIO_DEMANDS = Set(dimen=3, initialize=[(*b.key, j) for b in found for j in b.importers],
                             doc="(scenario, item, importer) of the blocks")
    m.POOLED_BLOCKS = Set(dimen=2, initialize=[b.key for b in found if b.pooled])
    m.RECOURSE_LIMITS = Set(dimen=3, initialize=list(limits),
                            doc="(scenario, item, surviving supplier) of blocks that are not pooled, and of inputs "
                                "fed in a chain block")
    m.RECOURSE_ROUTES = Set(dimen=4, initialize=[(*b.key, c, j) for b in found if not b.pooled for c, j in b.routes],
                            doc="(scenario, item, supplier, importer) open routes of blocks that are not pooled")
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
    m.POOLED_DEMANDS = Set(dimen=3, initialize=[(*b.key, j) for b in found if b.pooled for j in b.importers])
    m.SCENARIO_DRAWS = Set(dimen=3, initialize=[k for k in m.SCENARIO_DEMANDS if (k[1], k[2]) in m.STOCKS])
    m.ROBUST_DEMANDS = Set(dimen=3, initialize=[k for k in m.SCENARIO_DEMANDS if k[1] in beta])
    # A shortage variable only where it is priced (expected mode); robust-only rows bound what is served instead.
    m.SHORT_DEMANDS = Set(dimen=3, initialize=[k for k in m.SCENARIO_DEMANDS if weight[k[0], k[1]] > 0])
    m.PRICED_ROBUST = Set(dimen=3, initialize=[k for k in m.ROBUST_DEMANDS if k in m.SHORT_DEMANDS])

    m.tau_frac = Param(m.SCENARIO_BLOCKS, initialize={b.key: b.tau for b in found}, doc="duration / 52")
    m.upstream_tau_frac = Param(m.UPSTREAM_BLOCKS, initialize={k: up.tau[k[0]] for k in m.UPSTREAM_BLOCKS},
                                doc="duration / 52")
    m.surviving_frac = Param(m.BLOCK_SUPPLIERS, initialize=suppliers)
    m.surge_frac = Param(m.CRISIS_OPTIONS, initialize={k: inst.supply_by_key[k].surge for k in m.CRISIS_OPTIONS})
    m.scenario_beta_frac = Param(sorted(beta), initialize=beta, mutable=True)

    m.CrisisSupply = Var(m.CRISIS_OPTIONS, domain=NonNegativeReals,
                         doc="what a supplier can ship in a crisis, item unit per year")
    m.Receive = Var(m.POOLED_DEMANDS, domain=NonNegativeReals,
                    doc="crisis supply received by the importer in a pooled block, item unit")
    m.RecourseFlow = Var(m.RECOURSE_ROUTES, domain=NonNegativeReals, doc="crisis shipment on an open route, item unit")
    m.RecourseFeed = Var(m.RECOURSE_FEEDS, domain=NonNegativeReals,
                         doc="crisis feed of an input to a plant over the scenario, input unit")
    m.Drawdown = Var(m.SCENARIO_DRAWS, domain=NonNegativeReals, doc="stockpile drawn in the scenario, item unit")
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

    def recourse_pool(m, s, i):
        """sum_j Receive[s,i,j] <= tau_frac[s,i] * sum_c surviving_frac[s,i,c] * CrisisSupply[i,c]
        for (s,i) in POOLED_BLOCKS.

        When every surviving supplier reaches every importer, the importers share
        the surviving crisis supply over the disruption in any split (exact).
        """
        b = m.look.recourse_blocks[s, i]
        return quicksum(m.Receive[s, i, j] for j in b.importers) <= m.tau_frac[s, i] * quicksum(
            m.surviving_frac[s, i, c] * m.CrisisSupply[i, c] for c in b.surviving)

    m.Recourse_Pool = Constraint(m.POOLED_BLOCKS, rule=recourse_pool)

    by_limit: dict = {}
    for s, i, c, j in m.RECOURSE_ROUTES:
        by_limit.setdefault((s, i, c), []).append(m.RecourseFlow[s, i, c, j])
    for s, i, c, k in m.RECOURSE_FEEDS:
        by_limit.setdefault((s, i, c), []).append(m.RecourseFeed[s, i, c, k])

    def recourse_limit(m, s, i, c):
        """sum_j RecourseFlow[s,i,c,j] + sum_k RecourseFeed[s,i,c,k] <= tau[s,i] * surviving_frac[s,i,c] * CrisisSupply[i,c]
        for (s,i,c) in RECOURSE_LIMITS, with tau = tau_frac (blocks) or upstream_tau_frac (inputs only fed).

        A surviving supplier ships at most its surviving crisis supply over the
        disruption, to importers and (multi-tier) to plants, on lanes the
        scenario leaves open.
        """
        tau = m.tau_frac[s, i] if (s, i) in m.SCENARIO_BLOCKS else m.upstream_tau_frac[s, i]
        return quicksum(by_limit.get((s, i, c), ())) <= tau * m.surviving_frac[s, i, c] * m.CrisisSupply[i, c]

    m.Recourse_Limit = Constraint(m.RECOURSE_LIMITS, rule=recourse_limit)

    feeds_in: dict = {}
    for s, i, c, k in m.RECOURSE_FEEDS:
        feeds_in.setdefault((s, i, k), []).append(m.RecourseFeed[s, i, c, k])

    def recourse_bom(m, s, i, k):
        """sum_{o uses i at k} bom_quantity_u_per_u[o,i] * (sum_j RecourseFlow[s,o,k,j] + sum_k' RecourseFeed[s,o,k,k'])
        <= sum_c RecourseFeed[s,i,c,k]  for (s,i,k) in RECOURSE_BOM.

        Multi-tier: over the disruption a plant ships no more than its crisis
        feeds of a touched input make, so an upstream loss starves it unless
        other qualified suppliers of the input survive and can reach it.
        """
        return quicksum(m.bom_quantity_u_per_u[o, i] * quicksum(by_limit.get((s, o, k), ()))
                        for o in up.bom[s, i, k]) <= quicksum(feeds_in.get((s, i, k), ()))

    m.Recourse_Bom = Constraint(m.RECOURSE_BOM, rule=recourse_bom)

    into: dict = {}
    for s, i, c, j in m.RECOURSE_ROUTES:
        into.setdefault((s, i, j), []).append(c)

    def scenario_served(m, s, i, j):
        """received[s,i,j] + Drawdown[s,i,j] + ScenarioShort[s,i,j] >= tau_frac[s,i] * demand_u[i,j]
        for (s,i,j) in SCENARIO_DEMANDS, with received = Receive[s,i,j] (pooled) or sum_c RecourseFlow[s,i,c,j];
        without a priced shortage (robust mode only) the row is received + Drawdown >= scenario_beta_frac[i] * tau_frac[s,i] * demand_u[i,j].

        Over the disruption the importer's demand is met from crisis supply, its
        stockpile, or counted short; in the robust mode alone, at least beta of it
        is met (one row instead of a shortage variable and a bound row).
        """
        if (s, i) in m.POOLED_BLOCKS:
            got = m.Receive[s, i, j]
        else:
            got = quicksum(m.RecourseFlow[s, i, c, j] for c in into.get((s, i, j), ()))
        if (s, i, j) in m.SCENARIO_DRAWS:
            got = got + m.Drawdown[s, i, j]
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
