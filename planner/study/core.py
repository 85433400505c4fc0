"""Parameter studies: named scenarios, grid sweeps and Pareto frontiers over one base instance.

The study file's schema is :mod:`planner.study.spec`, its plan (reading, checking, expansion into
runs) :mod:`planner.study.plan`; this module stores runs and executes them.

A study file (YAML, :class:`StudySpec`, documented in docs/studies.md) names a
base instance and the runs to make on it.  :func:`load_study` reads and checks
it, loads the base and expands the runs, each with a deterministic id;
:func:`run_study` runs them (in this process, or on Dask: a LocalCluster or a
given scheduler), stores each run as it finishes (a one-row Parquet record and
a run folder, both written atomically), skips finished runs on ``resume``, and
ends with the study table, the frontiers with their knees, and the plots.

Public API here: :class:`StudyReport`, :func:`run_study`, :func:`read_table`; the plan's
:func:`planner.study.plan.load_study` gives the :class:`planner.study.plan.Study` to run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from planner.files import atomic_file, clean_stale, write_json
from planner.errors import InstanceError, Problem
from planner.instance.schema import Instance
from planner.study.plan import Study
from planner.study.execute import RunOutcome, RunTask, execute_run, reset_worker_state

ProgressBar = Callable[[int, int], contextlib.AbstractContextManager[Callable[[int], None]]]
"""(runs to do, runs done before) -> a context manager yielding advance(failed so far)."""
STUDY_SCHEMA = 1
RUNS = "runs"
"""Sub-folder of a study's output: ``<run_id>.parquet`` (the run's row) and ``<run_id>/`` (its tables)."""


# --------------------------------------------------------------------------- storage
@dataclass
class StudyReport:
    """What a study run did and where its results are."""

    out: Path
    planned: int
    resumed: int
    """Runs found finished in the output folder and not run again."""
    ran: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    """run_id, status, reason of every failed run in the plan."""
    knees: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    wall_s: float = 0.0
    table: pd.DataFrame | None = None


def _jsonable(v: Any) -> Any:
    """A parameter value as a table cell: scalars as they are, anything else as JSON text."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, sort_keys=True, default=str)


def _write_row(path: Path, row: dict[str, Any]) -> None:
    frame = pd.DataFrame([{k: _jsonable(v) for k, v in row.items()}])
    atomic_file(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _records(out: Path) -> dict[str, Path]:
    folder = out / RUNS
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.glob("*.parquet") if not p.name.startswith(".")}


def _clean_stale(out: Path) -> None:
    """Remove what a killed study left half-written (staged files and folders, by planner.files' names)."""
    for folder in (out, out / RUNS):
        clean_stale(folder)

@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """One study at a time per output folder (released by the OS if the process dies)."""
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / ".lock", "a+")
    try:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no fcntl (Windows): no lock
            pass
        except OSError:
            raise InstanceError([Problem("--out", value=str(out), expected="another study is writing to this folder; expected a folder no running study uses")]) from None
        yield
    finally:
        fh.close()


def read_table(out: str | os.PathLike, study: Study | None = None) -> pd.DataFrame:
    """The study table from the per-run records in ``out`` (only the plan's runs when ``study`` is given)."""
    recs = _records(Path(out))
    if study is not None:
        order = [r.run_id for r in study.runs if r.run_id in recs]
    else:
        order = sorted(recs)
    if not order:
        return pd.DataFrame(columns=["run_id", "kind", "group", "index", "status"])
    # Rows as records: runs have different columns (parameters, KPIs of failed runs), which concat handles badly.
    table = pd.DataFrame([pd.read_parquet(recs[i]).iloc[0].to_dict() for i in order])
    lead = ["run_id", "kind", "group", "scenario", "index"]
    if study is not None:
        lead += [k for k in study.param_keys if k in table.columns]
    lead += [c for c in ("level", "measure", "measure_value", "status", "reason", "proven_optimal", "objective",
                         "bound", "gap") if c in table.columns]
    lead = [c for c in dict.fromkeys(lead) if c in table.columns]
    return table[lead + [c for c in table.columns if c not in lead]]


# --------------------------------------------------------------------------- execution
def _run_serial(tasks: list[RunTask], base: Instance, on_done: Callable[[RunTask, RunOutcome], None]) -> None:
    reset_worker_state()
    try:
        for t in tasks:
            on_done(t, execute_run(t, base))
    finally:
        reset_worker_state()


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask logs every scheduler event at INFO (its loggers carry their own levels); the progress bar says what matters."""
    import logging

    import distributed  # noqa: F401  (importing it configures its loggers; silence them after)

    names = ["distributed"] + [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lv in levels.items():
            logging.getLogger(n).setLevel(lv)


def _connect(scheduler: str):
    """A client of the Dask cluster at ``scheduler``; a bad address is bad input (exit 2, nothing written)."""
    from distributed import Client

    _probe(scheduler)
    try:
        with _quiet_dask():
            return Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as e:
        raise InstanceError([Problem("--scheduler", value=scheduler, expected=f"no Dask scheduler answered ({e}); "
                                     "expected the address of a running scheduler, e.g. tcp://host:8786")]) from None


def _probe(scheduler: str) -> None:
    """Fail fast on a TCP address nobody listens on: Dask's client would retry for its whole
    timeout (20 s) before saying so. Other schemes (tls://, ucx://) go straight to Dask."""
    import socket

    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, loc = parse_address(scheduler)
        if scheme != "tcp":
            return
        host, port = parse_host_port(loc, default_port=8786)
    except (ValueError, TypeError) as e:
        raise InstanceError([Problem("--scheduler", value=scheduler, expected=f"a scheduler address ({e}), "
                                     "e.g. tcp://host:8786")]) from None
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as e:
        why = "connection refused" if isinstance(e, ConnectionRefusedError) else (str(e) or type(e).__name__)
        raise InstanceError([Problem("--scheduler", value=scheduler,
                                     expected=f"no Dask scheduler answered ({why}); expected the address of a "
                                              "running scheduler, e.g. tcp://host:8786")]) from None


def _run_dask(tasks: list[RunTask], base: Instance, on_done: Callable[[RunTask, RunOutcome], None], *,
              workers: int, client, processes: bool) -> None:
    with _quiet_dask():
        _dask_session(tasks, base, on_done, workers=workers, client=client, processes=processes)


def _dask_session(tasks, base, on_done, *, workers: int, client, processes: bool) -> None:
    import logging

    from distributed import Client, LocalCluster, as_completed

    cluster = own = None
    if client is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               # ':0': a free port; the default 8787 warns when another cluster holds it
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = own = Client(cluster)
    try:
        [base_f] = client.scatter([base], broadcast=True)
        futures = {client.submit(execute_run, t, base_f, key=f"friendshore-run-{t.run_id}", pure=False): t for t in tasks}
        for fut in as_completed(list(futures)):
            t = futures.pop(fut)
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker fails this run, not the study
                outcome = RunOutcome(t.run_id, {"run_id": t.run_id, "status": "error",
                                                "reason": f"{type(exc).__name__}: {exc}"})
            fut.release()
            on_done(t, outcome)
    finally:
        if own is not None:  # a client of --scheduler is closed by run_study
            own.close()
        if cluster is not None:
            cluster.close()


def _plan_json(study: Study) -> dict[str, Any]:
    return {
        "schema": STUDY_SCHEMA,
        "name": study.spec.name,
        "file": str(study.path),
        "study_sha256": study.study_hash,
        "base": str(study.base_path),
        "base_files_sha256": study.files_hash,
        "spec": study.spec.model_dump(mode="json"),
        "runs": [{"run_id": r.run_id, "kind": r.kind, "group": r.group, "index": r.index, "params": r.params}
                 for r in study.runs],
    }


def run_study(
    study: Study,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    persistent: bool = True,
    processes: bool = True,
    progress: ProgressBar | bool | None = None,
    tables: bool = True,
    plots: bool = True,
    command: tuple[str, ...] | None = None,
) -> StudyReport:
    """Run every planned run not finished yet, storing each as it ends; then write the table and plots.

    ``workers`` local processes (default: all cores; 1 runs in this process) or
    the Dask cluster at ``scheduler``.  ``persistent=False`` builds a fresh model
    for every run (for checking and benchmarks).  ``processes=False`` makes the
    local Dask cluster use threads (tests).  ``tables=False`` keeps only each
    run's row (no run folders). ``progress(total, resumed)`` is a context manager yielding
    ``advance(failed)``, called as each run ends (the CLI passes its progress bar; default none).
    """
    t0 = time.time()
    out = Path(out)
    progress = progress if callable(progress) else _no_progress
    if not resume and _records(out):
        raise InstanceError([Problem("--out", value=str(out), expected="holds results of a study already; expected "
                                     "--resume to continue it, or a new folder")])
    command = tuple(sys.argv) if command is None else command
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    client = _connect(scheduler) if scheduler else None  # before anything is written
    try:
        return _run(study, out, client=client, n_workers=n_workers, resume=resume, persistent=persistent,
                    processes=processes, progress=progress, tables=tables, plots=plots,
                    command=command, started=t0)
    finally:
        if client is not None:
            client.close()


def _run(study: Study, out: Path, *, client, n_workers: int, resume: bool, persistent: bool, processes: bool,
         progress: ProgressBar, tables: bool, plots: bool, command: tuple[str, ...], started: float) -> StudyReport:
    with _lock(out):
        _clean_stale(out)
        (out / RUNS).mkdir(parents=True, exist_ok=True)
        done = {}
        for rid, p in _records(out).items():
            with contextlib.suppress(Exception):  # an unreadable record is simply run again
                done[rid] = str(pd.read_parquet(p, columns=["status"])["status"].iloc[0])
        plan_ids = {r.run_id for r in study.runs}
        # A run that crashed (status error) is run again; infeasible and other failures stand.
        finished = {rid for rid, st in done.items() if rid in plan_ids and st != "error"}

        write_json(out / "study.json", {**_plan_json(study), "status": "running"})
        todo = [r for r in study.runs if r.run_id not in finished]
        by_id = {r.run_id: r for r in study.runs}
        plan = _central_plan(study) if any(r.kind == "sample" for r in todo) else None
        tasks = [study.task(r, persistent=persistent, tables=tables, command=command,
                            plan=plan if r.kind == "sample" else None) for r in todo]
        counts = {"done": 0, "failed": 0}

        with progress(len(tasks), len(finished)) as advance:
            def on_done(task: RunTask, outcome: RunOutcome) -> None:
                run = by_id[task.run_id]
                row = {"run_id": run.run_id, "kind": run.kind, "group": run.group, "scenario": run.scenario,
                       "index": run.index, **run.params, "level": run.level,
                       "measure": run.measure.label if run.measure else None, **outcome.row}
                row["run_id"] = run.run_id
                if outcome.tables is not None and outcome.record is not None:
                    from planner.results.export import write_outputs

                    write_outputs(out / RUNS / run.run_id, outcome.tables, outcome.record, study.spec.formats)
                _write_row(out / RUNS / f"{run.run_id}.parquet", row)
                counts["done"] += 1
                counts["failed"] += 0 if outcome.ok else 1
                advance(counts["failed"])

            if tasks:
                if client is None and n_workers <= 1 and processes:
                    _run_serial(tasks, study.base, on_done)
                else:
                    _run_dask(tasks, study.base, on_done, workers=max(n_workers, 1), client=client,
                              processes=processes)
        return _finish(study, out, resumed=len(finished), ran=len(tasks), started=started, plots=plots)


@contextlib.contextmanager
def _no_progress(total: int, resumed: int) -> Iterator[Callable[[int], None]]:
    yield lambda failed: None


def _finish(study: Study, out: Path, *, resumed: int, ran: int, started: float, plots: bool) -> StudyReport:
    from planner.study.frontier import frontier_table, write_plots

    table = read_table(out, study)
    atomic_file(out / "results.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    atomic_file(out / "results.csv", lambda tmp: table.to_csv(tmp, index=False, float_format="%.10g", lineterminator="\n"))
    files = [out / "results.parquet", out / "results.csv"]
    fronts = frontier_table(table, study)
    if len(fronts):
        atomic_file(out / "frontiers.csv", lambda tmp: fronts.to_csv(tmp, index=False, float_format="%.10g", lineterminator="\n"))
        files.append(out / "frontiers.csv")
    if len(fronts):
        steps = frontier_diffs(out, fronts)
        if len(steps):
            atomic_file(out / "frontier_diffs.csv",
                        lambda tmp: steps.to_csv(tmp, index=False, float_format="%.10g", lineterminator="\n"))
            files.append(out / "frontier_diffs.csv")
    sens = None
    if study.spec.uncertainty is not None and len(table):
        from planner.study import uncertainty as unc

        tables = [("uncertainty", unc.summary(table)), ("uncertainty_choices", unc.choices(out, table))]
        if study.spec.uncertainty.method == "saltelli":
            sens = unc.sensitivity(unc.sampled(study), table, study.spec.uncertainty.seed)
            tables.append(("sensitivity", sens))
        for name, df in tables:
            atomic_file(out / f"{name}.csv",
                        lambda tmp, df=df: df.to_csv(tmp, index=False, float_format="%.10g", lineterminator="\n"))
            files.append(out / f"{name}.csv")
    if plots and len(table):
        files += write_plots(table, fronts, study, out / "plots")  # replaces plots/: the samples' plots go after
        from planner.study import friends

        files += friends.plot(table, out / "plots")  # runs with different trust tiers (policy.trust)
        if study.spec.uncertainty is not None:
            from planner.study import uncertainty as unc

            files += unc.plot(table, out / "plots")
            if sens is not None and len(sens):
                files += unc.tornado(sens, out / "plots")
    ok = table["status"].isin(["optimal", "feasible"]) if len(table) else pd.Series(dtype=bool)
    failed = [{"run_id": r.run_id, "status": r.status, "reason": r.reason if isinstance(r.reason, str) else ""}
              for r in table[~ok].itertuples()] if len(table) else []
    knees = []
    if len(fronts):
        for r in fronts[fronts["knee"]].itertuples():
            knees.append({"frontier": r.frontier, "run_id": r.run_id, "level": r.level, "measure_value": r.measure_value,
                          "total_cost": r.total_cost, "distance": r.knee_distance})
    missing = sorted({r.run_id for r in study.runs} - set(table["run_id"]))
    report = StudyReport(out, len(study.runs), resumed, ran, failed, knees, files, time.time() - started, table)
    write_json(out / "study.json", {**_plan_json(study), "status": "complete" if not missing else "incomplete",
                                     "missing": missing, "resumed": resumed, "ran": ran, "failed": failed,
                                     "knees": knees, "wall_s": report.wall_s})
    return report


def _central_plan(study: Study) -> dict | None:
    """The plan chosen at the central values (the base, with the samples' multipliers), whose
    decisions every sample run evaluates (a multi-period plan: when each option is built, and each
    period's qualifications and stocks); None if it has no solution."""
    from planner.analysis.evaluate import central_plan
    from planner.study.execute import derive_instance

    first = next(r for r in study.runs if r.kind == "sample")
    inst = derive_instance(study.base, {}, study.scales(first.factors))
    _, plan = central_plan(inst, study.options)
    return plan


def frontier_diffs(out: Path, fronts: pd.DataFrame) -> pd.DataFrame:
    """What changed between consecutive solved levels of each frontier (``friendshore diff`` of their
    run folders), loosest level first: which builds, suppliers and costs made the plan change shape."""
    from planner.report.diff import diff_runs
    from planner.report.reader import read_folder
    from planner.results.schema import columns

    parts = []
    folders: dict = {}  # each run folder is read once, though most end one step and start the next

    def read(run_id: str):
        if run_id not in folders:
            folders[run_id] = read_folder(out / "runs" / run_id)
        return folders[run_id]

    for name, f in fronts.groupby("frontier", sort=False):
        f = f[f["status"].isin(["optimal", "feasible"])].sort_values("level", ascending=False)
        runs = [(r.run_id, r.level) for r in f.itertuples() if (out / "runs" / r.run_id).is_dir()]
        for (a, la), (b, lb) in zip(runs, runs[1:]):
            d = diff_runs(read(a), read(b))
            d = d[d["table"].isin(["investments", "suppliers", "costs"])]
            parts.append(d.assign(frontier=name, from_run=a, to_run=b, from_level=la, to_level=lb))
    cols = columns("frontier_diffs")
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


# --------------------------------------------------------------------------- command line
