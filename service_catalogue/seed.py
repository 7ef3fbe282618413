"""Loads ``content/services/*.yml`` (one file per organization) into the database.

Validation reports every problem as ``file:line: field: message``. Seeding is idempotent:
organizations, services and locations are upserted by id and their child rows rebuilt;
a service that disappears from the files is marked ``inactive`` (tickets may refer to it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nlu_components.gazetteer import Gazetteer
from service_catalogue.models import (
    Language,
    Location,
    Organization,
    Phone,
    RequiredDocument,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceAttribute,
    TaxonomyTerm,
)
from service_catalogue.taxonomy import (
    AUDIENCE_CODES,
    CATEGORY_CODES,
    CITIES,
    audience_names,
    category_names,
)
from service_catalogue.yamlsource import ContentError, ContentErrors, SourceMap, load

LANGUAGES = ("ar", "fa", "tr", "en")
UNKNOWN = "unknown"
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
STATUSES = ("reviewed", "machine_draft")
MAX_TEXT = 2000


@dataclass
class Catalogue:
    """Validated content, ready to write to the database."""

    organizations: list[Organization] = field(default_factory=list)
    errors: list[ContentError] = field(default_factory=list)


def child_id(*parts: object) -> str:
    """A stable id for a child row, so re-seeding replaces rather than duplicates."""
    digest = hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:12]
    return f"{parts[0]}-{digest}"


class _Reader:
    def __init__(self, source: SourceMap, gazetteer: Gazetteer, errors: list[ContentError]):
        self.source = source
        self.gazetteer = gazetteer
        self.errors = errors

    def error(self, path: tuple[Any, ...], message: str) -> None:
        self.errors.append(self.source.error(path, message))

    def text(self, value: Any, path: tuple[Any, ...], required: bool = True) -> dict[str, str]:
        if value == UNKNOWN or (value is None and not required):
            return {}
        if not isinstance(value, dict):
            self.error(path, "expected texts per language: {tr: ..., en: ..., ar: ..., fa: ...}")
            return {}
        out = {}
        for lang, text in value.items():
            if lang not in LANGUAGES:
                self.error(path + (lang,), "unknown language (use ar, fa, tr, en)")
            elif not isinstance(text, str) or not text.strip():
                self.error(path + (lang,), "empty text")
            elif len(text) > MAX_TEXT:
                self.error(path + (lang,), f"longer than {MAX_TEXT} characters")
            else:
                out[lang] = text.strip()
        if required and "tr" not in out:
            self.error(path, "the Turkish text (tr) is required")
        return out

    def status(
        self, entry: dict[str, Any], path: tuple[Any, ...], texts: dict[str, dict[str, str]]
    ) -> dict[str, Any]:
        declared = entry.get("translation_status") or {}
        if not isinstance(declared, dict):
            self.error(
                path + ("translation_status",), "expected {language: reviewed | machine_draft}"
            )
            declared = {}
        for lang, value in declared.items():
            if lang not in LANGUAGES or value not in STATUSES:
                self.error(
                    path + ("translation_status", lang),
                    f"expected a language and one of {', '.join(STATUSES)}",
                )
        status: dict[str, Any] = {}
        for name, text in texts.items():
            if text:
                status[name] = {
                    lang: (declared.get(lang, "reviewed") if lang in text else "missing")
                    for lang in LANGUAGES
                }
        return status

    def ident(self, value: Any, path: tuple[Any, ...]) -> str:
        if (
            not isinstance(value, str)
            or not value
            or len(value) > 100
            or not all(c.isascii() and (c.isalnum() or c in "-_") for c in value)
        ):
            self.error(path, "expected an id of ascii letters, digits, - or _ (at most 100)")
            return ""
        return value

    def district(self, value: Any, path: tuple[Any, ...]) -> str | None:
        if value in (None, UNKNOWN):
            return None
        if isinstance(value, str):
            entry = self.gazetteer.lookup(value, "district")
            if entry is not None:
                if entry.value != value:
                    self.error(path, f"write the district as {entry.value!r}")
                return entry.value
        self.error(path, f"unknown district {value!r} (see nlu_data/lookups/gazetteer.yml)")
        return None

    def phones(self, value: Any, path: tuple[Any, ...], owner: str) -> list[Phone]:
        if value in (None, UNKNOWN):
            return []
        if not isinstance(value, list):
            self.error(path, "expected a list of {number, type} or unknown")
            return []
        phones = []
        for index, item in enumerate(value):
            number = item.get("number") if isinstance(item, dict) else None
            digits = "".join(ch for ch in str(number or "") if ch.isdigit())
            if not isinstance(number, str) or not 3 <= len(digits) <= 15:
                self.error(path + (index, "number"), "expected a phone number (3 to 15 digits)")
                continue
            phones.append(
                Phone(id=child_id(owner, "phone", index), number=number, type=item.get("type"))
            )
        return phones

    def schedules(self, value: Any, path: tuple[Any, ...], owner: str) -> list[Schedule]:
        if value in (None, UNKNOWN):
            return []
        if not isinstance(value, list):
            self.error(path, "expected a list of {days: [MO, ...], opens: HH:MM, closes: HH:MM}")
            return []
        rows = []
        for index, item in enumerate(value):
            where = path + (index,)
            if not isinstance(item, dict):
                self.error(where, "expected {days, opens, closes}")
                continue
            days = item.get("days")
            if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
                self.error(where + ("days",), f"expected a list of {', '.join(DAYS)}")
                continue
            opens, closes = str(item.get("opens", "")), str(item.get("closes", ""))
            if not (_is_time(opens) and _is_time(closes) and opens < closes):
                self.error(where, "expected opens < closes, both as HH:MM")
                continue
            rows.append(
                Schedule(
                    id=child_id(owner, "schedule", index),
                    byday=",".join(days),
                    opens_at=opens,
                    closes_at=closes,
                )
            )
        return rows


def _is_time(value: str) -> bool:
    parts = value.split(":")
    return (
        len(parts) == 2
        and all(p.isdigit() and len(p) == 2 for p in parts)
        and int(parts[0]) < 24
        and int(parts[1]) < 60
    )


def _read_file(
    path: Path, name: str, gazetteer: Gazetteer, errors: list[ContentError]
) -> Organization | None:
    try:
        data, source = load(path, name)
    except ContentErrors as error:
        errors.extend(error.errors)
        return None
    reader = _Reader(source, gazetteer, errors)
    if not isinstance(data, dict) or not isinstance(data.get("organization"), dict):
        reader.error((), "expected 'organization:', 'locations:' and 'services:'")
        return None
    org_data = data["organization"]
    org_id = reader.ident(org_data.get("id"), ("organization", "id"))
    org_texts = {
        "name": reader.text(org_data.get("name"), ("organization", "name")),
        "description": reader.text(
            org_data.get("description"), ("organization", "description"), required=False
        ),
    }
    organization = Organization(
        id=org_id,
        name=org_texts["name"],
        description=org_texts["description"],
        website=None if org_data.get("website") in (None, UNKNOWN) else str(org_data["website"]),
        email=None if org_data.get("email") in (None, UNKNOWN) else str(org_data["email"]),
        i18n_status=reader.status(org_data, ("organization",), org_texts),
        unknown=[k for k in ("website", "email", "phones") if org_data.get(k, UNKNOWN) == UNKNOWN],
        source=str(org_data.get("source") or name),
    )
    organization.phones = reader.phones(org_data.get("phones"), ("organization", "phones"), org_id)

    locations: dict[str, Location] = {}
    for index, loc in enumerate(data.get("locations") or []):
        where: tuple[Any, ...] = ("locations", index)
        if not isinstance(loc, dict):
            reader.error(where, "expected a location mapping")
            continue
        loc_id = reader.ident(loc.get("id"), where + ("id",))
        texts = {"name": reader.text(loc.get("name"), where + ("name",))}
        district = reader.district(loc.get("district"), where + ("district",))
        city = loc.get("city")
        if city not in (*CITIES, UNKNOWN, None):
            reader.error(where + ("city",), f"expected one of {', '.join(CITIES)} or unknown")
        coordinates = _coordinates(loc, district, reader, where)
        location = Location(
            id=loc_id,
            name=texts["name"],
            district=district,
            city=None if city in (UNKNOWN, None) else city,
            address_1=None if loc.get("address") in (None, UNKNOWN) else str(loc["address"]),
            latitude=coordinates[0],
            longitude=coordinates[1],
            coordinates_source=coordinates[2],
            i18n_status=reader.status(loc, where, texts),
            unknown=[
                k for k in ("address", "phones", "schedule") if loc.get(k, UNKNOWN) == UNKNOWN
            ],
        )
        location.phones = reader.phones(loc.get("phones"), where + ("phones",), loc_id)
        location.schedules = reader.schedules(loc.get("schedule"), where + ("schedule",), loc_id)
        if loc_id in locations:
            reader.error(where + ("id",), f"location id {loc_id!r} used twice")
        locations[loc_id] = location
    organization.locations = list(locations.values())

    for index, item in enumerate(data.get("services") or []):
        service = _read_service(item, ("services", index), reader, locations)
        if service is not None:
            organization.services.append(service)
    return organization


def _coordinates(
    loc: dict[str, Any], district: str | None, reader: _Reader, where: tuple[Any, ...]
) -> tuple[float | None, float | None, str | None]:
    lat, lon = loc.get("latitude"), loc.get("longitude")
    if lat not in (None, UNKNOWN) or lon not in (None, UNKNOWN):
        if (
            isinstance(lat, (int, float))
            and isinstance(lon, (int, float))
            and -90 <= lat <= 90
            and -180 <= lon <= 180
        ):
            return float(lat), float(lon), "exact"
        reader.error(where, "latitude and longitude must both be numbers (or both unknown)")
    entry = reader.gazetteer.lookup(district, "district") if district else None
    centre = entry.extra.get("centre") if entry else None
    if centre is not None:
        return float(centre[0]), float(centre[1]), "district_centre"
    return None, None, None


def _read_service(
    item: Any, where: tuple[Any, ...], reader: _Reader, locations: dict[str, Location]
) -> Service | None:
    if not isinstance(item, dict):
        reader.error(where, "expected a service mapping")
        return None
    service_id = reader.ident(item.get("id"), where + ("id",))
    eligibility = reader.text(item.get("eligibility"), where + ("eligibility",), required=False)
    texts = {
        "name": reader.text(item.get("name"), where + ("name",)),
        "description": reader.text(item.get("description"), where + ("description",)),
        "eligibility": eligibility,
    }
    categories = item.get("categories") or []
    audience = item.get("audience") or []
    for key, allowed, values in (
        ("categories", CATEGORY_CODES, categories),
        ("audience", AUDIENCE_CODES, audience),
    ):
        if not isinstance(values, list) or any(v not in allowed for v in values):
            reader.error(where + (key,), f"expected a list from: {', '.join(allowed)}")
    cost = item.get("cost", UNKNOWN)
    if cost not in ("free", "paid", UNKNOWN):
        reader.error(where + ("cost",), "expected free, paid or unknown")
    interpreters = item.get("interpreters", UNKNOWN)
    if interpreters not in (True, False, UNKNOWN):
        reader.error(where + ("interpreters",), "expected true, false or unknown")
    service = Service(
        id=service_id,
        name=texts["name"],
        description=texts["description"],
        eligibility=eligibility,
        cost=cost if cost in ("free", "paid") else UNKNOWN,
        interpreters=interpreters if isinstance(interpreters, bool) else None,
        i18n_status=reader.status(item, where, texts),
        unknown=[
            k
            for k in (
                "languages",
                "interpreters",
                "cost",
                "eligibility",
                "required_documents",
                "phones",
                "schedule",
                "districts",
            )
            if item.get(k, UNKNOWN) == UNKNOWN
        ],
    )
    codes = item.get("languages", UNKNOWN)
    if codes != UNKNOWN:
        if not isinstance(codes, list) or any(
            not isinstance(c, str) or not 2 <= len(c) <= 3 for c in codes
        ):
            reader.error(
                where + ("languages",), "expected a list of language codes (tr, ar, fa, ...)"
            )
        else:
            service.languages = [
                Language(id=child_id(service_id, "language", c), code=c)
                for c in dict.fromkeys(codes)
            ]
    documents = item.get("required_documents", UNKNOWN)
    if documents != UNKNOWN:
        if not isinstance(documents, list):
            reader.error(where + ("required_documents",), "expected a list of texts, [] or unknown")
        else:
            service.required_documents = [
                RequiredDocument(
                    id=child_id(service_id, "document", i),
                    document=reader.text(d, where + ("required_documents", i)),
                )
                for i, d in enumerate(documents)
            ]
    districts = item.get("districts", UNKNOWN)
    if districts != UNKNOWN:
        if not isinstance(districts, list):
            reader.error(
                where + ("districts",), "expected a list of districts or cities, or unknown"
            )
        else:
            for i, name in enumerate(districts):
                if name in CITIES:
                    area, city = name, name
                else:
                    area = reader.district(name, where + ("districts", i))
                    entry = reader.gazetteer.lookup(area, "district") if area else None
                    city = entry.extra.get("city") if entry else None
                if area:
                    service.service_areas.append(
                        ServiceArea(id=child_id(service_id, "area", area), name=area, city=city)
                    )
    for i, loc_id in enumerate(item.get("locations") or []):
        if loc_id not in locations:
            reader.error(where + ("locations", i), f"no location {loc_id!r} in this file")
            continue
        service.service_at_locations.append(
            ServiceAtLocation(id=f"{service_id}@{loc_id}", location=locations[loc_id])
        )
    service.phones = reader.phones(item.get("phones"), where + ("phones",), service_id)
    service.schedules = reader.schedules(item.get("schedule"), where + ("schedule",), service_id)
    service.attributes = [
        ServiceAttribute(id=f"{service_id}#{term}", taxonomy_term_id=term)
        for term in [f"category:{c}" for c in categories if c in CATEGORY_CODES]
        + [f"audience:{a}" for a in audience if a in AUDIENCE_CODES]
    ]
    return service


def read_catalogue(content_dir: Path, gazetteer: Gazetteer) -> Catalogue:
    catalogue = Catalogue()
    seen: dict[str, str] = {}
    for path in sorted((content_dir / "services").glob("*.yml")):
        name = str(path.relative_to(content_dir.parent))
        organization = _read_file(path, name, gazetteer, catalogue.errors)
        if organization is None:
            continue
        ids = [
            organization.id,
            *[s.id for s in organization.services],
            *[loc.id for loc in organization.locations],
        ]
        for ident in ids:
            if ident in seen and ident:
                catalogue.errors.append(
                    ContentError(name, 0, "id", f"{ident!r} is also used in {seen[ident]}")
                )
            seen[ident] = name
        catalogue.organizations.append(organization)
    return catalogue


def ensure_taxonomy(session: Session) -> None:
    for taxonomy, terms in (
        ("rehber-category", category_names()),
        ("rehber-audience", audience_names()),
    ):
        prefix = "category" if taxonomy == "rehber-category" else "audience"
        for code, names in terms.items():
            session.merge(
                TaxonomyTerm(id=f"{prefix}:{code}", code=code, taxonomy=taxonomy, name=dict(names))
            )


def write_catalogue(session: Session, catalogue: Catalogue) -> dict[str, int]:
    """Upserts everything in one transaction (the caller commits)."""
    if catalogue.errors:
        raise ContentErrors(catalogue.errors)
    ensure_taxonomy(session)
    session.flush()
    present: set[str] = set()
    for organization in catalogue.organizations:
        session.merge(organization)
        present.update(s.id for s in organization.services)
    retired = 0
    for service in session.scalars(select(Service).where(Service.status == "active")):
        if service.id not in present:
            service.status = "inactive"
            retired += 1
    session.flush()
    return {
        "organizations": len(catalogue.organizations),
        "services": len(present),
        "retired": retired,
    }
