"""One explorer session: its own persistent models, the settings it last asked for, and the plan it
last got. Solves run one at a time in the process (Pyomo's HiGHS interface captures output through
the process's file descriptors), off the event loop; a request that a newer one of the same session
has superseded before it starts is answered "superseded" without solving."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner.analysis.cases import CostOnlyCache
from planner.errors import InstanceError, Problem
from planner.instance.schema import Instance
from planner.solve.highs import SolveOptions
from planner.solve.persistent import ModelCache

MAX_SESSIONS = 8
"""Sessions kept (each holds a few built models); the least recently used is dropped beyond it."""
SOLVE_LOCK = threading.Lock()
SECTIONS = ("friends", "headline", "explanations", "flows", "dependence", "investments", "stress", "trajectory",
            "exposure", "feeds")
"""The report's sections the page redraws after each solve, in order."""


@dataclass
class Outcome:
    """What one solve gives the page (JSON-able) and keeps for downloads."""

    status: str
    """optimal | feasible | infeasible | invalid | superseded | error"""
    payload: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Session:
    id: str
    references: CostOnlyCache = field(default_factory=CostOnlyCache)
    latest: int = 0
    last: Outcome | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set by the page's cancel button: the running MIP stops and returns its best plan so far."""
    cache: ModelCache = field(init=False)

    def __post_init__(self):
        self.cache = ModelCache(4, stop=self.cancel.is_set)


class Explorer:
    """The instance being explored, and its sessions."""

    def __init__(self, path: Path, base: Instance, options: SolveOptions):
        from planner.instance.io import files_hash

        self.path, self.base, self.options = Path(path), base, options
        # The base files' hash, as a solve's run.json records it (overrides are recorded beside it).
        self.files_hash = files_hash(self.path)
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.lock = threading.Lock()

    def session(self, sid: str | None) -> Session:
        with self.lock:
            if sid and sid in self.sessions:
                self.sessions.move_to_end(sid)
                return self.sessions[sid]
            s = Session(secrets.token_urlsafe(16))
            self.sessions[s.id] = s
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
            return s

    def instance(self, settings: dict[str, Any], allowed: set[str]) -> Instance:
        """The base with ``settings`` applied by THE override applier (the same checks as --set); a key
        that is not one of the page's controls is refused (the browser names no files or tables)."""
        from planner.instance.io import apply_overrides

        bad = [k for k in settings if k not in allowed]
        if bad:
            raise InstanceError([Problem("explorer", column=k, expected="one of the page's controls") for k in bad])
        variant = settings.get("variant") or None
        return apply_overrides(self.base, {k: v for k, v in settings.items() if k != "variant"},
                               variant=str(variant) if variant else None)

    def solve(self, s: Session, seq: int, settings: dict[str, Any], allowed: set[str]) -> Outcome:
        """Re-solve the session's plan under ``settings``: the comparison (today, cost-only, friendshored),
        the tables, what binds, and the report's sections drawn from them."""
        with SOLVE_LOCK:
            if seq != s.latest:
                return Outcome("superseded", {"status": "superseded", "seq": seq})
            s.cancel.clear()
            t0 = time.perf_counter()
            try:
                inst = self.instance(settings, allowed)
            except InstanceError as e:
                return Outcome("invalid", {"status": "invalid", "seq": seq, "problems": [str(p) for p in e.problems]})
            out = self._solve(s, inst, settings)
            out.payload["seq"] = seq
            out.payload["timing"]["total_s"] = time.perf_counter() - t0
            if out.status in ("optimal", "feasible"):
                s.last = out
            return out

    def _case_solver(self, s: Session, timing: dict[str, float]):
        from planner.results import solution as sol

        def solve(case_inst: Instance, case: str):
            t = time.perf_counter()
            if case == "cost_only":  # THE cost-only rule (planner.analysis.cases.CostOnlyCache)
                got = s.references.get(case_inst, lambda ci: s.cache.solve(ci, case, self.options)[:2])
                timing["cost_only_s"] = time.perf_counter() - t
                return (*got, None)
            res, m, info = s.cache.solve(case_inst, case, self.options)
            timing["solve_s"] = time.perf_counter() - t
            timing["highs_s"] = res.solve_s
            timing["reused"] = bool(info.get("reused"))
            # The kept model is handed to the explanation (it restores what it changes), never relaxed.
            return res, (sol.from_model(m, case_inst, res, case) if res.has_solution else None), m

        return solve

    def _solve(self, s: Session, inst: Instance, settings: dict[str, Any]) -> Outcome:
        from planner.analysis.compare import run_comparison
        from planner.analysis.run import result_tables, run_record
        from planner.instance.io import instance_hash

        timing: dict[str, Any] = {}
        cmp = run_comparison(inst, self.options, with_cost_only=True, solve=self._case_solver(s, timing))
        main = cmp.main
        record = run_record(cmp, instance_path=str(self.path), files_hash=self.files_hash,
                            instance_hash=instance_hash(inst),
                            overrides=settings, variant=None, options=self.options, started=time.time(), warnings=[])
        if not main.has_solution:
            if main.status in ("infeasible", "infeasible_or_unbounded"):
                return self._infeasible(inst, main, record, timing)
            why = "cancelled before HiGHS found a plan" if s.cancel.is_set() else \
                f"{main.explanation} (HiGHS: {main.termination})"
            return Outcome("no_solution", {"status": "no_solution", "message": why, "timing": timing})
        t = time.perf_counter()
        tables = result_tables(cmp)
        try:
            from planner.analysis.explain import explain

            exp = explain(inst, cmp.plan_model, main, cmp.solutions["friendshored"], self.options, top=0)
            tables["binding"] = exp.binding
        except Exception:  # noqa: BLE001 - what binds is a help; the plan stands without it
            pass
        timing["tables_s"] = time.perf_counter() - t
        t = time.perf_counter()
        html, data = render(self.path, "solve", tables, record)
        timing["render_s"] = time.perf_counter() - t
        k = tables["kpis"]
        head = {r.kpi: r.friendshored for r in k[(k["item"] == "all") & (k["importer"] == "all")
                                                & (k["group"] == "all")].itertuples()}
        shares = k[(k["kpi"] == "tier_share")]
        worst = inst.meta.tiers[-1]
        payload = {"status": main.status, "proven_optimal": main.proven_optimal, "gap": main.gap, "timing": timing,
                   "kpis": {"total_cost": head.get("total_cost"), "premium_vs_cost_only_pct":
                            head.get("premium_vs_cost_only_pct"), "premium_vs_baseline_pct":
                            head.get("premium_vs_baseline_pct"), "max_country_share": head.get("max_country_share"),
                            "public_subsidy": head.get("public_subsidy"),
                            f"max_{worst}_share": float(shares.loc[shares["group"] == worst, "friendshored"].max())
                            if len(shares) else None},
                   "worst_tier": worst, "currency": inst.meta.currency, "sections": html, "data": data}
        return Outcome(main.status, payload, tables, record)

    def _infeasible(self, inst: Instance, main, record: dict, timing: dict) -> Outcome:
        from planner.analysis.diagnose import run_diagnosis

        try:
            d = run_diagnosis(inst, self.options)  # on a fresh build: the session's models are not relaxed
            tables = {"diagnosis": d.table}
            html, data = render(self.path, "infeasible", tables, record)
            payload = {"status": "infeasible", "headline": d.headline, "sections": html, "data": data}
        except Exception as exc:  # noqa: BLE001 - the diagnosis is a help; say it failed, do not crash
            payload = {"status": "infeasible", "headline": f"{main.explanation} (the diagnosis failed: {exc})",
                       "sections": {}, "data": {"tables": {}}}
        payload["timing"] = timing
        return Outcome("infeasible", payload)


def render(path: Path, kind: str, tables: dict[str, pd.DataFrame], record: dict) -> tuple[dict[str, str], dict]:
    """The report's sections for these in-memory tables ({section id: html}) and their download data:
    the same code as `friendshore report`, so page and report agree."""
    from planner.report.page import SECTIONS as ALL, Ctx
    from planner.report.reader import Folder

    folder = Folder(path, kind, dict(tables), {n: f"{n}.csv" for n in tables}, record)
    ctx = Ctx(folder)
    out: dict[str, str] = {}
    for sec in sorted(ALL, key=lambda x: x.order):
        if kind not in sec.kinds or (kind == "solve" and sec.id not in SECTIONS):
            continue
        if any(n not in ctx.t or not len(ctx.t[n]) for n in sec.needs):
            continue
        body = sec.render(ctx)
        if body:
            out[sec.id] = f'<section class="card" id="{sec.id}"><h2>{sec.title}</h2>{body}</section>'
    return out, {"tables": ctx.data}
