"""The explorer's controls, generated from the policy schema (planner.instance.schema.Policy) and the
instance's own names (tiers, groups, items, programmes, variants): one control per value the analyst
may move, named by its ``--set`` key, with the field's docstring as its help. Nothing here is
written per key: a new policy field of a known kind gets its control without a change here."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from planner.instance.schema import Instance, ItemPolicy, Policy, Programme, Rate


@dataclass(frozen=True)
class Control:
    key: str
    """The ``--set`` key the control sets (``policy.tier_caps.concern``)."""
    label: str
    kind: str
    """level (a fraction or off) | count | number | flag | choice | multi."""
    value: Any
    """The base instance's value (None: off)."""
    help: str = ""
    options: tuple[str, ...] = field(default_factory=tuple)
    """choice and multi: the allowed values."""
    section: str = "policy"
    bounds: tuple[float, float] | None = None
    """value: the low and high of an uncertain input's documented range (ranges.csv)."""


def _args(ann) -> tuple:
    return typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, types.UnionType) else (ann,)


def _is_rate(a) -> bool:
    return a is Rate


def _kind(ann) -> tuple[str, tuple[str, ...]] | None:
    """(kind, options) of a policy field's annotation; None: no control (nested or multi-period only)."""
    args = [a for a in _args(ann) if a is not type(None)]
    if any(_is_rate(a) for a in args):
        return "level", ()
    for a in args:
        origin = typing.get_origin(a)
        if origin is dict:
            k, v = typing.get_args(a)
            if k is str and any(_is_rate(x) for x in _args(v)):
                return "level_map", ()
        if origin is typing.Literal:
            return "choice", tuple(typing.get_args(a))
        if origin is tuple:
            inner = typing.get_args(a)[0]
            if typing.get_origin(inner) is typing.Literal:
                return "multi", tuple(typing.get_args(inner))
            if inner is str:
                return "multi_names", ()
        if a is bool:
            return "flag", ()
        if a is float:  # pydantic keeps a field's own Annotated constraints beside the bare type
            return "number", ()
        if a is int:
            return "count", ()
        if typing.get_origin(a) is typing.Annotated and typing.get_args(a)[0] is int:
            return "count", ()
        if typing.get_origin(a) is typing.Annotated and typing.get_args(a)[0] is float:
            return "number", ()
    return None


def _nested(cls, name: str, sub: str, rule) -> Control | None:
    """The control of one numeric field of a nested rule (``policy.crisis.delay_weeks``); None for others."""
    kind = _kind(cls.model_fields[sub].annotation)
    if kind is None or kind[0] not in ("number", "count", "level"):
        return None
    return Control(f"policy.{name}.{sub}", f"{name} {sub.replace('_', ' ')}", kind[0], getattr(rule, sub),
                   _help(cls, sub))


def _help(cls, name: str) -> str:
    return (cls.model_fields[name].description or "").strip()


def controls(inst: Instance) -> list[Control]:
    """Every control of ``inst``'s explorer page, in the schema's order."""
    pol = inst.policy
    tiers = tuple(inst.meta.tiers)
    groups = tuple(sorted({g for c in inst.countries for g in c.groups}))
    names = {"tier_caps": tiers, "group_caps": groups, "exclude_tiers": tiers, "group_floors": groups,
             "pooled_caps": tiers}
    out: list[Control] = []
    for name in Policy.model_fields:
        if name == "items":
            continue
        ann = Policy.model_fields[name].annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):  # a nested rule (policy.crisis): its plain fields
            out += [c for sub in ann.model_fields if (c := _nested(ann, name, sub, getattr(pol, name))) is not None]
            continue
        kind = _kind(ann)
        if kind is None:
            continue
        k, options = kind
        doc = _help(Policy, name)
        if (doc.startswith("Multi-period:") and not inst.periods) or (doc.startswith("Multi-tier:") and not inst.bom):
            continue  # a field for another kind of instance
        value = getattr(pol, name)
        if isinstance(value, dict) and k == "level":
            continue  # a dated trajectory (multi-period): set it in the instance or with --set
        if k == "level_map":
            if name not in names:
                continue  # stage and upstream caps are nested per stage: not a slider
            for n in names[name]:
                v = (value or {}).get(n)
                if isinstance(v, dict):
                    continue
                out.append(Control(f"policy.{name}.{n}", f"{name.replace('_', ' ')}: {n}", "level", v,
                                   _help(Policy, name)))
            continue
        if k == "multi_names":
            k, options = "multi", names.get(name, ())
        if k == "count" and isinstance(value, dict):
            continue
        out.append(Control(f"policy.{name}", name.replace("_", " "), k, list(value) if k == "multi" else value,
                           _help(Policy, name), options))
    # Per item: the caps an item can override (tier and country caps), where the instance has the tier cap.
    # Per item: the tier and group caps the instance sets (its own or inherited), each item's own slider.
    for item in sorted(i.id for i in inst.items):
        ip = pol.for_item(item)
        for name in ("tier_caps", "group_caps"):
            for t in sorted(getattr(ip, name) or {}):
                v = getattr(ip, name)[t]
                if not isinstance(v, dict):
                    out.append(Control(f"policy.items.{item}.{name}.{t}", f"{item}: {name[:-5]} cap {t}", "level", v,
                                       _help(ItemPolicy, name), section="items"))
    # Uncertain inputs (ranges.csv): each between its documented low and high, at the table's value.
    for r in inst.ranges:
        out.append(Control(f"{r.table}.{r.row}.{r.column}", f"{r.row} {r.column}", "value", r.central,
                           f"{r.distribution} in [{r.low:g}, {r.high:g}]; {r.source}", section="uncertain inputs",
                           bounds=(r.low, r.high)))
    for p in inst.programmes:
        out.append(Control(f"programmes.{p.id}.rate", f"{p.id}: rate", "level", p.rate, _help(Programme, "rate"),
                           section="programmes"))
        out.append(Control(f"programmes.{p.id}.budget", f"{p.id}: budget", "number", p.budget,
                           _help(Programme, "budget"), section="programmes"))
    return out
