"""Finding services: by category, district, language and audience, or by distance.

Ranking (highest first): the category matches (required when given), serves the person's
district (or at least their city), staff speak their language or interpreters are
available, open now, and the audience fits. Ties keep a stable order (service id).
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import CompoundSelect, Select, and_, literal, or_, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload

from service_catalogue.models import (
    Language,
    Location,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceAttribute,
)
from service_catalogue.taxonomy import CITIES

ISTANBUL_TIME = ZoneInfo("Europe/Istanbul")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class Query:
    category: str | None = None
    district: str | None = None
    city: str | None = None
    language: str | None = None
    audience: str | None = None


@dataclass(frozen=True)
class Hit:
    service: Service
    score: float
    reasons: tuple[str, ...]
    distance_km: float | None = None
    distance_is_approximate: bool = False


@dataclass
class Facts:
    """What ranking needs about one service, read with a few column queries."""

    interpreters: bool = False
    districts: set[str] = field(default_factory=set)
    cities: set[str] = field(default_factory=set)
    languages: set[str] = field(default_factory=set)
    audiences: set[str] = field(default_factory=set)
    hours: list[tuple[str, str, str]] = field(default_factory=list)  # (byday, opens, closes)


def is_open(hours: list[tuple[str, str, str]], when: datetime) -> bool | None:
    """True/False from the opening hours, None when the hours are unknown."""
    if not hours:
        return None
    local = when.astimezone(ISTANBUL_TIME)
    day, clock = WEEKDAYS[local.weekday()], local.strftime("%H:%M")
    return any(
        day in byday.split(",") and opens <= clock < closes for byday, opens, closes in hours
    )


def score(facts: Facts, query: Query, when: datetime) -> tuple[float, tuple[str, ...]]:
    points, reasons = 0.0, []
    if query.district and query.district in facts.districts:
        points += 4
        reasons.append("district")
    elif query.city and query.city in facts.cities:
        points += 2
        reasons.append("city")
    if query.language:
        if query.language in facts.languages:
            points += 2
            reasons.append("language")
        elif facts.interpreters:
            points += 1.5
            reasons.append("interpreters")
    if is_open(facts.hours, when):
        points += 1
        reasons.append("open_now")
    if query.audience and query.audience in facts.audiences:
        points += 0.5
        reasons.append("audience")
    return points, tuple(reasons)


def _candidate_ids(query: Query) -> Select[tuple[str]]:
    """Active services of the category that serve the district, its whole city, or whose
    area is not known — filtered in SQL so ranking only sees the few that can match."""
    statement = select(Service.id).where(Service.status == "active")
    if query.category:
        statement = statement.where(
            Service.id.in_(
                select(ServiceAttribute.service_id).where(
                    ServiceAttribute.taxonomy_term_id == f"category:{query.category}"
                )
            )
        )
    if query.district:
        places = [query.district] + ([query.city] if query.city else [])
        in_area = select(ServiceArea.service_id).where(ServiceArea.name.in_(places))
        located = (
            select(ServiceAtLocation.service_id)
            .join(Location, Location.id == ServiceAtLocation.location_id)
            .where(Location.district == query.district)
        )
        has_area = select(ServiceArea.id).where(ServiceArea.service_id == Service.id).exists()
        has_location = (
            select(ServiceAtLocation.id)
            .join(Location, Location.id == ServiceAtLocation.location_id)
            .where(ServiceAtLocation.service_id == Service.id, Location.district.is_not(None))
            .exists()
        )
        statement = statement.where(
            or_(
                Service.id.in_(in_area),
                Service.id.in_(located),
                and_(~has_area, ~has_location),
            )
        )
    return statement


def _facts(session: Session, candidates: Select[tuple[str]]) -> dict[str, Facts]:
    """Everything ranking needs, in one round trip: the candidates as a CTE and one UNION
    over it. The statement's text depends only on which filters the query has (no id lists
    spelled out), so PostgreSQL gets the same few statements again and again and psycopg
    prepares them (planning was a large part of the time on PostgreSQL)."""
    cand = candidates.cte("candidate")
    ids = select(cand.c.id)
    hours = Schedule.byday + "|" + Schedule.opens_at + "|" + Schedule.closes_at
    rows: CompoundSelect[tuple[str, str, str]] = union_all(
        select(cand.c.id, literal("candidate"), literal("")),
        select(Service.id, literal("interpreters"), literal("yes")).where(
            Service.id.in_(ids), Service.interpreters.is_(True)
        ),
        select(ServiceArea.service_id, literal("area"), ServiceArea.name).where(
            ServiceArea.service_id.in_(ids)
        ),
        select(ServiceAtLocation.service_id, literal("district"), Location.district)
        .join(Location, Location.id == ServiceAtLocation.location_id)
        .where(ServiceAtLocation.service_id.in_(ids), Location.district.is_not(None)),
        select(Language.service_id, literal("language"), Language.code).where(
            Language.service_id.in_(ids)
        ),
        select(
            ServiceAttribute.service_id, literal("audience"), ServiceAttribute.taxonomy_term_id
        ).where(
            ServiceAttribute.service_id.in_(ids),
            ServiceAttribute.taxonomy_term_id.startswith("audience:"),
        ),
        select(Schedule.service_id, literal("hours"), hours).where(Schedule.service_id.in_(ids)),
        select(ServiceAtLocation.service_id, literal("hours"), hours)
        .join(Schedule, Schedule.location_id == ServiceAtLocation.location_id)
        .where(ServiceAtLocation.service_id.in_(ids)),
    )
    facts: dict[str, Facts] = {}
    for sid, kind, value in session.execute(rows):
        entry = facts.setdefault(sid, Facts())
        if kind == "candidate":
            continue
        if kind == "interpreters":
            entry.interpreters = True
        elif kind == "area":
            (entry.cities if value in CITIES else entry.districts).add(value)
        elif kind == "district":
            entry.districts.add(value)
        elif kind == "language":
            entry.languages.add(value)
        elif kind == "audience":
            entry.audiences.add(value.split(":", 1)[1])
        else:
            byday, opens, closes = value.split("|")
            entry.hours.append((byday, opens, closes))
    return facts


def _load(session: Session, ids: list[str]) -> dict[str, Service]:
    """The full services to show (only the page that is shown)."""
    statement = (
        select(Service)
        .where(Service.id.in_(ids))
        .options(
            selectinload(Service.service_areas),
            selectinload(Service.service_at_locations).selectinload(ServiceAtLocation.location),
        )
    )
    return {service.id: service for service in session.scalars(statement)}


@dataclass
class Snapshot:
    """The ranking facts of every active service, read at one moment (see ``FactsIndex``)."""

    facts: dict[str, Facts]
    categories: dict[str, set[str]]  # category code -> service ids
    areas: dict[str, set[str]]  # service-area name (district or city) -> ids
    located: dict[str, set[str]]  # district of a location -> ids
    unplaced: set[str]  # neither a service area nor a located district: area unknown
    loaded_at: float

    @classmethod
    def load(cls, session: Session) -> Snapshot:
        active = select(Service.id).where(Service.status == "active")
        facts = _facts(session, active)
        categories: dict[str, set[str]] = {}
        for sid, term in session.execute(
            select(ServiceAttribute.service_id, ServiceAttribute.taxonomy_term_id).where(
                ServiceAttribute.taxonomy_term_id.startswith("category:")
            )
        ):
            if sid in facts:
                categories.setdefault(term.split(":", 1)[1], set()).add(sid)
        areas: dict[str, set[str]] = {}
        for sid, name in session.execute(select(ServiceArea.service_id, ServiceArea.name)):
            if sid in facts:
                areas.setdefault(name, set()).add(sid)
        located: dict[str, set[str]] = {}
        for sid, district in session.execute(
            select(ServiceAtLocation.service_id, Location.district)
            .join(Location, Location.id == ServiceAtLocation.location_id)
            .where(Location.district.is_not(None))
        ):
            if sid in facts:
                located.setdefault(district, set()).add(sid)
        placed = set().union(*areas.values(), *located.values())
        return cls(facts, categories, areas, located, set(facts) - placed, time.monotonic())

    def candidates(self, query: Query) -> list[str]:
        """The same services as ``_candidate_ids`` selects in SQL."""
        ids = self.categories.get(query.category, set()) if query.category else set(self.facts)
        if query.district:
            places = [query.district] + ([query.city] if query.city else [])
            serving = set().union(
                *(self.areas.get(p, set()) for p in places),
                self.located.get(query.district, set()),
                self.unplaced,
            )
            ids = ids & serving
        return list(ids)


class FactsIndex:
    """Search from memory instead of asking the database each time (PostgreSQL took 16-26 ms
    per search at 5,000 services; this takes well under a millisecond; docs/benchmarks.md).

    One snapshot per database engine, re-read when older than ``max_age_seconds``: a change to
    the catalogue (``make seed``, an HSDS import, in another process) reaches the bot within
    that time. Only the ranking facts are kept; what is shown is read fresh from the database.
    """

    def __init__(self, max_age_seconds: float = 30.0) -> None:
        self.max_age_seconds = max_age_seconds
        self._snapshots: weakref.WeakKeyDictionary[Engine, Snapshot] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def snapshot(self, session: Session) -> Snapshot:
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        with self._lock:
            current = self._snapshots.get(engine)
            if current is None or time.monotonic() - current.loaded_at > self.max_age_seconds:
                current = self._snapshots[engine] = Snapshot.load(session)
            return current

    def clear(self) -> None:
        with self._lock:
            self._snapshots.clear()


def search(
    session: Session,
    query: Query,
    when: datetime | None = None,
    limit: int = 3,
    offset: int = 0,
    index: FactsIndex | None = None,
) -> tuple[list[Hit], int]:
    """The best ``limit`` services after ``offset``, and how many matched in all.

    With a district, only services that serve it (or its whole city, or whose area is not
    known) are candidates; the caller offers a wider search when nothing is left. With an
    ``index``, the ranking facts come from memory (at most its age behind the database).
    """
    when = when or datetime.now(tz=ISTANBUL_TIME)
    if index is None:
        candidates = _facts(session, _candidate_ids(query))
    else:
        snapshot = index.snapshot(session)
        candidates = {sid: snapshot.facts[sid] for sid in snapshot.candidates(query)}
    ranked = []
    for sid, facts in candidates.items():
        points, reasons = score(facts, query, when)
        ranked.append((-points, sid, points, reasons))
    ranked.sort()
    page = ranked[offset : offset + limit]
    services = _load(session, [sid for _, sid, _, _ in page])
    hits = [
        Hit(services[sid], points, reasons)
        for _, sid, points, reasons in page
        if sid in services  # removed from the database since the snapshot: not shown
    ]
    return hits, len(ranked)


def _candidates(session: Session, category: str | None) -> Sequence[Service]:
    statement = (
        select(Service)
        .where(Service.status == "active")
        .options(
            selectinload(Service.service_at_locations).selectinload(ServiceAtLocation.location)
        )
        .order_by(Service.id)
    )
    if category:
        statement = statement.where(
            Service.id.in_(
                select(ServiceAttribute.service_id).where(
                    ServiceAttribute.taxonomy_term_id == f"category:{category}"
                )
            )
        )
    return session.scalars(statement).all()


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def nearest(
    session: Session,
    latitude: float,
    longitude: float,
    category: str | None = None,
    limit: int = 3,
) -> list[Hit]:
    """Services ordered by the distance of their nearest location (km)."""
    hits = []
    for service in _candidates(session, category):
        best: tuple[float, bool] | None = None
        for link in service.service_at_locations:
            location = link.location
            if location.latitude is None or location.longitude is None:
                continue
            km = haversine_km(latitude, longitude, location.latitude, location.longitude)
            if best is None or km < best[0]:
                best = (km, location.coordinates_source != "exact")
        if best is not None:
            hits.append(Hit(service, -best[0], ("distance",), best[0], best[1]))
    hits.sort(key=lambda h: (h.distance_km or 0.0, h.service.id))
    return hits[:limit]


def district_areas(session: Session) -> set[str]:
    """Every district or city some active service covers (for "did you mean" answers)."""
    return set(session.scalars(select(ServiceArea.name).distinct()))
