"""Reusable annotated types and named distributions for the scenario schema.

Every quantity carries its unit in the field description, in brackets:
``[t]`` tonnes, ``[t/yr]``, ``[d]`` days, ``[USD/t]``, ``[-]`` dimensionless.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)


@dataclass(frozen=True)
class DocType:
    """How the format reference names a type (pydantic ignores this metadata)."""

    name: str


#: Identifier of a region, product, facility, market, stockpile, recycler, link or event.
Id = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$",
        max_length=64,
        description="identifier: a letter, then letters, digits, '_' or '-'",
    ),
    DocType("id"),
]
#: A fraction in [0, 1].
Fraction = Annotated[
    float, Field(ge=0.0, le=1.0, description="fraction [-] in [0, 1]"), DocType("fraction 0-1")
]
#: A non-negative quantity.
NonNeg = Annotated[float, Field(ge=0.0), DocType("number >= 0")]
#: A strictly positive quantity.
Positive = Annotated[float, Field(gt=0.0), DocType("number > 0")]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


#: One id or a non-empty list of ids (``origin: CN`` is ``origin: [CN]``); always a list.
IdList = Annotated[
    list[Id],
    BeforeValidator(
        _one_or_many, json_schema_input_type=Union[Id, Annotated[list[Id], Field(min_length=1)]]
    ),
    Field(min_length=1),
    DocType("id or list of ids"),
]
Date = dt.date

Stage = Literal["mine", "separation", "metal", "component", "recycler"]
STAGES: tuple[str, ...] = ("mine", "separation", "metal", "component", "recycler")
#: Stages that can be traced for origin (``report.trace_stages``).
TraceStage = Literal["mine", "separation", "metal", "component", "recycler"]
Family = Literal["magnets", "batteries", "catalysts", "optical", "other"]


class Strict(BaseModel):
    """Base of every scenario model: closed (unknown keys are errors) and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- distributions


class UniformParams(Strict):
    low: float = Field(description="lower bound")
    high: float = Field(description="upper bound (>= low)")

    @field_validator("high")
    @classmethod
    def _order(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and high < low:
            raise ValueError(f"high ({high:g}) is below low ({low:g}) (allowed: high >= low)")
        return high


class TriangularParams(Strict):
    low: float = Field(description="lower bound")
    mode: float = Field(description="most likely value, low <= mode <= high")
    high: float = Field(description="upper bound")

    @model_validator(mode="after")
    def _order(self) -> TriangularParams:
        if not (self.low <= self.mode <= self.high):
            raise ValueError(
                f"got low={self.low:g}, mode={self.mode:g}, high={self.high:g} "
                "(allowed: low <= mode <= high)"
            )
        return self


class LognormalParams(Strict):
    median: Positive = Field(description="median of the distribution (> 0)")
    p95: Positive = Field(description="95th percentile (>= median)")

    @field_validator("p95")
    @classmethod
    def _order(cls, p95: float, info: ValidationInfo) -> float:
        median = info.data.get("median")
        if median is not None and p95 < median:
            raise ValueError(
                f"p95 ({p95:g}) is below the median ({median:g}) (allowed: p95 >= median)"
            )
        return p95


class FixedDist(Strict):
    """A fixed value: ``{fixed: 30}`` (a bare number means the same)."""

    fixed: float


class UniformDist(Strict):
    """``{uniform: {low: 10, high: 40}}``."""

    uniform: UniformParams


class TriangularDist(Strict):
    """``{triangular: {low: 10, mode: 20, high: 60}}``."""

    triangular: TriangularParams


class LognormalDist(Strict):
    """``{lognormal: {median: 20, p95: 90}}``: the parameters a domain expert quotes."""

    lognormal: LognormalParams


DIST_KINDS: tuple[str, ...] = ("fixed", "uniform", "triangular", "lognormal")


def _dist_tag(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, BaseModel):
        for kind in DIST_KINDS:
            if hasattr(value, kind):
                return kind
        return None
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if key in DIST_KINDS else None
    return None


#: A named distribution: ``fixed``, ``uniform``, ``triangular`` or ``lognormal``, or a number.
Dist = Annotated[
    Union[  # noqa: UP007 - one tagged member a line
        Annotated[float, Tag("number")],
        Annotated[FixedDist, Tag("fixed")],
        Annotated[UniformDist, Tag("uniform")],
        Annotated[TriangularDist, Tag("triangular")],
        Annotated[LognormalDist, Tag("lognormal")],
    ],
    Discriminator(
        _dist_tag,
        custom_error_type="distribution",
        custom_error_message=(
            "expected a number or a one-key mapping: {fixed: x}, {uniform: {low, high}}, "
            "{triangular: {low, mode, high}} or {lognormal: {median, p95}}"
        ),
    ),
]


def dist_bounds(d: Any) -> tuple[float, float]:
    """Lowest and highest value a distribution can take (lognormal: (0, inf))."""
    if isinstance(d, (int, float)):
        return float(d), float(d)
    if isinstance(d, FixedDist):
        return d.fixed, d.fixed
    if isinstance(d, UniformDist):
        return d.uniform.low, d.uniform.high
    if isinstance(d, TriangularDist):
        return d.triangular.low, d.triangular.high
    if isinstance(d, LognormalDist):
        return 0.0, float("inf")
    raise TypeError(f"not a distribution: {d!r}")


def dist_mean(d: Any) -> float:
    """Mean of a distribution."""
    import math

    if isinstance(d, (int, float)):
        return float(d)
    if isinstance(d, FixedDist):
        return d.fixed
    if isinstance(d, UniformDist):
        return 0.5 * (d.uniform.low + d.uniform.high)
    if isinstance(d, TriangularDist):
        t = d.triangular
        return (t.low + t.mode + t.high) / 3.0
    if isinstance(d, LognormalDist):
        sigma = math.log(d.lognormal.p95 / d.lognormal.median) / 1.6448536269514722
        return d.lognormal.median * math.exp(0.5 * sigma * sigma)
    raise TypeError(f"not a distribution: {d!r}")


def _within(low: float, high: float, allowed: str):  # type: ignore[no-untyped-def]
    def check(d: Any) -> Any:
        lo, hi = dist_bounds(d)
        if lo < low or hi > high:
            got = f"{lo:g}" if lo == hi else f"a distribution with values from {lo:g} to {hi:g}"
            raise ValueError(f"got {got} (allowed: {allowed})")
        return d

    return check


#: A fraction [-] in [0, 1], or a distribution whose values all lie in [0, 1].
FractionDist = Annotated[
    Dist,
    AfterValidator(_within(0.0, 1.0, "a fraction in [0, 1], or a distribution within [0, 1]")),
    DocType("fraction 0-1, or distribution"),
]
#: A non-negative number, or a distribution of non-negative values.
NonNegDist = Annotated[
    Dist,
    AfterValidator(_within(0.0, float("inf"), ">= 0, or a distribution of values >= 0")),
    DocType("number >= 0, or distribution"),
]
