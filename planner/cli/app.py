"""The ``friendshore`` command line (also ``python -m planner``).

Exit codes: 0 success; 2 bad input (nothing written); 3 no feasible solution;
1 an internal error (a bug: please report it).
"""

from __future__ import annotations

import contextlib

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from planner.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_NO_SOLUTION, FriendshoreError, InstanceError, Problem

app = typer.Typer(
    name="friendshore",
    help="Friendshoring planner: which suppliers in which trusted countries, at what premium, with what resilience.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _StdoutOrNothing:
    """sys.stdout (looked up at each write, so test runners can swap it) until the reader closes
    the pipe (`friendshore solve ... | head`): then the rest of the terminal output is dropped and
    the run goes on to write its outputs, instead of dying of BrokenPipeError half-way."""

    broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return sys.stdout.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.broken = True
        try:  # so Python's own flush at exit does not complain either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass

    def isatty(self) -> bool:
        return not self.broken and sys.stdout.isatty()

    def fileno(self) -> int:
        return sys.stdout.fileno()

    @property
    def encoding(self) -> str:
        return getattr(sys.stdout, "encoding", None) or "utf-8"


# Piped output (logs, CI) gets a wide console so tables do not wrap at 80 columns.
out = Console(file=_StdoutOrNothing(), width=None if sys.stdout.isatty() else 130)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 130)

SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a value: key=value (e.g. policy.country_share_cap=0.5). Repeatable."),
]
VariantOpt = Annotated[Optional[str], typer.Option("--variant", help="Apply a named variant from instance.yaml.")]
ScenariosOpt = Annotated[
    Optional[str],
    typer.Option("--scenarios", help="Generate scenarios besides scenarios.csv: comma-separated n1,n2,chokepoints "
                                     "(sets policy.scenario_generators)."),
]


InstanceArg = Annotated[Path, typer.Argument(help="Instance folder or .xlsx workbook.")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (replaced atomically).")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="Comma-separated: csv,xlsx,parquet,json.")]
PlanTimeLimitOpt = Annotated[Optional[float], typer.Option("--time-limit",
                                                           help="HiGHS time limit of the optimized solve, seconds.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="HiGHS random seed.")]


@dataclass(frozen=True)
class _Job:
    """What every command that analyses one instance starts from: the checked options, the
    overrides as data, and the instance they give (the one load step of stress and network)."""

    instance: Path
    inst: object
    overrides: dict
    formats: tuple[str, ...]
    options: object


def _prepare(instance: Path, out_dir: Path | None, fmt: str, *, set_: list[str] | None = None,
             variant: str | None, scenarios: str | None = None, sourcing: str | None = None,
             overrides: dict | None = None, options=None, feasibility: bool = True, **solver) -> _Job:
    """THE load step of solve, stress and network: check the output options and --out, parse the
    overrides (or take them as data, from a replay), check the solver options (or take them), and
    load the instance (InstanceError: exit 2, before anything is solved or written)."""
    from planner.instance.io import parse_overrides

    formats = _check_output_options(fmt, solver.get("time_limit"))
    _check_out(out_dir, instance, sourcing)
    options = options if options is not None else _solve_options(**solver)
    if overrides is None:
        overrides = parse_overrides((set_ or []) + _scenario_sets(scenarios))
    return _Job(instance, _load(instance, overrides, variant, feasibility), overrides, formats, options)


def _version(value: bool) -> None:
    if not value:
        return
    import platform

    from planner.results.provenance import lock_record, versions

    v = versions()
    lock = lock_record()
    out.print(f"friendshore {v['friendshore']}\nHiGHS {v['highs']} (highspy {v['highspy']})\nPyomo {v['pyomo']}\n"
              f"Python {platform.python_version()}", highlight=False)
    if lock["sha256"]:
        state = "installed versions match it" if lock["matches"] else \
            f"{len(lock['differs'])} installed package(s) differ from it: " + \
            ", ".join(f"{k} {d['installed']} (locked {d['locked']})" for k, d in sorted(lock["differs"].items()))
        out.print(f"lock sha256 {lock['sha256'][:12]}: {state}", highlight=False)
    raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the versions of friendshore, HiGHS, Pyomo and Python, and exit.")] = False,
) -> None:
    """Friendshoring planner: which suppliers in which trusted countries, at what premium, with what resilience."""


def _scenario_sets(text: str | None) -> list[str]:
    """--scenarios n1,n2 as the override policy.scenario_generators=[n1, n2]."""
    if text is None:
        return []
    from planner.instance.scenarios import GENERATORS

    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in GENERATORS]
    if bad or not names:
        raise InstanceError([Problem("--scenarios", value=text,
                                     expected=f"expected a comma-separated subset of {', '.join(GENERATORS)}")])
    return [f"policy.scenario_generators=[{', '.join(names)}]"]


def _check_out(out_dir: Path | None, instance: Path, sourcing: str | None = None) -> None:
    """Refuse an --out that would replace what Friendshore did not create (the inputs included)."""
    if out_dir is None:
        return
    from planner.results.export import check_output_folder

    protect = [instance] + ([Path(sourcing)] if sourcing and Path(sourcing).is_dir() else [])
    check_output_folder(out_dir, protect)


def fail(exc: FriendshoreError) -> None:
    """Print a user error without a traceback and exit with its code."""
    if isinstance(exc, InstanceError):
        n = len(exc.problems)
        err.print(f"[bold red]error:[/] {n} problem{'s' if n != 1 else ''} found:")
        for p in exc.problems:
            err.print(f"  - {p}", markup=False, highlight=False)
    else:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(exc.exit_code)


def _load(path: Path, overrides, variant: str | None, feasibility: bool = True):
    from planner.instance.io import load_instance

    return load_instance(path, overrides or (), variant=variant, feasibility=feasibility)


def _warn_numerics(inst, path: Path) -> list[str]:
    """Numerical-hygiene warnings (ill-conditioning, inconsistent units) and the trust rule's (countries
    without votes): printed, never fatal, and returned for the run record (checked once per command)."""
    from planner.instance.checks import check_numerics

    found = [str(p) for p in check_numerics(inst, str(path))] + list(inst.trust.notes)  # + countries without votes
    for text in found:
        err.print(f"[bold yellow]warning:[/] {text}", highlight=False)
    return found


@app.command()
def validate(
    instance: InstanceArg,
    set_: SetOpt = None,
    variant: VariantOpt = None,
) -> None:
    """Check an instance; list every problem at once (file, row, column, value, expected)."""
    try:
        inst = _load(instance, set_, variant)
    except FriendshoreError as exc:
        fail(exc)
    _warn_numerics(inst, instance)
    out.print(
        f"ok: {inst.meta.name}: {len(inst.items)} items, {len(inst.countries)} countries, "
        f"{len(inst.supply)} supply rows, {len(inst.demand)} demand rows"
    )


@app.command()
def solve(
    instance: Annotated[Optional[Path], typer.Argument(help="Instance folder or .xlsx workbook.")] = None,
    out_dir: OutOpt = None,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="Comma-separated: csv,xlsx,parquet,json "
                                                                      "[default: csv].")] = None,
    time_limit: Annotated[Optional[float], typer.Option(help="HiGHS time limit per solve, seconds.")] = None,
    gap: Annotated[Optional[float], typer.Option(help="Relative MIP gap counted as optimal [default: 1e-4].")] = None,
    threads: Annotated[Optional[int], typer.Option(help="HiGHS threads [default: 1].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="HiGHS random seed [default: 0].")] = None,
    heuristic: Annotated[Optional[str], typer.Option(
        metavar="off|auto|on", help="Primal heuristic offered to HiGHS as its MIP start (LP rounding, repair, local "
                                    "search); auto: facility-location models of 20,000 columns or more "
                                    "[default: auto].")] = None,
    heuristic_seconds: Annotated[Optional[float], typer.Option(
        help="Seconds the heuristic may take, counted against --time-limit [default: 30, at most a quarter of "
             "--time-limit].")] = None,
    lagrangian: Annotated[Optional[str], typer.Option(
        metavar="off|auto|on", help="Lagrangian lower bound for facility-location models (flows and qualifications "
                                    "only); auto: wherever the heuristic found a plan [default: auto].")] = None,
    compare: Annotated[bool, typer.Option("--compare/--no-compare", help="Also solve the cost-only optimum.")] = True,
    report: Annotated[bool, typer.Option("--report", help="Also write DIR/report.html (needs --out).")] = False,
    scenarios: ScenariosOpt = None,
    replay: Annotated[Optional[Path], typer.Option(
        "--replay", metavar="RUN_DIR/run.json",
        help="Re-run a recorded solve: the same instance, variant, overrides, solver options and formats. "
             "Give no instance or solver options with it.")] = None,
    write_model: Annotated[Optional[str], typer.Option(
        "--write-model", metavar="mps|lp",
        help="Also write the friendshored model as DIR/model.mps or DIR/model.lp (needs --out), to solve it "
             "with another solver.")] = None,
    explain: Annotated[bool, typer.Option(
        "--explain/--no-explain", help="Explain the plan: what binds, the marginal price of each binding input "
                                       "(binding table) and entry prices of what it leaves out (entry table).")] = True,
    entry_top: Annotated[Optional[int], typer.Option(
        min=0, max=50, help="Entry prices: the cheapest N suppliers and N build options per item the plan leaves "
                            "out, each one re-solve (0: none) [default: 2].")] = None,
    two_stage_samples: Annotated[Optional[int], typer.Option(
        "--two-stage", metavar="N",
        help="Plan once for N scenarios drawn from ranges.csv (qualify, build and stock now; ship per scenario) "
             "instead of the single plan: as `friendshore two-stage --samples N`.")] = None,
    decomposition: Annotated[Optional[str], typer.Option(
        metavar="ef|ph", help="How --two-stage is solved: ef, the extensive form by HiGHS; ph, progressive hedging "
                              "on mpi-sppy over MPI ranks (mpiexec -n N friendshore solve ...) [default: ef].")] = None,
) -> None:
    """Solve the friendshored plan, compare it with the baseline and the cost-only plan, write tables."""
    if two_stage_samples is not None or decomposition is not None:
        given = [name for name, v in (("--replay", replay), ("--scenarios", scenarios), ("--report", report or None),
                                      ("--write-model", write_model), ("--entry-top", entry_top)) if v is not None]
        if two_stage_samples is None or given:
            fail(InstanceError([Problem("--decomposition" if two_stage_samples is None else "--two-stage",
                                        value=", ".join(given) or decomposition,
                                        expected="expected --two-stage N with --decomposition"
                                        if two_stage_samples is None else
                                        "expected no --replay, --scenarios, --report, --write-model or --entry-top "
                                        "with --two-stage (a two-stage plan writes first_stage and scenario_costs)")]))
        if instance is None:
            fail(InstanceError([Problem("INSTANCE", expected="expected an instance folder or .xlsx workbook")]))
        _two_stage(instance, out_dir, fmt or "csv", set_, variant,
                   {"samples": two_stage_samples, "method": decomposition},
                   {"time_limit": time_limit, **{k: v for k, v in (("rel_gap", gap), ("threads", threads),
                                                                   ("seed", seed)) if v is not None}},
                   {"--two-stage": "samples", "--decomposition": "method"})
        return
    from planner.analysis.compare import run_comparison
    from planner.instance.io import files_hash, instance_hash
    from planner.analysis.run import result_tables, run_record
    from planner.results.export import write_outputs

    from planner.analysis.explain import DEFAULT_ENTRY_TOP

    started = time.time()
    replayed_from = None
    try:
        if replay is not None:
            from planner.analysis.run import read_replay

            given = [name for name, v in (("INSTANCE", instance), ("--set", set_), ("--variant", variant),
                                          ("--time-limit", time_limit), ("--gap", gap), ("--threads", threads),
                                          ("--seed", seed), ("--scenarios", scenarios),
                                          ("--heuristic", heuristic), ("--heuristic-seconds", heuristic_seconds),
                                          ("--lagrangian", lagrangian),
                                          ("--entry-top", entry_top)) if v is not None and v != []]
            if given:
                raise InstanceError([Problem("--replay", value=", ".join(given),
                                             expected="expected no instance, overrides or solver options with --replay: "
                                                      "it repeats the recorded run (solve it without --replay to "
                                                      "change something)")])
            rep = read_replay(replay)
            compare = rep.compare
            explain, entry_top = rep.explain, rep.entry_top
            # The recorded model file is written again where there is an --out to hold it.
            write_model = write_model or (rep.model_format if out_dir is not None else None)
            source = dict(instance=rep.instance, fmt=fmt or ",".join(rep.formats), variant=rep.variant,
                          overrides=dict(rep.overrides), options=rep.options)
        else:
            if instance is None:
                raise InstanceError([Problem("INSTANCE", expected="expected an instance folder or .xlsx workbook "
                                                                  "(or --replay RUN_DIR/run.json)")])
            source = dict(instance=instance, fmt=fmt or "csv", variant=variant, set_=set_, scenarios=scenarios,
                          time_limit=time_limit, **{k: v for k, v in (("rel_gap", gap), ("threads", threads),
                                                                       ("seed", seed), ("heuristic", heuristic),
                                                                       ("heuristic_s", heuristic_seconds),
                                                                       ("lagrangian", lagrangian)) if v is not None})
        if report and out_dir is None:
            raise InstanceError([Problem("--report", expected="expected --out DIR as well: the report is written "
                                                              "to DIR/report.html")])
        extras = _model_extras(write_model, out_dir)
        job = _prepare(source.pop("instance"), out_dir, source.pop("fmt"), **source)
        instance, variant, inst, overrides, formats, options = (job.instance, source["variant"], job.inst,
                                                                job.overrides, job.formats, job.options)
    except FriendshoreError as exc:
        fail(exc)
    if replay is not None:
        now = files_hash(instance)
        replayed_from = {"run_json": rep.source, "files_sha256": rep.files_sha256,
                         "instance_sha256": rep.instance_sha256}
        if rep.files_sha256 and now != rep.files_sha256:
            err.print(f"[bold yellow]warning:[/] the instance's files changed since the recorded run "
                      f"(sha256 {rep.files_sha256[:12]} then, {now[:12]} now): this is not an exact replay.",
                      highlight=False)
        out.print(f"replaying {rep.source}: {instance}"
                  + (f", variant {variant}" if variant else "")
                  + (f", {len(overrides)} override(s)" if overrides else ""), highlight=False)
    warnings = _warn_numerics(inst, instance)
    top = DEFAULT_ENTRY_TOP if entry_top is None else entry_top

    with err.status(f"solving {inst.meta.name} ..."):
        cmp = run_comparison(inst, options, with_cost_only=compare)
    main = cmp.main

    def record():
        return run_record(
            cmp, instance_path=str(instance), files_hash=files_hash(instance), instance_hash=instance_hash(inst),
            overrides=overrides, variant=variant, options=options, started=started, compare=compare,
            replayed_from=replayed_from, files=sorted(extras), warnings=warnings,
            explain={"explain": explain, "entry_top": top},
        )

    if not main.has_solution:
        err.print(f"[bold red]no solution:[/] {main.explanation} (HiGHS: {main.termination}).")
        if main.status in ("infeasible", "infeasible_or_unbounded"):
            # Say which policy constraints conflict, and by how much; write diagnosis.* and run.json only.
            from planner.cli.show import report_infeasible

            # The report is an extra of the staged folder, so diagnosis, run.json and report land together.
            report_infeasible(inst, options, out, out_dir, formats, record() if out_dir is not None else None,
                              extras=_bind(extras, inst) | _report_extra(report), model=cmp.unsolved)
        else:
            err.print("Nothing was written. Check the policy with `friendshore validate` or relax a cap.")
        raise typer.Exit(EXIT_NO_SOLUTION)

    tables = result_tables(cmp)
    print_summary(cmp, tables["kpis"])
    if explain:
        from planner.analysis.explain import explain as explain_plan
        from planner.cli.show import print_explanation

        with err.status("explaining the plan (marginal and entry prices) ..."):
            exp = explain_plan(inst, cmp.plan_model, main, cmp.solutions["friendshored"], options, top=top)
        tables["binding"], tables["entry"] = exp.binding, exp.entry
        print_explanation(out, inst, exp)
    if out_dir is not None:
        try:  # the report is written into the staged folder, so tables and report land together or not at all
            write_outputs(out_dir, tables, record(), formats, extras=_bind(extras, inst) | _report_extra(report))
        except FriendshoreError as exc:
            fail(exc)
        out.print(f"wrote {', '.join(sorted(tables))} ({', '.join(formats)}) and run.json to {out_dir}"
                  + (f", and {out_dir / 'report.html'}" if report else "")
                  + "".join(f", and {out_dir / name}" for name in sorted(extras)))


def _model_extras(fmt: str | None, out_dir: Path | None) -> dict[str, str]:
    """``--write-model mps|lp`` as {file name in --out: format}; exit 2 if bad or without --out
    (nothing is written outside --out)."""
    if fmt is None:
        return {}
    from planner.solve.highs import MODEL_FORMATS

    if fmt.lower() not in MODEL_FORMATS:
        raise InstanceError([Problem("--write-model", value=fmt, expected=f"expected one of {', '.join(MODEL_FORMATS)}")])
    if out_dir is None:
        raise InstanceError([Problem("--write-model", value=fmt,
                                     expected="expected --out DIR as well: the model is written to DIR/model." + fmt.lower())])
    return {f"model.{fmt.lower()}": fmt.lower()}


def _report_extra(report: bool) -> dict:
    """report.html as an extra file of the staged output folder: it reads the tables and run.json
    written there, and lands with them or not at all."""
    if not report:
        return {}
    from planner.report.page import write_report

    return {"report.html": lambda path: write_report(path.parent, path)}


def _bind(extras: dict[str, str], inst):
    """Writers of the extra files, called on the staged output folder (so they land with the tables)."""
    from planner.solve.highs import write_model

    return {name: (lambda path, inst=inst: write_model(inst, path)) for name in extras}


def _check_output_options(fmt: str, time_limit: float | None) -> tuple[str, ...]:
    """The formats of --format, after checking it and --time-limit (InstanceError, exit 2, if bad)."""
    from planner.results.export import parse_formats

    try:
        formats = parse_formats(fmt)
    except ValueError as e:
        raise InstanceError([Problem("--format", value=fmt, expected=str(e))]) from None
    if time_limit is not None:
        _solve_options(time_limit=time_limit)  # the one range check of --time-limit
    return formats


_OPTION_NAMES = {"time_limit": "--time-limit", "rel_gap": "--gap", "threads": "--threads", "seed": "--seed",
                 "heuristic": "--heuristic", "heuristic_s": "--heuristic-seconds", "lagrangian": "--lagrangian"}


def _solve_options(**values):
    """SolveOptions from command-line values; a value out of range is an InstanceError naming the option."""
    from pydantic import ValidationError

    from planner.solve.highs import SolveOptions

    try:
        return SolveOptions(**values)
    except ValidationError as e:
        raise InstanceError([Problem(_OPTION_NAMES.get(str(err["loc"][0]), str(err["loc"][0])),
                                     value=str(values.get(err["loc"][0])),
                                     expected="expected " + err["msg"].removeprefix("Input should be "))
                             for err in e.errors()]) from None


def print_summary(cmp, kpis) -> None:
    """The comparison in two compact rich tables: costs, then dependence and resilience per item."""
    main = cmp.main
    style = "green" if main.proven_optimal else "bold yellow"
    bound = "-" if main.bound is None else _fmt(main.bound)
    out.print(
        f"[{style}]{main.status.upper()}[/]: {main.explanation}\n"
        f"objective {_fmt(main.objective)}, bound {bound}, gap {0.0 if main.gap is None else main.gap:.2e}; "
        f"build {main.build_s:.2f} s, hand-off {main.handoff_s:.2f} s, HiGHS {main.solve_s:.2f} s"
    )
    if main.start != "none" or main.start_note:
        out.print(f"heuristic start: {main.start}"
                  + (f", cost {_fmt(main.start_objective)}" if main.start_objective is not None else "")
                  + f" in {main.start_s:.1f} s" + (f" ({main.start_note})" if main.start_note else ""), highlight=False)
    if main.lagrangian_bound is not None:
        out.print(f"Lagrangian bound {_fmt(main.lagrangian_bound)} in {main.lagrangian_s:.1f} s "
                  f"(the bound above is the better of it and HiGHS')"
                  + (f"; {main.lagrangian_fixed} yes/no decision(s) fixed by it" if main.lagrangian_fixed else ""),
                  highlight=False)
    for s in cmp.solutions.values():
        for note in (s.notes if s is not None else ()):
            out.print(f"[yellow]note:[/] {note}", highlight=False)
    cases = [c for c in ("baseline", "cost_only", "friendshored") if c in kpis.columns and kpis[c].notna().any()]
    multi = "period" in kpis.columns
    every = kpis
    if multi:  # the horizon's totals here; the trajectory by period below
        kpis = kpis[kpis["period"] == "all"].drop(columns="period")
    k = kpis.set_index(["kpi", "item", "importer", "group"])

    def val(kpi, case, item="all", importer="all", group="all"):
        try:
            return k.at[(kpi, item, importer, group), case]
        except KeyError:
            return float("nan")

    cur = cmp.instance.meta.currency
    what = "net present cost over the horizon" if multi else "cost per year"
    cost = Table(title=f"{cmp.instance.meta.name}: {what} ({cur}); total cost and premiums are the planner's, net "
                       f"of subsidy; 'with public money' adds the grants back", header_style="bold", title_justify="left")
    cost.add_column("", no_wrap=True)
    for c in cases:
        cost.add_column(c.replace("_", "-"), justify="right", no_wrap=True)
    rows = [("total cost", "total_cost"), ("total cost with public money", "total_cost_with_public"),
            ("premium vs baseline %", "premium_vs_baseline_pct"),
            ("premium vs cost-only %", "premium_vs_cost_only_pct"),
            ("  with public money, vs baseline %", "premium_vs_baseline_with_public_pct"),
            ("  with public money, vs cost-only %", "premium_vs_cost_only_with_public_pct"),
            ("purchase", "cost_purchase"),
            ("transport", "cost_transport"), ("tariff", "cost_tariff"), ("qualification", "cost_qualification"),
            ("investment", "cost_investment"), ("subsidy received", "public_subsidy"), ("shortage", "cost_shortage"),
            ("inputs: purchase", "cost_feed_purchase"), ("inputs: transport", "cost_feed_transport"),
            ("inputs: tariff", "cost_feed_tariff")]  # multi-tier only (else NaN: skipped)
    for label, kpi in rows:
        vals = [val(kpi, c) for c in cases]
        if all(v != v for v in vals) or (kpi == "cost_shortage" and not any(v for v in vals if v == v)):
            continue
        cost.add_row(label, *(_fmt(v, 2 if kpi.endswith("_pct") else None) for v in vals))
    for p in ([] if multi else cmp.instance.programmes):
        cost.add_row(f"budget left: {p.id}", *(_fmt(val("budget_left", c, group=p.id)) for c in cases))
    out.print(cost)
    if multi:
        from planner.cli.show import trajectory_table

        out.print(trajectory_table(cmp, every, cases))
        return

    worst_tier = cmp.instance.meta.tiers[-1]
    dep = Table(
        title=f"dependence and resilience per item ({' / '.join(c.replace('_', '-') for c in cases)})",
        header_style="bold", title_justify="left",
    )
    # Multi-tier: the share passing through the worst tier at any stage, beside the direct one.
    upstream = "upstream_tier_share" in set(kpis["kpi"])
    head = ["item", "max country share", f"{worst_tier} share"] + ([f"{worst_tier} upstream"] if upstream else [])
    for col in (*head, "N-1 coverage", "suppliers"):
        dep.add_column(col, no_wrap=True, justify="left" if col == "item" else "right")
    importers = sorted({j for (_, j) in cmp.instance.demand_qty})
    for item in sorted({i for (i, _) in cmp.instance.demand_qty}):
        def worst(kpi, case, group="all"):
            vs = [val(kpi, case, item, j, group) for j in importers]
            vs = [v for v in vs if v == v]
            return max(vs) if vs else float("nan")

        dep.add_row(
            item,
            " / ".join(_fmt(worst("max_country_share", c), 2) for c in cases),
            " / ".join(_fmt(worst("tier_share", c, worst_tier), 2) for c in cases),
            *([" / ".join(_fmt(worst("upstream_tier_share", c, worst_tier), 2) for c in cases)] if upstream else []),
            " / ".join(_fmt(val("n1_coverage", c, item), 2) for c in cases),
            " / ".join(_fmt(val("qualified_suppliers", c, item), 0) for c in cases),
        )
    out.print(dep)
    from planner.cli.show import resilience_table

    scen = resilience_table(cmp, kpis, cases)
    if scen is not None:
        out.print(scen)
    if any(s is not None and len(s.shortages) for s in cmp.solutions.values() if s and s.case != "baseline"):
        out.print("[bold red]SHORTAGE:[/] some demand is left unmet (policy.allow_shortage); see the shortages table.")


def _fmt(v, digits: int | None = None) -> str:
    if v != v:  # NaN
        return "-"
    if digits is not None:
        return f"{v:.{digits}f}"
    # Six significant digits, never an exponent, trailing zeros dropped: 153.675 stays 153.675
    # (an instance's own precision), 11,084,553.4 shows as 11,084,553.
    whole = len(str(int(abs(v)))) if abs(v) >= 1 else 1
    text = f"{v:,.{max(0, 6 - whole)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="Output folder of `solve --out`.")],
    to: Annotated[Optional[Path], typer.Option("--to", help="HTML file to write (default: FOLDER/report.html).")] = None,
) -> None:
    """Write a self-contained HTML report (charts, tables, CSV downloads) from an output folder."""
    from planner.report.page import write_report

    try:
        path = write_report(folder, to)
    except FriendshoreError as exc:
        fail(exc)
    out.print(f"wrote {path}")


@app.command()
def diff(
    run_a: Annotated[Path, typer.Argument(help="Output folder of one `solve --out`.")],
    run_b: Annotated[Path, typer.Argument(help="Output folder of another `solve --out`.")],
    out_dir: OutOpt = None,
    most: Annotated[int, typer.Option(min=1, help="Rows shown per table in the terminal.")] = 12,
) -> None:
    """Why the plan changed: sourcing, builds, costs, KPIs and binding constraints of RUN_B against RUN_A."""
    import sys as _sys

    from rich.table import Table

    from planner.report.diff import diff_runs
    from planner.report.reader import read_folder

    try:
        if out_dir is not None:
            from planner.results.export import check_output_folder

            check_output_folder(out_dir, (run_a, run_b))
        d = diff_runs(read_folder(run_a), read_folder(run_b))
    except FriendshoreError as exc:
        fail(exc)
    if not len(d):
        out.print(f"no differences between {run_a} and {run_b} (relative tolerance 1e-6)")
    for name, g in d.groupby("table", sort=False):
        t = Table(title=f"{name}: {len(g)} changed value(s)" + (f", first {most}" if len(g) > most else ""),
                  header_style="bold", title_justify="left")
        for col in ("key", "column", "A", "B", "change"):
            t.add_column(col, justify="left" if col in ("key", "column") else "right")
        for r in g.head(most).itertuples():
            t.add_row(r.key, r.column, _fmt(r.a), _fmt(r.b), _fmt(r.change))
        out.print(t)
    if out_dir is not None:
        from planner.results.export import write_outputs
        from planner.results.provenance import versions

        record = {"command": "diff", "run_a": str(run_a.resolve()), "run_b": str(run_b.resolve()),
                  "versions": versions(), "argv": _sys.argv}
        try:
            write_outputs(out_dir, {"diff": d}, record, ("csv",))
        except FriendshoreError as exc:
            fail(exc)
        out.print(f"wrote diff.csv and run.json to {out_dir}")


@app.command()
def stress(
    instance: InstanceArg,
    sourcing: Annotated[str, typer.Option("--sourcing", help="baseline | optimized | RUN_DIR (a solve's --out).")]
    = "optimized",
    scenarios: ScenariosOpt = None,
    out_dir: OutOpt = None,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    fmt: FormatOpt = "csv",
    time_limit: PlanTimeLimitOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Evaluate a sourcing against every disruption scenario: shortfall, time-to-survive, time-to-recover."""
    from planner.analysis import stress as st
    from planner.instance.io import files_hash, instance_hash

    try:
        job = _prepare(instance, out_dir, fmt, set_=set_, variant=variant, scenarios=scenarios, sourcing=sourcing,
                       time_limit=time_limit, seed=seed)
        with err.status(f"stress-testing {sourcing} ..."):
            result = st.run(job.inst, sourcing, job.options)
    except FriendshoreError as exc:
        fail(exc)
    from planner.cli.show import print_stress

    print_stress(out, job.inst, result)
    if out_dir is not None:
        rec = st.record(job.inst, result, instance_path=str(instance), files_hash=files_hash(instance),
                        instance_hash=instance_hash(job.inst), overrides=job.overrides,
                        variant=variant, options=job.options)
        st.write(out_dir, result, rec, job.formats)
        out.print(f"wrote stress, scenarios, unserved ({', '.join(job.formats)}) and run.json to {out_dir}")


@app.command("two-stage")
def two_stage(
    instance: InstanceArg,
    samples: Annotated[Optional[int], typer.Option(help="Scenarios: Latin-hypercube draws of ranges.csv, equally "
                                                        "likely [default: 8].")] = None,
    sample_seed: Annotated[Optional[int], typer.Option(help="Seed of the draws [default: 0].")] = None,
    method: Annotated[Optional[str], typer.Option(metavar="ef|ph", help="ef: the extensive form solved by HiGHS; ph: "
                                                  "progressive hedging (mpi-sppy), scenarios spread over MPI ranks "
                                                  "(mpiexec -n N friendshore two-stage ...) [default: ef].")] = None,
    iterations: Annotated[Optional[int], typer.Option(help="Most PH iterations [default: 50].")] = None,
    ranges: Annotated[Optional[str], typer.Option(help="Comma-separated range keys to draw (default: all).")] = None,
    out_dir: OutOpt = None,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    fmt: FormatOpt = "csv",
    time_limit: Annotated[Optional[float], typer.Option(help="HiGHS time limit per solve, seconds.")] = None,
    gap: Annotated[Optional[float], typer.Option(help="Relative MIP gap [default: 1e-4].")] = None,
) -> None:
    """One plan for every scenario: qualify, build and stock now; ship per scenario (mpi-sppy)."""
    _two_stage(instance, out_dir, fmt, set_, variant,
               {"samples": samples, "seed": sample_seed, "method": method, "iterations": iterations,
                "ranges": [k.strip() for k in ranges.split(",")] if ranges else None},
               {"time_limit": time_limit, **({"rel_gap": gap} if gap is not None else {})},
               {"--samples": "samples", "--sample-seed": "seed", "--method": "method", "--iterations": "iterations",
                "--ranges": "ranges"})


def _two_stage(instance: Path, out_dir: Path | None, fmt: str, set_, variant, plan: dict, solver: dict,
               flags: dict[str, str]) -> None:
    """THE two-stage run of the command line (``two-stage``, and ``solve --two-stage``): check the
    settings (planner.study.spec.TwoStageSpec: the study file's own schema and defaults), load, solve on
    every MPI rank; rank 0 prints and writes."""
    from pydantic import ValidationError

    from planner.errors import validation_message
    from planner.instance.io import files_hash
    from planner.solve.twostage import mpi_rank
    from planner.study.spec import TwoStageSpec

    rank = mpi_rank()
    try:
        try:
            spec = TwoStageSpec(**{k: v for k, v in plan.items() if v is not None})
        except ValidationError as e:
            first = e.errors(include_url=False)[0]
            flag = next((f for f, k in flags.items() if k == first["loc"][0]), str(first["loc"][0]))
            raise InstanceError([Problem(flag, value=str(first["input"]),
                                         expected=validation_message(first, "a documented setting"))]) from None
        job = _prepare(instance, out_dir if rank == 0 else None, fmt, set_=set_, variant=variant, **solver)
        from planner.study.twostage import record, refusal, run_two_stage

        why = refusal(job.inst)
        if why is not None:
            raise InstanceError([Problem(f"{instance}/{why[0]}", expected=why[1])])
        with (err.status(f"solving the two-stage plan ({spec.method}, {spec.samples} scenarios) ...") if rank == 0
              else contextlib.nullcontext()):
            run = run_two_stage(job.inst, spec, job.options)
    except FriendshoreError as exc:
        fail(exc)
    if rank != 0:
        return
    from planner.cli.show import print_two_stage

    print_two_stage(out, job.inst, run)
    if out_dir is not None:
        from planner.results.export import write_outputs

        rec = record(run, job.inst, instance_path=str(instance), files_hash=files_hash(instance),
                     overrides=job.overrides, variant=variant, options=job.options, command=sys.argv)
        try:
            write_outputs(out_dir, run.tables, rec, job.formats)
        except FriendshoreError as exc:
            fail(exc)
        out.print(f"wrote first_stage, scenario_costs ({', '.join(job.formats)}) and run.json to {out_dir}")
    if run.result.status not in ("optimal", "feasible"):
        raise typer.Exit(EXIT_NO_SOLUTION)


@app.command()
def network(
    instance: InstanceArg,
    sourcing: Annotated[str, typer.Option("--sourcing", help="baseline | optimized | RUN_DIR (a solve's --out) | all "
                                                             "(the whole data network).")] = "optimized",
    out_dir: OutOpt = None,
    beta: Annotated[float, typer.Option(help="Deliverable share below which a loss is a single point of failure.")]
    = 0.8,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    fmt: FormatOpt = "csv",
    time_limit: PlanTimeLimitOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Supply network: stages, upstream exposure, single points of failure; GraphML and a drawing (PNG, SVG)."""
    from planner.analysis import network as nw
    from planner.instance.io import files_hash, instance_hash

    try:
        job = _prepare(instance, out_dir, fmt, set_=set_, variant=variant, sourcing=sourcing,
                       time_limit=time_limit, seed=seed)
        with err.status(f"analysing the network of {sourcing} ..."):
            result = nw.run(job.inst, sourcing, beta, job.options)
    except FriendshoreError as exc:
        fail(exc)
    from planner.cli.show import print_network

    print_network(out, job.inst, result)
    if out_dir is not None:
        rec = nw.record(job.inst, result, instance_path=str(instance), files_hash=files_hash(instance),
                        instance_hash=instance_hash(job.inst), overrides=job.overrides,
                        variant=variant)
        nw.write(out_dir, job.inst, result, rec, job.formats)
        out.print(f"wrote {', '.join(result.tables)} ({', '.join(job.formats)}), network.graphml, network.png, "
                  f"network.svg and run.json to {out_dir}")


@app.command()
def trust(
    instance: InstanceArg,
    cutoff: Annotated[Optional[list[str]], typer.Option(
        "--cutoff", help="TIER=VALUE: countries whose percentile (or score) reaches VALUE (0-1) are at least TIER. "
                         "Repeatable; sets a voting rule.")] = None,
    group: Annotated[Optional[list[str]], typer.Option(
        "--group", help="TIER=GROUP: members of GROUP (countries.csv groups, e.g. MSP) are at least TIER. "
                        "Repeatable.")] = None,
    anchors: Annotated[Optional[str], typer.Option(help="Comma-separated anchor countries [default: the importers].")]
    = None,
    measure: Annotated[Optional[str], typer.Option(help="agreement | agreement_half | ideal_point.")] = None,
    from_year: Annotated[Optional[int], typer.Option(help="First year of the vote window [default: 2010].")] = None,
    to_year: Annotated[Optional[int], typer.Option(help="Last year of the vote window [default: 2020].")] = None,
    scale: Annotated[Optional[str], typer.Option(help="percentile | score: what the cut-offs compare with.")] = None,
    others: Annotated[Optional[str], typer.Option(help="Tier of countries meeting no cut-off [default: the last].")]
    = None,
    fallback: Annotated[Optional[str], typer.Option(help="Tier of countries without votes, or 'table' (keep "
                                                         "countries.csv's) [default: table].")] = None,
    out_dir: OutOpt = None,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    fmt: FormatOpt = "csv",
) -> None:
    """Who counts as a friend: trust tiers from UN General Assembly votes and memberships (docs/trust.md)."""
    from planner.analysis import trust as tr
    from planner.instance.io import files_hash, instance_hash

    try:
        rule = _trust_overrides(cutoff or [], group or [], anchors=anchors, measure=measure, from_year=from_year,
                                to_year=to_year, scale=scale, others=others, fallback=fallback)
        # The tiers are shown even where the policy cannot hold under them: that is a finding, said below.
        job = _prepare(instance, out_dir, fmt, set_=(set_ or []) + rule, variant=variant, feasibility=False)
        if job.inst.policy.trust is None or job.inst.policy.trust.source == "table":
            raise InstanceError([Problem("--cutoff", expected="expected a rule: --cutoff TIER=VALUE and/or --group "
                                         "TIER=GROUP, or policy.trust in the instance (docs/trust.md)")])
        with err.status("scoring UN General Assembly votes ..."):
            table = tr.tiers_table(job.inst)
    except FriendshoreError as exc:
        fail(exc)
    from planner.cli.show import print_tiers

    print_tiers(out, job.inst, table)
    from planner.instance.checks import check_feasibility

    for note in list(job.inst.trust.notes) + [
            f"under these tiers the policy cannot hold: {p}" for p in check_feasibility(job.inst, "instance.yaml",
                                                                                        "demand.csv", {})]:
        err.print(f"[bold yellow]warning:[/] {note}", highlight=False)
    if out_dir is not None:
        rec = tr.record(job.inst, instance_path=str(instance), files_hash=files_hash(instance),
                        instance_hash=instance_hash(job.inst), overrides=job.overrides, variant=variant)
        tr.write(out_dir, job.inst, instance, rec, job.formats)
        out.print(f"wrote tiers ({', '.join(job.formats)}), run.json and instance/ (the instance with these tiers) "
                  f"to {out_dir}")


def _trust_overrides(cutoff: list[str], group: list[str], **opts) -> list[str]:
    """The trust command's options as --set overrides of policy.trust (so one applier checks them)."""
    def pairs(values: list[str], option: str) -> dict[str, list[str]]:
        got: dict[str, list[str]] = {}
        for v in values:
            tier, sep, rest = v.partition("=")
            if not sep or not tier.strip() or not rest.strip():
                raise InstanceError([Problem(option, value=v, expected="expected TIER=VALUE, e.g. ally=0.8")])
            got.setdefault(tier.strip(), []).append(rest.strip())
        return got

    sets: list[str] = []
    cuts, groups = pairs(cutoff, "--cutoff"), pairs(group, "--group")
    if cuts:
        sets.append("policy.trust.source=votes")
        sets.append("policy.trust.cutoffs={" + ", ".join(f"{t}: {v[-1]}" for t, v in cuts.items()) + "}")
    elif groups:
        sets.append("policy.trust.source=groups")
    if groups:
        sets.append("policy.trust.groups={" + ", ".join(f"{t}: [{', '.join(g)}]" for t, g in groups.items()) + "}")
    if opts.get("anchors") is not None:
        sets.append("policy.trust.anchors=[" + ", ".join(a.strip() for a in opts.pop("anchors").split(",")) + "]")
    for key, v in opts.items():
        if v is not None:
            sets.append(f"policy.trust.{key}={v}")
    return sets


@app.command()
def baseline(
    instance: Annotated[Path, typer.Argument(help="Instance folder.")],
    from_trade: Annotated[Path, typer.Option("--from-trade", help="Trade data: a CSV of imports by partner, or a "
                                                                  "folder holding imports.csv (BACI layout).")],
    year: Annotated[int, typer.Option("--year", help="Year of the trade data to use, e.g. 2024.")],
    basis: Annotated[Optional[str], typer.Option("--basis", help="Name of the new basis in baseline.csv "
                                                                 "[default: trade-YEAR].")] = None,
    rest_of_world: Annotated[Optional[str], typer.Option(
        "--rest-of-world", help="Country code (in countries.csv, with supply rows) that takes the partners the "
                                "instance does not model. Without it, such partners are an error.")] = None,
    domestic: Annotated[Optional[list[str]], typer.Option(
        "--domestic", help="IMPORTER:ITEM=SHARE: a stated domestic share (default: min(1, domestic capacity / "
                           "demand)). Repeatable.")] = None,
    measure: Annotated[str, typer.Option("--measure", help="value | tonnes: what the import shares weigh.")]
    = "value",
    min_share: Annotated[float, typer.Option(
        "--min-share", help="A country of the instance without a supply row for the item is folded into the rest "
                            "of world below this share of the importer's imports; from it on, it needs a supply row.")]
    = 0.02,
    out_dir: OutOpt = None,
    fmt: FormatOpt = "csv",
) -> None:
    """Today's sourcing from trade data: each importer's import shares by partner (docs/trade-baseline.md)."""
    from planner.analysis import trade as tw
    from planner.instance import tables as tb
    from planner.instance import trade as tr
    from planner.instance.io import files_hash, instance_hash

    basis = basis or f"trade-{year}"
    try:
        if not instance.is_dir():
            raise InstanceError([Problem(str(instance), expected="expected an instance folder (a workbook: convert "
                                                                  "it first with friendshore convert)")])
        tw.check_basis(basis)
        formats = _check_output_options(fmt, None)
        _check_out(out_dir, instance, str(from_trade))
        inst = _load(instance, (), None)
        if inst.periods:
            raise InstanceError([Problem(str(instance), expected="expected a single-period instance (periods.csv "
                                                                  "gives demand per period; not supported yet)")])
        data = tr.read_trade(from_trade)
        raw, _ = tb.read_csv(instance / "items.csv", "items", "items.csv")
        lines = dict(zip(raw.frame["id"], (int(x) for x in raw.lines))) if raw is not None else None
        stated = tr.parse_domestic(domestic or [])
        new = tr.derive(inst, data, year, basis=basis, rest_of_world=rest_of_world,
                        domestic=stated, measure=measure, min_share=min_share,
                        item_lines=lines)
    except FriendshoreError as exc:
        fail(exc)
    from planner.cli.show import print_trade_baseline

    print_trade_baseline(out, new, rest_of_world)
    if new.notes:  # the table lists them; this says what it means
        err.print(f"[bold yellow]note:[/] {len(new.notes)} (importer, item) pair(s) not covered by the data keep "
                  "their baseline rows (status 'kept' above)", highlight=False)
    if out_dir is None:
        out.print("nothing written (give --out DIR for the tables and the instance with this baseline)")
        return
    settings = {"year": year, "basis": basis, "rest_of_world": rest_of_world, "measure": measure, "min_share": min_share,
                "domestic": {f"{i}:{k}": v for (i, k), v in stated.items()}}
    rec = tw.record(inst, instance_path=str(instance), files_hash=files_hash(instance),
                    instance_hash=instance_hash(inst), data_file=data.file,
                    data_hash=data.sha256, settings=settings, new=new)
    try:
        tw.write(out_dir, inst, instance, new, rec, formats, basis=basis, data_file=Path(data.file).name,
                 rest_of_world=rest_of_world)
    except FriendshoreError as exc:
        fail(exc)
    out.print(f"wrote trade_coverage, trade_partners ({', '.join(formats)}), run.json and instance/ (baseline_basis: "
              f"{basis}) to {out_dir}")


@app.command()
def serve(
    path: Annotated[Path, typer.Argument(help="Instance folder or .xlsx workbook to explore, or a finished study "
                                              "folder to browse.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8050,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but 127.0.0.1 lets other machines in.")]
    = "127.0.0.1",
    time_limit: Annotated[float, typer.Option(min=0.1, help="HiGHS time limit per re-solve, seconds.")] = 10.0,
) -> None:
    """Interactive what-if explorer in the browser: move a cap or a subsidy and see the re-solved plan (docs/explorer.md)."""
    from planner.serve.app import create_app

    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this address can use the "
                  "explorer (it has no login); bind to 127.0.0.1 unless you mean it.", highlight=False)
    try:
        application = create_app(path, time_limit=time_limit)
    except FriendshoreError as exc:
        fail(exc)
    import uvicorn

    out.print(f"Friendshore explorer of {path}: open http://{host if ':' not in host else f'[{host}]'}:{port}/ "
              "(Ctrl+C stops it)", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def convert(
    instance: InstanceArg,
    to: Annotated[Path, typer.Option("--to", help="Target: a folder, or a path ending in .xlsx.")],
) -> None:
    """Convert an instance between a folder of CSV files and one .xlsx workbook."""
    from planner.instance.io import load_instance, write_instance

    try:
        inst = load_instance(instance)
    except FriendshoreError as exc:
        fail(exc)
    write_instance(inst, to)
    out.print(f"wrote {to}")


@app.command()
def generate(
    out_path: Annotated[Path, typer.Argument(help="Folder (or .xlsx) to write the instance to.")],
    items: Annotated[int, typer.Option(min=1, help="Number of items.")] = 5,
    countries: Annotated[int, typer.Option(min=3, help="Number of countries.")] = 20,
    importers: Annotated[int, typer.Option(min=1, help="Number of importers.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 0,
    scenarios: Annotated[int, typer.Option(min=0, help="Number of disruption scenarios (0 = none).")] = 0,
    facility_location: Annotated[bool, typer.Option(
        "--facility-location", help="Write a capacitated facility-location instance instead (one item, "
                                    "--sites suppliers, --customers importers; docs/large-instances.md).")] = False,
    sites: Annotated[int, typer.Option(min=1, help="Facility location: candidate sites.")] = 100,
    customers: Annotated[int, typer.Option(min=1, help="Facility location: demand points.")] = 1000,
    capacity_ratio: Annotated[float, typer.Option(min=1.0, help="Facility location: total capacity / total "
                                                                "demand.")] = 10.0,
    fixed_cost_scale: Annotated[float, typer.Option(min=0.0, help="Facility location: multiplier of the "
                                                                  "sites' fixed costs.")] = 1.0,
) -> None:
    """Write a synthetic instance of any size with realistic structure."""
    from planner.instance.generate import write_generated

    if facility_location:
        from planner.instance.generate import facility_location as make
        from planner.instance.io import write_instance

        write_instance(make(sites, customers, seed=seed, capacity_ratio=capacity_ratio,
                            fixed_cost_scale=fixed_cost_scale), out_path)
        out.print(f"wrote {out_path}")
        return
    if importers > countries:
        fail(InstanceError([Problem("--importers", value=str(importers), expected=f"expected at most --countries ({countries})")]))
    write_generated(out_path, items=items, countries=countries, importers=importers, seed=seed, scenarios=scenarios)
    out.print(f"wrote {out_path}")


@app.command()
def study(
    study_file: Annotated[Path, typer.Argument(help="Study file (YAML); see docs/studies.md.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder: table, plots, one folder per run.")],
    workers: Annotated[Optional[int], typer.Option(min=1, help="Local worker processes (default: all cores; 1 = this process).")] = None,
    scheduler: Annotated[Optional[str], typer.Option(help="Address of a running Dask scheduler, e.g. tcp://host:8786. It must be a cluster you trust: Dask exchanges pickled objects without authentication.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a study in --out: finished runs are kept, not re-run.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build a fresh model for every run (no persistent re-solve).")] = False,
) -> None:
    """Run a parameter study: scenarios, grid sweeps and Pareto frontiers, stored run by run."""
    from planner.cli.show import cli_study

    try:
        cli_study(study_file, out_dir, workers=workers, scheduler=scheduler, resume=resume, rebuild=rebuild,
                  out=out, err=err)
    except FriendshoreError as exc:
        fail(exc)


def _exit_outside_app(exc: FriendshoreError) -> None:
    """fail() for errors that escaped the typer app: print, then exit with the error's code."""
    try:
        fail(exc)
    except typer.Exit as e:
        sys.exit(e.exit_code)


def main() -> None:
    # Pyomo is 100x slower with the root logger at DEBUG; keep logging quiet.
    logging.basicConfig(level=logging.WARNING)
    try:
        app()
    except FriendshoreError as exc:
        _exit_outside_app(exc)
    except KeyboardInterrupt:
        err.print("interrupted; nothing half-written was left behind")
        sys.exit(130)
    except OSError as exc:
        # Reading or writing a path the user named failed (no such folder, no permission, disk full):
        # a problem with the given paths, not a bug.  Writes are atomic, so nothing half-written is left.
        where = exc.filename or "a file"
        _exit_outside_app(InstanceError([Problem(str(where), expected=f"{exc.strerror or exc}; expected a path that "
                                                 "can be read or written (check the folder exists and is writable)")]))
    except Exception as exc:  # noqa: BLE001 - last resort: a bug, shown briefly
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", highlight=False)
        err.print("This is a bug in Friendshore. Re-run with FRIENDSHORE_DEBUG=1 for a traceback.")
        if os.environ.get("FRIENDSHORE_DEBUG"):
            raise
        sys.exit(EXIT_INTERNAL)


__all__ = ["app", "main", "EXIT_BAD_INPUT", "EXIT_NO_SOLUTION"]
