"""Custom actions with real Tracker and CollectingDispatcher objects, on the real catalogue
(SQLite and PostgreSQL): what the person is shown, and what is stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions import common
from actions.referral import (
    ActionCheckReferralStatus,
    ActionCreateTicket,
    ValidateReferralForm,
    normalise_phone,
)
from actions.search import (
    ActionNearestServices,
    ActionSearchMore,
    ActionSearchServices,
    ActionSearchWider,
    ActionShowService,
)
from actions.session import ActionSessionStart
from actions.texts import texts
from service_catalogue.models import Ticket
from service_catalogue.taxonomy import category_name
from service_catalogue.tickets import create_ticket, now


@pytest.fixture
def catalogue(seeded: Session, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    """The actions' own database connection points at the seeded test database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    common.reset_database_cache()
    yield seeded
    common.reset_database_cache()


def tracker(
    intent: str = "ask_legal_aid",
    text: str = "",
    language: str = "en",
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    sender: str = "telegram:111",
) -> Tracker:
    latest = {
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "text": text,
        "language": {"code": language, "detected": language},
        "metadata": {"channel": sender.split(":")[0], **(metadata or {})},
    }
    return Tracker(
        sender,
        slots or {},
        latest,
        events or [{"event": "user", "parse_data": latest, "text": text}],
        False,
        None,
        {},
        "action_listen",
    )


async def run(action: Any, tracker_: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker_, {})
    return dispatcher.messages, events


def slot(events: list[dict[str, Any]], name: str) -> Any:
    return next(e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name)


# --- search ---------------------------------------------------------------------------------


async def test_legal_help_in_kucukcekmece_in_arabic(catalogue: Session) -> None:
    t = texts("ar")
    messages, events = await run(
        ActionSearchServices(),
        tracker(
            "ask_legal_aid",
            "وين بلاقي محامي ببلاش بكوجك جكمجة",
            "ar",
            slots={"district": "Küçükçekmece"},
        ),
    )
    text = messages[0]["text"]
    header = t.text(
        "msg_services_header", category=category_name("legal_aid", "ar"), place="Küçükçekmece"
    )
    assert text.startswith(header)
    assert "\u0645" in text  # the services are named in Arabic
    assert slot(events, "search_results")[0] == "kucukcekmece-sosyal-koruma-hukuki-destek"
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads[0] == '/show_service{"service_pick":"1"}'
    assert "/request_human" in payloads
    assert all(len(p.encode()) <= 64 for p in payloads)  # Telegram's callback_data limit


async def test_nothing_found_offers_a_wider_area_and_a_person(catalogue: Session) -> None:
    t = texts("tr")
    messages, events = await run(
        ActionSearchServices(),
        tracker("ask_housing", "ev arıyorum", "tr", slots={"district": "Nilüfer"}),
    )
    assert messages[0]["text"] == t.text(
        "msg_services_none", category=category_name("housing", "tr"), place="Nilüfer"
    )
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/search_wider", "/request_human"]
    wider, _ = await run(
        ActionSearchWider(),
        tracker(
            "search_wider", "", "tr", slots={"district": "Nilüfer", "search_category": "housing"}
        ),
    )
    assert wider[0]["text"].startswith(
        t.text("msg_services_header_anywhere", category=category_name("housing", "tr"))
    )
    assert "Küçükçekmece" in wider[0]["text"]


async def test_more_pages_then_says_there_is_no_more(catalogue: Session) -> None:
    slots = {"search_category": "jobs", "search_offset": 0.0, "search_results": ["x"]}
    messages, events = await run(
        ActionSearchMore(), tracker("search_more", "more", "en", slots=slots)
    )
    assert slot(events, "search_offset") == 3.0
    slots["search_offset"] = 30.0
    messages, _ = await run(ActionSearchMore(), tracker("search_more", "more", "en", slots=slots))
    assert messages[0]["text"] == texts("en").text(
        "msg_services_none_more",
        category=category_name("jobs", "en"),
        place=texts("en").text("msg_place_anywhere"),
    )


async def test_hostile_district_value_finds_nothing_and_crashes_nothing(catalogue: Session) -> None:
    messages, _ = await run(
        ActionSearchServices(),
        tracker("ask_legal_aid", "x", "en", slots={"district": "'; DROP TABLE service; --"}),
    )
    assert messages and messages[0]["text"]
    assert catalogue.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_details_say_unknown_honestly(catalogue: Session) -> None:
    t = texts("fa")
    results = ["kucukcekmece-sosyal-koruma-hukuki-destek"]
    messages, _ = await run(
        ActionShowService(),
        tracker("show_service", "", "fa", slots={"search_results": results, "service_pick": "1"}),
    )
    text = messages[0]["text"]
    assert (
        text.count(t.text("msg_unknown")) >= 4
    )  # address, hours, phone, documents... are not in the seeds
    assert t.text("msg_service_interpreters") in text  # the seed says interpreters are available
    assert "0" not in "".join(ch for ch in text if ch.isdigit()) or "Küçükçekmece" in text


async def test_unknown_pick_is_explained(catalogue: Session) -> None:
    messages, _ = await run(
        ActionShowService(),
        tracker("show_service", "", "en", slots={"search_results": ["a"], "service_pick": "7"}),
    )
    assert messages[0]["text"] == texts("en").text("msg_service_pick_unknown")


async def test_shared_location_lists_the_nearest_with_approximate_distance(
    catalogue: Session,
) -> None:
    t = texts("tr")
    location = {"attachment": {"kind": "location", "latitude": 41.0, "longitude": 28.78}}
    messages, events = await run(
        ActionNearestServices(), tracker("share_location", "", "tr", metadata=location)
    )
    assert messages[0]["text"].startswith(t.text("msg_nearest_header"))
    assert t.text("msg_distance_approx", km="0.0") in messages[0]["text"]
    assert slot(events, "search_results")[0].startswith("kucukcekmece")


async def test_unreadable_location(catalogue: Session) -> None:
    messages, _ = await run(
        ActionNearestServices(),
        tracker("share_location", "", "ar", metadata={"attachment": {"kind": "location"}}),
    )
    assert messages[0]["text"] == texts("ar").text("msg_location_unreadable")


# --- referral form and tickets ----------------------------------------------------------------


async def test_consent_refused_stores_nothing(catalogue: Session) -> None:
    form = ValidateReferralForm()
    assert form.validate_referral_consent(False, CollectingDispatcher(), tracker(), {}) == {
        "referral_consent": False,
        "requested_slot": None,
    }
    assert (
        await form.required_slots(
            [], CollectingDispatcher(), tracker(slots={"referral_consent": False}), {}
        )
        == []
    )
    messages, events = await run(
        ActionCreateTicket(), tracker("deny", "no", "fa", slots={"referral_consent": False})
    )
    assert [m["response"] for m in messages] == ["utter_referral_consent_refused"]
    assert catalogue.scalar(select(func.count()).select_from(Ticket)) == 0
    assert all(e["value"] is None for e in events if e["event"] == "slot")


async def test_ticket_is_created_urgent_after_an_emergency(catalogue: Session) -> None:
    emergency = {"event": "user", "text": "help", "parse_data": {"intent": {"name": "emergency"}}}
    slots = {
        "referral_consent": True,
        "referral_description": "Ev sahibi bizi bu gece sokağa atıyor, iki çocuğum var",
        "referral_contact": "phone",
        "referral_phone": "05551234567",
        "referral_district": "Osmangazi",
    }
    t = tracker("affirm", "", "tr", slots=slots, events=[emergency])
    messages, events = await run(ActionCreateTicket(), t)
    ticket = catalogue.scalars(select(Ticket)).one()
    assert (ticket.urgency, ticket.channel, ticket.language, ticket.district) == (
        "urgent",
        "telegram",
        "tr",
        "Osmangazi",
    )
    assert (ticket.contact_preference, ticket.phone, ticket.conversation_id) == (
        "phone",
        "05551234567",
        "telegram:111",
    )
    assert messages[-1]["text"] == texts("tr").text(
        "msg_referral_created_urgent", referral_id=ticket.reference
    )
    assert SlotSet("referral_id", ticket.reference) in events


async def test_long_description_gets_a_notice_and_is_kept(catalogue: Session) -> None:
    description = ("I need help with my residence permit and my children's school. " * 90)[:5000]
    slots = {
        "referral_consent": True,
        "referral_description": description,
        "referral_contact": "chat",
    }
    messages, _ = await run(ActionCreateTicket(), tracker("inform", "", "en", slots=slots))
    assert messages[0]["text"] == texts("en").text("msg_referral_description_trimmed")
    assert catalogue.scalars(select(Ticket)).one().description == description.strip()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0532 123 45 67", "05321234567"),
        ("٠٥٣٢١٢٣٤٥٦٧", "05321234567"),
        ("+90 532 123 4567", "+905321234567"),
        ("5321234567", "05321234567"),
        ("call me", None),
        ("123", None),
        ("'; DROP TABLE ticket; --", None),
    ],
)
def test_phone_numbers(typed: str, expected: str | None) -> None:
    assert normalise_phone(typed) == expected


def test_form_validators_answer_in_the_users_language() -> None:
    form = ValidateReferralForm()
    dispatcher = CollectingDispatcher()
    assert form.validate_referral_phone("call me", dispatcher, tracker(language="ar"), {}) == {
        "referral_phone": None
    }
    assert dispatcher.messages[0]["text"] == texts("ar").text("msg_referral_phone_invalid")
    assert form.validate_referral_description("ok", dispatcher, tracker(language="ar"), {}) == {
        "referral_description": None
    }
    assert form.validate_referral_contact("هاتف", dispatcher, tracker(language="ar"), {}) == {
        "referral_contact": "phone"
    }
    assert form.validate_referral_contact("banana", dispatcher, tracker(), {}) == {
        "referral_contact": None
    }
    assert form.validate_referral_district("osmangazı'da", dispatcher, tracker(), {}) == {
        "referral_district": "Osmangazi"
    }
    first = form.validate_referral_district("Atlantis", dispatcher, tracker(language="fa"), {})
    assert first == {"referral_district": None, "referral_district_retry": True}
    again = form.validate_referral_district(
        "Atlantis", dispatcher, tracker(slots={"referral_district_retry": True}), {}
    )
    assert again == {"referral_district": "unknown", "referral_district_retry": None}


async def test_status_is_read_back_only_in_the_same_conversation(catalogue: Session) -> None:
    ticket = create_ticket(
        catalogue,
        conversation_id="telegram:111",
        channel="telegram",
        language="en",
        description="need a lawyer",
        consent_at=now(),
    )
    catalogue.commit()
    reference = ticket.reference
    entity = [{"entity": "referral_id", "value": reference}]
    mine, _ = await run(
        ActionCheckReferralStatus(),
        tracker("check_referral_status", reference, "en", entities=entity),
    )
    t = texts("en")
    assert mine[0]["text"] == t.text(
        "msg_referral_status", referral_id=reference, status=t.text("msg_ticket_status_new")
    )
    theirs, _ = await run(
        ActionCheckReferralStatus(),
        tracker(
            "check_referral_status",
            reference,
            "en",
            entities=entity,
            sender="whatsapp:905551112233",
        ),
    )
    nobody, _ = await run(
        ActionCheckReferralStatus(),
        tracker(
            "check_referral_status",
            "R-99999",
            "en",
            entities=[{"entity": "referral_id", "value": "R-99999"}],
            sender="whatsapp:905551112233",
        ),
    )
    # someone else's ticket and a ticket that does not exist get the same answer
    assert theirs[0]["text"] == t.text("msg_referral_not_found", referral_id=reference)
    assert nobody[0]["text"] == t.text("msg_referral_not_found", referral_id="R-99999")
    asked, _ = await run(
        ActionCheckReferralStatus(), tracker("check_referral_status", "what about my request", "en")
    )
    assert asked[0]["response"] == "utter_referral_status_ask_id"


async def test_session_start_keeps_the_chosen_language() -> None:
    t = tracker(slots={"language": "fa", "session_started_metadata": {"channel": "whatsapp"}})
    _, events = await run(ActionSessionStart(), t)
    names = [(e.get("event"), e.get("name"), e.get("value")) for e in events]
    assert ("slot", "language", "fa") in names and ("slot", "channel", "whatsapp") in names
    assert names[0][0] == "session_started" and names[-1][0] == "action"
