"""Dependence caps: any one country's, and each capped tier's or group's,
share of an importer's demand for an item."""

from __future__ import annotations

from pyomo.environ import Constraint, Param, Set, quicksum

from .registry import Lever, register_lever

UPDATES = {
    # Mutable Param -> its value at index k, read from the instance's inputs (models.Inputs): models.update.
    "country_share_cap_frac": lambda x, k: x.ip[k].country_share_cap,
    "tier_share_cap_frac": lambda x, k: x.ip[k[0]].tier_caps[k[2]],
    "group_share_cap_frac": lambda x, k: x.ip[k[0]].group_caps[k[2]],
    "group_floor_frac": lambda x, k: x.ip[k[0]].floor(k[1], k[2]),
    "pooled_share_cap_frac": lambda x, k: x.ip[k[0]].pooled_caps[k[1]],
}



def add_to(m, inst) -> None:
    pol = inst.policy
    item_pol = {i: pol.for_item(i) for i in m.ITEMS}

    # Country cap: one row per route of an item with a cap.
    cap = {i: p.country_share_cap for i, p in item_pol.items() if p.country_share_cap is not None}
    m.COUNTRY_CAPPED = Set(dimen=3, initialize=[r for r in m.ROUTES if r[0] in cap])
    m.country_share_cap_frac = Param(sorted(cap), initialize=cap, mutable=True)

    linked = "capped_link" in m.features

    def country_cap(m, i, c, j):
        """Flow[i,c,j] <= country_share_cap_frac[i] * demand_u[i,j]  for (i,c,j) in COUNTRY_CAPPED.

        No single country supplies more than the cap of an importer's demand.
        Formulation "capped" multiplies the right-hand side by Qualify[i,c]
        (valid: no flow without qualification), a tighter link than Flow_Link
        that stays correct when a study changes the mutable cap.
        """
        rhs = m.country_share_cap_frac[i] * m.demand_u[i, j]
        return m.Flow[i, c, j] <= (rhs * m.Qualify[i, c] if linked else rhs)

    m.Country_Share_Cap = Constraint(m.COUNTRY_CAPPED, rule=country_cap)
    register_lever(m, Lever("Country_Share_Cap", "policy.country_share_cap", "cap", 0.01,
                            lambda k: {"item": k[0], "country": k[1], "importer": k[2]},
                            param="country_share_cap_frac", key=lambda k: k[0]))

    # Tier and group caps share one constraint shape over (item, importer, set name).
    for kind, field in (("Tier", "tier_caps"), ("Group", "group_caps")):
        wanted = {
            (i, j, name): level
            for (i, j) in m.DEMANDS
            for name, level in (getattr(item_pol[i], field) or {}).items()
        }
        members = {name: inst.members(name) for (_, _, name) in wanted}
        inside = {
            key: [r for r in m.look.routes_to.get(key[:2], ()) if r[1] in members[key[2]]] for key in wanted
        }
        # A cap on a tier with no route to this importer constrains nothing: no row.
        caps = {key: level for key, level in wanted.items() if inside[key]}
        index = Set(dimen=3, initialize=sorted(caps))
        level = Param(index, initialize=caps, mutable=True)
        m.add_component(f"{kind.upper()}_CAPPED", index)
        m.add_component(f"{kind.lower()}_share_cap_frac", level)

        def share_cap(m, i, j, name, level=level, inside=inside):
            return quicksum(m.Flow[r] for r in inside[i, j, name]) <= level[i, j, name] * m.demand_u[i, j]

        share_cap.__doc__ = f"""sum_{{c in members(g)}} Flow[i,c,j] <= {kind.lower()}_share_cap_frac[i,j,g] * demand_u[i,j]
        for (i,j,g) in {kind.upper()}_CAPPED.

        The {kind.lower()} g supplies at most its cap of importer j's demand for item i.
        """
        m.add_component(f"{kind}_Share_Cap", Constraint(index, rule=share_cap))
        register_lever(m, Lever(f"{kind}_Share_Cap", f"policy.{field}", "cap", 0.01,
                                lambda k: {"item": k[0], "importer": k[1], "group": k[2]},
                                param=f"{kind.lower()}_share_cap_frac", key=lambda k: k))

    # Group floors: at least a share of an importer's demand from a tier's or group's members.
    floors = {(i, j, g): lvl for (i, j) in m.DEMANDS for g in (item_pol[i].group_floors or {})
              if (lvl := item_pol[i].floor(j, g)) is not None}
    members = {g: inst.members(g) for (_, _, g) in floors}
    inside = {k: [r for r in m.look.routes_to.get(k[:2], ()) if r[1] in members[k[2]]] for k in floors}
    # A floor on members with no route here is refused by the checks (no plan could meet it); 0 needs no row.
    m.GROUP_FLOORED = Set(dimen=3, initialize=sorted(k for k in floors if inside[k]),
                          doc="(item, importer, tier or group) with a floor")
    m.group_floor_frac = Param(m.GROUP_FLOORED, initialize={k: floors[k] for k in m.GROUP_FLOORED}, mutable=True)

    def group_floor(m, i, j, g):
        """sum_{c in members(g)} Flow[i,c,j] >= group_floor_frac[i,j,g] * demand_u[i,j]
        for (i,j,g) in GROUP_FLOORED.

        The members of g supply at least the floor of importer j's demand for item i
        (e.g. a share of critical-mineral value from the US or its FTA partners).
        """
        return quicksum(m.Flow[r] for r in inside[i, j, g]) >= m.group_floor_frac[i, j, g] * m.demand_u[i, j]

    m.Group_Share_Floor = Constraint(m.GROUP_FLOORED, rule=group_floor)
    register_lever(m, Lever("Group_Share_Floor", "policy.group_floors", "floor", 0.01,
                            lambda k: {"item": k[0], "importer": k[1], "group": k[2]},
                            param="group_floor_frac", key=lambda k: k))

    # Pooled caps: the coalition's importers together take at most a share of their total demand from g.
    pooled = {(i, g): lvl for i in m.ITEMS for g, lvl in (item_pol[i].pooled_caps or {}).items()}
    pmembers = {g: inst.members(g) for (_, g) in pooled}
    pinside = {(i, g): [r for c in sorted(pmembers[g]) for r in m.look.routes_from.get((i, c), ())] for i, g in pooled}
    m.POOL_CAPPED = Set(dimen=2, initialize=sorted(k for k in pooled if pinside[k]),
                        doc="(item, tier or group) with a coalition-wide cap")
    m.pooled_share_cap_frac = Param(m.POOL_CAPPED, initialize={k: pooled[k] for k in m.POOL_CAPPED}, mutable=True)

    def pooled_cap(m, i, g):
        """sum_j sum_{c in members(g)} Flow[i,c,j] <= pooled_share_cap_frac[i,g] * sum_j demand_u[i,j]
        for (i,g) in POOL_CAPPED.

        The coalition's importers together take at most the cap of their total
        demand for item i from g, however they split it among themselves.
        """
        return quicksum(m.Flow[r] for r in pinside[i, g]) <= m.pooled_share_cap_frac[i, g] * m.look.item_demand_u[i]

    m.Pooled_Share_Cap = Constraint(m.POOL_CAPPED, rule=pooled_cap)
    register_lever(m, Lever("Pooled_Share_Cap", "policy.pooled_caps", "cap", 0.01,
                            lambda k: {"item": k[0], "group": k[1]},
                            param="pooled_share_cap_frac", key=lambda k: k))
