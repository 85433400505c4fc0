"""Everything the commands print: rich tables and sentences for the terminal. The analysis and
study packages return data; only the CLI turns it into text (so they never import rich)."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pandas as pd

from planner.analysis.diagnose import Diagnosis, fmt_cell, run_diagnosis, write_diagnosis
from planner.analysis.network import NetworkResult
from planner.analysis.stress import StressResult, summary
from planner.instance.scenarios import TTS_CAP_WEEKS
from planner.instance.schema import Instance
from planner.results.solution import EPS
from planner.solve.highs import SolveOptions
from planner.study.core import StudyReport, run_study
from planner.study.plan import load_study


def print_diagnosis(diag: Diagnosis, console, title: str = "infeasibility diagnosis") -> None:
    """The table (rich) and the plain sentences."""
    from rich.markup import escape
    from rich.table import Table

    # soft_wrap: sentences stay on one line each, whole for grep and log readers.
    console.print(f"[bold]{title}[/]: {escape(diag.headline)}", highlight=False, soft_wrap=True)
    if len(diag.table):
        t = Table(header_style="bold", title_justify="left")
        for c in ("constraint", "item", "importer", "group", "limit", "needed", "shortfall", "unit"):
            t.add_column(c, justify="right" if c in ("limit", "needed", "shortfall") else "left", no_wrap=True)
        for r in diag.table.itertuples(index=False):
            t.add_row(*(escape(str(x)) for x in (r.constraint, r.item, r.importer, r.group)),
                      *(fmt_cell(x) for x in (r.limit, r.needed, r.shortfall)), escape(r.unit))
        console.print(t)
        for msg in diag.table["message"]:
            console.print(f"  - {msg}", highlight=False, markup=False, soft_wrap=True)
    for note in diag.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


def report_infeasible(inst: Instance, options: SolveOptions, console, out_dir: Path | None = None,
                      formats: Iterable[str] = ("csv",), record: dict | None = None,
                      extras: dict | None = None, model=None) -> Diagnosis | None:
    """For the CLI: diagnose, print, and write the diagnosis into ``out_dir`` if given.

    A failure of the diagnosis itself is reported briefly (the run is still
    infeasible); set FRIENDSHORE_DEBUG=1 for the traceback.
    """
    try:
        with console.status("diagnosing the conflict ..."):
            diag = run_diagnosis(inst, options, model=model)
    except Exception as exc:  # noqa: BLE001 - the diagnosis is a help; its failure must not hide exit 3
        if os.environ.get("FRIENDSHORE_DEBUG"):
            raise
        from rich.markup import escape

        console.print(f"[bold red]the infeasibility diagnosis failed:[/] {escape(f'{type(exc).__name__}: {exc}')} "
                      "(a bug in Friendshore; FRIENDSHORE_DEBUG=1 shows the traceback). Nothing was written.",
                      highlight=False)
        return None
    print_diagnosis(diag, console)
    if out_dir is not None:
        write_diagnosis(out_dir, diag, formats, record, extras)
        console.print(f"wrote diagnosis ({', '.join(formats)}){' and run.json' if record else ''}"
                      f"{''.join(', ' + n for n in sorted(extras or {}))} to {out_dir}")
    return diag


def print_stress(console, inst: Instance, result: StressResult, most: int = 25) -> None:
    """Headline numbers, then the worst rows (by shortfall share, then TTS) as a rich table."""
    from rich.table import Table

    t = result.table
    head = summary(t, result.unserved)
    console.print(f"stress test of {result.sourcing} against {len(result.scenarios)} scenarios "
                  f"({len(t)} scenario x item x importer rows touched); LP {result.solve_s:.2f} s")
    console.print(f"worst-case shortfall {head['worst_case_shortfall_pct']:.1f} %, min TTS "
                  f"{_weeks(head['min_tts_weeks'])}, scenarios with TTS < TTR: {head['scenarios_tts_below_ttr']:.0f}",
                  highlight=False)
    if len(result.unserved):
        units = {i.id: i.unit for i in inst.items}
        pairs = ", ".join(f"{r.item}/{r.importer} {r.shortfall_pct:.1f} % ({r.shortfall:,.4g} {units.get(r.item, '')})"
                          for r in result.unserved.itertuples(index=False))
        console.print(f"[bold yellow]unserved before any disruption[/] (the plan leaves this demand short, in every "
                      f"scenario too): {pairs}", highlight=False)
    if t.empty:
        return
    units = {i.id: i.unit for i in inst.items}
    worst = t.sort_values(["shortfall_pct", "tts_weeks", "scenario", "item", "importer"],
                          ascending=[False, True, True, True, True]).head(most)
    tab = Table(title=f"worst {len(worst)} of {len(t)} rows", header_style="bold", title_justify="left")
    for col in ("scenario", "item", "importer", "weeks", "shortfall", "short %", "TTS weeks", "TTR weeks", "TTS<TTR"):
        tab.add_column(col, no_wrap=True, justify="left" if col in ("scenario", "item", "importer") else "right")
    for r in worst.itertuples(index=False):
        tab.add_row(r.scenario, r.item, r.importer, f"{r.duration_weeks:g}",
                    f"{r.shortfall:,.4g} {units.get(r.item, '')}".strip(), f"{r.shortfall_pct:.1f}",
                    _weeks(r.tts_weeks), f"{r.ttr_weeks:g}", "[bold red]yes[/]" if r.tts_below_ttr else "no")
    console.print(tab)


def _weeks(v: float) -> str:
    if v != v:  # TTS counts only where a scenario leaves a shortfall
        return "none (no shortfall)"
    return f">= {TTS_CAP_WEEKS:g}" if v >= TTS_CAP_WEEKS else f"{v:.1f}"


def resilience_table(cmp, kpis: pd.DataFrame, cases: list[str]):
    """The comparison's stress KPIs as a small rich table (None without scenarios)."""
    from rich.table import Table

    if not cmp.stress:
        return None
    k = kpis[(kpis["item"] == "all") & (kpis["importer"] == "all")].set_index("kpi")
    n = len(next(iter(cmp.stress.values())).scenarios)
    tab = Table(title=f"disruption scenarios ({n}): stress test of each sourcing", header_style="bold",
                title_justify="left")
    tab.add_column("", no_wrap=True)
    for c in cases:
        tab.add_column(c.replace("_", "-"), justify="right", no_wrap=True)
    for label, kpi, fmt in (("worst-case shortfall %", "worst_case_shortfall_pct", "{:.1f}"),
                            ("min time-to-survive (weeks)", "min_tts_weeks", None),
                            ("min TTS / TTR", "min_tts_ttr_ratio", "{:.2f}"),
                            ("scenarios with TTS < TTR", "scenarios_tts_below_ttr", "{:.0f}")):
        if kpi not in k.index:
            continue
        vals = [k.at[kpi, c] if c in k.columns else math.nan for c in cases]
        tab.add_row(label, *("-" if v != v and fmt is not None else (_weeks(v) if fmt is None else fmt.format(v))
                             for v in vals))
    # The worst scenario per item (largest shortfall share; none where no scenario leaves it short).
    for item in sorted({i for i, _ in cmp.instance.demand_qty}):
        cells = []
        for c in cases:
            res = cmp.stress.get(c)
            t = res.table[res.table["item"] == item] if res is not None else None
            if t is None or t.empty or not (t["shortfall"] > 0).any():
                cells.append("none short")
                continue
            w = t.sort_values(["shortfall_pct", "scenario"], ascending=[False, True]).iloc[0]
            cells.append(f"{w['scenario']} {w['shortfall_pct']:.1f} %")
        tab.add_row(f"worst: {item}", *cells)
    return tab


def print_network(console, inst: Instance, result: NetworkResult) -> None:
    """Exposure the last tier hides, then the single points of failure."""
    from rich.table import Table

    g = result.graph
    console.print(f"{inst.meta.name}: network of {result.sourcing}: {g.number_of_nodes()} nodes, "
                  f"{g.number_of_edges()} edges, {'multi-tier' if inst.chain.multi_tier else 'single-tier'}",
                  highlight=False)
    tiers = result.tables.get("exposure_tiers")
    if tiers is not None and len(tiers):
        tab = Table(title="exposure by trust tier: direct (last tier) vs upstream (any stage, pro rata)",
                    header_style="bold", title_justify="left")
        for col in ("importer", "item", "tier", "direct", "upstream"):
            tab.add_column(col, no_wrap=True, justify="left" if col in ("importer", "item", "tier") else "right")
        for r in tiers.itertuples(index=False):
            if r.direct_share > EPS or r.upstream_share > EPS:
                hidden = r.upstream_share - r.direct_share > 0.05
                tab.add_row(r.importer, r.item, r.tier, f"{100 * r.direct_share:.1f} %",
                            f"[bold red]{100 * r.upstream_share:.1f} %[/]" if hidden
                            else f"{100 * r.upstream_share:.1f} %")
        console.print(tab)
    spof = result.tables["spof"]
    bad = spof[spof["spof"]]
    tab = Table(title=f"single points of failure: losing one cuts deliverable supply below {result.beta:.0%} "
                      f"({len(bad)} of {len(spof)} elements)", header_style="bold", title_justify="left")
    for col in ("item", "kind", "element", "tier", "deliverable", "intact"):
        tab.add_column(col, no_wrap=True, justify="right" if col in ("deliverable", "intact") else "left")
    for r in bad.itertuples(index=False):
        tab.add_row(r.item, r.kind, r.element, r.tier, f"{100 * r.deliverable_share:.1f} %",
                    f"{100 * r.intact_share:.1f} %")
    console.print(tab)
    for item, cut in result.tables["min_cut"].groupby("item", sort=True):
        console.print(f"min cut of {item}: {cut['cut_value'].iloc[0]:,.6g} of demand {cut['demand'].iloc[0]:,.6g} "
                      f"({', '.join(cut['element'])})", highlight=False)
    for n in result.notes:
        console.print(f"[yellow]note:[/] {n}", highlight=False)


def cli_study(study_file: Path, out_dir: Path, *, workers: int | None, scheduler: str | None, resume: bool,
              rebuild: bool, out, err) -> StudyReport:
    """``friendshore study``: check the file, run, print a summary.  Raises InstanceError on bad input."""
    from rich.table import Table

    with err.status(f"checking {study_file} ..."):
        study = load_study(study_file)
    where = f"Dask scheduler {scheduler}" if scheduler else (
        f"{workers or os.cpu_count() or 1} local worker process(es)" if (workers or os.cpu_count() or 1) > 1 else "this process")
    err.print(f"{study.spec.name}: {len(study.runs)} runs on {study.base.meta.name} ({where}, "
              f"{'rebuild every run' if rebuild else 'persistent re-solve'})", highlight=False)
    report = run_study(study, out_dir, workers=workers, scheduler=scheduler, resume=resume, persistent=not rebuild,
                       progress=lambda total, resumed: progress_bar(err, total, resumed))
    t = report.table
    ok = int(t["status"].isin(["optimal", "feasible"]).sum()) if t is not None and len(t) else 0
    out.print(f"study {study.spec.name}: {report.planned} runs planned, {report.ran} run now, "
              f"{report.resumed} kept from before; {ok} solved, {len(report.failed)} failed "
              f"({report.wall_s:.1f} s)", highlight=False)
    if report.failed:
        tab = Table(title="failed runs (recorded with their reason; the study went on)", title_justify="left",
                    header_style="bold")
        for c in ("run", "status", "reason"):
            tab.add_column(c, overflow="fold")
        for f in report.failed[:20]:
            tab.add_row(f["run_id"], f["status"], f["reason"][:300])
        out.print(tab)
        if len(report.failed) > 20:
            out.print(f"... and {len(report.failed) - 20} more: see results.csv", highlight=False)
    for k in report.knees:
        out.print(f"knee of frontier {k['frontier']}: cap {k['level']:g}, measure {k['measure_value']:.4g}, "
                  f"total cost {k['total_cost']:,.0f} ({k['run_id']})", highlight=False)
    if t is not None and len(t) and "warm_start" in t:
        reused = int(t["reused"].fillna(False).astype(bool).sum()) if "reused" in t else 0
        used = int((t["warm_start"] == "used").sum())
        out.print(f"persistent re-solves: {reused} of {len(t)} runs; MIP start accepted by HiGHS in {used}",
                  highlight=False)
    out.print(f"wrote results.csv, results.parquet{', frontiers.csv' if study.spec.frontiers else ''}, plots/, "
              f"runs/ and study.json to {out_dir}", highlight=False)
    return report


@contextlib.contextmanager
def progress_bar(console, total: int, resumed: int) -> Iterator[Callable[[int], None]]:
    """The study's progress bar: runs done of all, failed so far, elapsed time and ETA."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    note = f" ({resumed} done before)" if resumed else ""
    bar = Progress(SpinnerColumn(), TextColumn("[bold]runs{task.fields[note]}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("[red]failed {task.fields[failed]}"), TextColumn("elapsed"), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn(), console=console)
    with bar:
        task = bar.add_task("runs", total=total, failed=0, note=note)

        def advance(failed: int) -> None:
            bar.update(task, advance=1, failed=failed)

        yield advance


def trajectory_table(cmp, kpis, cases):
    """A multi-period run's trajectory: per period, the highest share of the least trusted tier in
    any importer's supply of any item, and the cost per year against the baseline's."""
    from rich.table import Table

    from planner.cli.app import _fmt
    worst = cmp.instance.meta.tiers[-1]
    t = Table(title=f"trajectory ({' / '.join(c.replace('_', '-') for c in cases)})", header_style="bold",
              title_justify="left")
    for col in ("period", f"{worst} share (highest)", "cost per year", "premium per year vs baseline"):
        t.add_column(col, justify="left" if col == "period" else "right", no_wrap=True)
    per = kpis[kpis["period"] != "all"]
    for p in sorted(per["period"].unique()):
        rows = per[per["period"] == p]
        share = rows[(rows["kpi"] == "tier_share") & (rows["group"] == worst)]
        cost = rows[(rows["kpi"] == "total_cost") & (rows["item"] == "all")]
        base = float(cost["baseline"].iloc[0]) if "baseline" in cost and len(cost) else float("nan")
        t.add_row(str(p),
                  " / ".join(_fmt(float(share[c].max()) if len(share) else float("nan"), 2) for c in cases),
                  " / ".join(_fmt(float(cost[c].iloc[0]) if len(cost) else float("nan")) for c in cases),
                  " / ".join(_fmt(float(cost[c].iloc[0]) - base if len(cost) else float("nan")) for c in cases))
    return t


def print_explanation(console, inst: Instance, exp, most: int = 8) -> None:
    """What binds and its price, then the cheapest entries: the top rows of the binding and entry tables."""
    from rich.table import Table

    b = exp.binding
    if exp.lp is None or not exp.lp.has_solution:
        console.print("[yellow]note:[/] no marginal prices: the fixed-plan LP did not solve "
                      f"({exp.lp.status if exp.lp else 'not run'})", highlight=False)
        return
    policy = b[b["sense"].isin(("cap", "floor"))]
    other = b[b["sense"] == "resource"]
    t = Table(title="what binds, and what one step costs (local prices: qualifications and builds held as planned)",
              header_style="bold", title_justify="left")
    t.add_column("constraint", no_wrap=True)
    t.add_column("price of one step", justify="right", no_wrap=True)
    t.add_column("in words")
    if not len(policy):
        t.add_row("(no policy constraint binds)", "", "the plan is the cheapest one under capacity alone")
    for r in list(policy.head(most).itertuples()) + list(other[other["price"].abs() > EPS].head(max(3, most // 2)).itertuples()):
        t.add_row(r.family, f"{r.price:,.0f}" if abs(r.price) >= 1000 else f"{r.price:,.4g}", r.sentence)
    console.print(t)
    if exp.note:
        console.print(f"[yellow]note:[/] {exp.note}", highlight=False)
    e = exp.entry
    if len(e):
        ok = e[e["status"].isin(("optimal", "feasible"))].sort_values("cost_change")
        console.print("[bold]entry prices[/] (cheapest first; each a re-solve with the entry forced in):")
        for r in ok.head(most).itertuples():
            console.print(f"  {r.sentence}", highlight=False)
        shut = e[~e["status"].isin(("optimal", "feasible"))]
        if len(shut):
            console.print(f"  {len(shut)} candidate(s) cannot enter under the policy (see the entry table)", highlight=False)


def print_tiers(console, inst: Instance, table) -> None:
    """The trust rule's tiers: one row per country, changes from countries.csv in bold; then each tier's members."""
    import math

    from rich.table import Table

    from planner.instance.trust import anchors_of, describe

    rule = inst.policy.trust
    console.print(f"trust rule: {describe(rule, anchors_of(rule, inst))}", highlight=False)
    tab = Table(header_style="bold")
    for col in ("code", "name", "countries.csv", "score", "percentile", "votes", "tier", "basis"):
        tab.add_column(col, justify="right" if col in ("score", "percentile", "votes") else "left")
    for r in table.itertuples(index=False):
        num = (lambda x: "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}")
        tier = f"[bold]{r.tier}[/]" if r.tier != r.table_tier else r.tier
        tab.add_row(r.code, r.name, r.table_tier, num(r.score), num(r.percentile), str(r.votes), tier, r.basis)
    console.print(tab)
    for t in inst.meta.tiers:
        members = sorted(table.loc[table["tier"] == t, "code"])
        console.print(f"{t}: {', '.join(members) if members else '(none)'}", highlight=False)


def print_trade_baseline(console, new, rest_of_world: str | None) -> None:
    """One row per (importer, item): covered or kept, the domestic share, what was folded, the top partners."""
    import math

    from rich.table import Table

    tab = Table(header_style="bold")
    for col in ("importer", "item", "hs", "status", "domestic", "folded", "today's sourcing (top 4)"):
        tab.add_column(col, justify="right" if col in ("domestic", "folded") else "left")
    top: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for b in new.rows:
        top.setdefault((b.importer, b.item), []).append((b.country, b.share or 0.0))
    pct = (lambda x: "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %")
    for r in new.coverage.itertuples(index=False):
        shares = sorted(top.get((r.importer, r.item), []), key=lambda kv: -kv[1])[:4]
        status = {"covered": "covered", "no_codes": "kept (no HS codes)", "no_imports": "kept (no imports)"}[r.status]
        folded = pct(r.folded_share) + (f" into {rest_of_world}" if r.folded_partners else "")
        tab.add_row(r.importer, r.item, r.hs_codes or "-", status,
                    pct(r.domestic_share) + (f" ({r.domestic_from})" if r.status == "covered" else ""),
                    folded if r.status == "covered" else "-", ", ".join(f"{c} {100 * s:.0f} %" for c, s in shares))
    console.print(tab)


def print_two_stage(console, inst: Instance, run) -> None:
    """A two-stage plan: status, expected cost, bound and gap; the first-stage decisions taken (builds,
    qualified suppliers by item, stock); the spread of its cost over the scenarios."""
    from rich.table import Table

    r = run.result
    style = "green" if r.status == "optimal" else "bold yellow"
    gap = "-" if r.gap is None else f"{r.gap:.2e}"
    bound = "-" if r.bound is None else f"{r.bound:,.6g}"
    cost = "-" if r.objective is None else f"{r.objective:,.6g}"
    console.print(f"[{style}]{r.status.upper()}[/] two-stage plan ({r.method}, {len(run.samples)} scenarios, "
                  f"{r.ranks} MPI rank(s){f', {r.iterations} PH iterations' if r.method == 'ph' else ''}): "
                  f"expected cost {cost} {inst.meta.currency}, bound {bound}, gap {gap}; {r.seconds:.1f} s"
                  + (f" ({r.note})" if r.note else ""), highlight=False)
    fs = run.tables["first_stage"]
    taken = fs[fs["value"] > 1e-6]
    t = Table(title="first stage: decided once for every scenario", header_style="bold", title_justify="left")
    t.add_column("decision")
    t.add_column("taken")
    for d in ("build", "qualify", "stock"):
        rows = taken[taken["decision"] == d]
        if len(rows):
            text = ", ".join(rows["index"]) if d != "stock" else ", ".join(
                f"{i} {v:,.4g}" for i, v in zip(rows["index"], rows["value"]))
            t.add_row(d, text)
    console.print(t)
    c = run.tables["scenario_costs"]["cost"].dropna()
    if len(c):
        console.print(f"cost over the scenarios: min {c.min():,.6g}, mean {c.mean():,.6g}, max {c.max():,.6g}",
                      highlight=False)
