"""All errors reesim raises on purpose share one base, :class:`ReesimError`."""

from __future__ import annotations

from dataclasses import dataclass


class ReesimError(Exception):
    """Base of every error reesim raises for bad input or an impossible request."""


@dataclass(frozen=True)
class Problem:
    """One located problem in a scenario.

    Attributes
    ----------
    file : str
        File name as given (or ``--set ...`` for a command-line override).
    line, col : int or None
        1-based position of the offending key or value, when known.
    path : str
        YAML path, e.g. ``facilities.sep_my.capacity`` or ``events[3].type``.
    message : str
        What is wrong and what is allowed.
    """

    file: str
    line: int | None
    col: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        path = f" {self.path}:" if self.path else ""
        return f"{where}:{path} {self.message}"


class ScenarioError(ReesimError):
    """A scenario is invalid; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(
            problems, key=lambda p: (p.file, p.line if p.line is not None else 10**9, p.col or 0)
        )
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found"
        super().__init__(head + ":\n" + "\n".join(str(p) for p in self.problems))


class UsageError(ReesimError):
    """A command was called wrongly (bad option value, bad --set path)."""


class InvariantError(ReesimError):
    """A run broke an invariant (negative stock, NaN, mass balance)."""


class ResourceError(ReesimError):
    """A run would not fit in memory (or another resource); the message says what to change."""
