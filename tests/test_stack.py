"""The product as a person uses it: web chat → gateway → Rasa (trained model) → NLG → reply.

Runs the three real processes (see conftest.Stack). Each test names what the person sees.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from bot.content import ContentStore
from service_catalogue.taxonomy import INTENT_CATEGORY, category_name

pytestmark = pytest.mark.rasa


def chat(stack, conversation: str, text: str, **extra: object) -> dict:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{stack.app_url}/api/webchat/messages",
        json={
            "conversation_id": conversation,
            "message_id": uuid.uuid4().hex,
            "text": text,
            **extra,
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def texts(answer: dict) -> list[str]:
    return [m["text"].replace("\n\u00a0\n", "\n\n") for m in answer["messages"]]


TOPIC_INTENT = {
    "utter_legal_aid_info": "ask_legal_aid",
    "utter_language_course_info": "ask_language_course",
    "utter_child_education_info": "ask_child_education",
    "utter_residence_permit_info": "ask_residence_permit",
}


def outbox_until(stack, conversation: str, wanted: str, seconds: float = 60) -> list[str]:  # type: ignore[no-untyped-def]
    """Texts delivered later to the web chat's outbox, until ``wanted`` arrives."""
    received: list[str] = []
    deadline = time.monotonic() + seconds
    while wanted not in received and time.monotonic() < deadline:
        outbox = httpx.get(
            f"{stack.app_url}/api/webchat/outbox",
            params={"conversation_id": conversation},
            timeout=10,
        ).json()
        received += [m["text"].replace("\n\u00a0\n", "\n\n") for m in outbox["messages"]]
        time.sleep(0.5)
    return received


def new_conversation() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize(
    ("lang", "text", "response"),
    [
        ("ar", "مرحبا، بدي محامي ببلاش عندي قضية بالمحكمة", "utter_legal_aid_info"),
        ("fa", "سلام، میخواهم ترکی یاد بگیرم، کورس زبان کجاست؟", "utter_language_course_info"),
        ("tr", "cocugum 9 yasinda ve hala okula kayit olmadi", "utter_child_education_info"),
        ("en", "how can I renew my residence permit ikamet", "utter_residence_permit_info"),
        # Persian typed in Latin letters is answered in Persian
        ("fa", "salam mikham torki yad begiram kelas kojast", "utter_language_course_info"),
    ],
)
def test_a_question_is_answered_in_the_askers_language(
    stack, content: ContentStore, lang: str, text: str, response: str
) -> None:
    answer = chat(stack, new_conversation(), text)
    assert texts(answer)[0] == content.render(response, lang).text
    # then the matching services from the catalogue, introduced in the same language
    category = INTENT_CATEGORY[TOPIC_INTENT[response]]
    header = content.render(
        "msg_services_header_anywhere", lang, {"category": category_name(category, lang)}
    ).text
    none = content.render(
        "msg_services_none",
        lang,
        {
            "category": category_name(category, lang),
            "place": content.render("msg_place_anywhere", lang).text,
        },
    ).text
    assert texts(answer)[1].startswith(header) or texts(answer)[1] == none
    assert {m["language"] for m in answer["messages"]} == {lang}
    assert answer["messages"][0]["direction"] == ("rtl" if lang in ("ar", "fa") else "ltr")


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ar", "زوجي عم يضربني هلق وانا خايفة ع حياتي"),
        ("fa", "کمک! کسی با چاقو جلوی خانه ما است و تهدید میکند"),
        ("tr", "acil yardım komşunun evinde yangın çıktı içeride çocuklar var"),
        ("en", "help my friend took a lot of pills and is not waking up"),
        # typed in Latin letters (Finglish, Arabizi)
        ("fa", "komak konid shoharam alan ba chaqu mikhad mano bekoshe"),
        ("ar", "sa3dooni jozi 3am yedrobni hala2 w ana 5ayfe"),
        # a negated danger phrase is left to the classifier, which still hears the call for help
        ("en", "please help me i dont want to die"),
    ],
)
def test_emergency_gets_the_numbers_at_once(
    stack, content: ContentStore, lang: str, text: str
) -> None:
    answer = chat(stack, new_conversation(), text)
    assert texts(answer)[0] == content.render("utter_emergency", lang).text
    assert "112" in texts(answer)[0]
    assert answer["messages"][0]["language"] == lang


def test_chosen_language_persists_over_detection(stack, content: ContentStore) -> None:
    conversation = new_conversation()
    chose = chat(stack, conversation, '/choose_language{"language":"fa"}')
    assert texts(chose) == [content.render("utter_language_changed", "fa").text]
    answer = chat(stack, conversation, "I need a lawyer, I have a court case")
    assert texts(answer)[0] == content.render("utter_legal_aid_info", "fa").text


def test_short_reply_keeps_the_conversation_language(stack, content: ContentStore) -> None:
    conversation = new_conversation()
    chat(stack, conversation, "السلام عليكم، بدي اسجل ابني بالمدرسة")
    answer = chat(stack, conversation, "ok")
    assert answer["messages"][0]["language"] == "ar"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n  ",
        "😀😀😀",
        "\u200b\u200f\u202e\u2066",
        "<script>alert(1)</script>",
        "'; DROP TABLE tickets; --",
        "Merhaba ikamet izni istiyorum ama بدي اعرف الشروط please help",
    ],
)
def test_odd_input_gets_a_sensible_reply(stack, text: str) -> None:
    answer = chat(stack, new_conversation(), text)
    assert answer["messages"], "every message gets an answer"
    assert all(m["text"].strip() for m in answer["messages"])


def test_ten_thousand_characters_are_answered_and_kept(stack, content: ContentStore) -> None:
    conversation = new_conversation()
    text = ("أريد أن أسأل عن الإقامة والعمل والمدرسة لأولادي. " * 250)[:10000]
    answer = chat(stack, conversation, text)
    assert texts(answer)[0] == content.render("msg_long_message", "ar").text
    assert len(answer["messages"]) >= 2
    tracker = httpx.get(
        f"{stack.rasa_url}/conversations/web:{conversation}/tracker", timeout=30
    ).json()
    user_events = [e for e in tracker["events"] if e["event"] == "user"]
    assert user_events[-1]["metadata"]["full_text"] == text.strip()


def test_malformed_and_oversized_requests(stack) -> None:
    url = f"{stack.app_url}/api/webchat/messages"
    assert httpx.post(url, content=b"{not json", timeout=10).status_code == 400
    assert (
        httpx.post(url, json={"conversation_id": "x", "text": "hi"}, timeout=10).status_code == 400
    )
    assert (
        httpx.post(url, json={"conversation_id": "a" * 20, "text": 5}, timeout=10).status_code
        == 400
    )
    huge = {"conversation_id": "a" * 20, "text": "x" * 200_000}
    assert httpx.post(url, json=huge, timeout=10).status_code == 413


def test_web_chat_page_is_served_in_four_languages(stack, content: ContentStore) -> None:
    page = httpx.get(stack.app_url, timeout=10).text
    for lang in ("ar", "fa", "tr", "en"):
        assert content.render("msg_webchat_placeholder", lang).text in page


def test_nothing_is_lost_while_rasa_is_down(stack, content: ContentStore) -> None:
    """Stop the Rasa server, write twice, start it again: both answers arrive, in order."""
    conversation = new_conversation()
    stack.stop("rasa")
    try:
        for text in ("I need a lawyer for my court case", "thank you"):
            answer = chat(stack, conversation, text)
            assert texts(answer) == [content.render("msg_received_will_answer", "en").text]
    finally:
        stack.start_rasa()
    received = outbox_until(stack, conversation, content.render("utter_thank", "en").text)
    assert received[0] == content.render("utter_legal_aid_info", "en").text
    assert received[-1] == content.render("utter_thank", "en").text


def test_referral_form_status_and_erasure_end_to_end(stack, content: ContentStore) -> None:
    """A person asks for staff, consents, describes the need, gets a reference, checks it,
    and later has everything deleted; another person cannot read the reference."""
    import re

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from service_catalogue.db import make_engine
    from service_catalogue.models import Ticket

    def say(key: str, **values: str) -> str:
        return content.render(key, "tr", values).text

    conversation = new_conversation()
    first = texts(chat(stack, conversation, "bir görevliyle görüşmek istiyorum lütfen"))
    assert first == [say("utter_human_handoff"), say("utter_ask_referral_consent")]
    assert texts(chat(stack, conversation, "/affirm")) == [say("utter_ask_referral_description")]
    need = "Ev sahibi kirayı çok artırdı ve evden çıkmamızı istiyor, hukuki destek istiyorum"
    assert texts(chat(stack, conversation, need)) == [say("utter_ask_referral_contact")]
    asked = texts(chat(stack, conversation, '/inform{"contact_preference":"chat"}'))
    assert asked == [say("utter_ask_referral_district")]
    created = texts(chat(stack, conversation, "osmangazi'de oturuyorum"))
    reference = re.search(r"R-\d+", created[-1])
    assert reference is not None
    assert created[-1] == say("msg_referral_created", referral_id=reference.group(0))

    engine = make_engine(stack.env["DATABASE_URL"])
    with Session(engine) as session:
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.description, ticket.district, ticket.language, ticket.channel) == (
            need,
            "Osmangazi",
            "tr",
            "web",
        )
        assert ticket.category in ("housing", "legal_aid")  # taken from what the person said

    status = texts(chat(stack, conversation, reference.group(0)))
    assert status == [
        say(
            "msg_referral_status",
            referral_id=reference.group(0),
            status=say("msg_ticket_status_new"),
        )
    ]
    stranger = texts(chat(stack, new_conversation(), f"{reference.group(0)} ne durumda?"))
    assert stranger == [say("msg_referral_not_found", referral_id=reference.group(0))]

    assert texts(chat(stack, conversation, "verilerimi silin lütfen")) == [
        say("utter_erase_data_confirm")
    ]
    assert texts(chat(stack, conversation, "/erase_data_confirm")) == [say("msg_erase_done")]
    tracker = httpx.get(f"{stack.rasa_url}/conversations/web:{conversation}/tracker", timeout=30)
    assert not [e for e in tracker.json()["events"] if e["event"] == "user"]
    with Session(engine) as session:
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.description, ticket.district, ticket.conversation_id) == (None, None, None)
        assert ticket.erased_at is not None
    engine.dispose()


def test_nothing_is_lost_while_the_action_server_is_down(stack, content: ContentStore) -> None:
    """With the action server stopped the gateway queues instead of letting Rasa fail."""
    conversation = new_conversation()
    stack.stop("actions")
    try:
        answer = chat(stack, conversation, "Yıldırım'da Türkçe kursu var mı?")
        assert texts(answer) == [content.render("msg_received_will_answer", "tr").text]
    finally:
        stack.start_actions()
    info = content.render("utter_language_course_info", "tr").text
    assert outbox_until(stack, conversation, info)[0] == info


def test_embedded_tracker_store_keeps_conversations_in_wal_mode(stack) -> None:
    """scripts/rasa_serve.py puts Rasa's SQLite tracker store in WAL mode (fewer disk waits
    per turn); the conversation is in it and readable by another process meanwhile."""
    import sqlite3

    conversation = new_conversation()
    chat(stack, conversation, "hello")
    with sqlite3.connect(stack.env["RASA_TRACKER_DB"]) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = db.execute(
            "SELECT count(*) FROM events WHERE sender_id = ?", (f"web:{conversation}",)
        ).fetchone()[0]
    assert rows > 0
