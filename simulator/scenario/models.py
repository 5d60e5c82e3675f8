"""The scenario format (DESIGN §2, §7) as closed, frozen pydantic v2 models.

Cross-references (ids that must exist, products a supplier must output) are
checked afterwards by :mod:`simulator.scenario.checks`, on the raw document, so
that every problem in a file is reported at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .types import (
    Date,
    Family,
    Fraction,
    FractionDist,
    Id,
    IdList,
    NonNeg,
    NonNegDist,
    Positive,
    Stage,
    Strict,
    TraceStage,
)

_SOURCE = Field(
    default=None,
    description="source key(s) in docs/data/ree-reference.md for the numbers here, "
    "or 'estimate: why'; parts separated by ';', each opening with a key, a section (§13) or 'estimate' "
    "(e.g. 'LYN25; §14.2 (nameplate); estimate: ramp-up')",
)
_NOTE = Field(default=None, description="free text for readers; ignored by the simulator")


def _end_after_start(end: dt.date | None, info: ValidationInfo, strict: bool = True) -> None:
    start = info.data.get("start")
    if end is None or start is None:
        return
    if end < start or (strict and end == start):
        raise ValueError(
            f"end {end} is {'before' if end < start else 'the same day as'} start {start} "
            f"(allowed: {'after' if strict else 'on or after'} {start})"
        )


class Horizon(Strict):
    """Simulated period."""

    start: Date = Field(description="first simulated day (YYYY-MM-DD)")
    end: Date = Field(description="last simulated day, inclusive (YYYY-MM-DD)")
    step_days: int = Field(default=1, ge=1, le=31, description="length of one step [d]")

    @field_validator("end")
    @classmethod
    def _order(cls, end: dt.date, info: ValidationInfo) -> dt.date:
        _end_after_start(end, info)
        return end

    @property
    def days(self) -> int:
        """Number of simulated days, both ends included [d]."""
        return (self.end - self.start).days + 1

    def step_of(self, date: dt.date) -> int:
        """The step a date falls in: ``floor((date - start).days / step_days)``, negative before the start;
        a date after ``end`` gives the number of steps (never reached), also where the last step runs past
        ``end`` because ``step_days`` does not divide the horizon."""
        if date > self.end:
            return -(-self.days // self.step_days)
        return (date - self.start).days // self.step_days


class ReportOptions(Strict):
    """What the results and the report contain."""

    interval_days: int = Field(
        default=7, ge=1, description="time-series reporting interval [d]"
    )
    trace_stages: list[TraceStage] = Field(
        default_factory=lambda: ["mine", "separation"],
        description="stages whose region of passage is traced to every market",
    )
    trace_replicates: Annotated[int, Field(ge=1)] | Literal["all"] = Field(
        default=100,
        description="replicates whose origin is traced (the first N of the run, or all): dependency "
        "shares and china_share series are estimated from them; tracing costs about as much as "
        "the rest of a step, and its memory grows with every traced replicate",
    )
    reference_event: Id | None = Field(
        default=None,
        description="event from whose start TTS and TTR are measured "
        "(default: the earliest deterministic disruption)",
    )
    top_markets: int = Field(
        default=12, ge=1, description="markets shown one by one in figures (others grouped)"
    )


class Region(Strict):
    """A country or area; its bloc groups regions in results (china, allied, other, ...)."""

    name: str = Field(description="display name")
    bloc: Id = Field(description="bloc the region belongs to, e.g. china, allied, other")
    source: str | None = _SOURCE


class Bloc(Strict):
    """Optional display name of a bloc."""

    name: str = Field(description="display name")


class Product(Strict):
    """A material: concentrate, oxide, metal, alloy or component."""

    unit: str = Field(default="t REO", description="unit of quantities of this product")
    family: Family | None = Field(
        default=None, description="end-use family of a component: magnets, batteries, ..."
    )
    name: str | None = Field(default=None, description="display name")
    source: str | None = _SOURCE


class StockPolicy(Strict):
    """Order-up-to policy of a holding, in days of expected daily use."""

    cover_days: NonNeg = Field(
        description="order-up-to level = cover_days x expected daily use [d]"
    )
    initial_days: NonNeg | None = Field(
        default=None, description="initial stock in days of expected use [d] (default: cover_days)"
    )


class Outages(Strict):
    """Random unplanned outages of a facility (a Poisson process)."""

    rate_per_year: NonNeg = Field(description="mean number of outages per year [1/yr]")
    duration_days: NonNegDist = Field(description="outage duration [d]")
    capacity_lost: FractionDist = Field(
        default=1.0, description="fraction of capacity lost during an outage [-]"
    )


class Facility(Strict):
    """A producing node running one Leontief process (per unit of activity: inputs -> outputs)."""

    name: str | None = Field(default=None, description="display name")
    region: Id = Field(description="region id")
    stage: Literal["mine", "separation", "metal", "component"] = Field(
        description="mine, separation, metal, component (recyclers: see recyclers)"
    )
    capacity: Positive = Field(description="activity per year at full availability [units/yr]")
    availability: Fraction = Field(default=1.0, description="share of capacity usable on average [-]")
    inputs: dict[Id, Positive] = Field(
        default_factory=dict, description="product -> units consumed per unit of activity [t/unit]"
    )
    outputs: dict[Id, Positive] = Field(
        default_factory=dict,
        description="product -> units yielded per unit of activity (co-products at fixed ratios) [t/unit]",
    )
    stock: dict[Id, StockPolicy] = Field(
        default_factory=dict, description="input product -> stock policy (default cover 30 d)"
    )
    finished_cover_days: NonNeg = Field(
        default=7.0, description="finished-goods target in days of expected shipments [d]"
    )
    online: Date | None = Field(default=None, description="commissioning date (default: from the start; after the horizon: never runs)")
    ramp_days: NonNeg = Field(default=0.0, description="linear ramp from 0 to full capacity [d]")
    outages: Outages | None = Field(default=None, description="random unplanned outages")
    source: str | None = _SOURCE
    note: str | None = _NOTE


class Demand(Strict):
    """Demand of one market for one product."""

    rate: NonNeg = Field(description="base demand at horizon start [t/yr]")
    growth: float = Field(default=0.0, gt=-1.0, description="growth per year, compounded [1/yr]")
    noise_cv: NonNeg = Field(
        default=0.0, description="coefficient of variation of daily demand (normal, cut at 0) [-]"
    )


class Substitution(Strict):
    """Demand reduction once a shortage persists (Dy thrifting, ferrite or induction motors)."""

    product: Id = Field(description="product whose demand falls")
    fraction: Fraction = Field(description="share of demand substituted once adopted [-]")
    after_shortfall_days: NonNeg = Field(
        description="days of shortage (daily fill < threshold) that trigger adoption [d]"
    )
    adoption_days: NonNeg = Field(
        default=0.0, description="delay from trigger to full substitution, linear [d]"
    )
    threshold: Fraction = Field(default=0.99, description="daily fill below which a day counts as short [-]")
    source: str | None = _SOURCE


class Market(Strict):
    """An end-use sector in a region: consumes products, loses (or defers) unmet demand."""

    name: str | None = Field(default=None, description="display name")
    region: Id = Field(description="region id")
    sector: Id = Field(description="end-use sector, e.g. ev_motors, wind, fcc_catalysts")
    demand: dict[Id, Demand] = Field(description="product -> demand")
    stock: dict[Id, StockPolicy] = Field(
        default_factory=dict, description="product -> stock policy (default cover 30 d)"
    )
    unmet: Literal["lost", "backorder"] = Field(
        default="lost", description="unmet demand is lost, or deferred and served first later"
    )
    substitution: list[Substitution] = Field(default_factory=list, description="substitution rules")
    source: str | None = _SOURCE
    note: str | None = _NOTE


class Holding(Strict):
    """What a stockpile holds of one product."""

    initial: NonNeg = Field(description="stock at horizon start [t]")
    target: NonNeg | None = Field(default=None, description="refill target [t] (default: initial)")


class Release(Strict):
    """When and to whom a stockpile releases."""

    to: list[Id] = Field(min_length=1, description="facilities or markets it releases to")
    when_cover_below_days: NonNeg = Field(
        description="release while a receiver's cover is below this [d]"
    )
    max_per_day: Positive = Field(description="largest release per day to each receiver, per product [t/d]")


class Stockpile(Strict):
    """A strategic stockpile: holds product and ships only under its release rule."""

    name: str | None = Field(default=None, description="display name")
    region: Id = Field(description="region id")
    holds: dict[Id, Holding] = Field(min_length=1, description="product -> holding")
    release: Release | None = Field(default=None, description="release rule (none: never releases)")
    holding_cost: NonNeg = Field(default=0.0, description="cost of holding stock [USD/t/yr]")
    online: Date | None = Field(
        default=None,
        description="date the stockpile is set up: it holds its initial stock from then on (bought outside "
        "the modelled chain), and releases and refills only from then (default: from the start; after the "
        "horizon: never)",
    )
    source: str | None = _SOURCE
    note: str | None = _NOTE


class Collection(Strict):
    """Scrap that markets return to a recycler after a product lifetime."""

    from_: list[Id] = Field(alias="from", min_length=1, description="market ids")
    product: Id = Field(description="product whose end-of-life scrap is collected")
    lifetime_days: NonNegDist = Field(description="product lifetime before it returns as scrap [d]")
    recovery: Fraction = Field(description="share of consumed product recovered as scrap [-]")


class Recycler(Strict):
    """Turns end-of-life scrap into secondary material, like any producer."""

    name: str | None = Field(default=None, description="display name")
    region: Id = Field(description="region id")
    capacity: Positive = Field(description="scrap processed per year [t/yr]")
    collects: Collection = Field(description="where its scrap comes from")
    outputs: dict[Id, Positive] = Field(description="product -> units per unit of scrap [t/t]")
    finished_cover_days: NonNeg = Field(default=7.0, description="finished-goods target [d]")
    online: Date | None = Field(default=None, description="commissioning date (after the horizon: never runs)")
    ramp_days: NonNeg = Field(default=0.0, description="linear ramp to full capacity [d]")
    source: str | None = _SOURCE
    note: str | None = _NOTE


class Link(Strict):
    """A trade link carrying one product from a supplier to a buyer."""

    id: Id | None = Field(default=None, description="optional id (default 'from>to:product')")
    from_: Id = Field(alias="from", description="supplier: facility or recycler (a stockpile releases through its release block)")
    to: Id = Field(description="buyer: facility, market or stockpile")
    product: Id = Field(description="product carried")
    lead_days: NonNeg = Field(description="lead time from shipment to arrival [d] (at least one step)")
    weight: Positive = Field(default=1.0, description="sourcing weight among the buyer's links [-]")
    price: NonNeg = Field(default=0.0, description="unit price [USD/t]")
    source: str | None = _SOURCE

    @property
    def key(self) -> str:
        """The link's id, or ``from>to:product``."""
        return self.id or f"{self.from_}>{self.to}:{self.product}"


# --------------------------------------------------------------------------- events


class Window(Strict):
    """A period in which stochastic events may start."""

    start: Date = Field(description="first day an occurrence may start")
    end: Date = Field(description="last day an occurrence may start")

    @field_validator("end")
    @classmethod
    def _order(cls, end: dt.date, info: ValidationInfo) -> dt.date:
        _end_after_start(end, info, strict=False)
        return end


class Stochastic(Strict):
    """Occurrences drawn per replicate: Poisson arrivals, drawn durations."""

    rate_per_year: Positive = Field(description="mean occurrences per year [1/yr]")
    duration_days: NonNegDist = Field(description="duration of one occurrence [d]")
    window: Window | None = Field(default=None, description="when occurrences may start (default: horizon)")


class ScheduleStep(Strict):
    """From this date on, the blocked fraction is this (until the next step)."""

    start: Date = Field(description="date from which this fraction applies")
    blocked: Fraction = Field(description="fraction of shipments withheld from then on [-]")


class _Event(Strict):
    id: Id = Field(description="event id (for --set, reference_event and overlays)")
    name: str | None = Field(default=None, description="label used in reports")
    start: Date | None = Field(default=None, description="start date (deterministic events)")
    end: Date | None = Field(default=None, description="end date, exclusive (default: horizon end)")
    duration_days: NonNeg | None = Field(default=None, description="alternative to end [d]")
    stochastic: Stochastic | None = Field(default=None, description="draw occurrences per replicate")
    source: str | None = _SOURCE
    note: str | None = _NOTE

    @field_validator("end")
    @classmethod
    def _end(cls, end: dt.date | None, info: ValidationInfo) -> dt.date | None:
        _end_after_start(end, info)
        return end

    @model_validator(mode="after")
    def _timing(self) -> _Event:
        if self.stochastic is None and self.start is None:
            raise ValueError("give a start date, or a stochastic: block")
        if self.stochastic is not None and self.start is not None:
            raise ValueError("give either a start date or a stochastic: block, not both")
        if self.end is not None and self.duration_days is not None:
            raise ValueError("give end or duration_days, not both")
        return self


class Destinations(Strict):
    """Destination regions: include a list, or everyone except a list."""

    include: list[Id] | None = Field(default=None, description="only these regions")
    exclude: list[Id] | None = Field(default=None, description="every region except these")

    @model_validator(mode="after")
    def _one(self) -> Destinations:
        if (self.include is None) == (self.exclude is None):
            raise ValueError("give exactly one of include or exclude")
        return self


class ExportControl(_Event):
    """Withhold a fraction of an origin's shipments of some products to some destinations."""

    type: Literal["export_control"] = Field(description="event type")
    origin: IdList = Field(description="exporting region id(s)")
    products: list[Id] = Field(min_length=1, description="products controlled")
    destinations: Destinations = Field(
        default_factory=lambda: Destinations(exclude=[]), description="destination regions"
    )
    blocked: FractionDist = Field(default=1.0, description="fraction of shipments withheld [-]")
    schedule: list[ScheduleStep] = Field(
        default_factory=list, description="blocked fraction changing over time (overrides blocked)"
    )


class Outage(_Event):
    """Capacity lost at a facility, or at every facility matching a selector."""

    type: Literal["outage"] = Field(description="event type")
    facilities: list[Id] | None = Field(default=None, description="facility ids")
    regions: list[Id] | None = Field(default=None, description="or: all facilities in these regions")
    stages: list[Stage] | None = Field(default=None, description="... and/or at these stages")
    capacity_lost: FractionDist = Field(default=1.0, description="fraction of capacity lost [-]")

    @model_validator(mode="after")
    def _target(self) -> Outage:
        if not (self.facilities or self.regions or self.stages):
            raise ValueError("name facilities, or select by regions and/or stages")
        return self


class Logistics(_Event):
    """Extra lead time on links matching a selector (port closure, rerouted shipping)."""

    type: Literal["logistics"] = Field(description="event type")
    links: list[str] | None = Field(
        default=None, description="link ids, or 'from>to:product' keys of links without an id"
    )
    from_regions: list[Id] | None = Field(default=None, description="or: links from these regions")
    to_regions: list[Id] | None = Field(default=None, description="... and/or to these regions")
    products: list[Id] | None = Field(default=None, description="... and/or carrying these products")
    extra_lead_days: NonNegDist = Field(description="lead time added [d]")


class DemandShock(_Event):
    """Demand multiplied by a factor in some markets."""

    type: Literal["demand_shock"] = Field(description="event type")
    markets: list[Id] | None = Field(default=None, description="market ids")
    sectors: list[Id] | None = Field(default=None, description="or: markets of these sectors")
    regions: list[Id] | None = Field(default=None, description="... and/or in these regions")
    factor: NonNegDist = Field(description="demand multiplier [-]")


class Commission(_Event):
    """New capacity added at a facility from a date, with a linear ramp."""

    type: Literal["commission"] = Field(description="event type")
    facility: Id = Field(description="facility id")
    capacity: Positive = Field(description="capacity added [units/yr]")
    ramp_days: NonNeg = Field(default=0.0, description="linear ramp to the full addition [d]")


class PolicySet(Strict):
    """Policy switches an event turns on or off."""

    reroute_after_days: NonNeg | None = Field(default=None, description="see policies")
    substitution: bool | None = Field(default=None, description="substitution rules active")
    stockpile_release: bool | None = Field(default=None, description="stockpile releases active")
    recycling: bool | None = Field(default=None, description="recyclers active")


class PolicyEvent(_Event):
    """Switch policies on or off for a period."""

    type: Literal["policy"] = Field(description="event type")
    set: PolicySet = Field(description="the switches")
    regions: list[Id] | None = Field(
        default=None,
        description="only buyers in these regions (with reroute_after_days alone: a bilateral framework "
        "speeds its members' re-sourcing, not everyone's); default: every buyer",
    )


Event = Annotated[
    ExportControl | Outage | Logistics | DemandShock | Commission | PolicyEvent,
    Field(discriminator="type"),
]
EVENT_TYPES: tuple[str, ...] = (
    "export_control",
    "outage",
    "logistics",
    "demand_shock",
    "commission",
    "policy",
)


class Policies(Strict):
    """Behaviour rules of buyers and the state."""

    reroute_after_days: NonNeg | None = Field(
        default=None,
        description="buyers move the weight of links closed this long onto open links [d] "
        "(none: never)",
    )
    closed_below: Fraction = Field(
        default=0.5, description="a link counts as closed while its open fraction is below this [-]"
    )
    substitution: bool = Field(default=True, description="substitution rules active")
    stockpile_release: bool = Field(default=True, description="stockpile releases active")
    recycling: bool = Field(default=True, description="recyclers active")


class Scenario(Strict):
    """A reesim scenario file."""

    reesim: Literal[1] = Field(description="format version")
    name: Id = Field(description="scenario name; becomes the report folder name")
    title: str | None = Field(default=None, description="one-line title")
    description: str | None = Field(default=None, description="what the scenario represents")
    extends: str | list[str] | None = Field(
        default=None, description="parent file(s) this overlays, relative to this file"
    )
    remove: list[Id] = Field(
        default_factory=list,
        description="ids to delete from what the parents define (with their links)",
    )
    seed: int = Field(default=0, ge=0, description="root seed of all random streams")
    replications: int = Field(default=100, ge=1, description="number of replicates")
    horizon: Horizon = Field(description="simulated period and step length")
    report: ReportOptions = Field(
        default_factory=ReportOptions, description="what the results and the report contain"
    )
    regions: dict[Id, Region] = Field(
        min_length=1, description="region id (ISO country code) -> region"
    )
    blocs: dict[Id, Bloc] = Field(default_factory=dict, description="optional bloc names")
    products: dict[Id, Product] = Field(min_length=1, description="product id -> product")
    facilities: dict[Id, Facility] = Field(
        default_factory=dict, description="facility id -> producing facility"
    )
    markets: dict[Id, Market] = Field(min_length=1, description="market id -> end-use market")
    stockpiles: dict[Id, Stockpile] = Field(
        default_factory=dict, description="stockpile id -> strategic stockpile"
    )
    recyclers: dict[Id, Recycler] = Field(
        default_factory=dict, description="recycler id -> recycler"
    )
    links: list[Link] = Field(
        default_factory=list, description="trade links, one product from a supplier to a buyer"
    )
    events: list[Event] = Field(
        default_factory=list, description="disruptions and interventions; `type` picks the kind"
    )
    policies: Policies = Field(
        default_factory=Policies, description="behaviour rules of buyers and the state"
    )
    sources: dict[str, str] = Field(
        default_factory=dict, description="source key -> citation, for the keys used here"
    )

    def day(self, date: dt.date) -> int:
        """Days from the horizon start to ``date`` [d]."""
        return (date - self.horizon.start).days
