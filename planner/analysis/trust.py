"""`friendshore trust`: the tiers an instance's trust rule gives, written as a table and as a copy of
the instance with those tiers in its countries table (the rule recorded in its sources.csv)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

import pandas as pd

from planner.instance.schema import Instance
from planner.instance.sources import append_sources
from planner.instance.trust import anchors_of, baked, describe
from planner.results.schema import columns


def tiers_table(inst: Instance) -> pd.DataFrame:
    """One row per country: its countries.csv tier, score, percentile, votes, derived tier and why."""
    return inst.trust.table[columns("tiers")]


def record(inst: Instance, *, instance_path: str, files_hash: str, instance_hash: str, overrides: dict,
           variant: str | None) -> dict:
    """run.json of a trust run: the rule in data and in words, the tiers and the warnings."""
    from planner.results.provenance import provenance

    rule = inst.policy.trust
    anchors = list(anchors_of(rule, inst)) if rule is not None else []
    return {
        "command": "trust",
        **provenance(name=inst.meta.name, instance_path=instance_path, files_hash=files_hash,
                     instance_hash=instance_hash, overrides=overrides, variant=variant, options={}),
        "rule": rule.model_dump(mode="json") if rule is not None else None,
        "anchors": anchors,
        "rule_text": describe(rule, tuple(anchors)) if rule is not None else "countries.csv",
        "tiers": {t: sorted(c for c, x in inst.tier_of.items() if x == t) for t in inst.meta.tiers},
        "notes": list(inst.trust.notes),
    }


def write(out: Path, inst: Instance, source: Path, rec: dict, formats: Iterable[str]) -> None:
    """tiers table (every format), run.json and ``instance/``: a copy of the instance with the derived
    tiers in countries.csv, no trust rule, and a sources.csv row recording the rule, atomically."""
    from planner.instance.io import write_instance
    from planner.results.export import write_outputs

    def copy(target: Path) -> None:
        if Path(source).is_dir():  # keep README.md, sources.csv and the rest; the tables are rewritten
            shutil.copytree(source, target)
        write_instance(baked(inst), target)
        _record_rule(target / "sources.csv", rec["rule_text"])

    write_outputs(Path(out), {"tiers": tiers_table(inst)}, rec, formats, extras={"instance": copy})


def _record_rule(path: Path, text: str) -> None:
    append_sources(path, [["countries", "tier", "Voeten, Strezhnev and Bailey, United Nations General Assembly "
                           "Voting Data (Harvard Dataverse hdl:1902.1/12379), via friendshore trust", "", "2020",
                           "derived", f"Tiers set by friendshore trust: {text}"]])
