"""The study file's schema: strict, frozen pydantic models of every key (docs/studies.md)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from planner.solve.highs import HighsOptions, RelGap, Seed, Switch, Threads, TimeLimit
from planner.solve.twostage import PH_ITERATIONS

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
    heuristic: Switch = "auto"
    """Primal heuristic offered as the MIP start of each model's first solve: off | auto | on (see solve --heuristic)."""
    heuristic_s: TimeLimit | None = None
    """Seconds the heuristic may take (null: 30, at most a quarter of time_limit)."""
    lagrangian: Switch = "auto"
    """Lagrangian bound of facility-location models: off | auto | on (see solve --lagrangian)."""


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


class UncertaintySpec(_Strict):
    """Monte Carlo over the base instance's uncertain inputs (its ranges.csv): one re-optimised run per sample."""

    samples: int = Field(ge=2, le=100_000)
    """Number of samples (runs)."""
    method: Literal["lhs", "sobol", "saltelli"] = "lhs"
    """Latin hypercube or scrambled Sobol (scipy.stats.qmc; Sobol is best with a power of two), or
    saltelli: SALib's design for Sobol sensitivity indices, samples x (inputs + 2) runs."""
    seed: Seed = 0
    """Seed of the sampler: the same study gives the same samples."""
    ranges: list[str] | None = None
    """Override keys (table.row.column) of the ranges to sample; default every range. The others stay central."""


class TwoStageSpec(_Strict):
    """One plan for many scenarios: qualify, build and stock once; ship per scenario (docs/large-instances.md).
    The same settings as ``friendshore two-stage`` and ``solve --two-stage``."""

    scenario: str | None = None
    """Scenario the plan starts from (default: the base)."""
    samples: int = Field(default=8, ge=1, le=10_000)
    """Scenarios: Latin-hypercube draws of the base's ranges.csv, equally likely."""
    method: Literal["ef", "ph"] = "ef"
    """ef: the extensive form solved by HiGHS; ph: progressive hedging on mpi-sppy (scenarios over MPI ranks)."""
    seed: Seed = 0
    """Seed of the draws: the same settings give the same scenarios."""
    iterations: int = Field(default=PH_ITERATIONS, ge=1, le=10_000)
    """Most progressive-hedging iterations (ph)."""
    ranges: list[str] | None = None
    """Override keys (table.row.column) of the ranges to draw; default every range. The others stay central."""


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
    uncertainty: UncertaintySpec | None = None
    """Monte Carlo over the uncertain inputs (ranges.csv of the base)."""
    two_stage: dict[str, TwoStageSpec] = {}
    """Named two-stage plans over samples of the uncertain inputs (one run each)."""


"""Measure kind -> class.  A frontier's measure.kind must be one of these."""


