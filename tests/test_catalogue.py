"""The catalogue on SQLite and PostgreSQL: content validation, seeding, ranking, tickets."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nlu_components.gazetteer import Gazetteer
from service_catalogue.models import (
    Language,
    Location,
    Organization,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceAttribute,
    Ticket,
)
from service_catalogue.search import FactsIndex, Query, nearest, search
from service_catalogue.seed import ensure_taxonomy, read_catalogue, write_catalogue
from service_catalogue.taxonomy import CATEGORY_CODES
from service_catalogue.tickets import (
    TicketError,
    create_ticket,
    erase_personal_data,
    find_for_conversation,
    transition,
)

ROOT = Path(__file__).resolve().parent.parent
GAZETTEER = Gazetteer.from_file(ROOT / "nlu_data" / "lookups" / "gazetteer.yml")
MONDAY_10 = datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc)  # 10:00 in Istanbul
SUNDAY_10 = datetime(2026, 11, 22, 7, 0, tzinfo=timezone.utc)


# --- content validation ----------------------------------------------------------------------

VALID = """\
organization:
  id: test-org
  name: {tr: Test Kurumu, en: Test body}
  website: unknown
locations:
  - id: test-loc
    name: {tr: Merkez}
    district: Osmangazi
    city: Bursa
    address: unknown
services:
  - id: test-service
    name: {tr: Test hizmeti}
    description: {tr: Açıklama}
    categories: [legal_aid]
    districts: [Osmangazi]
    locations: [test-loc]
"""


def _content_with(tmp_path: Path, text: str, name: str = "test-org.yml") -> Path:
    content = tmp_path / "content"
    (content / "services").mkdir(parents=True)
    (content / "services" / name).write_text(text, encoding="utf-8")
    return content


def test_valid_file_reads_and_missing_facts_are_unknown(tmp_path: Path) -> None:
    catalogue = read_catalogue(_content_with(tmp_path, VALID), GAZETTEER)
    assert catalogue.errors == []
    service = catalogue.organizations[0].services[0]
    assert "phones" in service.unknown and "cost" in service.unknown
    assert service.i18n_status["name"] == {
        "ar": "missing",
        "fa": "missing",
        "tr": "reviewed",
        "en": "missing",
    }
    location = catalogue.organizations[0].locations[0]
    assert location.coordinates_source == "district_centre"  # only the district is known


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("name: {tr: Test hizmeti}", "name: {en: Only English}"),
            "services[0].name: the Turkish text (tr) is required",
        ),
        (
            ("district: Osmangazi", "district: Atlantis"),
            "locations[0].district: unknown district 'Atlantis'",
        ),
        (
            ("district: Osmangazi", "district: osmangazı"),
            "locations[0].district: write the district as 'Osmangazi'",
        ),
        (
            ("categories: [legal_aid]", "categories: [astrology]"),
            "services[0].categories: expected a list from",
        ),
        (
            ("locations: [test-loc]", "locations: [nowhere]"),
            "services[0].locations[0]: no location 'nowhere'",
        ),
        (
            ("    address: unknown", "    address: unknown\n    phones: [{number: 'call us'}]"),
            "phones[0].number: expected a phone number",
        ),
        (
            (
                "    categories: [legal_aid]",
                "    categories: [legal_aid]\n"
                "    schedule: [{days: [XX], opens: '09:00', closes: '17:00'}]",
            ),
            "schedule[0].days",
        ),
        (
            (
                "    categories: [legal_aid]",
                "    categories: [legal_aid]\n"
                "    schedule: [{days: [MO], opens: '18:00', closes: '09:00'}]",
            ),
            "expected opens < closes",
        ),
        (("id: test-service", "id: 'bad id with spaces'"), "services[0].id: expected an id"),
        (
            ("    categories: [legal_aid]", "    categories: [legal_aid]\n    cost: cheap"),
            "services[0].cost: expected free, paid or unknown",
        ),
    ],
)
def test_broken_content_names_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    text = VALID.replace(*change)
    catalogue = read_catalogue(_content_with(tmp_path, text), GAZETTEER)
    messages = [str(e) for e in catalogue.errors]
    assert any(
        expected in m and m.startswith("content/services/test-org.yml:") for m in messages
    ), messages
    line = int(messages[0].split(":")[1])
    assert text.splitlines()[line - 1].strip(), "the reported line holds the problem"


def test_invalid_yaml_and_duplicate_ids_are_reported(tmp_path: Path) -> None:
    content = _content_with(tmp_path, VALID)
    (content / "services" / "copy.yml").write_text(VALID, encoding="utf-8")
    (content / "services" / "broken.yml").write_text("organization: [unclosed\n", encoding="utf-8")
    messages = [str(e) for e in read_catalogue(content, GAZETTEER).errors]
    assert any("broken.yml" in m and "invalid YAML" in m for m in messages)
    assert any("'test-org' is also used in" in m for m in messages)


def test_the_real_content_is_valid_and_invents_no_contact_details() -> None:
    catalogue = read_catalogue(ROOT / "content", GAZETTEER)
    assert catalogue.errors == []
    services = [s for o in catalogue.organizations for s in o.services]
    assert len(services) >= 15
    # The seed documents give no phone numbers, addresses or hours: none may appear.
    assert all(not s.phones and not s.schedules for s in services)
    assert all(loc.address_1 is None for o in catalogue.organizations for loc in o.locations)
    assert all(set(s.name) == {"ar", "fa", "tr", "en"} for s in services)


# --- seeding ------------------------------------------------------------------------------------


def test_seeding_is_idempotent_and_retires_removed_services(
    db_session: Session, tmp_path: Path
) -> None:
    content = _content_with(tmp_path, VALID)
    for _ in range(2):
        write_catalogue(db_session, read_catalogue(content, GAZETTEER))
        db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(Service)) == 1
    assert db_session.scalar(select(func.count()).select_from(ServiceArea)) == 1
    (content / "services" / "test-org.yml").write_text(
        VALID.split("services:")[0] + "services: []\n", encoding="utf-8"
    )
    counts = write_catalogue(db_session, read_catalogue(content, GAZETTEER))
    db_session.commit()
    assert counts["retired"] == 1
    assert db_session.get(Service, "test-service").status == "inactive"  # type: ignore[union-attr]


# --- search and ranking -----------------------------------------------------------------------


def _service(
    session: Session,
    ident: str,
    district: str | None,
    city: str | None = "Bursa",
    category: str = "legal_aid",
    languages: tuple[str, ...] = (),
    interpreters: bool | None = None,
    hours: tuple[str, str] | None = None,
    coordinates: tuple[float, float] | None = None,
) -> Service:
    organization = session.get(Organization, "org") or Organization(id="org", name={"tr": "Kurum"})
    session.merge(organization)
    service = Service(
        id=ident, organization_id="org", name={"tr": ident}, interpreters=interpreters
    )
    if district:
        service.service_areas = [ServiceArea(id=f"{ident}-area", name=district, city=city)]
    service.languages = [Language(id=f"{ident}-{code}", code=code) for code in languages]
    service.attributes = [
        ServiceAttribute(id=f"{ident}#c", taxonomy_term_id=f"category:{category}")
    ]
    if hours:
        service.schedules = [
            Schedule(id=f"{ident}-h", byday="MO,TU,WE,TH,FR", opens_at=hours[0], closes_at=hours[1])
        ]
    if coordinates:
        location = Location(
            id=f"{ident}-loc",
            organization_id="org",
            name={"tr": "yer"},
            latitude=coordinates[0],
            longitude=coordinates[1],
            coordinates_source="exact",
        )
        service.service_at_locations = [ServiceAtLocation(id=f"{ident}@loc", location=location)]
    session.add(service)
    return service


@pytest.fixture
def ranked(db_session: Session) -> Session:
    ensure_taxonomy(db_session)
    db_session.flush()
    _service(db_session, "a-elsewhere", "Gemlik")
    _service(db_session, "b-city-wide", "Bursa", city="Bursa")
    _service(db_session, "c-district", "Osmangazi")
    _service(db_session, "d-district-arabic", "Osmangazi", languages=("ar",))
    _service(db_session, "e-district-open", "Osmangazi", hours=("09:00", "17:00"))
    _service(db_session, "f-istanbul", "Fatih", city="İstanbul")
    _service(db_session, "g-other-category", "Osmangazi", category="health")
    db_session.commit()
    return db_session


def test_ranking_prefers_district_then_language_then_open_now(ranked: Session) -> None:
    query = Query(category="legal_aid", district="Osmangazi", city="Bursa", language="ar")
    hits, total = search(ranked, query, when=MONDAY_10, limit=10)
    ids = [h.service.id for h in hits]
    assert ids == ["d-district-arabic", "e-district-open", "c-district", "b-city-wide"]
    assert total == 4  # Gemlik and Istanbul do not serve Osmangazi; health is another category
    on_sunday = [h.service.id for h in search(ranked, query, when=SUNDAY_10, limit=10)[0]]
    assert on_sunday[:1] == ["d-district-arabic"] and set(on_sunday) == set(ids)


def test_paging_and_wider_search(ranked: Session) -> None:
    query = Query(category="legal_aid", district="Osmangazi", city="Bursa")
    first, total = search(ranked, query, when=MONDAY_10, limit=3)
    second, _ = search(ranked, query, when=MONDAY_10, limit=3, offset=3)
    assert len(first) == 3 and len(second) == total - 3
    anywhere, total_anywhere = search(ranked, Query(category="legal_aid"), when=MONDAY_10, limit=10)
    assert total_anywhere == 6


def test_missing_category_finds_nothing(ranked: Session) -> None:
    hits, total = search(ranked, Query(category="housing", district="Osmangazi"), when=MONDAY_10)
    assert hits == [] and total == 0


def test_interpreters_count_for_language(db_session: Session) -> None:
    ensure_taxonomy(db_session)
    db_session.flush()
    _service(db_session, "x-plain", "Osmangazi")
    _service(db_session, "y-interpreters", "Osmangazi", interpreters=True)
    db_session.commit()
    hits, _ = search(
        db_session, Query(category="legal_aid", district="Osmangazi", language="fa"), when=MONDAY_10
    )
    assert hits[0].service.id == "y-interpreters"


def test_nearest_orders_by_distance(db_session: Session) -> None:
    ensure_taxonomy(db_session)
    db_session.flush()
    _service(db_session, "far", None, coordinates=(41.0, 28.9))  # Istanbul
    _service(db_session, "near", None, coordinates=(40.19, 29.06))  # Osmangazi
    _service(db_session, "no-coordinates", "Osmangazi")
    db_session.commit()
    hits = nearest(db_session, 40.20, 29.07)
    assert [h.service.id for h in hits] == ["near", "far"]
    assert hits[0].distance_km is not None and hits[0].distance_km < 2
    assert not hits[0].distance_is_approximate


def _results(session: Session, query: Query, index: FactsIndex | None) -> list[tuple]:
    hits, total = search(session, query, when=MONDAY_10, limit=50, index=index)
    return [(h.service.id, h.score, h.reasons) for h in hits] + [("total", total)]


def test_index_ranks_exactly_as_the_database_does(seeded: Session) -> None:
    """The in-memory index (what the action server uses) against the SQL path, on the real
    catalogue: every category, with and without a district, in every language."""
    index = FactsIndex()
    bursa = [("Osmangazi", "Bursa"), ("Yıldırım", "Bursa"), ("Orhangazi", "Bursa")]
    istanbul = [("Zeytinburnu", "İstanbul"), ("Küçükçekmece", "İstanbul"), ("Fatih", "İstanbul")]
    places: list[tuple[str | None, str | None]] = [(None, None), *bursa, *istanbul]
    compared = found = 0
    for category in [*CATEGORY_CODES, None]:
        for district, city in places:
            for language in ("ar", "fa", "tr", "en"):
                for audience in (None, "women"):
                    query = Query(category, district, city, language, audience)
                    expected = _results(seeded, query, None)
                    assert _results(seeded, query, index) == expected, query
                    compared += 1
                    found += expected[-1][1] > 0
    assert compared == 14 * 7 * 4 * 2 and found > compared // 2


def test_index_follows_catalogue_changes_after_its_max_age(db_session: Session) -> None:
    ensure_taxonomy(db_session)
    db_session.flush()
    _service(db_session, "first", "Osmangazi")
    db_session.commit()
    query = Query(category="legal_aid", district="Osmangazi", city="Bursa")
    fresh, patient = FactsIndex(max_age_seconds=0), FactsIndex(max_age_seconds=3600)
    assert _results(db_session, query, patient)[-1] == ("total", 1)
    _service(db_session, "second", "Osmangazi")
    db_session.commit()
    assert _results(db_session, query, fresh)[-1] == ("total", 2)
    assert _results(db_session, query, patient)[-1] == ("total", 1)  # within its max age
    patient.clear()
    assert _results(db_session, query, patient)[-1] == ("total", 2)
    # A service deleted after the snapshot is never shown, even before the index catches up.
    db_session.delete(db_session.get(Service, "first"))
    db_session.commit()
    shown = [row[0] for row in _results(db_session, query, FactsIndex())][:-1]
    assert shown == ["second"]


def test_real_catalogue_answers_legal_help_in_kucukcekmece(seeded: Session) -> None:
    query = Query(category="legal_aid", district="Küçükçekmece", city="İstanbul", language="ar")
    hits, _ = search(seeded, query, when=MONDAY_10)
    assert hits[0].service.id == "kucukcekmece-sosyal-koruma-hukuki-destek"
    assert "interpreters" in hits[0].reasons


# --- tickets ------------------------------------------------------------------------------------


def _ticket(session: Session, conversation: str = "telegram:1", **kw: object) -> Ticket:
    defaults: dict[str, object] = {
        "conversation_id": conversation,
        "channel": "telegram",
        "language": "ar",
        "description": "أحتاج محامي لقضية إيجار",
        "consent_at": MONDAY_10,
        "category": "legal_aid",
    }
    defaults.update(kw)
    ticket = create_ticket(session, **defaults)  # type: ignore[arg-type]
    session.commit()
    return ticket


def test_ticket_lifecycle_with_audit_trail(seeded: Session) -> None:
    ticket = _ticket(seeded)
    assert ticket.reference == f"R-{ticket.id + 1000}" and ticket.status == "new"
    transition(seeded, ticket, "assigned", "ayse", "I'll call her")
    transition(seeded, ticket, "in_progress", "ayse")
    with pytest.raises(TicketError):
        transition(seeded, ticket, "referred", "ayse", referred_service_id="no-such-service")
    transition(
        seeded,
        ticket,
        "referred",
        "ayse",
        "to the bar",
        referred_service_id="bursa-barosu-adli-yardim",
    )
    transition(seeded, ticket, "resolved", "ayse")
    transition(seeded, ticket, "closed", "mehmet", "done")
    seeded.commit()
    trail = [(e.from_status, e.to_status, e.actor) for e in ticket.events]
    assert trail == [
        (None, "new", "rehber-bot"),
        ("new", "assigned", "ayse"),
        ("assigned", "in_progress", "ayse"),
        ("in_progress", "referred", "ayse"),
        ("referred", "resolved", "ayse"),
        ("resolved", "closed", "mehmet"),
    ]
    assert all(e.at is not None for e in ticket.events)
    with pytest.raises(TicketError):
        transition(seeded, ticket, "in_progress", "ayse")  # closed is final


@pytest.mark.parametrize(
    ("start", "target"), [("new", "resolved"), ("new", "referred"), ("new", "unknown")]
)
def test_impossible_transitions_are_refused(db_session: Session, start: str, target: str) -> None:
    ticket = _ticket(db_session)
    with pytest.raises(TicketError):
        transition(db_session, ticket, target, "ayse")
    assert ticket.status == start


def test_long_description_is_trimmed_for_staff_lists_but_kept_whole(db_session: Session) -> None:
    description = ("Kiracıyım ve ev sahibi depozitomu geri vermiyor, avukat lazım. " * 80)[:5000]
    ticket = _ticket(db_session, description=description, language="tr")
    assert ticket.description_trimmed and len(ticket.summary or "") <= 281
    assert ticket.description == description.strip()


def test_status_only_for_the_same_conversation(db_session: Session) -> None:
    ticket = _ticket(db_session, "telegram:1")
    assert find_for_conversation(db_session, ticket.reference, "telegram:1") is ticket
    assert find_for_conversation(db_session, ticket.reference, "whatsapp:905550000000") is None
    assert find_for_conversation(db_session, "R-999999", "telegram:1") is None
    assert find_for_conversation(db_session, "'; DROP TABLE ticket; --", "telegram:1") is None
    assert db_session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_phone_contact_needs_a_number(db_session: Session) -> None:
    with pytest.raises(TicketError):
        _ticket(db_session, contact_preference="phone")


def test_erasure_removes_personal_fields_only_for_that_person(db_session: Session) -> None:
    mine = _ticket(
        db_session,
        "telegram:1",
        contact_preference="phone",
        phone="05551112233",
        district="Osmangazi",
    )
    other = _ticket(db_session, "telegram:2")
    assert erase_personal_data(db_session, "telegram:1") == 1
    db_session.commit()
    assert (mine.conversation_id, mine.description, mine.phone, mine.district) == (
        None,
        None,
        None,
        None,
    )
    assert mine.erased_at is not None and mine.category == "legal_aid"
    assert mine.events[-1].note == "personal data erased at the person's request"
    assert other.description is not None
    assert find_for_conversation(db_session, mine.reference, "telegram:1") is None


def test_copy_content_dir_fixture_sanity(tmp_path: Path) -> None:
    target = tmp_path / "content"
    shutil.copytree(ROOT / "content", target)
    assert read_catalogue(target, GAZETTEER).errors == []
