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
