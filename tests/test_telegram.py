"""The Telegram channel as a person on Telegram meets it.

Most tests run the real adapter (python-telegram-bot, polling or webhook) against the fake
Bot API server in tests/fake_telegram.py, with a scripted Rasa behind the real gateway; the
``rasa``-marked ones at the end run the product's three processes with the trained model.
Each test states what the person sees (what reached the fake Telegram) or what is stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import MODEL, Stack, free_port
from fake_telegram import TOKEN, FakeTelegram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.app import create_app
from bot.channels import telegram
from bot.channels.telegram import PayloadMap, TelegramAdapter, split_text, utf16_units
from bot.content import FSI, PDI, ContentStore
from bot.gateway import Gateway
from bot.rasa_client import RasaClient
from bot.settings import Settings
from bot.state import MemoryState

SECRET = "s3cret-Token_for-tests"
CHAT = 5550001
OTHER = 5550002

Reply = list[dict[str, Any]]


class ScriptedRasa:
    """Answers like Rasa's REST channel (a script per message text, else an echo); records
    what it was sent, recorded and erased; can be down; can be slow for one text."""

    def __init__(self) -> None:
        self.up = True
        self.script: dict[str, Reply] = {}
        self.delays: dict[str, float] = {}
        self.received: list[dict[str, Any]] = []
        self.recorded: list[dict[str, Any]] = []
        self.erased: list[str] = []

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        if path.endswith("/tracker") and request.method == "GET":
            return httpx.Response(200, json={"events": []})  # nothing processed before
        if path.endswith("/tracker/events") and request.method == "PUT":
            self.erased.append(path.split("/")[2])
            return httpx.Response(200, json={})
        body = json.loads(request.content)
        if path.endswith("/tracker/events"):
            self.recorded.append(body)
            return httpx.Response(200, json={})
        self.received.append(body)
        text = body["message"]
        await asyncio.sleep(self.delays.get(text, 0))
        replies = self.script.get(text) or [{"text": f"echo: {text}"}]
        return httpx.Response(200, json=[{"recipient_id": body["sender"], **r} for r in replies])

    def texts(self) -> list[str]:
        return [b["message"] for b in self.received]


@pytest.fixture
def rasa() -> ScriptedRasa:
    return ScriptedRasa()


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(max_poll_wait=0.5) as server:
        yield server


def make_gateway(rasa: ScriptedRasa, content: ContentStore, **settings: Any) -> Gateway:
    base = replace(Settings(), rate_limit_messages=5, rate_limit_window_seconds=60, **settings)
    client = RasaClient(
        "http://rasa.test",
        action_server_url="http://actions.test",
        client=httpx.AsyncClient(transport=httpx.MockTransport(rasa.handler)),
    )
    return Gateway(base, MemoryState(), client, content)


@pytest.fixture
def gateway(rasa: ScriptedRasa, content: ContentStore) -> Gateway:
    return make_gateway(rasa, content)


def adapter_for(
    gateway: Gateway, base_url: str, mode: str = "polling", token: str = TOKEN
) -> TelegramAdapter:
    settings = replace(
        gateway.settings,
        telegram_token=token,
        telegram_base_url=base_url,
        telegram_mode=mode,
        telegram_webhook_secret=SECRET,
    )
    adapter = telegram.from_settings(settings, gateway)
    assert adapter is not None
    return adapter


@pytest.fixture
async def polling(gateway: Gateway, fake: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    adapter = adapter_for(gateway, fake.url)
    await adapter.start()
    assert adapter.ready
    yield adapter
    await adapter.stop()


@pytest.fixture
async def webhook(gateway: Gateway, fake: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    adapter = adapter_for(gateway, fake.url, mode="webhook")
    await adapter.start()
    yield adapter
    await adapter.stop()


@pytest.fixture
async def post(
    webhook: TelegramAdapter,
) -> AsyncIterator[Callable[..., Awaitable[httpx.Response]]]:
    async def route(request: Request) -> Response:
        return await webhook.webhook(request)

    app = Starlette(routes=[Route("/webhooks/telegram", route, methods=["GET", "POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rehber.test") as client:

        async def send(
            body: Any = None, secret: str | None = SECRET, raw: bytes | None = None
        ) -> httpx.Response:
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
            content = raw if raw is not None else json.dumps(body).encode()
            return await client.post(
                "/webhooks/telegram",
                content=content,
                headers={**headers, "content-type": "application/json"},
            )

        yield send


def said(content: ContentStore, key: str, language: str) -> str:
    return content.render(key, language).text


def keyboard(message: dict[str, Any]) -> list[list[tuple[str, str]]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [[(b["text"], b["callback_data"]) for b in row] for row in rows]


# --- text, buttons, right-to-left ----------------------------------------------------------


async def test_arabic_text_gets_the_arabic_answer_intact(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    answer = (
        "يمكنك التقديم في مكتب البلدية.\n\u00a0\n"
        f"رقم طلبك {FSI}R-1042{PDI} — الهاتف {FSI}0532 000 00 00{PDI}"
    )
    rasa.script["مرحبا، بدي محامي ببلاش"] = [{"text": answer}]
    update_id = fake.push(fake.text(CHAT, "مرحبا، بدي محامي ببلاش", language_code="ar"))
    await fake.wait_for("sendMessage", 1)
    assert fake.sent_texts(CHAT) == [answer]  # every isolate and no-break space arrives as sent
    sent = rasa.received[0]
    assert sent["sender"] == f"telegram:{CHAT}"
    assert sent["metadata"]["channel"] == "telegram"
    assert sent["metadata"]["message_id"] == f"{TOKEN.split(':')[0]}:{update_id}"
    assert sent["metadata"]["language_hint"] == "ar"


async def test_rasa_buttons_arrive_as_an_inline_keyboard_and_a_click_sends_the_payload(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    greeting = content.render("utter_greet", "fa")
    rasa.script["سلام"] = [{"text": greeting.text, "buttons": greeting.buttons}]
    rasa.script["/ask_legal_aid"] = [{"text": "کمک حقوقی رایگان در دفتر وکلا"}]
    fake.push(fake.text(CHAT, "سلام", language_code="fa"))
    await fake.wait_for("sendMessage", 1)
    message = fake.last_message(CHAT)
    rows = keyboard(message)
    assert [b for row in rows for b in row] == [
        (b["title"], b["payload"]) for b in greeting.buttons
    ]
    for row in rows:  # long titles get a row of their own; short ones may share
        assert len(row) == 1 or all(len(title) <= telegram.SHORT_TITLE for title, _ in row)

    click = fake.click(CHAT, message, "کمک حقوقی", language_code="fa")
    query_id = click["callback_query"]["id"]
    fake.push(click)
    await fake.wait_for("sendMessage", 2)
    assert rasa.texts() == ["سلام", "/ask_legal_aid"]
    assert fake.sent_texts(CHAT)[-1] == "کمک حقوقی رایگان در دفتر وکلا"
    assert [c.params["callback_query_id"] for c in fake.calls_of("answerCallbackQuery")] == [
        query_id
    ]


async def test_payload_over_64_bytes_is_sent_behind_a_short_key_and_resolved_on_click(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    long_payload = (
        '/inform{"district":"Küçükçekmece","service_category":"legal_aid_and_counselling"}'
    )
    assert len(long_payload.encode()) > 64
    rasa.script["where"] = [
        {
            "text": "Which one?",
            "buttons": [
                {"title": "Küçükçekmece legal aid", "payload": long_payload},
                {"title": "Other", "payload": "tg:forget:yes"},  # looks internal: mapped too
            ],
        }
    ]
    fake.push(fake.text(CHAT, "where"))
    await fake.wait_for("sendMessage", 1)
    message = fake.last_message(CHAT)
    (key,), (other,) = ([data for _, data in row] for row in keyboard(message))
    assert key.startswith("tg:p:") and len(key.encode()) <= 64
    assert other.startswith("tg:p:")
    fake.push(fake.click(CHAT, message, "Küçükçekmece legal aid"))
    fake.push(fake.click(CHAT, message, "Other"))
    await fake.wait_for("sendMessage", 3)
    assert rasa.texts() == ["where", long_payload, "tg:forget:yes"]


async def test_a_button_this_process_no_longer_knows_gets_a_clear_answer(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    fake.push(fake.text(CHAT, "hello", language_code="tr"))
    await fake.wait_for("sendMessage", 1)
    fake.push(fake.click_data(CHAT, fake.last_message(CHAT), "tg:p:AAAAAAAAAAAAAAAAAAAA", "tr"))
    await fake.wait_for("sendMessage", 2)
    assert fake.sent_texts(CHAT)[-1] == said(content, "msg_telegram_button_expired", "tr")
    assert rasa.texts() == ["hello"]


def test_payload_map_is_bounded_and_keys_are_stable() -> None:
    first, second = PayloadMap(size=2), PayloadMap(size=2)
    payloads = [f'/inform{{"district":"{"x" * 70}{i}"}}' for i in range(3)]
    keys = [first.encode(p) for p in payloads]
    assert keys[0] == second.encode(payloads[0])  # same key in every process
    assert first.decode(keys[0]) is None  # the oldest was forgotten
    assert [first.decode(k) for k in keys[1:]] == payloads[1:]
    assert first.encode("/greet") == "/greet" and first.decode("/greet") == "/greet"
    assert len(first) == 2


# --- commands ------------------------------------------------------------------------------


async def test_start_greets_through_rasa_then_offers_the_languages(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    greeting = content.render("utter_greet", "fa")
    rasa.script["/greet"] = [{"text": greeting.text, "buttons": greeting.buttons}]
    fake.push(fake.command(CHAT, "/start", language_code="fa"))
    await fake.wait_for("sendMessage", 2)
    assert rasa.texts() == ["/greet"]
    assert rasa.received[0]["metadata"]["language_hint"] == "fa"
    choose = content.render("utter_language_choose", "fa")
    assert fake.sent_texts(CHAT) == [greeting.text, choose.text]
    languages = keyboard(fake.sent(CHAT)[1])
    assert [b for row in languages for b in row] == [
        (b["title"], b["payload"]) for b in choose.buttons
    ]


async def test_language_offers_the_four_languages_in_the_conversation_language(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    await polling.gateway.state.set_language(f"telegram:{CHAT}", "ar")
    fake.push(fake.command(CHAT, "/language", language_code="en"))
    await fake.wait_for("sendMessage", 1)
    choose = content.render("utter_language_choose", "ar")
    assert fake.sent_texts(CHAT) == [choose.text]
    payloads = [data for row in keyboard(fake.sent(CHAT)[0]) for _, data in row]
    assert payloads == [b["payload"] for b in choose.buttons]
    assert rasa.received == []

    fake.push(fake.click(CHAT, fake.last_message(CHAT), "فارسی"))
    await fake.wait_for("sendMessage", 2)
    assert rasa.texts() == ['/choose_language{"language":"fa"}']


@pytest.mark.parametrize("language", ["ar", "fa", "tr", "en"])
async def test_help_explains_the_bot_in_the_persons_language(
    polling: TelegramAdapter,
    fake: FakeTelegram,
    rasa: ScriptedRasa,
    content: ContentStore,
    language: str,
) -> None:
    fake.push(fake.command(CHAT, "/help", language_code=language))
    await fake.wait_for("sendMessage", 1)
    text = said(content, "msg_telegram_help", language)
    assert fake.sent_texts(CHAT) == [text]
    assert "112" in text and "/forget" in text and "/language" in text
    assert rasa.received == []


async def test_human_asks_rasa_for_a_person(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    rasa.script["/request_human"] = [{"text": "Bir görevli size yazacak."}]
    fake.push(fake.command(CHAT, "/human@rehber_test_bot", language_code="tr"))
    await fake.wait_for("sendMessage", 1)
    assert rasa.texts() == ["/request_human"]
    assert fake.sent_texts(CHAT) == ["Bir görevli size yazacak."]


async def test_command_menu_is_registered_in_every_language(
    polling: TelegramAdapter, fake: FakeTelegram, content: ContentStore
) -> None:
    assert set(fake.commands) == {None, "ar", "fa", "tr", "en"}
    for language in ("ar", "fa", "tr", "en"):
        assert fake.commands[language] == [
            {
                "command": name,
                "description": said(content, f"msg_telegram_command_{name}", language),
            }
            for name in telegram.COMMANDS
        ]


async def test_forget_confirmed_erases_everything_and_logs_only_that_it_happened(
    polling: TelegramAdapter,
    fake: FakeTelegram,
    rasa: ScriptedRasa,
    content: ContentStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    state = polling.gateway.state
    conversation = f"telegram:{CHAT}"
    fake.push(fake.text(CHAT, "بدي محامي عندي قضية", language_code="ar"))
    await fake.wait_for("sendMessage", 1)
    await state.set_language(conversation, "ar")
    assert await state.get_last_inbound(conversation) is not None

    fake.push(fake.command(CHAT, "/forget", language_code="ar"))
    await fake.wait_for("sendMessage", 2)
    question = fake.sent(CHAT)[1]
    assert question["text"] == said(content, "msg_forget_confirm", "ar")
    assert keyboard(question) == [
        [
            (said(content, "msg_forget_button_confirm", "ar"), "tg:forget:yes"),
            (said(content, "msg_forget_button_cancel", "ar"), "tg:forget:no"),
        ]
    ]
    fake.push(
        fake.click(CHAT, fake.last_message(CHAT), said(content, "msg_forget_button_confirm", "ar"))
    )
    await fake.wait_for("editMessageText", 1)

    assert rasa.erased == [conversation]
    assert await state.get_language(conversation) is None
    assert await state.get_last_inbound(conversation) is None
    edited = fake.last_message(CHAT)
    assert edited["text"] == said(content, "msg_forget_done", "ar")
    assert "reply_markup" not in edited  # the buttons are gone
    log = caplog.text
    assert "erased their conversation" in log
    assert "بدي محامي" not in log and "قضية" not in log


async def test_forget_cancelled_keeps_everything(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    conversation = f"telegram:{CHAT}"
    await polling.gateway.state.set_language(conversation, "tr")
    fake.push(fake.command(CHAT, "/forget", language_code="tr"))
    await fake.wait_for("sendMessage", 1)
    fake.push(
        fake.click(CHAT, fake.last_message(CHAT), said(content, "msg_forget_button_cancel", "tr"))
    )
    await fake.wait_for("editMessageText", 1)
    assert fake.last_message(CHAT)["text"] == said(content, "msg_forget_cancelled", "tr")
    assert rasa.erased == []
    assert await polling.gateway.state.get_language(conversation) == "tr"


async def test_forget_while_rasa_is_down_says_it_failed_and_keeps_the_question(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    conversation = f"telegram:{CHAT}"
    await polling.gateway.state.set_language(conversation, "en")
    fake.push(fake.command(CHAT, "/forget"))
    await fake.wait_for("sendMessage", 1)
    question = fake.last_message(CHAT)
    rasa.up = False
    fake.push(fake.click(CHAT, question, said(content, "msg_forget_button_confirm", "en")))
    await fake.wait_for("sendMessage", 2)
    assert fake.sent_texts(CHAT)[-1] == said(content, "msg_forget_failed", "en")
    assert keyboard(fake.message(CHAT, question["message_id"]))  # can press again later
    assert fake.calls_of("editMessageText") == []


# --- what else people send -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["voice", "audio", "photo", "video", "document", "sticker", "contact"]
)
async def test_non_text_messages_get_the_right_answer_in_the_persons_language(
    polling: TelegramAdapter,
    fake: FakeTelegram,
    rasa: ScriptedRasa,
    content: ContentStore,
    kind: str,
) -> None:
    fake.push(fake.media(CHAT, kind, language_code="fa"))
    await fake.wait_for("sendMessage", 1)
    assert fake.sent_texts(CHAT) == [said(content, f"msg_attachment_{kind}", "fa")]
    assert rasa.received == []


async def test_a_poll_gets_the_general_answer(
    polling: TelegramAdapter, fake: FakeTelegram, content: ContentStore
) -> None:
    fake.push(fake.media(CHAT, "poll", language_code="tr"))
    await fake.wait_for("sendMessage", 1)
    assert fake.sent_texts(CHAT) == [said(content, "msg_attachment_other", "tr")]


async def test_a_location_goes_to_rasa_with_its_coordinates(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    rasa.script["/share_location"] = [{"text": "Size en yakın ofis: Fatih"}]
    fake.push(fake.location(CHAT, 41.0186, 28.9497, language_code="tr"))
    await fake.wait_for("sendMessage", 1)
    assert rasa.texts() == ["/share_location"]
    assert rasa.received[0]["metadata"]["attachment"] == {
        "kind": "location",
        "latitude": 41.0186,
        "longitude": 28.9497,
    }
    assert fake.sent_texts(CHAT) == ["Size en yakın ofis: Fatih"]


async def test_a_photo_with_a_caption_is_read_as_the_caption(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    fake.push(fake.media(CHAT, "photo", caption="bu belge ne demek?", language_code="tr"))
    await fake.wait_for("sendMessage", 1)
    assert rasa.texts() == ["bu belge ne demek?"]
    assert rasa.received[0]["metadata"]["attachment"]["kind"] == "photo"


async def test_an_edited_question_is_answered_but_live_location_moves_are_not(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    original = fake.text(CHAT, "ikamet izni nasil alinir")
    fake.push(original)
    await fake.wait_for("sendMessage", 1)
    fake.push(fake.edited(original, text="ikamet izni nasıl uzatılır"))
    await fake.wait_for("sendMessage", 2)
    live = fake.location(CHAT, 41.0, 29.0)
    fake.push(live)
    await fake.wait_for("sendMessage", 3)
    fake.push(fake.edited(live, location={"latitude": 41.001, "longitude": 29.001}))
    fake.push(fake.edited(fake.command(CHAT, "/help"), text="/forget"))
    fake.push(fake.text(OTHER, "sentinel"))
    await fake.wait_for("sendMessage", 1, chat_id=OTHER)
    assert rasa.texts() == [
        "ikamet izni nasil alinir",
        "ikamet izni nasıl uzatılır",
        "/share_location",
        "sentinel",
    ]
    assert len(fake.sent(CHAT)) == 3


async def test_group_chats_are_ignored(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    update = fake.text(-100200300, "merhaba")
    update["message"]["chat"] = {"id": -100200300, "title": "Komşular", "type": "supergroup"}
    fake.push(update)
    fake.push(fake.text(OTHER, "sentinel"))
    await fake.wait_for("sendMessage", 1, chat_id=OTHER)
    assert rasa.texts() == ["sentinel"]
    assert fake.sent(-100200300) == []


# --- long replies ------------------------------------------------------------------------------


async def test_a_long_reply_is_split_between_words_with_the_buttons_on_the_last_part(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    paragraph = (
        "Oturma izni başvurusu için pasaport, kira sözleşmesi ve sağlık sigortası gerekir. " * 12
    )
    text = "\n\n".join(f"{i}. {paragraph.strip()}" for i in range(12))  # ~12,000 characters
    buttons = [{"title": "Hukuki yardım", "payload": "/ask_legal_aid"}]
    rasa.script["uzun"] = [{"text": text, "buttons": buttons}]
    fake.push(fake.text(CHAT, "uzun"))
    await fake.wait_for("sendMessage", 3)
    parts = fake.sent(CHAT)
    assert all(utf16_units(p["text"]) < 4096 for p in parts)
    assert " ".join(p["text"] for p in parts).split() == text.split()  # no word cut
    assert [p["text"][:3] for p in parts] == ["0. ", "4. ", "8. "]  # cut between paragraphs
    assert [bool(keyboard(p)) for p in parts] == [False, False, True]


def test_split_counts_emoji_as_telegram_does() -> None:
    text = " ".join(["🙏🏽yardım"] * 900)  # 900 × 12 UTF-16 units, fewer code points
    parts = split_text(text)
    assert len(parts) >= 3
    assert all(utf16_units(p) <= telegram.MAX_PART_UNITS for p in parts)
    assert " ".join(parts).split() == text.split()


def test_split_cuts_inside_a_word_only_when_one_word_is_too_long() -> None:
    link = "https://e-ikamet.goc.gov.tr/" + "a" * 9000
    parts = split_text(f"Bağlantı:\n{link}")
    assert parts[0] == "Bağlantı:"
    assert "".join(parts[1:]) == link
    assert all(utf16_units(p) <= telegram.MAX_PART_UNITS for p in parts)


def test_split_never_separates_an_isolated_value() -> None:
    value = f"{FSI}0532 000 00 00{PDI}"
    text = ("رقم الهاتف " + value + " ") * 300
    for part in split_text(text):
        assert part.count(FSI) == part.count(PDI)


def test_short_text_is_one_part() -> None:
    assert split_text("  merhaba\n") == ["merhaba"]
    assert split_text("") == []


# --- delivery: redelivery, 429, 403, network, bursts, outages ------------------------------


async def test_429_from_telegram_is_retried_and_the_message_arrives(
    polling: TelegramAdapter, fake: FakeTelegram
) -> None:
    fake.fail_next(CHAT, 429, retry_after=1)
    started = time.monotonic()
    fake.push(fake.text(CHAT, "merhaba"))
    await fake.wait_for("sendMessage", 1)
    attempts = fake.calls_of("sendMessage", CHAT)
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0  # waited retry_after
    assert fake.sent_texts(CHAT) == ["echo: merhaba"]
    assert time.monotonic() - started < 10


async def test_a_send_that_did_not_reach_telegram_is_retried(
    polling: TelegramAdapter, fake: FakeTelegram
) -> None:
    fake.fail_next(CHAT, 502)
    fake.push(fake.text(CHAT, "merhaba"))
    await fake.wait_for("sendMessage", 1)
    assert [c.status for c in fake.calls_of("sendMessage", CHAT)] == [502, 200]


async def test_a_person_who_blocked_the_bot_costs_one_attempt_and_nothing_breaks(
    polling: TelegramAdapter,
    fake: FakeTelegram,
    rasa: ScriptedRasa,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rasa.script["hi"] = [{"text": "one"}, {"text": "two"}, {"text": "three"}]
    fake.block(CHAT)
    fake.push(fake.text(CHAT, "hi"))
    fake.push(fake.text(OTHER, "still here?"))
    await fake.wait_for("sendMessage", 1, chat_id=OTHER)
    await asyncio.sleep(0.3)
    assert [c.status for c in fake.calls_of("sendMessage", CHAT)] == [403]  # no retry loop
    assert "bot was blocked by the user" in caplog.text
    fake.unblock(CHAT)
    fake.push(fake.text(CHAT, "back"))
    await fake.wait_for("sendMessage", 1, chat_id=CHAT)
    assert fake.sent_texts(CHAT) == ["echo: back"]


async def test_a_burst_of_100_messages_gets_a_polite_notice_and_nothing_is_lost(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    for i in range(100):
        fake.push(fake.text(CHAT, f"soru {i}", language_code="tr"))
    fake.push(fake.text(OTHER, "başka biri"))
    await fake.wait_for("sendMessage", 6, chat_id=CHAT)
    await fake.wait_for("sendMessage", 1, chat_id=OTHER)
    assert fake.sent_texts(CHAT) == [f"echo: soru {i}" for i in range(5)] + [
        said(content, "msg_rate_limited", "tr")
    ]
    assert [b["text"] for b in rasa.recorded] == [f"soru {i}" for i in range(5, 100)]
    assert fake.sent_texts(OTHER) == ["echo: başka biri"]


async def test_commands_count_against_the_rate_limit_too(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    for _ in range(8):
        fake.push(fake.command(CHAT, "/help", language_code="tr"))
    fake.push(fake.command(CHAT, "/start", language_code="tr"))
    fake.push(fake.text(OTHER, "sentinel"))
    await fake.wait_for("sendMessage", 6, chat_id=CHAT)
    await fake.wait_for("sendMessage", 1, chat_id=OTHER)
    help_text = said(content, "msg_telegram_help", "tr")
    assert fake.sent_texts(CHAT) == [help_text] * 5 + [said(content, "msg_rate_limited", "tr")]
    assert [b["text"] for b in rasa.recorded] == ["/help"] * 3 + ["/greet"]
    assert rasa.texts() == ["sentinel"]


async def test_an_update_seen_twice_by_the_poller_is_answered_once(
    gateway: Gateway, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    """As after a restart before getUpdates confirmed the offset."""
    text = fake.text(CHAT, "merhaba")
    help_command = fake.command(CHAT, "/help")
    for update in (text, help_command):
        update["update_id"] = fake.new_update_id()
    for update in (text, help_command, text, help_command):
        fake.push(update)
    adapter = adapter_for(gateway, fake.url)
    await adapter.start()
    try:
        await fake.wait_for("sendMessage", 2)
        assert fake.sent_texts(CHAT) == ["echo: merhaba", said(content, "msg_telegram_help", "en")]
        assert rasa.texts() == ["merhaba"]
    finally:
        await adapter.stop()


async def test_a_new_bot_on_the_same_state_is_not_taken_for_a_redelivery(
    gateway: Gateway, rasa: ScriptedRasa
) -> None:
    """update_id is unique per bot only: after a change of bot (new token) on the same Redis,
    the new bot's first updates reuse numbers the old bot already had, and must be answered."""
    other_token = "987654321:AAAnotherFakeBotToken_abcdefghijklm"
    for token, text in ((TOKEN, "first bot"), (other_token, "second bot")):
        with FakeTelegram(token=token) as bot_api:
            bot_api.push({"update_id": 4242, **bot_api.text(CHAT, text)})
            adapter = adapter_for(gateway, bot_api.url, token=token)
            await adapter.start()
            try:
                await bot_api.wait_for("sendMessage", 1)
                assert bot_api.sent_texts(CHAT) == [f"echo: {text}"]
            finally:
                await adapter.stop()
    assert rasa.texts() == ["first bot", "second bot"]


async def test_one_persons_messages_stay_in_order_while_others_are_not_held_up(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    rasa.delays["first"] = 0.8
    fake.push(fake.text(CHAT, "first"))
    fake.push(fake.text(CHAT, "second"))
    fake.push(fake.text(OTHER, "meanwhile"))
    await fake.wait_for("sendMessage", 3)
    assert fake.sent_texts() == ["echo: meanwhile", "echo: first", "echo: second"]


async def test_answers_that_waited_for_rasa_are_delivered_when_it_is_back(
    polling: TelegramAdapter, fake: FakeTelegram, rasa: ScriptedRasa, content: ContentStore
) -> None:
    rasa.up = False
    fake.push(fake.text(CHAT, "I need a lawyer"))
    await fake.wait_for("sendMessage", 1)
    assert fake.sent_texts(CHAT) == [said(content, "msg_received_will_answer", "en")]
    rasa.up = True
    assert await polling.gateway.drain_pending() == 1
    await fake.wait_for("sendMessage", 2)
    assert fake.sent_texts(CHAT)[-1] == "echo: I need a lawyer"


async def test_the_token_never_appears_in_the_logs(
    polling: TelegramAdapter, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.push(fake.text(CHAT, "merhaba"))
    await fake.wait_for("sendMessage", 1)
    assert "sendMessage" in caplog.text  # httpx did log the request…
    assert TOKEN not in caplog.text  # …without the token


async def test_telegram_unreachable_at_start_does_not_stop_the_app(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    adapter = adapter_for(gateway, f"http://127.0.0.1:{port}")
    await adapter.start()  # returns: web chat and the rest of the app keep working
    assert not adapter.ready
    assert "retrying in the background" in caplog.text
    with FakeTelegram(port=port, max_poll_wait=0.5) as late:
        late.push(late.text(CHAT, "are you there?"))
        await late.wait_for("sendMessage", 1, timeout=20)
        assert late.sent_texts(CHAT) == ["echo: are you there?"]
        await adapter.stop()


async def test_a_rejected_token_leaves_the_channel_off(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeTelegram(token="999:other") as server:
        adapter = adapter_for(gateway, server.url)
        await adapter.start()
        assert not adapter.ready
        assert "rejected TELEGRAM_TOKEN" in caplog.text
        await adapter.stop()


def test_settings_decide_whether_and_how_the_channel_runs(
    gateway: Gateway,
) -> None:
    assert telegram.from_settings(gateway.settings, gateway) is None
    with pytest.raises(SystemExit, match="polling or webhook"):
        telegram.from_settings(
            replace(gateway.settings, telegram_token=TOKEN, telegram_mode="push"), gateway
        )
    for secret in ("", "has space", "x" * 257):
        with pytest.raises(SystemExit, match="TELEGRAM_WEBHOOK_SECRET"):
            telegram.from_settings(
                replace(
                    gateway.settings,
                    telegram_token=TOKEN,
                    telegram_mode="webhook",
                    telegram_webhook_secret=secret,
                ),
                gateway,
            )


# --- webhook mode ------------------------------------------------------------------------------


async def test_webhook_update_is_answered(
    post: Callable[..., Awaitable[httpx.Response]], fake: FakeTelegram, rasa: ScriptedRasa
) -> None:
    update = {"update_id": 777001, **fake.text(CHAT, "Merhaba, Türkçe kursu var mı?", "tr")}
    response = await post(update)
    assert response.status_code == 200
    assert fake.sent_texts(CHAT) == ["echo: Merhaba, Türkçe kursu var mı?"]  # before the 200
    assert rasa.received[0]["metadata"]["message_id"] == f"{TOKEN.split(':')[0]}:777001"


async def test_webhook_redelivery_is_answered_once(
    post: Callable[..., Awaitable[httpx.Response]],
    fake: FakeTelegram,
    rasa: ScriptedRasa,
    content: ContentStore,
) -> None:
    text = {"update_id": 777010, **fake.text(CHAT, "merhaba")}
    command = {"update_id": 777011, **fake.command(CHAT, "/help")}
    for update in (text, command, text, command):
        assert (await post(update)).status_code == 200
    assert fake.sent_texts(CHAT) == ["echo: merhaba", said(content, "msg_telegram_help", "en")]
    assert rasa.texts() == ["merhaba"]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_webhook_without_the_right_secret_is_refused_and_logged(
    post: Callable[..., Awaitable[httpx.Response]],
    fake: FakeTelegram,
    rasa: ScriptedRasa,
    caplog: pytest.LogCaptureFixture,
    secret: str | None,
) -> None:
    response = await post({"update_id": 1, **fake.text(CHAT, "forged")}, secret=secret)
    assert response.status_code == 401
    assert "secret token rejected" in caplog.text
    assert SECRET not in caplog.text
    assert rasa.received == [] and fake.sent() == []


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"\xff\xfe",
        b"[1, 2]",
        b'"update"',
        b'{"message": {}}',
        b'{"update_id": "7"}',
    ],
)
async def test_webhook_malformed_body_is_a_400(
    post: Callable[..., Awaitable[httpx.Response]], fake: FakeTelegram, raw: bytes
) -> None:
    assert (await post(raw=raw)).status_code == 400
    assert fake.sent() == []


async def test_webhook_update_missing_required_fields_is_a_400(
    post: Callable[..., Awaitable[httpx.Response]], fake: FakeTelegram
) -> None:
    response = await post({"update_id": 9, "message": {"text": "no chat, no date"}})
    assert response.status_code == 400
    assert fake.sent() == []


@pytest.mark.parametrize(
    "update",
    [
        {
            "update_id": 31,
            "inline_query": {
                "id": "4401",
                "from": {"id": CHAT, "is_bot": False, "first_name": "T"},
                "query": "ikamet",
                "offset": "",
            },
        },
        {"update_id": 32, "some_type_from_the_future": {"x": 1}},
        {
            "update_id": 33,
            "my_chat_member": {
                "chat": {"id": CHAT, "type": "private", "first_name": "T"},
                "from": {"id": CHAT, "is_bot": False, "first_name": "T"},
                "date": 1700000000,
                "old_chat_member": {
                    "status": "member",
                    "user": {"id": 1, "is_bot": True, "first_name": "R"},
                },
                "new_chat_member": {
                    "status": "kicked",
                    "until_date": 0,
                    "user": {"id": 1, "is_bot": True, "first_name": "R"},
                },
            },
        },
    ],
)
async def test_webhook_unknown_update_types_are_acknowledged_and_ignored(
    post: Callable[..., Awaitable[httpx.Response]],
    fake: FakeTelegram,
    rasa: ScriptedRasa,
    update: dict[str, Any],
) -> None:
    assert (await post(update)).status_code == 200
    assert rasa.received == [] and fake.sent() == []


async def test_webhook_accepts_post_only(webhook: TelegramAdapter) -> None:
    async def route(request: Request) -> Response:
        return await webhook.webhook(request)

    app = Starlette(routes=[Route("/webhooks/telegram", route, methods=["GET", "POST"])])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://rehber.test"
    ) as client:
        response = await client.get("/webhooks/telegram")
    assert response.status_code == 405


async def test_polling_mode_has_no_webhook(polling: TelegramAdapter, fake: FakeTelegram) -> None:
    async def route(request: Request) -> Response:
        return await polling.webhook(request)

    app = Starlette(routes=[Route("/webhooks/telegram", route, methods=["POST"])])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://rehber.test"
    ) as client:
        response = await client.post(
            "/webhooks/telegram",
            json={"update_id": 1, **fake.text(CHAT, "x")},
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
    assert response.status_code == 404


def test_the_app_serves_the_webhook_and_refuses_a_1mb_body(content: ContentStore) -> None:
    """Through the real app (create_app): routing, the body limit, and a reply that reaches
    Telegram even though Rasa is not running (the person is told it was received)."""
    with FakeTelegram() as fake:
        dead = f"http://127.0.0.1:{free_port()}"
        settings = replace(
            Settings(),
            rasa_url=dead,
            action_server_url=dead,
            telegram_token=TOKEN,
            telegram_base_url=fake.url,
            telegram_mode="webhook",
            telegram_webhook_secret=SECRET,
        )
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        with TestClient(create_app(settings)) as client:
            huge = {"update_id": 1, **fake.text(CHAT, "x" * (1024 * 1024))}
            assert client.post("/webhooks/telegram", json=huge, headers=headers).status_code == 413
            update = {"update_id": 2, **fake.text(CHAT, "Kira yardımı almak istiyorum", "tr")}
            assert client.post("/webhooks/telegram", json=update).status_code == 401
            assert (
                client.post("/webhooks/telegram", json=update, headers=headers).status_code == 200
            )
            assert fake.sent_texts(CHAT) == [said(content, "msg_received_will_answer", "tr")]


# --- the real stack ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def telegram_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, FakeTelegram]]:
    """The three processes with the Telegram channel on, polling the fake Bot API."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}; `make test` trains it first")
    with FakeTelegram() as fake:
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "RASA_TELEMETRY_ENABLED": "false",
            "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('tgdb')}/rehber.db",
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": fake.url,
            "TELEGRAM_MODE": "polling",
        }
        env.pop("REDIS_URL", None)
        running = Stack(tmp_path_factory.mktemp("tgstack"), env)
        try:
            running.start()
            yield running, fake
        finally:
            running.close()


def paragraphs(text: str) -> str:
    return text.replace("\n\u00a0\n", "\n\n")


@pytest.mark.rasa
def test_real_stack_arabic_question_start_and_button_click(
    telegram_stack: tuple[Stack, FakeTelegram], content: ContentStore
) -> None:
    _, fake = telegram_stack
    arabic = 7100001
    fake.push(fake.text(arabic, "مرحبا، بدي محامي ببلاش عندي قضية بالمحكمة", language_code="ar"))
    fake.wait_for_sync("sendMessage", 1, chat_id=arabic)
    first = fake.sent_texts(arabic)[0]
    assert paragraphs(first) == content.render("utter_legal_aid_info", "ar").text

    persian = 7100002
    fake.push(fake.command(persian, "/start", language_code="fa"))
    fake.wait_for_sync("sendMessage", 2, chat_id=persian)
    texts = fake.sent_texts(persian)
    assert paragraphs(texts[0]) == content.render("utter_greet", "fa").text
    assert texts[-1] == content.render("utter_language_choose", "fa").text
    greeting = fake.bot_messages(persian)[0]
    topics = content.render("utter_greet", "fa").buttons
    assert [b for row in keyboard(greeting) for b in row] == [
        (b["title"], b["payload"]) for b in topics
    ]
    fake.push(fake.click(persian, greeting, "کمک حقوقی", language_code="fa"))
    fake.wait_for_sync("sendMessage", len(texts) + 1, chat_id=persian)
    answer = fake.sent_texts(persian)[len(texts)]
    assert paragraphs(answer) == content.render("utter_legal_aid_info", "fa").text


@pytest.mark.rasa
def test_real_stack_forget_erases_the_rasa_tracker(
    telegram_stack: tuple[Stack, FakeTelegram], content: ContentStore
) -> None:
    stack, fake = telegram_stack
    chat = 7100003
    fake.push(fake.text(chat, "how can I renew my residence permit ikamet"))
    fake.wait_for_sync("sendMessage", 1, chat_id=chat)
    tracker_url = f"{stack.rasa_url}/conversations/telegram:{chat}/tracker"
    before = httpx.get(tracker_url, timeout=30).json()
    assert any(e["event"] == "user" for e in before["events"])

    fake.push(fake.command(chat, "/forget"))
    fake.wait_for_sync("sendMessage", 2, chat_id=chat)
    fake.push(
        fake.click(
            chat, fake.last_message(chat), content.render("msg_forget_button_confirm", "en").text
        )
    )
    fake.wait_for_sync("editMessageText", 1, chat_id=chat)
    assert fake.last_message(chat)["text"] == content.render("msg_forget_done", "en").text
    after = httpx.get(tracker_url, timeout=30).json()
    assert not any(e["event"] == "user" for e in after["events"])
