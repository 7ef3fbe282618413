"""Finding services: by category, district, language and audience, or by distance.

Ranking (highest first): the category matches (required when given), serves the person's
district (or at least their city), staff speak their language or interpreters are
available, open now, and the audience fits. Ties keep a stable order (service id).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from service_catalogue.models import (
    Location,
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


def is_open(service: Service, when: datetime) -> bool | None:
    """True/False from the opening hours, None when the hours are unknown."""
    schedules = list(service.schedules)
    for link in service.service_at_locations:
        schedules += list(link.location.schedules)
    if not schedules:
        return None
    local = when.astimezone(ISTANBUL_TIME)
    day, clock = WEEKDAYS[local.weekday()], local.strftime("%H:%M")
    return any(day in s.byday.split(",") and s.opens_at <= clock < s.closes_at for s in schedules)


def _areas(service: Service) -> tuple[set[str], set[str]]:
    """(districts served, whole cities served)."""
    districts = {a.name for a in service.service_areas if a.name not in CITIES}
    cities = {a.name for a in service.service_areas if a.name in CITIES}
    for link in service.service_at_locations:
        if link.location.district:
            districts.add(link.location.district)
    return districts, cities


def score(service: Service, query: Query, when: datetime) -> tuple[float, tuple[str, ...]]:
    points, reasons = 0.0, []
    districts, cities = _areas(service)
    if query.district and query.district in districts:
        points += 4
        reasons.append("district")
    elif query.city and query.city in cities:
        points += 2
        reasons.append("city")
    if query.language:
        codes = {language.code for language in service.languages}
        if query.language in codes:
            points += 2
            reasons.append("language")
        elif service.interpreters:
            points += 1.5
            reasons.append("interpreters")
    if is_open(service, when):
        points += 1
        reasons.append("open_now")
    if query.audience and any(
        a.taxonomy_term_id == f"audience:{query.audience}" for a in service.attributes
    ):
        points += 0.5
        reasons.append("audience")
    return points, tuple(reasons)


def _candidates(session: Session, category: str | None) -> Sequence[Service]:
    statement = (
        select(Service)
        .where(Service.status == "active")
        .options(
            selectinload(Service.service_areas),
            selectinload(Service.languages),
            selectinload(Service.schedules),
            selectinload(Service.attributes),
            selectinload(Service.service_at_locations)
            .selectinload(ServiceAtLocation.location)
            .selectinload(Location.schedules),
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


def search(
    session: Session, query: Query, when: datetime | None = None, limit: int = 3, offset: int = 0
) -> tuple[list[Hit], int]:
    """The best ``limit`` services after ``offset``, and how many matched in all.

    With a district, only services that serve it (or its whole city, or whose area is not
    known) are candidates; the caller offers a wider search when nothing is left.
    """
    when = when or datetime.now(tz=ISTANBUL_TIME)
    hits = []
    for service in _candidates(session, query.category):
        points, reasons = score(service, query, when)
        districts, cities = _areas(service)
        serves_here = "district" in reasons or "city" in reasons
        if query.district and not serves_here and (districts or cities):
            continue  # serves somewhere else
        hits.append(Hit(service, points, reasons))
    hits.sort(key=lambda h: (-h.score, h.service.id))
    return hits[offset : offset + limit], len(hits)


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
