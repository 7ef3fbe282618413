"""HSDS 3.0 export and import, on SQLite and PostgreSQL (the db_session/seeded fixtures).

What is checked is what a consumer of the file or a staff member sees: the file validates
against the spec's own schema, every fact and every language survives export → import →
export byte for byte, foreign directories come in with what they say and nothing more, and
bad input gets one clear line per problem while the good records still load.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import Draft202012Validator
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from service_catalogue import hsds
from service_catalogue.db import make_engine, upgrade
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
)
from service_catalogue.seed import ensure_taxonomy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = hsds.schema_dir() / "examples"
TABLES = (
    Organization,
    Service,
    Location,
    ServiceAtLocation,
    Phone,
    Schedule,
    Language,
    ServiceArea,
    RequiredDocument,
    ServiceAttribute,
)


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service_schema() -> Draft202012Validator:
    """The spec's compiled service schema, read here independently of the module under test."""
    schema = json.loads((hsds.schema_dir() / "schema" / "compiled" / "service.json").read_text())
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def page_schema() -> Draft202012Validator:
    """The OpenAPI ``Page`` envelope with every field required, ``contents`` an array."""
    openapi = json.loads((hsds.schema_dir() / "schema" / "openapi.json").read_text())
    page = openapi["components"]["schemas"]["Page"]
    properties = {**page["properties"], "contents": {"type": "array"}}
    return Draft202012Validator(
        {"type": "object", "properties": properties, "required": list(properties)}
    )


def exported(session: Session) -> str:
    return hsds.dumps(hsds.export_package(session))


def snapshot(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every catalogue row, column by column (organizations: those that provide a service)."""
    session.expire_all()
    providers = set(session.scalars(select(Service.organization_id)))
    rows: dict[str, list[dict[str, Any]]] = {}
    for model in TABLES:
        columns = [column.key for column in model.__table__.columns]
        found = [
            {key: getattr(row, key) for key in columns}
            for row in session.scalars(select(model))
            if model is not Organization or getattr(row, "id", None) in providers
        ]
        rows[str(model.__tablename__)] = sorted(found, key=lambda r: str(r["id"]))
    return rows


@contextmanager
def empty_database(like: Engine, tmp_path: Path) -> Iterator[Session]:
    """A second migrated, empty database of the same kind as ``like``."""
    if like.dialect.name == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / f'empty-{uuid.uuid4().hex[:6]}.db'}")
        upgrade(engine)
        try:
            with Session(engine, expire_on_commit=False) as session:
                yield session
        finally:
            engine.dispose()
        return
    base = like.url.difference_update_query(["options"])
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base.render_as_string(hide_password=False))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def foreign(service_id: str, **fields: Any) -> dict[str, Any]:
    """A minimal valid service from another municipality's directory."""
    return {
        "id": service_id,
        "name": f"Hizmet {service_id}",
        "status": "active",
        "organization": {"id": "baska-belediye", "name": "Başka Belediye", "description": ""},
        **fields,
    }


def count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def attribute_values(record: dict[str, Any]) -> dict[str, str]:
    return {a["taxonomy_term"]["code"]: a.get("value") for a in record.get("attributes", [])}


# --- a catalogue that uses every field the model has -------------------------------------------

AR_NAME = "مركز الدعم القانوني للنساء"
FA_ONLY = "توضیحات فقط به فارسی؛ نیم‌فاصله حفظ می‌شود"


def rich_catalogue(session: Session) -> None:
    """Everything seed.py leaves empty: contact details, hours, documents, exact places."""
    ensure_taxonomy(session)
    session.flush()
    status = {
        "name": {"ar": "reviewed", "fa": "machine_draft", "tr": "reviewed", "en": "machine_draft"},
        "description": {"ar": "machine_draft", "fa": "missing", "tr": "reviewed", "en": "missing"},
    }
    session.add_all(
        [
            Organization(
                id="rich-org",
                name={"tr": "Dayanışma Derneği", "ar": "جمعية التضامن", "en": "Solidarity"},
                description={"tr": "Göçmen kadınlara destek.", "ar": "دعم للنساء المهاجرات."},
                website="https://example.org/dayanisma",
                email="bilgi@example.org",
                i18n_status=status,
                unknown=[],
                source="hand-written test data",
                phones=[
                    Phone(
                        id="rich-org-phone",
                        number="+90 224 000 00 00",
                        type="voice",
                        description={"tr": "Santral", "en": "Switchboard"},
                    )
                ],
            ),
            Organization(
                id="quiet-org",
                name={"tr": "Sessiz Kurum"},
                i18n_status={
                    "name": {"ar": "missing", "fa": "missing", "tr": "reviewed", "en": "missing"}
                },
                unknown=["website", "email", "phones"],
            ),
            Location(
                id="rich-office",
                organization_id="rich-org",
                name={"tr": "Nilüfer ofisi", "ar": "مكتب نيلوفر"},
                description={"fa": FA_ONLY},
                address_1="Atatürk Cad. No: 1/3",
                district="Nilüfer",
                city="Bursa",
                postal_code="16110",
                latitude=40.21413,
                longitude=28.98532,
                coordinates_source="exact",
                i18n_status={
                    "name": {
                        "ar": "machine_draft",
                        "fa": "missing",
                        "tr": "reviewed",
                        "en": "missing",
                    }
                },
                unknown=[],
                phones=[Phone(id="rich-office-phone", number="0224 111 11 11")],
                schedules=[
                    Schedule(
                        id="rich-office-hours",
                        byday="MO,TU,WE,TH,FR",
                        opens_at="08:30",
                        closes_at="17:30",
                        description={"tr": "Öğle arası 12:00-13:00", "ar": "استراحة الغداء"},
                    )
                ],
                languages=[
                    Language(id="rich-office-ar", code="ar", name="Arapça", note="tercüman ile")
                ],
            ),
            Location(
                id="rich-branch",
                organization_id="rich-org",
                name={"tr": "Osmangazi şubesi"},
                district="Osmangazi",
                city="Bursa",
                latitude=40.198,
                longitude=29.06,
                coordinates_source="district_centre",
                unknown=["address", "phones", "schedule"],
            ),
            Service(
                id="rich-service",
                organization_id="rich-org",
                name={
                    "tr": "Kadınlar için hukuki destek",
                    "ar": AR_NAME,
                    "fa": "کمک حقوقی",
                    "en": "Legal help",
                },
                description={"tr": "Ücretsiz avukat görüşmesi.", "ar": "استشارة مجانية مع محامٍ."},
                url="https://example.org/hukuk",
                email="hukuk@example.org",
                eligibility={"tr": "18 yaş üstü kadınlar", "en": "Women over 18"},
                fees_description={"tr": "Ücret alınmaz.", "fa": "رایگان"},
                cost="free",
                interpreters=False,
                minimum_age=18,
                maximum_age=99,
                i18n_status=status,
                unknown=[],
                phones=[Phone(id="rich-service-phone", number="+90 224 333 33 33", type="cell")],
                schedules=[
                    Schedule(
                        id="rich-service-saturday",
                        byday="SA",
                        opens_at="10:00",
                        closes_at="14:00",
                        timezone="Etc/GMT-4",
                    )
                ],
                languages=[
                    Language(id="rich-service-tr", code="tr"),
                    Language(id="rich-service-ar", code="ar", note="personel"),
                ],
                service_areas=[
                    ServiceArea(id="rich-service-nilufer", name="Nilüfer", city="Bursa"),
                    ServiceArea(id="rich-service-bursa", name="Bursa", city="Bursa"),
                ],
                required_documents=[
                    RequiredDocument(
                        id="rich-service-id-card",
                        document={"tr": "Kimlik", "ar": "بطاقة الهوية", "fa": "کارت شناسایی"},
                        uri="https://example.org/belgeler",
                    )
                ],
                attributes=[
                    ServiceAttribute(
                        id="rich-service#category:legal_aid", taxonomy_term_id="category:legal_aid"
                    ),
                    ServiceAttribute(
                        id="rich-service#audience:women", taxonomy_term_id="audience:women"
                    ),
                ],
                service_at_locations=[
                    ServiceAtLocation(id="rich-service@rich-office", location_id="rich-office"),
                    ServiceAtLocation(id="rich-service@rich-branch", location_id="rich-branch"),
                ],
            ),
            Service(
                id="quiet-service",
                organization_id="quiet-org",
                name={"tr": "Danışma"},
                cost="paid",
                interpreters=True,
                unknown=["languages", "eligibility", "phones", "schedule", "districts"],
                required_documents=[],
                attributes=[
                    ServiceAttribute(
                        id="quiet-service#category:jobs", taxonomy_term_id="category:jobs"
                    )
                ],
            ),
        ]
    )
    session.commit()


# --- export -----------------------------------------------------------------------------------


def test_export_validates_and_holds_every_active_service(
    seeded: Session,
    service_schema: Draft202012Validator,
    page_schema: Draft202012Validator,
    tmp_path: Path,
) -> None:
    out = tmp_path / "hsds" / "services.json"
    written = hsds.export_file(seeded, out)
    package = json.loads(out.read_text(encoding="utf-8"))

    assert list(page_schema.iter_errors(package)) == []
    for record in package["contents"]:
        assert list(service_schema.iter_errors(record)) == [], record["id"]
    services = seeded.scalars(select(Service).where(Service.status == "active")).all()
    assert written == len(services) == package["total_items"] == package["size"] == 23
    assert [r["id"] for r in package["contents"]] == sorted(s.id for s in services)
    assert (package["page_number"], package["total_pages"]) == (1, 1)
    assert package["first_page"] and package["last_page"] and not package["empty"]

    by_id = {r["id"]: r for r in package["contents"]}
    for service in services:
        record = by_id[service.id]
        assert record["name"] == service.name["tr"]
        assert record["organization"]["id"] == service.organization_id
        assert record["organization"]["name"] == service.organization.name["tr"]
        located = {
            link["location"]["id"]: link["location"] for link in record["service_at_locations"]
        }
        assert set(located) == {link.location_id for link in service.service_at_locations}
        for link in service.service_at_locations:
            assert located[link.location_id]["latitude"] == link.location.latitude
            assert located[link.location_id]["longitude"] == link.location.longitude
        terms = {a["taxonomy_term"]["id"] for a in record["attributes"] if "taxonomy_term_id" in a}
        assert terms == {a.taxonomy_term_id for a in service.attributes}

    # A person reading the file in Arabic finds the Arabic name and its review state.
    record = by_id["kucukcekmece-sosyal-koruma-hukuki-destek"]
    legal_help = seeded.get(Service, record["id"])
    assert legal_help is not None
    values = attribute_values(record)
    assert values["name.ar"] == legal_help.name["ar"]
    assert values["name.ar.status"] == "machine_draft"
    assert values["interpreters"] == "true"
    assert values["unknown"] == ",".join(legal_help.unknown)
    legal = next(
        a for a in record["attributes"] if a.get("taxonomy_term_id") == "category:legal_aid"
    )
    assert legal["taxonomy_term"] == {
        "id": "category:legal_aid",
        "code": "legal_aid",
        "name": "Hukuki yardım",
        "description": "",
        "taxonomy": "rehber-category",
        "language": "tr",
    }
    zahide = record["service_at_locations"][0]["location"]
    assert attribute_values(zahide)["coordinates_source"] == "district_centre"
    assert attribute_values(zahide)["district"] == "Küçükçekmece"
    # Facts the sources do not give are left out, not written as empty lists.
    assert "phones" not in record and "cost_options" not in record
    free = by_id["kucukcekmece-bedelsiz-isyeri-ruhsati"]
    assert free["cost_options"] == [
        {"id": "kucukcekmece-bedelsiz-isyeri-ruhsati#cost", "amount": 0, "currency": "TRY"}
    ]
    assert out.read_text(encoding="utf-8") == exported(seeded)


def test_inactive_services_are_left_out_unless_asked_for(seeded: Session) -> None:
    service = seeded.get(Service, "bursa-barosu-adli-yardim")
    assert service is not None
    service.status = "inactive"
    seeded.commit()
    ids = [r["id"] for r in hsds.export_package(seeded)["contents"]]
    assert "bursa-barosu-adli-yardim" not in ids and len(ids) == 22
    everything = hsds.export_package(seeded, include_inactive=True)["contents"]
    assert {r["id"]: r["status"] for r in everything}["bursa-barosu-adli-yardim"] == "inactive"


def test_empty_catalogue_exports_an_empty_valid_page(
    db_session: Session, page_schema: Draft202012Validator
) -> None:
    package = hsds.export_package(db_session)
    assert list(page_schema.iter_errors(package)) == []
    assert package["empty"] and package["contents"] == [] and package["total_items"] == 0


# --- round trips ------------------------------------------------------------------------------


def test_round_trip_into_an_empty_database_is_byte_identical(
    seeded: Session, db_engine: Engine, tmp_path: Path
) -> None:
    first = exported(seeded)
    package = write(tmp_path / "rehber.json", json.loads(first))
    with empty_database(db_engine, tmp_path) as empty:
        result = hsds.import_file(empty, package)
        empty.commit()
        assert (result.imported, result.rejected) == (23, [])
        assert exported(empty) == first
        assert snapshot(empty) == snapshot(seeded)
        copy_of = empty.get(Service, "kucukcekmece-sosyal-koruma-psikolojik-destek")
        original = seeded.get(Service, "kucukcekmece-sosyal-koruma-psikolojik-destek")
        assert copy_of is not None and original is not None
        assert copy_of.name == original.name and set(copy_of.name) == {"ar", "fa", "tr", "en"}
        assert copy_of.i18n_status == original.i18n_status
        assert copy_of.unknown == original.unknown and copy_of.interpreters is True
        assert [a.name for a in copy_of.service_areas] == ["Küçükçekmece"]
        assert copy_of.service_at_locations[0].location.district == "Küçükçekmece"
        assert sorted(a.taxonomy_term_id for a in copy_of.attributes) == sorted(
            a.taxonomy_term_id for a in original.attributes
        )
    # The three services the content gives no category are named, so editors can fix them.
    uncategorised = [p for p in result.problems if "imported without a Rehber category" in p]
    assert len(uncategorised) == 3
    assert any("(id zeytinburnu-entegrasyon-birimi)" in p for p in uncategorised)
    assert len(result.problems) == 3


def test_every_field_and_language_survives_the_round_trip(
    db_session: Session,
    db_engine: Engine,
    tmp_path: Path,
    service_schema: Draft202012Validator,
) -> None:
    rich_catalogue(db_session)
    first = exported(db_session)
    package = json.loads(first)
    for record in package["contents"]:
        assert list(service_schema.iter_errors(record)) == []
    record = next(r for r in package["contents"] if r["id"] == "rich-service")
    # HSDS fields carry Turkish; the other languages ride along as attributes.
    assert record["name"] == "Kadınlar için hukuki destek"
    assert attribute_values(record)["name.ar"] == AR_NAME
    assert record["eligibility_description"] == "18 yaş üstü kadınlar"
    assert record["cost_options"][0]["amount"] == 0 and record["minimum_age"] == 18
    office = next(
        link["location"]
        for link in record["service_at_locations"]
        if link["location_id"] == "rich-office"
    )
    assert office["addresses"][0] == {
        "id": "rich-office#address",
        "address_1": "Atatürk Cad. No: 1/3",
        "city": "Nilüfer",
        "state_province": "Bursa",
        "postal_code": "16110",
        "country": "TR",
        "address_type": "physical",
    }
    # No Turkish description: the Persian text stands in, and says so.
    assert office["description"] == FA_ONLY
    assert attribute_values(office)["description.hsds"] == "fa"
    assert (
        office["schedules"][0]["opens_at"] == "08:30+03:00"
        and office["schedules"][0]["timezone"] == 3
    )
    saturday = record["schedules"][0]
    assert (saturday["opens_at"], saturday["timezone"]) == ("10:00+04:00", 4)
    assert attribute_values(saturday)["timezone"] == "Etc/GMT-4"
    quiet = next(r for r in package["contents"] if r["id"] == "quiet-service")
    assert quiet["required_documents"] == [] and "phones" not in quiet
    assert quiet["organization"]["description"] == ""

    path = write(tmp_path / "rich.json", package)
    with empty_database(db_engine, tmp_path) as empty:
        result = hsds.import_file(empty, path)
        empty.commit()
        assert (result.imported, result.rejected, result.problems) == (2, [], [])
        assert exported(empty) == first
        assert snapshot(empty) == snapshot(db_session)


# --- foreign packages -------------------------------------------------------------------------


def test_the_specs_service_list_example_imports(db_session: Session) -> None:
    result = hsds.import_file(db_session, EXAMPLES / "service_list.json")
    db_session.commit()
    assert (result.imported, len(result.rejected)) == (1, 0)
    service = db_session.get(Service, "ac148810-d857-441c-9679-408f346de14b")
    assert service is not None
    assert service.name == {"tr": "Community Counselling"}
    assert service.i18n_status["name"] == {
        "ar": "missing",
        "fa": "missing",
        "tr": "reviewed",
        "en": "missing",
    }
    assert (service.minimum_age, service.maximum_age) == (12, 100)
    assert service.organization.name == {"tr": "Example Organization Inc."}
    assert service.organization.source == "service_list.json"
    assert service.attributes == []
    assert "interpreters" in service.unknown and "phones" in service.unknown
    assert [p for p in result.problems if "imported without a Rehber category" in p] == [
        "contents[0] (id ac148810-d857-441c-9679-408f346de14b): imported without a Rehber "
        "category; it will not be found by topic until an editor categorises it"
    ]
    left_out = next(p for p in result.problems if "not stored" in p)
    assert "alternate_name" in left_out and "program" in left_out


def test_the_specs_full_service_example_imports_what_rehber_can_hold(
    db_session: Session, tmp_path: Path
) -> None:
    full = json.loads((EXAMPLES / "service_full.json").read_text(encoding="utf-8"))
    bare = hsds.import_file(db_session, write(tmp_path / "one.json", full))
    assert bare.imported == 0 and bare.problems == [
        f"{tmp_path / 'one.json'}: expected an HSDS page with 'contents', or a list of services "
        "(one service? put it in a list)"
    ]
    result = hsds.import_file(db_session, write(tmp_path / "full.json", [full]), language="en")
    db_session.commit()
    assert (result.imported, result.rejected) == (1, [])
    service = db_session.get(Service, full["id"])
    assert service is not None
    assert service.name == {"en": "Community Counselling"} and service.cost == "paid"
    location = service.service_at_locations[0].location
    # latitude 100 is no latitude; a US address is not stored as if it were in Türkiye.
    assert (location.latitude, location.address_1) == (None, None)
    assert "address" in location.unknown
    # The example's hours are limited to some weeks and dates: not stored as "every week".
    assert service.schedules == [] and location.schedules == []
    assert [lang.code for lang in service.languages] == ["ur"]
    problems = "\n".join(result.problems)
    assert "latitude 100, longitude 101" in problems
    assert "addresses[0].country: US: only addresses in Türkiye (TR) are stored" in problems
    assert "schedules[0]: hours limited by bymonthday, byweekno" in problems
    assert "service_areas[0].name" in problems


def test_a_foreign_package_keeps_its_language_and_finds_our_districts(
    db_session: Session, tmp_path: Path
) -> None:
    record = foreign(
        "ankara-1",
        name="المساعدة القانونية",
        description="استشارة قانونية مجانية",
        organization={"id": "foreign-org", "name": "جمعية", "description": "جمعية أهلية"},
        service_at_locations=[
            {
                "id": "link-1",
                "location": {
                    "id": "foreign-office",
                    "location_type": "physical",
                    "name": "المكتب",
                    "addresses": [
                        {
                            "id": "address-1",
                            "address_1": "Cumhuriyet Cad. 5",
                            "address_2": "Kat 2",
                            "city": "Osmangazi",
                            "state_province": "Bursa",
                            "postal_code": "16010",
                            "country": "Türkiye",
                            "address_type": "physical",
                        }
                    ],
                },
            }
        ],
        service_areas=[
            {"id": "a1", "name": "Nilufer"},
            {"id": "a2", "name": "istanbul"},
            {"id": "a3", "name": "Gölbaşı Köyü"},
        ],
        languages=[{"id": "l1", "code": "ara"}, {"id": "l2", "code": "TR"}],
        phones=[{"id": "p1", "number": "12"}, {"id": "p2", "number": "+90 224 222 22 22"}],
        cost_options=[{"id": "c1", "amount": 0, "currency": "TRY"}],
        attributes=[
            {
                "id": "t1",
                "taxonomy_term": {
                    "id": "x",
                    "name": "Legal",
                    "description": "",
                    "taxonomy": "open-eligibility",
                },
            }
        ],
    )
    path = write(tmp_path / "foreign.json", {"contents": [record]})
    result = hsds.import_file(db_session, path, language="ar")
    db_session.commit()
    assert (result.imported, result.rejected) == (1, [])
    service = db_session.get(Service, "ankara-1")
    assert service is not None
    assert service.name == {"ar": "المساعدة القانونية"}
    assert service.i18n_status["description"] == {
        "ar": "reviewed",
        "fa": "missing",
        "tr": "missing",
        "en": "missing",
    }
    assert sorted((a.name, a.city) for a in service.service_areas) == [
        ("Gölbaşı Köyü", None),
        ("Nilüfer", "Bursa"),
        ("İstanbul", "İstanbul"),
    ]
    location = service.service_at_locations[0].location
    assert (location.district, location.city, location.postal_code) == (
        "Osmangazi",
        "Bursa",
        "16010",
    )
    assert location.address_1 == "Cumhuriyet Cad. 5, Kat 2"
    assert (location.latitude, location.longitude, location.coordinates_source) == (
        40.198,
        29.06,
        "district_centre",
    )
    assert sorted(lang.code for lang in service.languages) == ["ar", "tr"]
    assert [p.number for p in service.phones] == ["+90 224 222 22 22"]
    assert service.cost == "free" and service.interpreters is None
    assert service.unknown == ["interpreters", "eligibility", "required_documents", "schedule"]
    assert service.attributes == []
    assert f"{'contents[0] (id ankara-1)'}: phones[0].number: 12: " in "\n".join(result.problems)
    assert any("attributes (open-eligibility)" in p for p in result.problems)

    # Exported again, the Arabic text stands in the HSDS field and says which language it is.
    package = json.loads(exported(db_session))
    again = next(r for r in package["contents"] if r["id"] == "ankara-1")
    assert again["name"] == "المساعدة القانونية"
    assert attribute_values(again)["name.hsds"] == "ar"
    before = snapshot(db_session)
    rerun = hsds.import_file(db_session, write(tmp_path / "again.json", package))
    db_session.commit()
    assert rerun.rejected == [] and snapshot(db_session) == before


def test_a_category_only_known_by_id_is_imported(db_session: Session) -> None:
    record = foreign(
        "by-term-id",
        attributes=[{"id": "x1", "taxonomy_term_id": "category:health"}],
    )
    result = hsds.import_package(db_session, [record])
    assert result.imported == 1
    service = db_session.get(Service, "by-term-id")
    assert service is not None
    assert [a.taxonomy_term_id for a in service.attributes] == ["category:health"]
    assert not any("without a Rehber category" in p for p in result.problems)


# --- bad input --------------------------------------------------------------------------------


def test_broken_records_are_named_and_the_valid_ones_imported(
    db_session: Session, tmp_path: Path
) -> None:
    no_id = foreign("x")
    del no_id["id"]
    package = {
        "contents": [
            foreign("svc-ok"),
            no_id,
            foreign("svc-phone", phones=[{"id": "p1", "type": "voice"}]),
            foreign("svc-type", minimum_age="twelve"),
            foreign("svc-ok-2"),
            "not a service",
        ]
    }
    result = hsds.import_file(db_session, write(tmp_path / "broken.json", package))
    db_session.commit()
    assert result.imported == 2 and result.imported_ids == ["svc-ok", "svc-ok-2"]
    assert [(r.index, r.id) for r in result.rejected] == [
        (1, None),
        (2, "svc-phone"),
        (3, "svc-type"),
        (5, None),
    ]
    rejected = [line for r in result.rejected for line in r.problems]
    assert rejected == [
        "contents[1] (no id): id: 'id' is a required property",
        "contents[2] (id svc-phone): phones[0].number: 'number' is a required property",
        "contents[3] (id svc-type): minimum_age: 'twelve' is not of type 'number'",
        "contents[5] (no id): 'not a service' is not of type 'object'",
    ]
    assert all(line in result.problems for line in rejected)
    assert sorted(db_session.scalars(select(Service.id))) == ["svc-ok", "svc-ok-2"]
    assert count(db_session, Phone) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"contents": [', "not valid JSON: line 1 column 15: Expecting value"),
        ("Şişli Belediyesi".encode("cp1254"), "not UTF-8 text (byte 0xde at offset 0)"),
        (b"", "the file is empty"),
        (b"42", "expected an HSDS page or a list of services, found a JSON int"),
        (b'{"services": []}', "expected an HSDS page with 'contents', or a list of services"),
        (
            b'{"contents": {"id": "a"}}',
            "not an HSDS page: contents: {'id': 'a'} is not of type 'array'",
        ),
        (
            b'{"contents": [], "total_items": "ten"}',
            "not an HSDS page: total_items: 'ten' is not of type 'integer'",
        ),
        (
            b'[{"id": "a", "name": "A", "status": "active", "minimum_age": NaN}]',
            "NaN is not a JSON number",
        ),
    ],
    ids=[
        "malformed",
        "cp1254",
        "empty",
        "number",
        "no-contents",
        "contents-object",
        "envelope-type",
        "nan",
    ],
)
def test_unreadable_files_give_one_line_and_import_nothing(
    db_session: Session, tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "package.json"
    path.write_bytes(content)
    result = hsds.import_file(db_session, path)
    assert result.imported == 0 and result.rejected == []
    assert len(result.problems) == 1, result.problems
    assert result.problems[0].startswith(f"{path}: ") and expected in result.problems[0]
    assert count(db_session, Service) == count(db_session, Organization) == 0


def test_a_missing_file_is_a_problem_not_a_traceback(db_session: Session, tmp_path: Path) -> None:
    result = hsds.import_file(db_session, tmp_path / "nowhere.json")
    assert result.problems == [
        f"{tmp_path / 'nowhere.json'}: cannot read the file (No such file or directory)"
    ]


def test_hostile_values_are_escaped_bounded_and_left_out(db_session: Session) -> None:
    orphan = foreign("orphan", organization_id="no-such-org")
    del orphan["organization"]
    records = [
        foreign("line\nbreak\u202eevil"),
        foreign("x" * 101),
        foreign("long-text", description="ç" * 5000, url="https://example.org/" + "a" * 600),
        foreign("nul-text", description="a\x00b", phones=[{"id": "p", "number": "0" * 60}]),
        orphan,
        foreign("dup"),
        foreign("dup", name="ikinci"),
    ]
    result = hsds.import_package(db_session, records, name="hostile")
    db_session.commit()
    assert sorted(result.imported_ids) == ["dup", "long-text", "nul-text"]
    assert all("\n" not in p and "\u202e" not in p and len(p) < 1000 for p in result.problems)
    assert result.rejected[0].problems == [
        "[0] (id line\\x0abreak\\x202eevil): id: expected an id of 1 to 100 printable "
        "characters, got line\\x0abreak\\x202eevil"
    ]
    assert result.rejected[1].id == "x" * 101
    assert (
        "organization: Rehber needs the organization that provides the service"
        in result.rejected[2].problems[0]
    )
    assert result.rejected[3].problems == [
        "[6] (id dup): id: the package has this service twice; the first one was imported"
    ]
    long_text = db_session.get(Service, "long-text")
    nul_text = db_session.get(Service, "nul-text")
    assert long_text is not None and nul_text is not None
    assert long_text.description == {} and long_text.url is None and nul_text.description == {}
    assert nul_text.phones == [] and db_session.get(Service, "dup").name == {"tr": "Hizmet dup"}  # type: ignore[union-attr]
    problems = "\n".join(result.problems)
    assert (
        "[2] (id long-text): description: longer than 2000 characters or not text; left out"
        in problems
    )
    assert "[3] (id nul-text): phones[0].number: " in problems


def test_a_child_row_of_another_service_cannot_be_taken_over(db_session: Session) -> None:
    rich_catalogue(db_session)
    package = hsds.export_package(db_session)
    intruder = copy.deepcopy(next(r for r in package["contents"] if r["id"] == "rich-service"))
    intruder["id"] = "intruder"
    result = hsds.import_package(db_session, [intruder])
    db_session.commit()
    assert result.imported == 0
    assert (
        "[0] (id intruder): phones[0].id: rich-service-phone already belongs to service "
        "rich-service" in result.problems
    )
    assert db_session.get(Service, "intruder") is None
    phone = db_session.get(Phone, "rich-service-phone")
    assert phone is not None and phone.service_id == "rich-service"


# --- upserts ----------------------------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(seeded: Session, tmp_path: Path) -> None:
    ours = write(tmp_path / "ours.json", json.loads(exported(seeded)))
    before = snapshot(seeded)
    for _ in range(2):
        result = hsds.import_file(seeded, ours)
        seeded.commit()
        assert (result.imported, result.rejected) == (23, [])
        assert snapshot(seeded) == before
    first = hsds.import_file(seeded, EXAMPLES / "service_list.json")
    seeded.commit()
    after_first = snapshot(seeded)
    second = hsds.import_file(seeded, EXAMPLES / "service_list.json")
    seeded.commit()
    assert snapshot(seeded) == after_first and second.problems == first.problems
    assert count(seeded, Service) == 24


def test_an_import_updates_one_service_and_keeps_the_rest(seeded: Session) -> None:
    package = hsds.export_package(seeded)
    record = next(r for r in package["contents"] if r["id"] == "kucukcekmece-dil-egitimi")
    record["name"] = "Türkçe kursu (yeni dönem)"
    record["attributes"] = [
        a for a in record["attributes"] if a.get("taxonomy_term_id") != "audience:refugees"
    ]
    arabic = seeded.get(Service, "kucukcekmece-dil-egitimi").name["ar"]  # type: ignore[union-attr]
    result = hsds.import_package(seeded, {"contents": [record]})
    seeded.commit()
    assert (result.imported, result.rejected) == (1, [])
    organization = seeded.get(Organization, "kucukcekmece-belediyesi")
    assert organization is not None
    assert len(organization.services) == 11
    assert all(s.status == "active" for s in organization.services)
    assert count(seeded, Service) == 23
    service = seeded.get(Service, "kucukcekmece-dil-egitimi")
    assert service is not None
    assert service.name["tr"] == "Türkçe kursu (yeni dönem)" and service.name["ar"] == arabic
    assert [a.taxonomy_term_id for a in service.attributes] == ["category:language_course"]


def test_the_caller_owns_the_transaction(db_session: Session) -> None:
    ensure_taxonomy(db_session)  # as in any seeded database: the import then writes no row first
    db_session.commit()
    result = hsds.import_package(db_session, [foreign("kept-only-if-committed")])
    assert result.imported == 1
    db_session.rollback()
    assert db_session.get(Service, "kept-only-if-committed") is None


# --- command line -----------------------------------------------------------------------------


def test_command_line_export_then_import(db_url: str, tmp_path: Path) -> None:
    def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": url}
        return subprocess.run(
            [sys.executable, "-m", "service_catalogue", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert run(db_url, "seed").returncode == 0
    out = tmp_path / "export.json"
    exported_ = run(db_url, "hsds-export", str(out))
    assert exported_.returncode == 0, exported_.stderr
    assert exported_.stdout.strip() == f"hsds: 23 services written to {out}"

    target = f"sqlite:///{tmp_path / 'target.db'}"
    imported = run(target, "hsds-import", str(out))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "hsds: 23 services imported, 0 rejected"
    assert imported.stderr.count("imported without a Rehber category") == 3
    assert "Traceback" not in imported.stderr
    again = tmp_path / "again.json"
    assert run(target, "hsds-export", str(again)).returncode == 0
    assert again.read_bytes() == out.read_bytes()

    broken = write(tmp_path / "broken.json", {"contents": [foreign("ok"), {"name": "no id"}]})
    partly = run(target, "hsds-import", str(broken))
    assert partly.returncode == 1
    assert partly.stdout.strip() == "hsds: 1 services imported, 1 rejected"
    assert "rehber: contents[1] (no id): id: 'id' is a required property" in partly.stderr

    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff\xfe{")
    unreadable = run(target, "hsds-import", str(garbage))
    assert "Traceback" not in unreadable.stderr
    assert (
        unreadable.stderr.strip()
        == f"rehber: {garbage}: not UTF-8 text (byte 0xff at offset 0); save it as UTF-8"
    )
    assert unreadable.stdout.strip() == "hsds: 0 services imported, 0 rejected"
