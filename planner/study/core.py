"""Parameter studies: named scenarios, grid sweeps and Pareto frontiers over one base instance.

A study file (YAML, :class:`StudySpec`, documented in docs/studies.md) names a
base instance and the runs to make on it.  :func:`load_study` reads and checks
it, loads the base and expands the runs, each with a deterministic id;
:func:`run_study` runs them (in this process, or on Dask: a LocalCluster or a
given scheduler), stores each run as it finishes (a one-row Parquet record and
a run folder, both written atomically), skips finished runs on ``resume``, and
ends with the study table, the frontiers with their knees, and the plots.

Public API: :class:`StudySpec`, :class:`Study`, :class:`Run`, :class:`StudyReport`,
:data:`MEASURES`, :func:`load_study`, :func:`run_study`, :func:`read_table`.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.files import atomic_file, clean_stale, write_json
from planner.errors import InstanceError, Problem
from planner.instance import safe_yaml
from planner.instance.io import yaml_lines, yaml_repeats
from planner.instance.schema import TABLES, Instance
from planner.solve.highs import HighsOptions, RelGap, Seed, SolveOptions, Threads, TimeLimit
from planner.study.measures import MEASURES, Measure  # noqa: F401  (Measure: API)
from planner.study.execute import FILTER_COLUMNS, SCALABLE_TABLES, RunOutcome, RunTask, Scale, execute_run, reset_worker_state

ProgressBar = Callable[[int, int], contextlib.AbstractContextManager[Callable[[int], None]]]
"""(runs to do, runs done before) -> a context manager yielding advance(failed so far)."""
STUDY_SCHEMA = 1
RUNS = "runs"
"""Sub-folder of a study's output: ``<run_id>.parquet`` (the run's row) and ``<run_id>/`` (its tables)."""
NAME = re.compile(r"^[A-Za-z0-9_-]+$")
MULTIPLIER_KEY = "multiplier."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# --------------------------------------------------------------------------- study file schema
class Range(_Strict):
    """Evenly spaced values from start to stop inclusive (like numpy.linspace)."""

    start: float
    """First value."""
    stop: float
    """Last value (included)."""
    num: int = Field(ge=1, le=10_000)
    """Number of values (1 gives start alone)."""

    def values(self) -> list[float]:
        if self.num == 1:
            return [self.start]
        step = (self.stop - self.start) / (self.num - 1)
        # 12 significant digits: 0.1 + 2 * 0.1 is 0.3, not 0.30000000000000004, in ids and tables.
        return [float(f"{self.start + n * step:.12g}") for n in range(self.num)]


Values = list[Any] | Range


class MultiplierSpec(_Strict):
    """Scale a numeric column of the matching rows, after the overrides, by a factor."""

    column: str
    """Table and column as '<table>.<column>', e.g. supply.unit_cost, lanes.tariff_rate, demand.quantity."""
    item: str | list[str] | None = None
    """Only rows of these items (lanes: rows written for the item, not '*' rows)."""
    country: str | list[str] | None = None
    """Only rows of these supplier countries (supply.country, lanes.origin, investments.country, programmes.funding_country)."""
    importer: str | list[str] | None = None
    """Only rows of these importers (demand, lanes)."""
    tier: str | list[str] | None = None
    """Only rows whose supplier country is in these tiers (supply, lanes, investments)."""
    option: str | list[str] | None = None
    """Only these investment options."""
    programme: str | list[str] | None = None
    """Only these programmes."""
    factor: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    """Default factor, dimensionless; a run sets its own with the key multiplier.<name>."""


class SolverSpec(_Strict):
    """Solver settings of every run."""

    time_limit: TimeLimit | None = 60.0
    """HiGHS wall-clock limit per solve, seconds (null = none).  A run stopped without a solution is recorded as failed."""
    rel_gap: RelGap = 1e-4
    """Relative MIP gap counted as optimal, in [0, 1)."""
    threads: Threads = 1
    """HiGHS threads per run (its MIP search is single-threaded; studies run several solves at once)."""
    seed: Seed = 0
    """HiGHS random seed, in [0, 2147483647]."""
    options: HighsOptions = {}
    """Further HiGHS options by name (e.g. mip_heuristic_effort: 0.1), from an allowed list with typed values
    (planner.solve.highs.HIGHS_OPTIONS); options that write files are refused."""


class GridSpec(_Strict):
    """A sweep over the cartesian product of its axes."""

    scenario: str | None = None
    """Scenario whose values every point starts from (default: the base)."""
    axes: dict[str, Values] = Field(min_length=1)
    """Key -> list of values, or {start, stop, num}.  Keys as in overrides, or multiplier.<name>; the first axis varies slowest."""


class MeasureSpec(_Strict):
    """A security measure traded against cost on a frontier."""

    kind: str
    """tier_share | group_share | country_share (see MEASURES)."""
    of: str | None = None
    """The tier (tier_share) or group (group_share) measured."""


class FrontierSpec(_Strict):
    """An epsilon-constraint Pareto frontier: least cost with the measure capped at each level."""

    scenario: str | None = None
    """Scenario the frontier starts from (default: the base)."""
    measure: MeasureSpec
    """What is capped (for every item and importer) and reported."""
    levels: Values
    """Caps of the measure, fractions: a list, or {start, stop, num}."""


class StudySpec(_Strict):
    """The contents of a study file."""

    name: str
    """Study name."""
    description: str = ""
    """What the study asks."""
    base: str
    """Base instance (folder or .xlsx), relative to the study file."""
    variant: str | None = None
    """A variant of the base instance applied to every run."""
    set: dict[str, Any] = {}
    """Overrides applied to every run (key -> value, as in friendshore solve --set)."""
    multipliers: dict[str, MultiplierSpec] = {}
    """Named multipliers; runs set their factor with multiplier.<name>."""
    solver: SolverSpec = SolverSpec()
    """Solver settings of every run."""
    compare: bool = True
    """Also solve each run's cost-only optimum (premium vs cost-only; cached across runs that share it)."""
    formats: list[Literal["csv", "xlsx", "parquet", "json"]] = Field(default=["csv"], min_length=1)
    """Formats of each run folder's tables."""
    scenarios: dict[str, dict[str, Any]] = {}
    """Named runs: name -> {key: value}."""
    grids: dict[str, GridSpec] = {}
    """Named grid sweeps."""
    frontiers: dict[str, FrontierSpec] = {}
    """Named Pareto frontiers."""


"""Measure kind -> class.  A frontier's measure.kind must be one of these."""


# --------------------------------------------------------------------------- the expanded study
@dataclass(frozen=True)
class Run:
    """One planned run."""

    run_id: str
    kind: Literal["scenario", "grid", "frontier"]
    group: str
    """Scenario, grid or frontier name."""
    index: int
    """Position within its group (grid: row-major over the axes; frontier: by level)."""
    scenario: str | None
    delta: dict[str, Any]
    """Overrides on the study's common base (base + variant + set)."""
    params: dict[str, Any]
    """The values that vary across runs (scenario values, axis values, frontier caps, multiplier factors)."""
    factors: dict[str, float]
    """Multiplier name -> factor."""
    level: float | None = None
    measure: Measure | None = None


@dataclass
class Study:
    """A checked study: its spec, the loaded base and the planned runs."""

    path: Path
    spec: StudySpec
    base_path: Path
    base: Instance
    """The base instance with the study's variant and common overrides applied."""
    files_hash: str
    runs: list[Run]
    study_hash: str

    @property
    def options(self) -> SolveOptions:
        s = self.spec.solver
        return SolveOptions(time_limit=s.time_limit, rel_gap=s.rel_gap, threads=s.threads, seed=s.seed,
                            solver_options=dict(s.options))

    def scales(self, factors: dict[str, float]) -> tuple[Scale, ...]:
        return _scales(self.spec, factors)

    def task(self, run: Run, persistent: bool = True, tables: bool = True, command: tuple[str, ...] = ()) -> RunTask:
        return RunTask(
            run_id=run.run_id, delta=dict(run.delta), overrides={**self.spec.set, **run.delta},
            scales=self.scales(run.factors), options=self.options, persistent=persistent, compare=self.spec.compare,
            tables=tables, measure=run.measure, base_path=str(self.base_path), files_hash=self.files_hash,
            variant=self.spec.variant, command=command,
            study={"name": self.spec.name, "file": str(self.path), "kind": run.kind, "group": run.group,
                   "index": run.index, "params": run.params},
        )

    @property
    def param_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for r in self.runs:
            keys.update(dict.fromkeys(r.params))
        return list(keys)


def _scales(spec: StudySpec, factors: dict[str, float]) -> tuple[Scale, ...]:
    """Every declared multiplier, at the run's factor or its default."""
    out = []
    for name, m in spec.multipliers.items():
        table, column = m.column.split(".", 1)
        filters = tuple((f, tuple(_as_list(getattr(m, f)))) for f in FILTER_COLUMNS if getattr(m, f) is not None)
        out.append(Scale(name, table, column, filters, factors.get(name, m.factor)))
    return tuple(out)


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


# --------------------------------------------------------------------------- reading a study file
class _Checker:
    """Collects problems of one study file, each with the line of its key."""

    def __init__(self, file: str, lines: dict[str, int]):
        self.file, self.lines, self.problems = file, lines, []

    def add(self, key: str, value: Any, expected: str) -> None:
        row = None
        parts = key.split(".")
        for n in range(len(parts), 0, -1):  # the line of the longest written prefix
            row = self.lines.get(".".join(parts[:n]))
            if row is not None:
                break
        shown = None if value is None else (value if isinstance(value, str) else json.dumps(value, default=str))
        self.problems.append(Problem(self.file, row, key, None if shown is None else shown[:120], expected))

    def raise_if_any(self) -> None:
        if self.problems:
            raise InstanceError(sorted(self.problems, key=lambda p: (p.file != self.file, p.row or 0)))


def _parse(path: Path, file: str) -> tuple[StudySpec, dict[str, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InstanceError([Problem(file, expected=f"cannot read the study file ({e}); expected a UTF-8 YAML file")]) from None
    data, node = safe_yaml.load(text, file)
    lines = yaml_lines(node)
    if not isinstance(data, dict):
        raise InstanceError([Problem(file, 1, expected="not a mapping; expected keys name:, base: and runs (scenarios:, grids:, frontiers:)")])
    # YAML keeps the last of two equal keys without a word: a repeated key would win silently.
    repeats = [Problem(file, line, key, value, f"repeated key; expected each key once (it is also on line {first})")
               for key, line, value, first in yaml_repeats(node)]
    if repeats:
        raise InstanceError(repeats)
    chk = _Checker(file, lines)
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as e:
        for err in e.errors(include_url=False):
            loc = [str(x) for x in err["loc"]]
            # A value list | Range: report only the branch the value was meant for.
            if ("list[any]" in loc and isinstance(err["input"], dict)) or ("Range" in loc and isinstance(err["input"], list)):
                continue
            # Union members (list | Range) add their type name to the location; drop it.
            loc = [p for p in loc if p not in ("list[any]", "Range")]
            value = None if err["type"] == "missing" or isinstance(err["input"], dict) else err["input"]
            chk.add(".".join(loc), value, _message(err))
        chk.raise_if_any()
    return spec, lines


def _message(err: dict) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key; expected one of the keys documented in docs/studies.md"
    if err["type"] == "missing":
        return f"missing key '{err['loc'][-1]}'; expected a value for it"
    msg = err["msg"]
    if msg.startswith("Input should be "):
        return f"invalid value; expected {msg.removeprefix('Input should be ')}"
    return f"invalid value ({msg}); expected a value of the right kind"


def _split_params(chk: _Checker, at: str, params: dict[str, Any], known: dict[str, MultiplierSpec]
                  ) -> tuple[dict[str, Any], dict[str, float]]:
    """(overrides, multiplier factors) of a parameter mapping; bad multiplier keys are problems."""
    over, factors = {}, {}
    for k, v in params.items():
        k = str(k)
        if k.startswith(MULTIPLIER_KEY):
            name = k[len(MULTIPLIER_KEY):]
            if name not in known:
                chk.add(f"{at}.{k}", v, f"unknown multiplier; expected one of: {', '.join(known) or '(none declared under multipliers:)'}")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                chk.add(f"{at}.{k}", v, "invalid factor; expected a number >= 0")
            else:
                factors[name] = float(v)
        else:
            over[k] = v
    return over, factors


def _check_multipliers(chk: _Checker, spec: StudySpec, base: Instance) -> None:
    for name, m in spec.multipliers.items():
        at = f"multipliers.{name}"
        if not NAME.fullmatch(name):
            chk.add(at, name, "bad name; expected letters, digits, '_' or '-'")
        table, _, column = m.column.partition(".")
        if table not in SCALABLE_TABLES:
            chk.add(f"{at}.column", m.column, f"unknown table; expected '<table>.<column>' with a table among: {', '.join(SCALABLE_TABLES)}")
            continue
        cls = TABLES[table]
        numeric = [c for c, f in cls.model_fields.items() if c not in cls.key and _is_number(f.annotation)]
        if column not in numeric:
            chk.add(f"{at}.column", m.column, f"not a numeric column of {table}; expected one of: {', '.join(numeric)}")
        for f in FILTER_COLUMNS:
            if getattr(m, f) is not None and table not in FILTER_COLUMNS[f]:
                chk.add(f"{at}.{f}", getattr(m, f), f"filter '{f}' does not apply to {table}; expected it on: {', '.join(FILTER_COLUMNS[f])}")
        known = {"item": {i.id for i in base.items}, "country": {c.code for c in base.countries},
                 "importer": {c.code for c in base.countries}, "tier": set(base.meta.tiers),
                 "option": {o.option for o in base.investments}, "programme": {p.id for p in base.programmes}}
        for f, ids in known.items():
            for v in _as_list(getattr(m, f)) if getattr(m, f) is not None else []:
                if v not in ids:
                    chk.add(f"{at}.{f}", v, f"unknown {f}; expected one of: {', '.join(sorted(ids)) or '(none)'}")


def _is_number(ann: Any) -> bool:
    from typing import Union, get_args, get_origin
    import types

    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        ann = args[0] if len(args) == 1 else None
    return ann in (float, int)


def load_study(path: str | os.PathLike) -> Study:
    """Read and check a study file, load its base, expand and check every run.

    Raises :class:`InstanceError` listing every problem (file, line, key, value,
    expected).  Every distinct override value is checked with the instance reader
    on the base (with shortage allowed, so a policy that only turns out infeasible
    is a failed run later, not a bad study file).
    """
    from planner.instance.io import apply_overrides, files_hash, load_instance

    path = Path(path)
    file = str(path)
    spec, lines = _parse(path, file)
    chk = _Checker(file, lines)
    for kind in ("scenarios", "grids", "frontiers"):
        for name in getattr(spec, kind):
            if not NAME.fullmatch(name):
                chk.add(f"{kind}.{name}", name, "bad name; expected letters, digits, '_' or '-' (it names files)")
    for kind in ("grids", "frontiers"):
        for name, g in getattr(spec, kind).items():
            if g.scenario is not None and g.scenario not in spec.scenarios:
                chk.add(f"{kind}.{name}.scenario", g.scenario, f"unknown scenario; expected one of: {', '.join(spec.scenarios) or '(none)'}")
    if not (spec.scenarios or spec.grids or spec.frontiers):
        chk.add("scenarios", None, "no runs; expected at least one of scenarios:, grids:, frontiers:")
    base_path = (path.parent / spec.base).resolve() if not Path(spec.base).is_absolute() else Path(spec.base)
    if not base_path.exists():
        chk.add("base", spec.base, f"no instance at {base_path}; expected a folder or .xlsx relative to the study file")
        chk.raise_if_any()

    common, common_factors = _split_params(chk, "set", spec.set, spec.multipliers)
    try:
        base = load_instance(base_path, overrides=common, variant=spec.variant)
    except InstanceError as e:
        where = base_path if base_path.is_dir() else base_path.parent
        for p in e.problems:
            if p.file == "--set":
                chk.add(f"set.{p.column}", p.value, p.expected)
            elif p.file == "--variant":
                chk.add("variant", spec.variant, p.expected)
            else:
                chk.problems.append(Problem(str(where / p.file), p.row, p.column, p.value, p.expected))
        chk.raise_if_any()
    _check_multipliers(chk, spec, base)
    if any(p.column and p.column.startswith("multipliers.") for p in chk.problems):
        chk.raise_if_any()  # factors cannot be checked against a broken definition

    probe = base.with_policy(base.policy.model_copy(update={"allow_shortage": True}))
    seen: dict[str, Instance | None] = {}

    def check_value(at: str, over: dict[str, Any], on: Instance = probe, where: str = "") -> Instance | None:
        """The probe with ``over`` applied (checked once per distinct mapping), or None with problems at ``at``."""
        if "policy.allow_shortage" in over and not isinstance(over["policy.allow_shortage"], bool):
            chk.add(f"{at}.policy.allow_shortage", over["policy.allow_shortage"], "invalid value; expected true or false")
        over = {k: v for k, v in over.items() if k != "policy.allow_shortage"}  # the probe owns it
        sig = json.dumps(sorted(over.items(), key=str), default=str) + str(id(on))
        if sig in seen:
            return seen[sig]
        seen[sig] = None
        try:
            seen[sig] = apply_overrides(on, over)
            return seen[sig]
        except InstanceError as e:
            for p in e.problems:
                if p.file == "--set":
                    key = max((k for k in over if p.column == k or p.column.startswith(k + ".")), key=len, default=p.column)
                    chk.add(f"{at}.{p.column}", over.get(key), p.expected)
                else:
                    chk.add(at, None, f"{where or 'on the base'}: {p}")
            return None

    def check_factors(at: str, factors: dict[str, float], key: str | None = None) -> None:
        from planner.study.execute import apply_scales

        for name, f in factors.items():
            try:
                apply_scales(base, [s for s in _scales(spec, {name: f}) if s.name == name])
            except InstanceError as e:
                for p in e.problems:
                    chk.add(key or f"{at}.{MULTIPLIER_KEY}{name}", f, p.expected)

    for name, m in spec.multipliers.items():
        check_factors("", {name: m.factor}, key=f"multipliers.{name}.factor")

    scen: dict[str, tuple[dict, dict, Instance]] = {}
    for name, params in spec.scenarios.items():
        at = f"scenarios.{name}"
        over, factors = _split_params(chk, at, params, spec.multipliers)
        inst = check_value(at, over) if over else probe
        check_factors(at, factors)
        scen[name] = (over, factors, inst if inst is not None else probe)

    runs: list[Run] = []
    files_hash_value = files_hash(base_path)
    ident = {"variant": spec.variant, "set": spec.set,
             "multipliers": {k: v.model_dump(mode="json") for k, v in spec.multipliers.items()},
             "solver": spec.solver.model_dump(mode="json"), "compare": spec.compare}

    def add_run(kind, group, index, scenario, delta, params, factors, level=None, measure=None):
        f = {**common_factors, **factors}
        body = json.dumps({**ident, "kind": kind, "group": group, "delta": delta, "factors": f, "level": level},
                          sort_keys=True, default=str, separators=(",", ":"))
        digest = hashlib.sha256((files_hash_value + body).encode("utf-8")).hexdigest()[:12]
        runs.append(Run(f"{kind[0]}-{group}-{digest}", kind, group, index, scenario, delta, params, f, level, measure))

    for name, (over, factors, _) in scen.items():
        add_run("scenario", name, 0, name, dict(over), dict(spec.scenarios[name]), factors)

    for gname, g in spec.grids.items():
        at = f"grids.{gname}"
        if g.scenario is not None and g.scenario not in scen:
            continue  # reported above
        s_over, s_factors, s_inst = scen[g.scenario] if g.scenario else ({}, {}, probe)
        axes: list[tuple[str, list[Any]]] = []
        for key, vals in g.axes.items():
            values = vals.values() if isinstance(vals, Range) else list(vals)
            if not values:
                chk.add(f"{at}.axes.{key}", None, "no values; expected a non-empty list or {start, stop, num}")
            if len({json.dumps(v, sort_keys=True, default=str) for v in values}) != len(values):
                chk.add(f"{at}.axes.{key}", values, "repeated value; expected each value once")
            for v in values:
                over, factors = _split_params(chk, f"{at}.axes", {key: v}, spec.multipliers)
                if over:
                    check_value(f"{at}.axes", over, s_inst if g.scenario else probe, "on its scenario")
                check_factors(f"{at}.axes", factors)
            axes.append((key, values))
        for n, combo in enumerate(itertools.product(*(v for _, v in axes))):
            point = dict(zip((k for k, _ in axes), combo))
            over, factors = _split_params(_Checker(file, {}), "", point, spec.multipliers)
            add_run("grid", gname, n, g.scenario, {**s_over, **over},
                    {**(spec.scenarios[g.scenario] if g.scenario else {}), **point}, {**s_factors, **factors})

    for fname, fr in spec.frontiers.items():
        at = f"frontiers.{fname}"
        cls = MEASURES.get(fr.measure.kind)
        if cls is None:
            chk.add(f"{at}.measure.kind", fr.measure.kind, f"unknown measure; expected one of: {', '.join(MEASURES)}")
            continue
        if cls.needs_of and not fr.measure.of:
            chk.add(f"{at}.measure.of", None, f"missing; {fr.measure.kind} needs 'of' (the tier or group measured)")
            continue
        if fr.scenario is not None and fr.scenario not in scen:
            continue  # reported above
        measure = cls(fr.measure.of)
        s_over, s_factors, s_inst = scen[fr.scenario] if fr.scenario else ({}, {}, probe)
        why = measure.check(s_inst)
        if why:
            chk.add(f"{at}.measure.of", fr.measure.of, why)
            continue
        levels = fr.levels.values() if isinstance(fr.levels, Range) else list(fr.levels)
        bad = [v for v in levels if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1]
        if bad or not levels:
            chk.add(f"{at}.levels", bad or levels, "invalid level; expected a non-empty list of fractions in [0, 1]")
            continue
        if len(set(levels)) != len(levels):
            chk.add(f"{at}.levels", levels, "repeated level; expected each level once")
            continue
        # Tightest first: each run's solution is feasible for the next, looser one (a usable warm start).
        for n, level in enumerate(sorted(float(v) for v in levels)):
            over = measure.overrides(s_inst, level)
            if n == 0:
                check_value(f"{at}.levels", over, s_inst if fr.scenario else probe, "on its scenario")
            add_run("frontier", fname, n, fr.scenario, {**s_over, **over},
                    {**(spec.scenarios[fr.scenario] if fr.scenario else {}), **over}, dict(s_factors), level, measure)
    chk.raise_if_any()
    study_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    return Study(path, spec, base_path, base, files_hash_value, runs, study_hash)


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
        tasks = [study.task(r, persistent=persistent, tables=tables, command=command) for r in todo]
        counts = {"done": 0, "failed": 0}

        with progress(len(tasks), len(finished)) as advance:
            def on_done(task: RunTask, outcome: RunOutcome) -> None:
                run = by_id[task.run_id]
                row = {"run_id": run.run_id, "kind": run.kind, "group": run.group, "scenario": run.scenario,
                       "index": run.index, **run.params, "level": run.level,
                       "measure": run.measure.label if run.measure else None, **outcome.row}
                row["run_id"] = run.run_id
                if outcome.tables is not None and outcome.record is not None:
                    from planner.analysis.run import write_outputs

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
    if plots and len(table):
        files += write_plots(table, fronts, study, out / "plots")
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


# --------------------------------------------------------------------------- command line
