"""`friendshore baseline --from-trade`: today's sourcing from trade data, written as tables and as a
copy of the instance whose baseline holds the new basis (docs/trade-baseline.md).

The rules live in planner/instance/trade.py; this module only tabulates and writes, atomically: the
copy is loaded and checked like any instance before the output folder is swapped in.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Iterable

import pandas as pd

from planner.errors import InstanceError, Problem
from planner.instance import tables as tb
from planner.instance.schema import Baseline, Instance
from planner.instance.sources import append_sources
from planner.instance.trade import TradeBaseline, merged, source_rows
from planner.results.schema import columns

BASIS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_basis(basis: str) -> None:
    if not BASIS.fullmatch(basis):
        raise InstanceError([Problem("--basis", value=basis, expected="expected a name of letters, digits, '-', "
                                                                       "'_' or '.', e.g. trade-2024")])


def tables(new: TradeBaseline) -> dict[str, pd.DataFrame]:
    """The two tables in their one column schema each."""
    return {name: frame.reindex(columns=columns(name)) for name, frame in
            (("trade_coverage", new.coverage), ("trade_partners", new.partners))}


def record(inst: Instance, *, instance_path: str, files_hash: str, instance_hash: str, data_file: str,
           data_hash: str, settings: dict, new: TradeBaseline) -> dict:
    """run.json: the instance and trade data (with hashes), the settings, and what was covered."""
    from planner.results.provenance import provenance

    cov = new.coverage
    return {
        "command": "baseline",
        **provenance(name=inst.meta.name, instance_path=instance_path, files_hash=files_hash,
                     instance_hash=instance_hash, overrides={}, variant=None, options={}),
        "trade_data": {"path": data_file, "sha256": data_hash},
        "settings": settings,
        "covered": [f"{r.importer}:{r.item}" for r in cov.itertuples() if r.status == "covered"],
        "kept": [f"{r.importer}:{r.item}" for r in cov.itertuples() if r.status != "covered"],
        "notes": list(new.notes),
    }


def write(out: Path, inst: Instance, source: Path, new: TradeBaseline, rec: dict, formats: Iterable[str], *,
          basis: str, data_file: str, rest_of_world: str | None) -> None:
    """Tables (every format), run.json and ``instance/``: the instance folder copied, with baseline.csv
    holding the new basis (other bases kept), sources.csv recording it, and instance.yaml choosing it."""
    from planner.instance.io import load_instance
    from planner.results.export import write_outputs

    def copy(target: Path) -> None:
        shutil.copytree(source, target)
        tb.write_csv(target / "baseline.csv", Baseline, merged(inst, new, basis))
        append_sources(target / "sources.csv", source_rows(new, data_file=data_file, rest_of_world=rest_of_world),
                       drop=lambda r: r.get("table") == "baseline" and r.get("note", "").startswith(f"basis={basis} "))
        _choose_basis(target / "instance.yaml", basis)
        load_instance(target)  # checked like any instance (shares sum to 1, references) before the swap

    write_outputs(Path(out), tables(new), rec, formats, extras={"instance": copy})


def _choose_basis(path: Path, basis: str) -> None:
    """Set ``baseline_basis`` in instance.yaml by editing its text, so comments and order stay."""
    text = path.read_text(encoding="utf-8")
    line = f"baseline_basis: {basis}"
    if re.search(r"^baseline_basis:.*$", text, flags=re.M):
        text = re.sub(r"^baseline_basis:.*$", line, text, count=1, flags=re.M)
    else:
        text = (text if text.endswith("\n") or not text else text + "\n") + \
            f"# Today's sourcing from trade data (friendshore baseline --from-trade; sources.csv says how).\n{line}\n"
    path.write_text(text, encoding="utf-8")
