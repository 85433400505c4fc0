"""A study's plan: the study file read and checked against its base instance, and expanded into
runs, each with a deterministic id (:func:`load_study`)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from planner.errors import InstanceError, Problem, validation_message
from planner.instance import safe_yaml
from planner.instance.io import yaml_lines, yaml_repeats
from planner.instance.schema import TABLES, Instance
from planner.solve.highs import SolveOptions
from planner.study.measures import MEASURES, Measure  # noqa: F401  (Measure: API)
from planner.study.execute import FILTER_COLUMNS, SCALABLE_TABLES, RunTask, Scale
from planner.study.spec import MULTIPLIER_KEY, NAME, MultiplierSpec, Range, StudySpec, TwoStageSpec

# --------------------------------------------------------------------------- the expanded study
@dataclass(frozen=True)
class Run:
    """One planned run."""

    run_id: str
    kind: Literal["scenario", "grid", "frontier", "sample", "two_stage"]
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
    two_stage: TwoStageSpec | None = None
    """A two-stage plan's settings (kind two_stage)."""


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
                            solver_options=dict(s.options), heuristic=s.heuristic, heuristic_s=s.heuristic_s,
                            lagrangian=s.lagrangian)

    def scales(self, factors: dict[str, float]) -> tuple[Scale, ...]:
        return _scales(self.spec, factors)

    def task(self, run: Run, persistent: bool = True, tables: bool = True, command: tuple[str, ...] = (),
             plan: dict | None = None) -> RunTask:
        return RunTask(
            run_id=run.run_id, delta=dict(run.delta), overrides={**self.spec.set, **run.delta},
            scales=self.scales(run.factors), options=self.options, persistent=persistent, compare=self.spec.compare,
            tables=tables, measure=run.measure, base_path=str(self.base_path), files_hash=self.files_hash,
            variant=self.spec.variant, command=command,
            study={"name": self.spec.name, "file": str(self.path), "kind": run.kind, "group": run.group,
                   "index": run.index, "params": run.params},
            plan=plan, two_stage=run.two_stage,
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
    return validation_message(err, "unknown key; expected one of the keys documented in docs/studies.md")


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
    for kind in ("scenarios", "grids", "frontiers", "two_stage"):
        for name in getattr(spec, kind):
            if not NAME.fullmatch(name):
                chk.add(f"{kind}.{name}", name, "bad name; expected letters, digits, '_' or '-' (it names files)")
    for kind in ("grids", "frontiers", "two_stage"):
        for name, g in getattr(spec, kind).items():
            if g.scenario is not None and g.scenario not in spec.scenarios:
                chk.add(f"{kind}.{name}.scenario", g.scenario, f"unknown scenario; expected one of: {', '.join(spec.scenarios) or '(none)'}")
    if not (spec.scenarios or spec.grids or spec.frontiers or spec.uncertainty or spec.two_stage):
        chk.add("scenarios", None, "no runs; expected at least one of scenarios:, grids:, frontiers:, uncertainty:, "
                                   "two_stage:")
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

    def add_run(kind, group, index, scenario, delta, params, factors, level=None, measure=None, two_stage=None):
        f = {**common_factors, **factors}
        body = json.dumps({**ident, "kind": kind, "group": group, "delta": delta, "factors": f, "level": level,
                           **({"two_stage": two_stage.model_dump(mode="json")} if two_stage else {})},
                          sort_keys=True, default=str, separators=(",", ":"))
        digest = hashlib.sha256((files_hash_value + body).encode("utf-8")).hexdigest()[:12]
        runs.append(Run(f"{kind[0]}-{group}-{digest}", kind, group, index, scenario, delta, params, f, level, measure,
                        two_stage))

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
    if spec.uncertainty is not None:
        _add_samples(chk, spec, base, probe, check_value, add_run)
    for tname, ts in spec.two_stage.items():
        if ts.scenario is not None and ts.scenario not in scen:
            continue  # reported above
        _add_two_stage(chk, tname, ts, scen[ts.scenario] if ts.scenario else ({}, {}, probe),
                       spec.scenarios.get(ts.scenario, {}) if ts.scenario else {}, check_value, add_run)
    chk.raise_if_any()
    study_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    return Study(path, spec, base_path, base, files_hash_value, runs, study_hash)




def _add_samples(chk: _Checker, spec: StudySpec, base: Instance, probe: Instance, check_value, add_run) -> None:
    """One run per sample of the uncertain inputs (planner/study/uncertainty.py)."""
    from planner.study.uncertainty import draw

    u = spec.uncertainty
    chosen = _checked_ranges(chk, "uncertainty", base, u.ranges, check_value, probe)
    if chosen is None:
        return
    for n, sample in enumerate(draw(chosen, u.samples, u.method, u.seed)):
        add_run("sample", "uncertainty", n, None, dict(sample), dict(sample), {})


def _checked_ranges(chk: _Checker, at: str, inst: Instance, wanted: list[str] | None, check_value, on: Instance):
    """The ranges of ``inst`` a sampled study part draws (all, or the keys named in ``at``.ranges), or
    None with problems at ``at``. Every value lies within its range, which validation holds within what
    its column allows; the all-low and all-high corners are checked with the reader once, so a sample
    cannot fail on a bad value."""
    from planner.study.uncertainty import chosen as chosen_ranges, key_of

    known = {key_of(r): r for r in inst.ranges}
    if not known:
        chk.add(at, None, "the base instance has no ranges.csv; expected its uncertain inputs there "
                          "(docs/instance-format.md, ranges)")
        return None
    keys = wanted if wanted is not None else list(known)
    bad = [k for k in keys if k not in known]
    if bad or not keys:
        chk.add(f"{at}.ranges", bad or keys, f"unknown range; expected keys of the base's ranges.csv: "
                                             f"{', '.join(list(known)[:12])}")
        return None
    chosen = chosen_ranges(inst.ranges, wanted)
    for corner in ("low", "high"):
        check_value(f"{at} ({corner} ends)", {key_of(r): getattr(r, corner) for r in chosen}, on)
    return chosen


def _add_two_stage(chk: _Checker, name: str, ts: TwoStageSpec, scenario: tuple[dict, dict, Instance],
                   params: dict[str, Any], check_value, add_run) -> None:
    """One run: the two-stage plan over ``ts.samples`` draws of the ranges, on the base or a scenario."""
    from planner.study.twostage import refusal

    at = f"two_stage.{name}"
    over, factors, inst = scenario
    why = refusal(inst)
    if why is not None:
        chk.add(at, None, f"the base instance's {why[0]}: {why[1]}")
        return
    if _checked_ranges(chk, at, inst, ts.ranges, check_value, inst) is None:
        return
    add_run("two_stage", name, 0, ts.scenario, dict(over), {**params, "samples": ts.samples, "method": ts.method},
            dict(factors), two_stage=ts)
