"""Open Referral HSDS 3.0 export and import of the service catalogue.

``export_file`` writes one HSDS page shaped like the spec's ``examples/service_list.json``
(``total_items`` ... ``contents``) whose contents are fully nested ``service`` objects, sorted
by id. Every service and the page envelope are validated before anything is written.
``import_file`` reads such a page, or a plain list of services, validates each record against
``schema/compiled/service.json`` and upserts the valid ones by id like ``seed.py`` does
(merge; child rows rebuilt). The caller owns the session and commits.

How Rehber's data is carried in HSDS, which has one language per field and no "unknown":

* HSDS text fields hold the Turkish text (the source language). An entity without Turkish
  text gets the first of en, ar, fa there, plus an attribute ``<field>.hsds`` naming it.
* Other languages: ``attributes`` of the entity the text belongs to (service, organization,
  location, phone, schedule, required_document) with taxonomy ``rehber-i18n``, term code
  ``<field>.<lang>`` (``description.ar``) and the text as ``value``. ``<field>`` is Rehber's
  column name: ``eligibility`` is HSDS ``eligibility_description``.
* Translation statuses: taxonomy ``rehber-i18n``, code ``<field>.<lang>.status``, value
  ``reviewed``, ``machine_draft`` or ``missing``: the entity's ``i18n_status``, entry by entry.
* Facts without an HSDS field: taxonomy ``rehber-meta``, one attribute each: ``unknown``
  (comma-separated, in order), ``cost`` (free/paid/unknown; on every service, so it also marks
  a record as Rehber's), ``interpreters`` (true/false); ``district``, ``city``, ``postal_code``
  and ``coordinates_source`` on locations; ``source`` on organizations; ``city`` on service
  areas; ``timezone`` on schedules whose zone is not Europe/Istanbul.
* Categories and audiences: attributes with taxonomy ``rehber-category`` / ``rehber-audience``
  and a full ``taxonomy_term`` (id, code, Turkish name, description, taxonomy).
* A list whose facts are unknown (phones, schedules, languages, service_areas,
  required_documents) is left out; a list known to be empty is ``[]``. ``cost_options``: free
  is one option with amount 0 in TRY; paid and unknown have none (``cost`` says which).
* Opening hours: ``opens_at``/``closes_at`` as ``HH:MM+03:00`` and ``timezone`` 3 (UTC offset).
* Ids are Rehber's own slugs. The schema marks ids ``format: uuid``; like jsonschema by
  default, we treat formats as annotations and do not check them.
* Only active services are exported (``include_inactive=True`` for all). Organizations
  without services and locations no service uses are not part of a service list.

Import: a record with any attribute of a ``rehber-*`` taxonomy is Rehber's and is read back
losslessly. Any other record is foreign: its texts are stored under ``language`` (default tr)
as reviewed, the other languages missing; what it does not say is recorded as unknown;
districts are matched with the gazetteer; categories that cannot be mapped are left out and
the service is reported as "imported without a Rehber category". Parts Rehber cannot store as
given (a latitude of 100, monthly hours, a 5000-character description, an address outside
Türkiye, hours limited to some dates or weeks, fields with no Rehber column) are left out and
named in a problem line. Foreign services, organizations and locations keep their ids; their
child rows (phones, hours, ...) get ids derived from the owner's id and theirs, so a package
that reuses one id in two places cannot make two rows collide. A record is rejected only when
it is not valid HSDS, when its ids cannot be stored, or when a child id already belongs to
another owner; nothing of a rejected record is written, and nothing at all when the file is
not UTF-8 JSON of one of the two shapes. Each record is written in its own savepoint.

The schemas are read (on first use, never at import) from ``$REHBER_HSDS_DIR``, by default
the copy shipped in ``service_catalogue/hsds_3_0`` (CC BY-SA 4.0, Open Referral).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from service_catalogue.models import (
    Base,
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
)
from service_catalogue.seed import DAYS, LANGUAGES, MAX_TEXT, STATUSES, child_id, ensure_taxonomy
from service_catalogue.taxonomy import AUDIENCE_CODES, CATEGORY_CODES, CITIES

if TYPE_CHECKING:
    from nlu_components.gazetteer import Gazetteer

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR_VARIABLE = "REHBER_HSDS_DIR"
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parent / "hsds_3_0"
GAZETTEER_FILE = ROOT / "nlu_data" / "lookups" / "gazetteer.yml"

I18N = "rehber-i18n"
META = "rehber-meta"
TERM_TAXONOMIES = {"rehber-category": "category", "rehber-audience": "audience"}
TERM_CODES = {"category": CATEGORY_CODES, "audience": AUDIENCE_CODES}
STATUS_VALUES = (*STATUSES, "missing")
HSDS_FALLBACK = ("en", "ar", "fa")
LANGUAGE_NAMES = {"ar": "Arabic", "fa": "Persian", "tr": "Turkish", "en": "English"}
TIMEZONE = "Europe/Istanbul"
TIMEZONE_REFERENCE = datetime(2025, 1, 15, 12)  # Türkiye has kept UTC+3 all year since 2016
CURRENCY = "TRY"
COUNTRIES = ("TR", "TUR", "TURKIYE", "TURKEY")
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ERRORS_PER_RECORD = 10
MAX_SHOWN = 120
PHONE_RULE = "Rehber stores phone numbers of 3 or more digits, at most 50 characters"
AREA_RULE = "Rehber stores a service area as a district or city name of at most 60 characters"
COORDINATES_RULE = "Rehber stores latitude and longitude together, within ±90 and ±180"
SCHEDULE_RULE = "Rehber stores weekly hours only (byday of MO..SU, opens_at before closes_at)"

SERVICE_UNKNOWN = (
    "languages", "interpreters", "cost", "eligibility", "required_documents", "phones",
    "schedule", "districts",
)  # fmt: skip
ORGANIZATION_UNKNOWN = ("website", "email", "phones")
LOCATION_UNKNOWN = ("address", "phones", "schedule")
META_DESCRIPTIONS = {
    "unknown": "Facts the sources do not give (comma-separated); shown to people as unknown.",
    "cost": "free, paid or unknown.",
    "interpreters": "true or false: interpreters are available.",
    "district": "The district (ilçe).",
    "city": "The city (il).",
    "postal_code": "The postal code.",
    "coordinates_source": "exact, or district_centre when only the district is known.",
    "source": "Where the information comes from.",
    "timezone": "The IANA time zone of the opening hours.",
}
# ISO 639-3 / 639-2 codes of our languages, as other directories may write them.
LANGUAGE_CODES = {"ara": "ar", "fas": "fa", "per": "fa", "tur": "tr", "eng": "en"}

# The HSDS keys Rehber reads, per object; anything else is reported as not stored.
SERVICE_KEYS = frozenset(
    "id organization_id name description url email status fees_description "
    "eligibility_description minimum_age maximum_age phones schedules service_areas "
    "service_at_locations languages organization cost_options required_documents attributes".split()
)
ORGANIZATION_KEYS = frozenset("id name description email website phones attributes".split())
LOCATION_KEYS = frozenset(
    "id location_type organization_id name description latitude longitude addresses phones "
    "schedules languages attributes".split()
)
ADDRESS_KEYS = frozenset(
    "id location_id address_1 address_2 city region state_province postal_code country "
    "address_type".split()
)
PHONE_KEYS = frozenset(
    "id number type description attributes service_id location_id organization_id".split()
)
SCHEDULE_KEYS = frozenset(
    "id service_id location_id freq interval wkst dtstart byday opens_at closes_at timezone "
    "description attributes".split()
)
# Storing these hours as "every week" would claim more than the source says: left out.
SCHEDULE_LIMITS = (
    "valid_from",
    "valid_to",
    "until",
    "count",
    "byweekno",
    "bymonthday",
    "byyearday",
)
LANGUAGE_KEYS = frozenset("id service_id location_id name code note attributes".split())
AREA_KEYS = frozenset("id service_id name attributes".split())
DOCUMENT_KEYS = frozenset("id service_id document uri attributes".split())
LINK_KEYS = frozenset("id service_id location_id location".split())

_TIME = re.compile(
    r"^([01]\d|2[0-3]):([0-5]\d)(?::[0-5]\d(?:\.\d+)?)?"
    r"(Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?$"
)
_ETC_ZONE = re.compile(r"^UTC([+-])(\d{2}):(\d{2})$")

Owner = tuple[str, str]  # ("service" | "location" | "organization", id)


class SchemaMissing(RuntimeError):
    """The HSDS schema files are not where REHBER_HSDS_DIR (or the default) says."""


class ExportError(RuntimeError):
    """The package we built does not validate: a bug, never written to disk."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class RejectedRecord:
    index: int
    id: str | None
    problems: list[str]


@dataclass
class ImportResult:
    imported: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    imported_ids: list[str] = field(default_factory=list)


# --- schemas ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schemas:
    service: Any  # jsonschema validators
    page: Any  # the envelope as we write it: every Page field
    any_page: Any  # the envelope as we accept it: `contents`, other Page fields typed


def schema_dir() -> Path:
    return Path(os.environ.get(SCHEMA_DIR_VARIABLE) or DEFAULT_SCHEMA_DIR)


@lru_cache(maxsize=4)
def _schemas(directory: str) -> Schemas:
    from jsonschema.validators import Draft202012Validator, validator_for

    base = Path(directory)
    try:
        service = json.loads((base / "schema" / "compiled" / "service.json").read_text("utf-8"))
        openapi = json.loads((base / "schema" / "openapi.json").read_text("utf-8"))
        page = openapi["components"]["schemas"]["Page"]
    except (OSError, ValueError, KeyError) as error:
        raise SchemaMissing(
            f"HSDS 3.0 schema not readable in {base} ({error}); set {SCHEMA_DIR_VARIABLE}"
        ) from error
    envelope = {**page, "properties": {**page["properties"], "contents": {"type": "array"}}}
    full = {**envelope, "required": [*page["properties"], "contents"]}
    loose = {**envelope, "required": ["contents"]}
    return Schemas(
        service=validator_for(service, default=Draft202012Validator)(service),
        page=Draft202012Validator(full),
        any_page=Draft202012Validator(loose),
    )


def load_schemas() -> Schemas:
    return _schemas(str(schema_dir()))


# --- export -----------------------------------------------------------------------------------


def _ordered(languages: Iterable[str]) -> list[str]:
    present = set(languages)
    return [lang for lang in LANGUAGES if lang in present] + sorted(present - set(LANGUAGES))


class _Carrier:
    """Collects the rehber-i18n / rehber-meta attributes of one HSDS entity."""

    def __init__(self, entity: str, entity_id: str) -> None:
        self.entity = entity
        self.entity_id = entity_id
        self.attributes: list[dict[str, Any]] = []

    def _add(self, taxonomy: str, code: str, value: str, description: str) -> None:
        self.attributes.append(
            {
                "id": f"{self.entity_id}#{taxonomy}:{code}",
                "link_id": self.entity_id,
                "link_entity": self.entity,
                "value": value,
                "taxonomy_term": {
                    "id": f"{taxonomy}:{code}",
                    "code": code,
                    "name": code,
                    "description": description,
                    "taxonomy": taxonomy,
                },
            }
        )

    def text(self, name: str, texts: dict[str, str] | None) -> str | None:
        """The HSDS value of a translatable field; the other languages become attributes."""
        texts = texts or {}
        languages = _ordered(texts)
        if not languages:
            return None
        shown = (
            "tr" if "tr" in texts else next(x for x in (*HSDS_FALLBACK, *languages) if x in texts)
        )
        if shown != "tr":
            self._add(I18N, f"{name}.hsds", shown, f"The language of the HSDS {name} field.")
        for lang in languages:
            if lang != shown:
                language = LANGUAGE_NAMES.get(lang, lang)
                self._add(I18N, f"{name}.{lang}", texts[lang], f"The {name} in {language}.")
        return texts[shown]

    def statuses(self, status: dict[str, Any]) -> None:
        for name in sorted(status):
            per_language = status[name]
            if not isinstance(per_language, dict):
                raise ExportError(
                    [f"{self.entity} {self.entity_id}: i18n_status.{name} is not a mapping"]
                )
            for lang in _ordered(per_language):
                self._add(
                    I18N,
                    f"{name}.{lang}.status",
                    str(per_language[lang]),
                    f"Translation status of the {name} in {LANGUAGE_NAMES.get(lang, lang)}.",
                )

    def meta(self, code: str, value: str | None) -> None:
        if value is not None:
            self._add(META, code, value, META_DESCRIPTIONS[code])

    def put(self, out: dict[str, Any]) -> dict[str, Any]:
        if self.attributes:
            out["attributes"] = self.attributes
        return out


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _put_list(out: dict[str, Any], key: str, items: list[Any], unknown: bool) -> None:
    if items or not unknown:
        out[key] = items


def _by_id(rows: Iterable[Any]) -> list[Any]:
    return sorted(rows, key=lambda row: str(row.id))


def _utc_offset(zone: str) -> float | None:
    if zone == TIMEZONE:
        return 3
    try:
        delta = ZoneInfo(zone).utcoffset(TIMEZONE_REFERENCE)
    except (ZoneInfoNotFoundError, ValueError):
        found = _ETC_ZONE.match(zone)
        if not found:
            return None
        hours = int(found.group(2)) + int(found.group(3)) / 60
        return hours if found.group(1) == "+" else -hours
    return delta.total_seconds() / 3600 if delta is not None else None


def _offset_suffix(hours: float) -> str:
    minutes = round(abs(hours) * 60)
    return f"{'-' if hours < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _phone(phone: Phone) -> dict[str, Any]:
    carrier = _Carrier("phone", phone.id)
    out: dict[str, Any] = {"id": phone.id, "number": phone.number}
    _put(out, "type", phone.type)
    _put(out, "description", carrier.text("description", phone.description))
    return carrier.put(out)


def _schedule(schedule: Schedule) -> dict[str, Any]:
    carrier = _Carrier("schedule", schedule.id)
    offset = _utc_offset(schedule.timezone)
    suffix = _offset_suffix(offset) if offset is not None else ""
    out: dict[str, Any] = {
        "id": schedule.id,
        "freq": schedule.freq,
        "byday": schedule.byday,
        "opens_at": schedule.opens_at + suffix,
        "closes_at": schedule.closes_at + suffix,
    }
    if offset is not None:
        out["timezone"] = _number(offset)
    _put(out, "description", carrier.text("description", schedule.description))
    carrier.meta("timezone", schedule.timezone if schedule.timezone != TIMEZONE else None)
    return carrier.put(out)


def _language(language: Language) -> dict[str, Any]:
    out: dict[str, Any] = {"id": language.id, "code": language.code}
    _put(out, "name", language.name)
    _put(out, "note", language.note)
    return out


def _location(location: Location) -> dict[str, Any]:
    carrier = _Carrier("location", location.id)
    out: dict[str, Any] = {
        "id": location.id,
        "location_type": location.location_type,
        "organization_id": location.organization_id,
    }
    _put(out, "name", carrier.text("name", location.name))
    _put(out, "description", carrier.text("description", location.description))
    _put(out, "latitude", location.latitude)
    _put(out, "longitude", location.longitude)
    if location.address_1:
        address = {
            "id": f"{location.id}#address",
            "address_1": location.address_1,
            "city": location.district or location.city or "",
            "state_province": location.city or "",
            "postal_code": location.postal_code or "",
            "country": COUNTRIES[0],
            "address_type": "postal" if location.location_type == "postal" else "physical",
        }
        out["addresses"] = [address]
    unknown = set(location.unknown or [])
    _put_list(out, "phones", [_phone(p) for p in _by_id(location.phones)], "phones" in unknown)
    schedules = [_schedule(s) for s in _by_id(location.schedules)]
    _put_list(out, "schedules", schedules, "schedule" in unknown)
    if location.languages:
        out["languages"] = [_language(lang) for lang in _by_id(location.languages)]
    carrier.statuses(location.i18n_status or {})
    carrier.meta("district", location.district)
    carrier.meta("city", location.city)
    carrier.meta("postal_code", location.postal_code)
    carrier.meta("coordinates_source", location.coordinates_source)
    carrier.meta("unknown", ",".join(location.unknown) if location.unknown else None)
    return carrier.put(out)


def _organization(organization: Organization) -> dict[str, Any]:
    carrier = _Carrier("organization", organization.id)
    out: dict[str, Any] = {
        "id": organization.id,
        "name": carrier.text("name", organization.name) or "",
        "description": carrier.text("description", organization.description) or "",
    }
    _put(out, "email", organization.email)
    _put(out, "website", organization.website)
    phones = [_phone(p) for p in _by_id(organization.phones)]
    _put_list(out, "phones", phones, "phones" in (organization.unknown or []))
    carrier.statuses(organization.i18n_status or {})
    carrier.meta("source", organization.source)
    carrier.meta("unknown", ",".join(organization.unknown) if organization.unknown else None)
    return carrier.put(out)


def _term_attribute(service_id: str, attribute: ServiceAttribute) -> dict[str, Any]:
    term = attribute.taxonomy_term
    return {
        "id": attribute.id,
        "link_id": service_id,
        "link_entity": "service",
        "link_type": TERM_TAXONOMIES.get(term.taxonomy, term.taxonomy),
        "taxonomy_term_id": term.id,
        "taxonomy_term": {
            "id": term.id,
            "code": term.code,
            "name": (term.name or {}).get("tr") or term.code,
            "description": (term.description or {}).get("tr", ""),
            "taxonomy": term.taxonomy,
            "language": "tr",
        },
    }


def _service(service: Service) -> dict[str, Any]:
    carrier = _Carrier("service", service.id)
    unknown = set(service.unknown or [])
    out: dict[str, Any] = {
        "id": service.id,
        "organization_id": service.organization_id,
        "name": carrier.text("name", service.name) or "",
    }
    _put(out, "description", carrier.text("description", service.description))
    _put(out, "url", service.url)
    _put(out, "email", service.email)
    out["status"] = service.status
    _put(out, "fees_description", carrier.text("fees_description", service.fees_description))
    _put(out, "eligibility_description", carrier.text("eligibility", service.eligibility))
    _put(out, "minimum_age", service.minimum_age)
    _put(out, "maximum_age", service.maximum_age)
    out["organization"] = _organization(service.organization)
    out["service_at_locations"] = [
        {
            "id": link.id,
            "service_id": service.id,
            "location_id": link.location_id,
            "location": _location(link.location),
        }
        for link in _by_id(service.service_at_locations)
    ]
    _put_list(out, "phones", [_phone(p) for p in _by_id(service.phones)], "phones" in unknown)
    schedules = [_schedule(s) for s in _by_id(service.schedules)]
    _put_list(out, "schedules", schedules, "schedule" in unknown)
    languages = [_language(lang) for lang in _by_id(service.languages)]
    _put_list(out, "languages", languages, "languages" in unknown)
    areas = []
    for area in _by_id(service.service_areas):
        area_carrier = _Carrier("service_area", area.id)
        area_carrier.meta("city", area.city)
        areas.append(area_carrier.put({"id": area.id, "name": area.name}))
    _put_list(out, "service_areas", areas, "districts" in unknown)
    documents = []
    for document in _by_id(service.required_documents):
        doc_carrier = _Carrier("required_document", document.id)
        item = {
            "id": document.id,
            "document": doc_carrier.text("document", document.document) or "",
        }
        _put(item, "uri", document.uri)
        documents.append(doc_carrier.put(item))
    _put_list(out, "required_documents", documents, "required_documents" in unknown)
    if service.cost == "free":
        out["cost_options"] = [{"id": f"{service.id}#cost", "amount": 0, "currency": CURRENCY}]
    carrier.statuses(service.i18n_status or {})
    carrier.meta("cost", service.cost)
    if service.interpreters is not None:
        carrier.meta("interpreters", "true" if service.interpreters else "false")
    carrier.meta("unknown", ",".join(service.unknown) if service.unknown else None)
    terms = [_term_attribute(service.id, a) for a in _by_id(service.attributes)]
    out["attributes"] = terms + carrier.attributes
    return out


def export_package(session: Session, *, include_inactive: bool = False) -> dict[str, Any]:
    """The catalogue as one HSDS page of fully nested services, sorted by id."""
    located = selectinload(Service.service_at_locations).selectinload(ServiceAtLocation.location)
    statement = (
        select(Service)
        .options(
            selectinload(Service.organization).selectinload(Organization.phones),
            selectinload(Service.phones),
            selectinload(Service.schedules),
            selectinload(Service.languages),
            selectinload(Service.service_areas),
            selectinload(Service.required_documents),
            selectinload(Service.attributes).selectinload(ServiceAttribute.taxonomy_term),
            located.selectinload(Location.phones),
            located.selectinload(Location.schedules),
            located.selectinload(Location.languages),
        )
        .order_by(Service.id)
    )
    if not include_inactive:
        statement = statement.where(Service.status == "active")
    contents = [_service(service) for service in session.scalars(statement)]
    return {
        "total_items": len(contents),
        "total_pages": 1,
        "page_number": 1,
        "size": len(contents),
        "first_page": True,
        "last_page": True,
        "empty": not contents,
        "contents": contents,
    }


def dumps(package: Any) -> str:
    """The one serialisation we write: UTF-8 text as typed (Arabic stays readable), stable."""
    return json.dumps(package, ensure_ascii=False, indent=2) + "\n"


def validate_package(package: dict[str, Any]) -> list[str]:
    """Problems with a package we are about to write (envelope, then each service)."""
    schemas = load_schemas()
    problems = [
        f"page: {_where(list(e.absolute_path))}: {_message(e)}"
        for e in sorted(schemas.page.iter_errors(package), key=_error_key)
    ]
    contents = package.get("contents")
    if not isinstance(contents, list):
        return problems
    if package.get("total_items") != len(contents) or package.get("size") != len(contents):
        problems.append("page: total_items and size must equal the number of contents")
    for index, record in enumerate(contents):
        problems += _schema_problems(schemas, record, f"contents[{index}]")
    return problems


def export_file(session: Session, out: Path, *, include_inactive: bool = False) -> int:
    """Writes the validated package to ``out`` (atomically); returns the number of services."""
    package = export_package(session, include_inactive=include_inactive)
    problems = validate_package(package)
    if problems:
        raise ExportError(problems)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(dumps(package), encoding="utf-8")
    os.replace(partial, out)
    return len(package["contents"])


# --- problem lines ----------------------------------------------------------------------------

_INVISIBLE = dict.fromkeys([*range(0x20), 0x7F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def _show(value: Any) -> str:
    """A value as it can appear inside one problem line: one line, bounded, no bidi controls."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = "".join(f"\\x{ord(c):02x}" if ord(c) in _INVISIBLE else c for c in text)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _where(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _error_key(error: Any) -> tuple[str, str]:
    return (_where(list(error.absolute_path)), str(error.message))


def _message(error: Any) -> str:
    return _show(str(error.message))


def _schema_problems(schemas: Schemas, record: Any, label: str) -> list[str]:
    errors = sorted(schemas.service.iter_errors(record), key=_error_key)
    lines = []
    for error in errors[:MAX_ERRORS_PER_RECORD]:
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = re.match(r"^'(.+)' is a required property$", str(error.message))
            if missing:
                path.append(missing.group(1))
        where = _where(path)
        lines.append(
            f"{label}: {where}: {_message(error)}" if where else f"{label}: {_message(error)}"
        )
    if len(errors) > MAX_ERRORS_PER_RECORD:
        lines.append(f"{label}: and {len(errors) - MAX_ERRORS_PER_RECORD} more problems")
    return lines


# --- reading a file ---------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def read_package(path: Path) -> tuple[Any, str | None]:
    """The parsed JSON, or a problem saying why the file cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, f"the file has {size} bytes; at most {MAX_FILE_BYTES} are accepted"
        raw = path.read_bytes()
    except OSError as error:
        return None, f"cannot read the file ({error.strerror or error})"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        byte = raw[error.start]
        return None, f"not UTF-8 text (byte 0x{byte:02x} at offset {error.start}); save it as UTF-8"
    if not text.strip():
        return None, "the file is empty; expected HSDS JSON"
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as error:
        return None, f"not valid JSON: line {error.lineno} column {error.colno}: {error.msg}"
    except ValueError as error:
        return None, f"not valid JSON: {error}"
    except RecursionError:
        return None, "not valid JSON: nested too deeply"


def _records(data: Any, schemas: Schemas) -> tuple[list[Any] | None, str, str | None]:
    """(records, label prefix, problem) for a page object or a plain list of services."""
    if isinstance(data, list):
        return data, "", None
    if isinstance(data, dict):
        if "contents" not in data:
            hint = " (one service? put it in a list)" if "id" in data and "name" in data else ""
            return None, "", f"expected an HSDS page with 'contents', or a list of services{hint}"
        errors = sorted(schemas.any_page.iter_errors(data), key=_error_key)
        if errors:
            error = errors[0]
            return (
                None,
                "",
                f"not an HSDS page: {_where(list(error.absolute_path))}: {_message(error)}",
            )
        return data["contents"], "contents", None
    kind = type(data).__name__ if data is not None else "null"
    return None, "", f"expected an HSDS page or a list of services, found a JSON {kind}"


# --- reading records --------------------------------------------------------------------------


@dataclass
class _Decoded:
    """An entity's attributes, sorted by what Rehber does with them."""

    texts: dict[str, dict[str, tuple[Any, str]]] = field(default_factory=dict)
    statuses: dict[str, dict[str, tuple[Any, str]]] = field(default_factory=dict)
    shown: dict[str, Any] = field(default_factory=dict)  # field -> language of the HSDS text
    meta: dict[str, tuple[Any, str]] = field(default_factory=dict)
    terms: list[tuple[str, Any, str]] = field(default_factory=list)  # (path, attr id, term id)
    problems: list[tuple[str, str]] = field(default_factory=list)
    foreign: set[str] = field(default_factory=set)
    rehber: bool = False


def _decode(items: Any, path: str) -> _Decoded:
    decoded = _Decoded()
    for index, item in enumerate(items if isinstance(items, list) else []):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            continue
        given = item.get("taxonomy_term")
        term: dict[str, Any] = given if isinstance(given, dict) else {}
        taxonomy, code = term.get("taxonomy"), term.get("code")
        term_id = item.get("taxonomy_term_id") or term.get("id")
        if taxonomy is None and isinstance(term_id, str) and ":" in term_id:
            prefix, _, rest = term_id.partition(":")
            found = {v: k for k, v in TERM_TAXONOMIES.items()}.get(prefix)
            if found:
                taxonomy, code = found, rest
        value = item.get("value")
        if isinstance(taxonomy, str) and taxonomy.startswith("rehber-"):
            decoded.rehber = True
        if taxonomy == I18N and isinstance(code, str):
            parts = code.split(".")
            if len(parts) == 2 and parts[1] == "hsds":
                decoded.shown[parts[0]] = value
            elif len(parts) == 2:
                decoded.texts.setdefault(parts[0], {})[parts[1]] = (value, f"{where}.value")
            elif len(parts) == 3 and parts[2] == "status":
                decoded.statuses.setdefault(parts[0], {})[parts[1]] = (value, f"{where}.value")
            else:
                decoded.problems.append((where, f"unknown {I18N} term {_show(code)}; left out"))
        elif taxonomy == META and isinstance(code, str):
            decoded.meta[code] = (value, f"{where}.value")
        elif taxonomy in TERM_TAXONOMIES:
            kind = TERM_TAXONOMIES[str(taxonomy)]
            if code in TERM_CODES[kind]:
                decoded.terms.append((where, item.get("id"), f"{kind}:{code}"))
            else:
                decoded.problems.append((where, f"no Rehber {kind} {_show(code)}; left out"))
        else:
            decoded.foreign.add(str(taxonomy or term_id or "no taxonomy"))
    return decoded


def _valid_id(value: Any, limit: int) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= limit
        and value.strip() == value
        and value.isprintable()
    )


def _owner_of(row: Any) -> Owner | None:
    for kind in ("organization", "service", "location"):
        value = getattr(row, f"{kind}_id", None)
        if value:
            return kind, str(value)
    return None


def _general(path: str) -> str:
    """``service_at_locations[0].location`` -> ``service_at_locations.location``."""
    return re.sub(r"\[\d+\]", "", path)


def _fold(text: str) -> str:
    from nlu_components.gazetteer import fold

    return fold(text)


class _Importer:
    """State shared by the records of one package."""

    def __init__(
        self,
        session: Session,
        language: str,
        gazetteer: Gazetteer | None,
        source: str | None,
    ) -> None:
        self.session = session
        self.language = language
        self._gazetteer = gazetteer
        self.source = source
        self.claims: dict[tuple[str, str], Owner] = {}
        self.organizations: set[str] = set()
        self.services: set[str] = set()

    def gazetteer(self) -> Gazetteer:
        if self._gazetteer is None:
            from nlu_components.gazetteer import Gazetteer

            self._gazetteer = Gazetteer.from_file(GAZETTEER_FILE)
        return self._gazetteer

    def district(self, name: Any) -> tuple[str, str | None] | None:
        """(district, city) when the whole name is one of our districts."""
        if not isinstance(name, str) or not name.strip():
            return None
        text = name.strip()
        gazetteer = self.gazetteer()
        for match in gazetteer.extract(text):
            if match.entity == "district" and match.start == 0 and match.end == len(text):
                entry = gazetteer.index_entry(match)
                city = entry.extra.get("city")
                return entry.value, str(city) if city else None
        return None

    def city(self, name: Any) -> str | None:
        if not isinstance(name, str):
            return None
        return next((c for c in CITIES if _fold(c) == _fold(name.strip())), None)

    def knows_organization(self, organization_id: str) -> bool:
        return (
            organization_id in self.organizations
            or self.session.get(Organization, organization_id) is not None
        )


@dataclass
class _Parsed:
    service: Service
    organization: Organization | None
    locations: list[Location]
    categorised: bool


class _Reader:
    """Turns one validated HSDS service into rows, collecting what it had to leave out."""

    def __init__(self, importer: _Importer, record: dict[str, Any]) -> None:
        self.importer = importer
        self.language = importer.language
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.unstored: set[str] = set()
        self.claims: dict[tuple[str, str], Owner] = {}
        self.locations: dict[str, Location] = {}
        self.top = _decode(record.get("attributes"), "attributes")
        self.rehber = self.top.rehber

    # -- reporting --
    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}")

    def keys(
        self, data: dict[str, Any], known: frozenset[str], path: str, decoded: _Decoded
    ) -> None:
        general = _general(path)
        for key, value in data.items():
            if key not in known and key != "attributes" and value not in (None, "", [], {}):
                self.unstored.add(f"{general}.{key}" if general else key)
        if decoded.foreign:
            label = f"{general}.attributes" if general else "attributes"
            self.unstored.add(f"{label} ({', '.join(sorted(decoded.foreign))})")
        for where, message in decoded.problems:
            self.warn(where, message)

    # -- values --
    def ident(self, value: Any, path: str, limit: int = 100) -> str:
        if not _valid_id(value, limit):
            self.error(
                path, f"expected an id of 1 to {limit} printable characters, got {_show(value)}"
            )
            return ""
        return str(value)

    def string(self, value: Any, path: str, limit: int) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return None
        text = value.strip()
        if len(text) > limit or "\x00" in text:
            self.warn(path, f"longer than {limit} characters or not text; left out")
            return None
        return text

    def decode(self, items: Any, path: str) -> _Decoded:
        return (
            _decode(items, path) if self.rehber else _Decoded(foreign=_decode(items, path).foreign)
        )

    def texts(self, name: str, value: Any, decoded: _Decoded, path: str) -> dict[str, str]:
        shown = decoded.shown.get(name, "tr") if self.rehber else self.language
        candidates = [(shown, value, path)]
        candidates += [(lang, v, where) for lang, (v, where) in decoded.texts.get(name, {}).items()]
        out: dict[str, str] = {}
        for lang, text, where in candidates:
            if not isinstance(text, str) or not text.strip():
                continue
            if lang not in LANGUAGES:
                self.warn(
                    where, f"language {_show(lang)} is not one of {', '.join(LANGUAGES)}; left out"
                )
            elif len(text.strip()) > MAX_TEXT or "\x00" in text:
                self.warn(where, f"longer than {MAX_TEXT} characters or not text; left out")
            else:
                out[lang] = text.strip()
        return out

    def statuses(self, decoded: _Decoded, texts: dict[str, dict[str, str]]) -> dict[str, Any]:
        if not self.rehber:
            return {
                name: {
                    lang: "reviewed" if lang == self.language else "missing" for lang in LANGUAGES
                }
                for name, text in texts.items()
                if text
            }
        out: dict[str, Any] = {}
        for name, per_language in decoded.statuses.items():
            for lang, (value, where) in per_language.items():
                if lang in LANGUAGES and value in STATUS_VALUES:
                    out.setdefault(name, {})[lang] = value
                else:
                    self.warn(where, f"expected a language and one of {', '.join(STATUS_VALUES)}")
        return out

    def meta(
        self, decoded: _Decoded, code: str, limit: int, allowed: Iterable[str] = ()
    ) -> str | None:
        if code not in decoded.meta:
            return None
        value, where = decoded.meta[code]
        allowed = tuple(allowed)
        if not isinstance(value, str) or len(value) > limit or (allowed and value not in allowed):
            expected = (
                f"one of {', '.join(allowed)}" if allowed else f"text of at most {limit} characters"
            )
            self.warn(where, f"{code}: expected {expected}; left out")
            return None
        return value

    def unknown(
        self, decoded: _Decoded, allowed: tuple[str, ...], absent: Iterable[str]
    ) -> list[str]:
        if not self.rehber:
            missing = set(absent)
            return [key for key in allowed if key in missing]
        raw = self.meta(decoded, "unknown", 200)
        items = list(dict.fromkeys(x for x in (raw or "").split(",") if x))
        for item in items:
            if item not in allowed:
                self.warn(
                    decoded.meta["unknown"][1],
                    f"unknown: {_show(item)} is not one of {', '.join(allowed)}",
                )
        return [x for x in items if x in allowed]

    def claim(
        self, model: type[Base], given: Any, path: str, owner: Owner, kind: str
    ) -> str | None:
        """A child row id: Rehber's as given, a foreign one derived from it and the owner."""
        if self.rehber:
            row_id = self.ident(given, path, 220)
            if not row_id:
                return None
        else:
            row_id = child_id(owner[1], kind, given)
        key = (model.__name__, row_id)
        if key in self.claims:
            self.error(path, f"{_show(row_id)} is used twice in this record")
            return None
        holder = self.importer.claims.get(key)
        if holder is None:
            row = self.importer.session.get(model, row_id)
            holder = _owner_of(row) if row is not None else None
        if holder is not None and holder != owner:
            self.error(path, f"{_show(row_id)} already belongs to {holder[0]} {_show(holder[1])}")
            return None
        self.claims[key] = owner
        return row_id

    def knows_location(self, location_id: str) -> bool:
        return self.importer.session.get(Location, location_id) is not None

    # -- children --
    def phones(self, items: Any, path: str, owner: Owner) -> list[Phone]:
        rows = []
        for index, item in enumerate(items or []):
            where = f"{path}[{index}]"
            number = str(item.get("number", "")).strip()
            if sum(c.isdigit() for c in number) < 3 or len(number) > 50 or "\x00" in number:
                self.warn(f"{where}.number", f"{_show(number)}: {PHONE_RULE}; left out")
                continue
            row_id = self.claim(Phone, item.get("id"), f"{where}.id", owner, "phone")
            decoded = self.decode(item.get("attributes"), f"{where}.attributes")
            self.keys(item, PHONE_KEYS, where, decoded)
            if row_id is None:
                continue
            owners = {
                f"{kind}_id": owner[1] if kind == owner[0] else None
                for kind in ("organization", "service", "location")
            }
            rows.append(
                Phone(
                    id=row_id,
                    number=number,
                    type=self.string(item.get("type"), f"{where}.type", 20),
                    description=self.texts(
                        "description", item.get("description"), decoded, f"{where}.description"
                    ),
                    **owners,
                )
            )
        return rows

    def schedules(self, items: Any, path: str, owner: Owner) -> list[Schedule]:
        rows = []
        for index, item in enumerate(items or []):
            where = f"{path}[{index}]"
            byday = item.get("byday")
            days = [d.strip().upper() for d in byday.split(",")] if isinstance(byday, str) else []
            opens, closes = _time(item.get("opens_at")), _time(item.get("closes_at"))
            limits = sorted(k for k in SCHEDULE_LIMITS if item.get(k) not in (None, ""))
            if limits:
                self.warn(where, f"hours limited by {', '.join(limits)} cannot be stored; left out")
                continue
            if (
                item.get("freq", "WEEKLY") != "WEEKLY"
                or item.get("interval", 1) != 1
                or not days
                or any(d not in DAYS for d in days)
                or opens is None
                or closes is None
                or not opens[0] < closes[0]
            ):
                self.warn(where, f"{SCHEDULE_RULE}; left out")
                continue
            row_id = self.claim(Schedule, item.get("id"), f"{where}.id", owner, "schedule")
            decoded = self.decode(item.get("attributes"), f"{where}.attributes")
            self.keys(item, SCHEDULE_KEYS, where, decoded)
            if row_id is None:
                continue
            zone = self.meta(decoded, "timezone", 40)
            offset = opens[1] if opens[1] is not None else item.get("timezone")
            if zone is None and isinstance(offset, (int, float)):
                if not -12 <= offset <= 14:
                    self.warn(f"{where}.timezone", f"{_show(offset)} is not a UTC offset; left out")
                    continue
                zone = _zone(offset)
            rows.append(
                Schedule(
                    id=row_id,
                    service_id=owner[1] if owner[0] == "service" else None,
                    location_id=owner[1] if owner[0] == "location" else None,
                    freq="WEEKLY",
                    byday=",".join(dict.fromkeys(days)),
                    opens_at=opens[0],
                    closes_at=closes[0],
                    timezone=zone or TIMEZONE,
                    description=self.texts(
                        "description", item.get("description"), decoded, f"{where}.description"
                    ),
                )
            )
        return rows

    def languages(self, items: Any, path: str, owner: Owner) -> list[Language]:
        rows: list[Language] = []
        for index, item in enumerate(items or []):
            where = f"{path}[{index}]"
            code = item.get("code")
            if isinstance(code, str) and not self.rehber:
                code = code.strip().lower()
                code = LANGUAGE_CODES.get(code, code)
            if not isinstance(code, str) or not 0 < len(code) <= 10 or not code.isprintable():
                self.warn(
                    f"{where}.code",
                    "Rehber needs a language code (ISO 639, at most 10 characters); left out",
                )
                continue
            row_id = self.claim(Language, item.get("id"), f"{where}.id", owner, "language")
            self.keys(
                item,
                LANGUAGE_KEYS,
                where,
                self.decode(item.get("attributes"), f"{where}.attributes"),
            )
            if row_id is not None and code not in {row.code for row in rows}:
                rows.append(
                    Language(
                        id=row_id,
                        service_id=owner[1] if owner[0] == "service" else None,
                        location_id=owner[1] if owner[0] == "location" else None,
                        code=code,
                        name=self.string(item.get("name"), f"{where}.name", 60),
                        note=self.string(item.get("note"), f"{where}.note", 200),
                    )
                )
        return rows

    def location(self, data: dict[str, Any], path: str, organization_id: str) -> Location | None:
        location_id = self.ident(data.get("id"), f"{path}.id")
        if not location_id:
            return None
        if location_id in self.locations:
            return self.locations[location_id]
        decoded = self.decode(data.get("attributes"), f"{path}.attributes")
        self.keys(data, LOCATION_KEYS, path, decoded)
        owner_id = data.get("organization_id")
        if owner_id is None or owner_id == organization_id:
            owner_id = organization_id
        elif not (isinstance(owner_id, str) and self.importer.knows_organization(owner_id)):
            self.warn(
                f"{path}.organization_id",
                f"no organization {_show(owner_id)} in the catalogue; using the service's",
            )
            owner_id = organization_id
        texts = {
            "name": self.texts("name", data.get("name"), decoded, f"{path}.name"),
            "description": self.texts(
                "description", data.get("description"), decoded, f"{path}.description"
            ),
        }
        latitude, longitude = data.get("latitude"), data.get("longitude")
        if (latitude is not None or longitude is not None) and not (
            isinstance(latitude, (int, float))
            and isinstance(longitude, (int, float))
            and -90 <= latitude <= 90
            and -180 <= longitude <= 180
        ):
            shown = f"latitude {_show(latitude)}, longitude {_show(longitude)}"
            self.warn(path, f"{shown}: {COORDINATES_RULE}; left out")
            latitude = longitude = None
        address_1, district, city, postal_code = self.address(
            data.get("addresses"), f"{path}.addresses"
        )
        owner: Owner = ("location", location_id)
        phones = self.phones(data.get("phones"), f"{path}.phones", owner)
        schedules = self.schedules(data.get("schedules"), f"{path}.schedules", owner)
        source: str | None = "exact" if latitude is not None else None
        if self.rehber:
            district = self.meta(decoded, "district", 60)
            city = self.meta(decoded, "city", 60)
            postal_code = self.meta(decoded, "postal_code", 20)
            source = self.meta(decoded, "coordinates_source", 20, ("exact", "district_centre"))
        elif latitude is None and district is not None:
            centre = self.importer.gazetteer().values("district").get(district)
            found = centre.extra.get("centre") if centre is not None else None
            if found is not None:
                latitude, longitude, source = float(found[0]), float(found[1]), "district_centre"
        absent = [
            k
            for k, v in (("address", address_1), ("phones", phones), ("schedule", schedules))
            if not v
        ]
        location = Location(
            id=location_id,
            organization_id=owner_id,
            location_type=data.get("location_type", "physical"),
            name=texts["name"],
            description=texts["description"],
            address_1=address_1,
            district=district,
            city=city,
            postal_code=postal_code,
            latitude=float(latitude) if latitude is not None else None,
            longitude=float(longitude) if longitude is not None else None,
            coordinates_source=source,
            i18n_status=self.statuses(decoded, texts),
            unknown=self.unknown(decoded, LOCATION_UNKNOWN, absent),
            phones=phones,
            schedules=schedules,
            languages=self.languages(data.get("languages"), f"{path}.languages", owner),
        )
        self.locations[location_id] = location
        return location

    def address(
        self, items: Any, path: str
    ) -> tuple[str | None, str | None, str | None, str | None]:
        """(address_1, district, city, postal_code) from the first physical address."""
        addresses = [a for a in items or [] if isinstance(a, dict)]
        if not addresses:
            return None, None, None, None
        chosen = next((a for a in addresses if a.get("address_type") == "physical"), addresses[0])
        index = addresses.index(chosen)
        where = f"{path}[{index}]"
        if len(addresses) > 1:
            self.unstored.add(_general(path) + " (all but the first physical one)")
        self.keys(chosen, ADDRESS_KEYS, where, _Decoded())
        if _fold(str(chosen.get("country", ""))).strip().upper() not in COUNTRIES:
            self.warn(
                f"{where}.country",
                f"{_show(chosen.get('country'))}: only addresses in Türkiye (TR) are stored",
            )
            return None, None, None, None
        lines = [str(chosen.get(k) or "").strip() for k in ("address_1", "address_2")]
        address_1 = self.string(", ".join(x for x in lines if x), f"{where}.address_1", 300)
        postal_code = self.string(chosen.get("postal_code"), f"{where}.postal_code", 20)
        if self.rehber:
            return address_1, None, None, postal_code
        found = self.importer.district(chosen.get("city")) or self.importer.district(
            chosen.get("region")
        )
        district, city = found if found else (None, None)
        for name in ("state_province", "city", "region"):
            city = city or self.importer.city(chosen.get(name))
        if city is None:
            given = chosen.get("state_province") or chosen.get("city")
            city = self.string(given, f"{where}.state_province", 60)
        return address_1, district, city, postal_code

    def organization(self, data: dict[str, Any], path: str) -> Organization | None:
        organization_id = self.ident(data.get("id"), f"{path}.id")
        decoded = self.decode(data.get("attributes"), f"{path}.attributes")
        self.keys(data, ORGANIZATION_KEYS, path, decoded)
        texts = {
            "name": self.texts("name", data.get("name"), decoded, f"{path}.name"),
            "description": self.texts(
                "description", data.get("description"), decoded, f"{path}.description"
            ),
        }
        if not texts["name"]:
            self.error(f"{path}.name", "Rehber needs the organization's name")
        if not organization_id:
            return None
        website = self.string(data.get("website"), f"{path}.website", 500)
        email = self.string(data.get("email"), f"{path}.email", 200)
        phones = self.phones(
            data.get("phones"), f"{path}.phones", ("organization", organization_id)
        )
        absent = [
            k for k, v in (("website", website), ("email", email), ("phones", phones)) if not v
        ]
        return Organization(
            id=organization_id,
            name=texts["name"],
            description=texts["description"],
            website=website,
            email=email,
            i18n_status=self.statuses(decoded, texts),
            unknown=self.unknown(decoded, ORGANIZATION_UNKNOWN, absent),
            source=self.meta(decoded, "source", MAX_TEXT) if self.rehber else self.importer.source,
            phones=phones,
        )

    # -- the service --
    def service(self, data: dict[str, Any]) -> _Parsed | None:
        service_id = self.ident(data.get("id"), "id")
        decoded = self.top if self.rehber else _Decoded(foreign=self.top.foreign)
        self.keys(data, SERVICE_KEYS, "", decoded)
        organization: Organization | None = None
        given = data.get("organization")
        organization_id = data.get("organization_id")
        if isinstance(given, dict):
            if organization_id is not None and organization_id != given.get("id"):
                self.error(
                    "organization_id",
                    f"{_show(organization_id)} is not the id of the organization given",
                )
            organization = self.organization(given, "organization")
            organization_id = organization.id if organization is not None else None
        elif not (
            isinstance(organization_id, str) and self.importer.knows_organization(organization_id)
        ):
            self.error(
                "organization",
                "Rehber needs the organization that provides the service: give 'organization' "
                "or the 'organization_id' of one in the catalogue",
            )
            organization_id = None
        texts = {
            "name": self.texts("name", data.get("name"), decoded, "name"),
            "description": self.texts(
                "description", data.get("description"), decoded, "description"
            ),
            "eligibility": self.texts(
                "eligibility",
                data.get("eligibility_description"),
                decoded,
                "eligibility_description",
            ),
            "fees_description": self.texts(
                "fees_description", data.get("fees_description"), decoded, "fees_description"
            ),
        }
        if not texts["name"]:
            self.error("name", f"Rehber needs the service's name (at most {MAX_TEXT} characters)")
        if not service_id or not organization_id:
            return None
        owner: Owner = ("service", service_id)
        links = self.links(data.get("service_at_locations"), service_id, organization_id)
        areas = self.areas(data.get("service_areas"), owner)
        documents = self.documents(data.get("required_documents"), owner)
        cost = self.cost(data.get("cost_options"), decoded)
        service = Service(
            id=service_id,
            organization_id=organization_id,
            name=texts["name"],
            description=texts["description"],
            status=data["status"],
            url=self.string(data.get("url"), "url", 500),
            email=self.string(data.get("email"), "email", 200),
            eligibility=texts["eligibility"],
            fees_description=texts["fees_description"],
            cost=cost,
            minimum_age=self.age(data.get("minimum_age"), "minimum_age"),
            maximum_age=self.age(data.get("maximum_age"), "maximum_age"),
            i18n_status=self.statuses(decoded, texts),
            phones=self.phones(data.get("phones"), "phones", owner),
            schedules=self.schedules(data.get("schedules"), "schedules", owner),
            languages=self.languages(data.get("languages"), "languages", owner),
            service_areas=areas,
            required_documents=documents,
            attributes=self.attributes(decoded, owner),
            service_at_locations=links,
        )
        interpreters = self.meta(decoded, "interpreters", 5, ("true", "false"))
        service.interpreters = None if interpreters is None else interpreters == "true"
        absent = {
            "languages": not service.languages,
            "interpreters": True,
            "cost": cost == "unknown",
            "eligibility": not texts["eligibility"],
            "required_documents": not documents,
            "phones": not service.phones,
            "schedule": not service.schedules,
            "districts": not areas,
        }
        service.unknown = self.unknown(
            decoded, SERVICE_UNKNOWN, [k for k, v in absent.items() if v]
        )
        categorised = any(a.taxonomy_term_id.startswith("category:") for a in service.attributes)
        return _Parsed(service, organization, list(self.locations.values()), categorised)

    def links(self, items: Any, service_id: str, organization_id: str) -> list[ServiceAtLocation]:
        rows: list[ServiceAtLocation] = []
        for index, item in enumerate(items or []):
            where = f"service_at_locations[{index}]"
            self.keys(
                item, LINK_KEYS, where, self.decode(item.get("attributes"), f"{where}.attributes")
            )
            given, existing = item.get("location"), item.get("location_id")
            location_id: str | None = None
            if isinstance(given, dict):
                location = self.location(given, f"{where}.location", organization_id)
                location_id = location.id if location is not None else None
            elif isinstance(existing, str) and self.knows_location(existing):
                location_id = existing
            else:
                self.warn(
                    where,
                    "no location (neither 'location' nor the id of one in the catalogue); left out",
                )
                continue
            if location_id is None or location_id in {row.location_id for row in rows}:
                continue
            given_id = item.get("id") if self.rehber else location_id
            owner: Owner = ("service", service_id)
            row_id = self.claim(ServiceAtLocation, given_id, f"{where}.id", owner, "link")
            if row_id is not None:
                rows.append(ServiceAtLocation(id=row_id, location_id=location_id))
        return rows

    def areas(self, items: Any, owner: Owner) -> list[ServiceArea]:
        rows: list[ServiceArea] = []
        for index, item in enumerate(items or []):
            where = f"service_areas[{index}]"
            decoded = self.decode(item.get("attributes"), f"{where}.attributes")
            self.keys(item, AREA_KEYS, where, decoded)
            given = item.get("name")
            name = given.strip() if isinstance(given, str) else ""
            if not 0 < len(name) <= 60 or not name.isprintable():
                self.warn(f"{where}.name", f"{_show(given)}: {AREA_RULE}; left out")
                continue
            if self.rehber:
                city = self.meta(decoded, "city", 60)
            elif found := self.importer.district(name):
                name, city = found
            else:
                city = self.importer.city(name)
                name = city or name
            row_id = self.claim(ServiceArea, item.get("id"), f"{where}.id", owner, "area")
            if row_id is not None and name not in {row.name for row in rows}:
                rows.append(ServiceArea(id=row_id, name=name, city=city))
        return rows

    def documents(self, items: Any, owner: Owner) -> list[RequiredDocument]:
        rows = []
        for index, item in enumerate(items or []):
            where = f"required_documents[{index}]"
            decoded = self.decode(item.get("attributes"), f"{where}.attributes")
            self.keys(item, DOCUMENT_KEYS, where, decoded)
            text = self.texts("document", item.get("document"), decoded, f"{where}.document")
            if not text:
                self.warn(where, "no document named; left out")
                continue
            row_id = self.claim(RequiredDocument, item.get("id"), f"{where}.id", owner, "document")
            if row_id is not None:
                uri = self.string(item.get("uri"), f"{where}.uri", 500)
                rows.append(RequiredDocument(id=row_id, document=text, uri=uri))
        return rows

    def attributes(self, decoded: _Decoded, owner: Owner) -> list[ServiceAttribute]:
        rows: list[ServiceAttribute] = []
        for where, given, term_id in decoded.terms:
            if term_id in {row.taxonomy_term_id for row in rows}:
                continue
            row_id = self.claim(ServiceAttribute, given, f"{where}.id", owner, "attribute")
            if row_id is not None:
                rows.append(ServiceAttribute(id=row_id, taxonomy_term_id=term_id))
        return rows

    def cost(self, options: Any, decoded: _Decoded) -> str:
        amounts = [
            o.get("amount")
            for o in options or []
            if isinstance(o.get("amount"), (int, float)) and not isinstance(o.get("amount"), bool)
        ]
        derived = "paid" if any(a > 0 for a in amounts) else "free" if amounts else "unknown"
        if self.rehber:
            return self.meta(decoded, "cost", 10, ("free", "paid", "unknown")) or derived
        if derived == "paid" or any(
            set(o) - {"id", "service_id", "amount", "currency"} for o in options or []
        ):
            self.unstored.add("cost_options (only free, paid or unknown is stored)")
        return derived

    def age(self, value: Any, path: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, (int, float)) and float(value).is_integer() and 0 <= value <= 150:
            return int(value)
        self.warn(path, f"{_show(value)} is not an age in whole years (0 to 150); left out")
        return None


def _time(value: Any) -> tuple[str, float | None] | None:
    """("HH:MM", UTC offset in hours or None) from an HSDS time."""
    if not isinstance(value, str):
        return None
    found = _TIME.match(value.strip())
    if not found:
        return None
    offset: float | None = None
    if found.group(3) == "Z":
        offset = 0.0
    elif found.group(3):
        sign, digits = found.group(3)[0], found.group(3)[1:].replace(":", "")
        offset = (int(digits[:2]) + int(digits[2:]) / 60) * (-1 if sign == "-" else 1)
    return f"{found.group(1)}:{found.group(2)}", offset


def _zone(offset: float) -> str:
    """A zone name for a UTC offset: ours for +3, Etc/GMT for whole hours, else UTC±HH:MM."""
    if offset == 3:
        return TIMEZONE
    if offset == 0:
        return "UTC"
    if float(offset).is_integer():
        return f"Etc/GMT{-int(offset):+d}"
    return f"UTC{_offset_suffix(offset)}"


# --- import -----------------------------------------------------------------------------------


def import_file(
    session: Session,
    path: Path,
    *,
    language: str = "tr",
    gazetteer: Gazetteer | None = None,
) -> ImportResult:
    """Imports an HSDS file; problems are reported, never raised. The caller commits."""
    path = Path(path)
    data, problem = read_package(path)
    if problem is not None:
        return ImportResult(problems=[f"{path}: {problem}"])
    return import_package(
        session, data, language=language, gazetteer=gazetteer, name=str(path), source=path.name
    )


def import_package(
    session: Session,
    data: Any,
    *,
    language: str = "tr",
    gazetteer: Gazetteer | None = None,
    name: str = "package",
    source: str | None = None,
) -> ImportResult:
    """Validates and upserts every service of a parsed package (page object or list)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    result = ImportResult()
    try:
        schemas = load_schemas()
    except SchemaMissing as error:
        result.problems.append(f"{name}: {error}")
        return result
    records, prefix, problem = _records(data, schemas)
    if records is None:
        result.problems.append(f"{name}: {problem}")
        return result
    _begin(session)
    ensure_taxonomy(session)
    session.flush()
    importer = _Importer(session, language, gazetteer, source)
    for index, record in enumerate(records):
        _import_record(importer, record, index, f"{prefix}[{index}]", schemas, result)
    session.flush()
    session.expire_all()  # relationships loaded before the merges may be stale
    return result


def _begin(session: Session) -> None:
    """Makes sure the caller's transaction is really open before the per-record savepoints.

    pysqlite sends BEGIN only before INSERT/UPDATE/DELETE; a SAVEPOINT issued first becomes
    the outermost transaction and its RELEASE commits, behind the caller's back.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        if driver is not None and not driver.in_transaction:
            driver.execute("BEGIN")


def _import_record(
    importer: _Importer,
    record: Any,
    index: int,
    label: str,
    schemas: Schemas,
    result: ImportResult,
) -> None:
    given_id = record.get("id") if isinstance(record, dict) else None
    record_id = given_id if isinstance(given_id, str) else None
    named = f"{label} (id {_show(given_id)})" if given_id is not None else f"{label} (no id)"

    def reject(lines: list[str]) -> None:
        result.rejected.append(RejectedRecord(index, record_id, lines))
        result.problems.extend(lines)

    problems = _schema_problems(schemas, record, named)
    if not problems and record_id in importer.services:
        problems = [f"{named}: id: the package has this service twice; the first one was imported"]
    if problems:
        reject(problems)
        return
    reader = _Reader(importer, record)
    parsed = reader.service(record)
    if reader.errors or parsed is None:
        reject([f"{named}: {line}" for line in reader.errors] or [f"{named}: cannot be stored"])
        return
    session = importer.session
    try:
        with session.begin_nested():
            if parsed.organization is not None:
                session.merge(parsed.organization)
            for location in parsed.locations:
                session.merge(location)
            session.merge(parsed.service)
            session.flush()
    except SQLAlchemyError as error:
        reason = getattr(error, "orig", None) or error
        reject([f"{named}: the database refused it: {_show(str(reason))}"])
        return
    importer.claims.update(reader.claims)
    importer.services.add(parsed.service.id)
    if parsed.organization is not None:
        importer.organizations.add(parsed.organization.id)
    result.imported += 1
    result.imported_ids.append(parsed.service.id)
    result.problems.extend(f"{named}: {line}" for line in reader.warnings)
    if reader.unstored:
        fields = ", ".join(sorted(reader.unstored))
        result.problems.append(f"{named}: not stored (Rehber has no field for them): {fields}")
    if not parsed.categorised:
        result.problems.append(
            f"{named}: imported without a Rehber category; it will not be found by topic "
            "until an editor categorises it"
        )
