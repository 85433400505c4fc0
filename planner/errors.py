"""User-facing errors.  The CLI turns these into messages and exit codes, never tracebacks."""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_NO_SOLUTION = 3


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what was expected."""

    file: str
    row: int | None = None
    """1-based line of the file (the header is line 1) or spreadsheet row."""
    column: str | None = None
    value: str | None = None
    expected: str = ""
    item: str | None = field(default=None, compare=False)
    """The item the problem is about, when it is about one (not printed: callers that explain more read it)."""

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        got = f": got {self.value!r}" if self.value is not None else ""
        return f"{where}{got}; {self.expected}"


class FriendshoreError(Exception):
    """Base class of errors that carry a message for the user."""

    exit_code = EXIT_INTERNAL


class InstanceError(FriendshoreError):
    """An input (instance, study, override) is invalid.  Lists every problem found."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class NoSolutionError(FriendshoreError):
    """The solver found no feasible solution (infeasible, unbounded, or a limit hit first)."""

    exit_code = EXIT_NO_SOLUTION


class InconsistentResultError(FriendshoreError):
    """A solved case's tables disagree with the solver's objective: a wrong number is never
    reported as a result (exit 1; in a study the run is recorded failed with this reason)."""

    exit_code = EXIT_INTERNAL


def validation_message(err: dict, unknown: str) -> str:
    """A pydantic validation error as the user reads it: what was wrong and what was expected.
    ``unknown`` is the message for an unknown key (it names where the allowed keys are)."""
    if err["type"] == "extra_forbidden":
        return unknown
    if err["type"] == "missing":
        return f"missing key '{err['loc'][-1]}'; expected a value for it"
    msg = err["msg"]
    if msg.startswith("Input should be "):
        return f"invalid value; expected {msg.removeprefix('Input should be ')}"
    return f"invalid value ({msg}); expected a value of the right kind"
