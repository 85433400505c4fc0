"""One solve job: instance -> comparison -> tables -> output folder with run.json."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from planner.analysis.compare import CASES, Comparison
from planner.results.provenance import provenance
from planner.solve.highs import SolveOptions, SolveResult

RUN_SCHEMA = 2
"""2: ``overrides`` holds values as data (1 held the ``--set`` texts, read back as YAML)."""


def case_status(res: SolveResult | None) -> tuple[str, float]:
    """(status, gap) of a case; the baseline is 'evaluated', not solved."""
    if res is None:
        return "evaluated", 0.0
    return res.status, (res.gap if res.gap is not None else float("nan"))


def result_tables(cmp: Comparison) -> dict[str, pd.DataFrame]:
    """Every case's tables stacked with explicit ``case``, ``status`` and ``gap`` columns, plus kpis."""
    stacked: dict[str, list[pd.DataFrame]] = {}
    for case in CASES:
        s = cmp.solutions.get(case)
        if s is None:
            continue
        status, gap = case_status(cmp.results.get(case))
        tables = s.tables()
        if case in cmp.stress:  # the sourcing's stress test, one row per scenario x item x importer it touches
            tables["stress"] = cmp.stress[case].table
            tables["profile"] = cmp.stress[case].profile  # its weekly served-demand profiles
        for name, df in tables.items():
            df = df.copy()
            df.insert(0, "case", case)
            df["status"] = status
            df["gap"] = gap
            stacked.setdefault(name, []).append(df)
    out = {name: pd.concat(parts, ignore_index=True) for name, parts in stacked.items()}
    out["kpis"] = cmp.kpis()
    rule = cmp.instance.policy.trust
    if rule is not None and rule.source != "table":  # tiers derived by policy.trust: who is in which, and why
        from planner.analysis.trust import tiers_table

        out["tiers"] = tiers_table(cmp.instance)
    return out


def run_record(
    cmp: Comparison,
    *,
    instance_path: str,
    files_hash: str,
    instance_hash: str,
    overrides: dict[str, Any],
    variant: str | None,
    options: SolveOptions,
    started: float,
    compare: bool = True,
    replayed_from: dict[str, Any] | None = None,
    files: list[str] | None = None,
    warnings: list[str] | None = None,
    explain: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to reproduce a run, and its outcome (run.json).

    Reproducing: the same input files (``files_sha256``; ``instance_sha256`` is the data
    after overrides), variant, overrides, options (threads, seed, limits) and versions give
    byte-identical tables.  Only ``timing`` and the per-case ``*_s`` seconds differ.
    """
    from planner.instance.checks import check_numerics
    cases = {}
    for case, res in cmp.results.items():
        if res is None:
            s = cmp.solutions.get(case)
            cases[case] = {"status": "evaluated" if s is not None else "absent",
                           "objective": s.total_cost if s is not None else None,
                           "notes": list(s.notes) if s is not None else []}
            continue
        cases[case] = {
            "status": res.status, "proven_optimal": res.proven_optimal, "explanation": res.explanation,
            "termination": res.termination, "objective": res.objective, "bound": res.bound, "gap": res.gap,
            "build_s": res.build_s, "handoff_s": res.handoff_s, "solve_s": res.solve_s,
            "user_bound_scale": res.user_bound_scale, "user_objective_scale": res.user_objective_scale,
            "start": {"status": res.start, "objective": res.start_objective, "seconds": res.start_s,
                      "note": res.start_note},
            "lagrangian": {"bound": res.lagrangian_bound, "seconds": res.lagrangian_s,
                           "fixed": res.lagrangian_fixed},
        }
    main = cmp.main
    head = provenance(name=cmp.instance.meta.name, instance_path=instance_path, files_hash=files_hash,
                      instance_hash=instance_hash, overrides=overrides, variant=variant,
                      options=options.model_dump(mode="json"))
    head["instance"].update(currency=cmp.instance.meta.currency, tiers=list(cmp.instance.meta.tiers),
                            baseline_basis=cmp.instance.meta.baseline_basis)  # which rows were today's sourcing
    return {
        "schema": RUN_SCHEMA,
        **head,
        "compare": compare,
        **({"explain": explain} if explain is not None else {}),
        **({"replayed_from": replayed_from} if replayed_from else {}),
        **({"files": files} if files else {}),
        "policy": cmp.instance.policy.model_dump(mode="json"),
        **_trust_record(cmp.instance),
        "solver": {"name": "highs", "version": main.solver_version if main else ""},
        "status": main.status if main else None,
        "proven_optimal": bool(main and main.proven_optimal),
        "objective": main.objective if main else None,
        "bound": main.bound if main else None,
        "gap": main.gap if main else None,
        "cases": cases,
        # The numerical-hygiene warnings the command printed (checked once; here when not given).
        "warnings": warnings if warnings is not None else [str(p) for p in check_numerics(cmp.instance, instance_path)],
        "timing": {
            "started_utc": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "wall_s": time.time() - started,
        },
        "command": sys.argv,
    }


def _trust_record(inst) -> dict[str, Any]:
    """run.json's account of derived tiers (policy.trust): the rule in words, each tier's members and
    the warnings (countries without votes, such as Taiwan)."""
    rule = inst.policy.trust
    if rule is None or rule.source == "table":
        return {}
    from planner.instance.trust import anchors_of, describe

    return {"trust": {"rule_text": describe(rule, anchors_of(rule, inst)),
                      "tiers": {t: sorted(c for c, x in inst.tier_of.items() if x == t) for t in inst.meta.tiers},
                      "notes": list(inst.trust.notes)}}


class Replay(BaseModel):
    """What ``solve --replay RUN_DIR/run.json`` takes from a recorded run: the same instance,
    variant, overrides, solver options and formats, and the hashes to compare the inputs with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    instance: Path
    variant: str | None
    overrides: dict[str, Any]
    options: SolveOptions
    formats: tuple[str, ...]
    compare: bool
    model_format: str | None
    """The format of the model file the run wrote (solve --write-model), if any."""
    files_sha256: str | None
    instance_sha256: str | None
    explain: bool = True
    entry_top: int = 2


def read_replay(path: Path) -> Replay:
    """The recorded run in ``path`` (a run.json, or the folder holding one), checked; InstanceError
    (exit 2) naming run.json and the key when it is not a solve's run.json or the instance is gone."""
    import json

    from pydantic import ValidationError

    from planner.errors import InstanceError, Problem

    path = Path(path)
    file = path / "run.json" if path.is_dir() else path
    shown = str(file)
    try:
        rec = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InstanceError([Problem(shown, expected=f"cannot read it ({e}); expected the run.json of a "
                                                     "`friendshore solve --out DIR`")]) from None
    if not isinstance(rec, dict) or not isinstance(rec.get("instance"), dict) or "cases" not in rec \
            or not isinstance(rec.get("options"), dict):
        raise InstanceError([Problem(shown, expected="not the run.json of a solve; expected one written by "
                                                     "`friendshore solve --out DIR`")])
    inst = rec["instance"]
    # The absolute path first: a replay need not start in the folder the run started in.
    where = next((p for p in (inst.get("abs_path"), inst.get("path")) if p and Path(p).exists()), None)
    if where is None:
        raise InstanceError([Problem(shown, column="instance.path", value=str(inst.get("path")),
                                     expected="the recorded instance, which is no longer there; expected the "
                                              "instance folder or workbook at the recorded path")])
    overrides = rec.get("overrides") or {}
    if rec.get("schema") == 1 and isinstance(overrides, dict):
        from planner.instance.io import parse_overrides

        overrides = parse_overrides(f"{k}={v}" for k, v in overrides.items())
    try:
        return Replay(source=shown, instance=Path(where), variant=rec.get("variant"), overrides=overrides,
                      options=SolveOptions.model_validate(rec["options"]),
                      formats=tuple(rec.get("formats") or ("csv",)),
                      compare=bool(rec.get("compare", "cost_only" in rec["cases"])),
                      model_format=next((f.rpartition(".")[2] for f in rec.get("files") or ()
                                         if isinstance(f, str) and f.startswith("model.")), None),
                      files_sha256=inst.get("files_sha256"), instance_sha256=inst.get("instance_sha256"),
                      **_explain_of(rec.get("explain")))
    except ValidationError as e:
        raise InstanceError([Problem(shown, column=".".join(str(x) for x in err["loc"]),
                                     value=str(err.get("input"))[:120], expected=err["msg"])
                             for err in e.errors(include_url=False)]) from None


def _explain_of(rec: Any) -> dict[str, Any]:
    """The recorded explanation settings (run.json ``explain``; runs before it had the defaults)."""
    if not isinstance(rec, dict):
        return {}
    return {k: rec[k] for k in ("explain", "entry_top") if k in rec}
