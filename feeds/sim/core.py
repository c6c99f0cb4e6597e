"""The simulator: one deterministic stream of Kafka records for the whole province.

`Simulator(seed=..., start=..., end=..., domains=..., bad_fraction=...)` walks simulated time minute
by minute from `start` to `end`, asks each domain model for the events observed in that minute,
gives each its envelope (a UUID drawn from the seed, source, city, `observed_at`, version),
serialises it once, and lets the injector turn a chosen fraction into labelled bad records. Records
come out in time order as `Record(topic, key, value, label, event_id, observed)`: the same seed and
settings give byte-identical records.

Example:
    >>> from datetime import UTC, datetime
    >>> sim = Simulator(seed=7, start=datetime(2026, 1, 10, 6, tzinfo=UTC),
    ...                 end=datetime(2026, 1, 10, 7, tzinfo=UTC), domains=["environment"])
    >>> sorted({r.topic for r in sim})
    ['environment.air.v1', 'environment.river.v1']
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.envelope import utc_iso
from contracts.topics import DOMAINS, FEED_CONTRACTS
from feeds.exceptions import SimulatorConfigError
from feeds.reference import Province, default_province
from feeds.sim.base import DomainModel, Draft
from feeds.sim.clock import Weather
from feeds.sim.environment import EnvironmentModel
from feeds.sim.inject import GOOD, LATE_WITHIN_ALLOWANCE, Injector, dumps, wall_clock
from feeds.sim.security import SecurityModel
from feeds.sim.tourism import TourismModel
from feeds.sim.traffic import TrafficModel

logger = logging.getLogger(__name__)

Domain = Literal["traffic", "tourism", "environment", "security"]
ALL_DOMAINS: tuple[Domain, ...] = ("traffic", "tourism", "environment", "security")
TICK_S = 60


_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


def uuid4_from(bits: int) -> str:
    """The text of the version-4 UUID made from 128 random bits (as `uuid.UUID(int=bits, version=4)`).

    Formatting by hand is four times faster than going through `uuid.UUID`, and ids are drawn for
    every event.
    """
    h = "%032x" % ((bits & _VERSION_MASK) | _VERSION_BITS)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Record(NamedTuple):
    """One Kafka record as the simulator means it: where it goes, its bytes, and what it is."""

    topic: str  # as sent, with the configured prefix and suffix
    key: bytes
    value: bytes
    label: str  # "good", "late_within_allowance", or a BadInputReason value
    event_id: str | None
    observed: float  # simulated time the record belongs to (epoch s), used to pace live runs


class SimulatorConfig(BaseModel):
    """Everything that determines a run; the same config gives the same records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, description="Seed of every random stream of the run.")
    start: AwareDatetime = Field(description="Simulated time the run starts at (exclusive).")
    end: AwareDatetime = Field(description="Simulated time the run ends at (inclusive).")
    domains: tuple[Domain, ...] = Field(ALL_DOMAINS, min_length=1)
    bad_fraction: float = Field(0.0, ge=0.0, le=0.5, description="Share of records sent deliberately bad.")
    late_fraction: float = Field(0.0, ge=0.0, le=0.2, description="Share sent good but 20-90 min late.")
    topic_prefix: str = Field("", pattern=r"^[A-Za-z0-9._-]*$", max_length=100)
    topic_suffix: str = Field("", pattern=r"^[A-Za-z0-9._-]*$", max_length=100)
    traffic_interval_s: int = Field(60, ge=60, le=3600, description="Flow reading interval.")
    gate_interval_s: int = Field(300, ge=60, le=3600, description="Scenic-area gate count interval.")
    booking_interval_s: int = Field(3600, ge=600, le=86_400, description="Ticket/booking interval.")
    water_interval_s: int = Field(14_400, ge=3600, le=86_400, description="Water-quality interval.")
    accident_rate_scale: float = Field(1.0, ge=0.0, le=1000.0, description="Multiplies accident rates.")
    incident_rate_scale: float = Field(1.0, ge=0.0, le=1000.0, description="Multiplies incident rates.")
    late_after_s: int = Field(600, ge=0, description="No `late` records before this much simulated time.")
    now: AwareDatetime | None = Field(None, description="Wall clock for `future` records; None: real time.")

    @model_validator(mode="after")
    def _consistent(self) -> SimulatorConfig:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        for name in ("traffic_interval_s", "gate_interval_s", "booking_interval_s", "water_interval_s"):
            value = getattr(self, name)
            if value % TICK_S or 86_400 % value:
                raise ValueError(f"{name}={value} must be a whole number of minutes that divides a day")
        if len(set(self.domains)) != len(self.domains):
            raise ValueError(f"domains repeat: {self.domains}")
        return self

    @property
    def topics(self) -> list[str]:
        """Catalogue names of the topics this run writes."""
        return [t for d in self.domains for t in DOMAINS[d]]

    def topic_name(self, topic: str) -> str:
        return f"{self.topic_prefix}{topic}{self.topic_suffix}"


class Simulator:
    """Iterate to get the run's records in simulated-time order (see the module docstring)."""

    POSITIONAL: tuple[str, ...] = ("seed", "start", "end", "domains", "bad_fraction")

    def __init__(self, *args: Any, config: SimulatorConfig | None = None, province: Province | None = None,
                 **settings: Any) -> None:
        """`Simulator(seed, start, end, domains, bad_fraction, **more)`, or `Simulator(config=...)`.

        Settings are validated at once; a bad one raises SimulatorConfigError naming it.
        """
        if len(args) == 1 and isinstance(args[0], SimulatorConfig):
            config, args = args[0], ()
        if len(args) > len(self.POSITIONAL):
            raise TypeError(f"Simulator takes at most {len(self.POSITIONAL)} positional settings "
                            f"({', '.join(self.POSITIONAL)})")
        for name, value in zip(self.POSITIONAL, args, strict=False):
            if name in settings:
                raise TypeError(f"Simulator got {name} twice")
            settings[name] = value
        if config is None:
            try:
                config = SimulatorConfig(**settings)
            except ValidationError as exc:
                first = exc.errors()[0]
                raise SimulatorConfigError(
                    f"invalid simulator setting {'.'.join(map(str, first['loc'])) or '-'}: {first['msg']}"
                ) from exc
        elif settings:
            raise TypeError("pass either a SimulatorConfig or settings, not both")
        self.config = config
        self.province = province or default_province()

    def check_backfill(self, now: datetime | None = None) -> None:
        """A backfill must lie in the past: a good event is never observed after it is sent."""
        wall = now or self.config.now or datetime.now(UTC)
        if self.config.end > wall:
            raise SimulatorConfigError(
                f"backfill end {self.config.end.isoformat()} is after now ({wall.isoformat()})",
                hint="end the range at or before now, or use live mode, which paces records",
            )

    def _models(self) -> list[DomainModel]:
        c, p = self.config, self.province
        weather = Weather(c.seed)
        models: list[DomainModel] = []
        if "traffic" in c.domains:
            models.append(TrafficModel(p, c.seed, weather, c.traffic_interval_s, c.accident_rate_scale))
        if "tourism" in c.domains:
            models.append(TourismModel(p, c.seed, c.gate_interval_s, c.booking_interval_s))
        if "environment" in c.domains:
            models.append(EnvironmentModel(p, c.seed, weather, c.water_interval_s))
        if "security" in c.domains:
            models.append(SecurityModel(p, c.seed, c.incident_rate_scale))
        return models

    def __iter__(self) -> Iterator[Record]:
        c = self.config
        start = c.start.timestamp()
        fixed_now = c.now.timestamp() if c.now is not None else None
        ids = random.Random(f"{c.seed}:event-ids")
        iso_cache: dict[float, str] = {}

        def iso(ts: float) -> str:
            text = iso_cache.get(ts)
            if text is None:
                if len(iso_cache) > 4096:
                    iso_cache.clear()
                text = iso_cache[ts] = utc_iso(datetime.fromtimestamp(ts, UTC))
            return text

        injector = Injector(c.seed, c.bad_fraction, c.late_fraction, start, c.late_after_s,
                            (lambda: fixed_now) if fixed_now is not None else wall_clock, iso)
        names = {t: c.topic_name(t) for t in FEED_CONTRACTS}
        versions = {t: model.SCHEMA_VERSION for t, model in FEED_CONTRACTS.items()}
        for ts, drafts in self._ticks():
            for draft in drafts:
                topic = draft.topic
                event_id = uuid4_from(ids.getrandbits(128))
                label = injector.decide(topic, ts)
                observed = injector.late_time(topic) if label == LATE_WITHIN_ALLOWANCE else draft.observed
                doc = {"event_id": event_id, "source_id": draft.source_id, "city_code": draft.city,
                       "observed_at": iso(observed), "schema_version": versions[topic], **draft.fields}
                key = draft.source_id.encode()
                if label in (GOOD, LATE_WITHIN_ALLOWANCE):
                    value = dumps(doc)
                    if label == GOOD:
                        injector.accepted(topic, key, value, event_id, observed)
                    yield Record(names[topic], key, value, label, event_id, ts)
                else:
                    bad_key, value, bad_id = injector.corrupt(topic, label, doc, key)
                    yield Record(names[topic], bad_key, value, label, bad_id, ts)

    def _ticks(self) -> Iterator[tuple[int, list[Draft]]]:
        """Each simulated minute of the run and the drafts observed in it (the list is reused)."""
        start, end = self.config.start.timestamp(), self.config.end.timestamp()
        models = self._models()
        for model in models:
            model.warm_up(start)
        drafts: list[Draft] = []
        ts = (int(start) // TICK_S + 1) * TICK_S
        while ts <= end:
            drafts.clear()
            for model in models:
                model.tick(ts, drafts)
            yield ts, drafts
            ts += TICK_S

    def drafts(self) -> Iterator[Draft]:
        """The run's events as the domain models draft them: every one good and on time, without ids,
        envelope or bytes. What the forecasts' backtests read (`forecast.history`): several times
        faster than the records, and the same values."""
        for _, drafts in self._ticks():
            yield from drafts

    def records(self) -> list[Record]:
        """The whole run as a list (small runs and tests)."""
        return list(self)

