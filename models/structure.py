"""What a built model's structure depends on: two instances with the same key differ only in
values the model keeps in mutable Params, so :func:`models.update` can re-point one model at
the other (a study re-solves one persistent model across such runs)."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.instance.schema import Instance

_POLICY_MARKS = {
    # Policy field -> what the model's structure depends on (the rest of the value lives in a Param).
    "country_share_cap": lambda v: "set",
    "scenario_beta": lambda v: "set",
    "tier_caps": sorted,
    "group_caps": sorted,
    "min_suppliers": lambda v: "on" if v else "off",  # 0 switches the family off: no rows at all
    "n1_beta": lambda v: "on" if v else "off",
    "group_floors": lambda v: sorted((g, sorted(x) if isinstance(x, dict) else "*") for g, x in v.items()),
    "pooled_caps": sorted,
}


def _mark(pol: dict, exact: frozenset[str]) -> None:
    """Replace the values of mutable policy fields by what the model's structure depends on."""
    for name, mark in _POLICY_MARKS.items():
        if pol.get(name) is not None and name not in exact:
            pol[name] = mark(pol[name])


def structure_key(inst: Instance, exact: frozenset[str] = frozenset()) -> str:
    """sha256 of everything in ``inst`` that the model's sets and constant coefficients depend on.

    Two instances with the same key differ only in values the model keeps in mutable Params
    (set by :func:`models.update`).
    Everything is kept except those values (unknown or new fields stay in, so they
    force a rebuild); a programme rate stays in when an option can stack programmes
    (the no-stacking row takes the highest rate as a constant). Policy fields in ``exact`` keep
    their values: a formulation that bakes one into coefficients (``n1_coef``: n1_beta) names it.
    """
    d = inst.model_dump(mode="json")
    pol = d["meta"]["policy"]
    _mark(pol, exact)
    for ip in pol.get("items", {}).values():
        _mark(ip, exact)
    # Table values the model keeps in mutable Params (models/sets.py, recourse.py): an uncertainty
    # study's samples move them. Capacities are structure where the model bakes them into numbers:
    # multi-tier chains (feed-link coefficients), N-2 generators (the top suppliers by capacity share)
    # and the n1_coef formulation (named in ``exact``). A probability's sign decides which blocks exist.
    capacity_is_structure = "supply.capacity" in exact or bool(inst.bom) or "n2" in inst.policy.scenario_generators
    for s in d["supply"]:
        s["unit_cost"] = "mutable"
        if not capacity_is_structure:
            s["capacity"] = "mutable"
    for o in d["investments"]:
        o["capex"] = "mutable"
    for sc in d["scenarios"]:
        sc["probability"] = "positive" if sc["probability"] > 0 else "zero"
    stacked = {p for o in inst.investments if len(o.programmes) > 1 for p in o.programmes}
    for p in d["programmes"]:
        p["budget"] = "mutable"
        if p["id"] not in stacked:
            p["rate"] = "mutable"
    text = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
