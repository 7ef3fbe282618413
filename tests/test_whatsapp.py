"""The WhatsApp channel as Meta drives it: signed webhooks in Meta's documented format go to
the real app (Starlette TestClient, lifespan and body-size middleware included); answers go
out to a fake Graph API on 127.0.0.1 (tests/fake_graph.py), which refuses what the real API
refuses. Rasa is scripted (a local HTTP server) except in the last, end-to-end test."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.app import create_app
from bot.channels import whatsapp
from bot.channels.whatsapp import WhatsAppAdapter, split_text
from bot.content import LANGUAGES, ContentStore
from bot.gateway import Gateway, IncomingMessage, OutgoingMessage
from bot.settings import Settings
from bot.state import MemoryState
from tests.fake_graph import FakeGraph, GraphCall, LocalServer

TOKEN = "test-token"
PHONE_ID = "106540352242922"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "verify-me-please"
USER = "905321234567"  # a Turkish mobile number, as WhatsApp sends it (no +)
OTHER_USER = "905329876543"


# --- a scripted Rasa on 127.0.0.1 (REST channel, tracker API, action-server health) ---------
class ScriptedRasa:
    def __init__(self) -> None:
        self.up = True
        self.received: list[dict[str, Any]] = []
        self.recorded: list[dict[str, Any]] = []
        self.reply: Callable[[dict[str, Any]], list[dict[str, Any]]] = self.echo
        self.server = LocalServer(self._handle)

    @property
    def url(self) -> str:
        return self.server.url

    @staticmethod
    def echo(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"recipient_id": body["sender"], "text": f"echo: {body['message']}"}]

    def _handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        if not self.up:
            return 503, {}, {"error": "down"}
        if path == "/health":
            return 200, {}, {"status": "ok"}
        if method == "GET" and path.split("?")[0].endswith("/tracker"):
            return 200, {}, {"events": []}  # nothing processed before
        body = json.loads(raw) if raw else {}
        if path.endswith("/tracker/events"):
            self.recorded.append(body)
            return 200, {}, {}
        if path == "/webhooks/rest/webhook":
            self.received.append(body)
            return 200, {}, self.reply(body)
        return 404, {}, {}


@pytest.fixture
def rasa() -> Iterator[ScriptedRasa]:
    scripted = ScriptedRasa()
    yield scripted
    scripted.server.close()


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph(TOKEN, PHONE_ID)
    yield fake
    fake.close()


@pytest.fixture
def settings(rasa: ScriptedRasa, graph: FakeGraph) -> Settings:
    return replace(
        Settings(),
        rasa_url=rasa.url,
        action_server_url=rasa.url,
        rate_limit_messages=5,
        rate_limit_window_seconds=60,
        whatsapp_token=TOKEN,
        whatsapp_phone_id=PHONE_ID,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token=VERIFY_TOKEN,
        whatsapp_graph_url=graph.url,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, MemoryState())) as test_client:
        yield test_client


@pytest.fixture
def adapter(client: TestClient) -> WhatsAppAdapter:
    channel = client.app.state.services.channels["whatsapp"]  # type: ignore[attr-defined]
    assert isinstance(channel, WhatsAppAdapter)
    channel.backoff_seconds = 0.01
    return channel


# --- Meta's webhook format ------------------------------------------------------------------
def message(
    kind: str, content: dict[str, Any] | None = None, *, user: str = USER, **fields: Any
) -> dict[str, Any]:
    """One ``messages[]`` item as the Cloud API sends it."""
    item: dict[str, Any] = {
        "from": user,
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": kind,
    }
    if content is not None:
        item[kind] = content
    item.update(fields)
    return item


def text(body: str, **fields: Any) -> dict[str, Any]:
    return message("text", {"body": body}, **fields)


def payload(*messages: dict[str, Any], phone_id: str = PHONE_ID, **value: Any) -> dict[str, Any]:
    contacts = [{"profile": {"name": "Amina"}, "wa_id": m["from"]} for m in messages if "from" in m]
    change_value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "908505551234", "phone_number_id": phone_id},
        **({"contacts": contacts, "messages": list(messages)} if messages else {}),
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "102290129340398", "changes": [{"value": change_value, "field": "messages"}]}
        ],
    }


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client: TestClient, data: dict[str, Any] | bytes, **headers: str) -> Any:
    # Meta sends compact JSON with non-ASCII escaped; the signature covers these exact bytes.
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {"X-Hub-Signature-256": sign(body), **headers}
    return client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


def send(client: TestClient, adapter: WhatsAppAdapter, *messages: dict[str, Any]) -> None:
    """Posts a webhook, checks Meta gets its 200, and waits until it has been handled."""
    response = post(client, payload(*messages))
    assert response.status_code == 200, response.text
    settle(client, adapter)


def settle(client: TestClient, adapter: WhatsAppAdapter) -> None:
    assert client.portal is not None
    client.portal.call(adapter.idle)


def reply_with(rasa: ScriptedRasa, text: str, buttons: list[dict[str, str]] | None = None) -> None:
    rasa.reply = lambda body: [
        {"recipient_id": body["sender"], "text": text, "buttons": buttons or []}
    ]


def choices(count: int) -> list[dict[str, str]]:
    return [{"title": f"Seçenek {i}", "payload": f"/choice_{i}"} for i in range(1, count + 1)]


# --- configuration and the verification handshake -------------------------------------------
@pytest.mark.parametrize(
    "missing",
    ["whatsapp_token", "whatsapp_phone_id", "whatsapp_app_secret", "whatsapp_verify_token"],
)
def test_channel_is_off_unless_all_four_settings_are_set(settings: Settings, missing: str) -> None:
    gateway = Gateway(settings, MemoryState(), None, None)  # type: ignore[arg-type]
    for blank in ("", "  "):
        unset: dict[str, Any] = {missing: blank}
        assert whatsapp.from_settings(replace(settings, **unset), gateway) is None
    assert isinstance(whatsapp.from_settings(settings, gateway), WhatsAppAdapter)


def test_unconfigured_channel_answers_404(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, whatsapp_token=""), MemoryState())) as client:
        assert client.get("/webhooks/whatsapp").status_code == 404


def test_verification_handshake_returns_the_challenge(client: TestClient) -> None:
    response = client.get(
        "/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "رمز-خاطئ", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
        {},
    ],
)
def test_verification_with_a_wrong_token_or_mode_is_refused(
    client: TestClient, params: dict[str, str]
) -> None:
    response = client.get("/webhooks/whatsapp", params=params)
    assert response.status_code == 403
    assert "1" not in response.text


# --- text in, answer out ------------------------------------------------------------------
def test_arabic_text_gets_an_arabic_answer_through_the_graph_api(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    content: ContentStore,
) -> None:
    # Rasa answers in the language the gateway detected (what the NLG endpoint does).
    rasa.reply = lambda body: [
        {"text": content.render("utter_legal_aid_info", body["metadata"]["language_hint"]).text}
    ]
    incoming = text("مرحبا، بدي محامي ببلاش عندي قضية بالمحكمة")
    send(client, adapter, incoming)

    [sent] = rasa.received
    assert sent["sender"] == f"whatsapp:{USER}"
    assert sent["message"] == "مرحبا، بدي محامي ببلاش عندي قضية بالمحكمة"
    assert sent["metadata"]["channel"] == "whatsapp"
    assert sent["metadata"]["message_id"] == incoming["id"]
    assert sent["metadata"]["language_hint"] == "ar"
    [call] = graph.calls
    assert call.path == f"/v21.0/{PHONE_ID}/messages"
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.body["messaging_product"] == "whatsapp"
    assert call.body["to"] == USER
    assert call.kind == "text"
    assert call.text == content.render("utter_legal_aid_info", "ar").text


def test_an_answer_longer_than_whatsapp_allows_arrives_whole_in_parts(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa, graph: FakeGraph
) -> None:
    paragraphs = [f"{i}. " + "Oturma izni için belgelerinizi hazırlayın. " * 30 for i in range(8)]
    long_answer = "\n\n".join(p.strip() for p in paragraphs)  # ~10,000 characters
    reply_with(rasa, long_answer)
    send(client, adapter, text("ikamet izni"))

    parts = [call.text for call in graph.calls]
    assert len(parts) == 3
    assert all(len(part) <= 4096 for part in parts)
    assert "\n\n".join(parts) == long_answer  # cut only between paragraphs, nothing lost
    assert graph.rejected == []


def test_split_text_cuts_at_lines_then_spaces_then_anywhere() -> None:
    assert split_text("a" * 10, limit=4) == ["aaaa", "aaaa", "aa"]
    assert split_text("abc def ghi", limit=8) == ["abc def", "ghi"]
    assert split_text("abcdefg\nhi jkl", limit=12) == ["abcdefg", "hi jkl"]
    assert split_text("abc\ndef ghi jkl", limit=12) == ["abc\ndef ghi", "jkl"]
    assert split_text("   ") == []
    # a paragraph end early in the part does not make a tiny message; a line end later wins
    assert split_text("ab\n\ncdefgh\nij", limit=10) == ["ab\n\ncdefgh", "ij"]
    assert split_text("سلام دنیا", limit=5) == ["سلام", "دنیا"]


# --- Rasa buttons → reply buttons and lists ---------------------------------------------------
def test_up_to_three_buttons_become_reply_buttons(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa, graph: FakeGraph
) -> None:
    reply_with(rasa, "Devam edelim mi?", choices(3))
    send(client, adapter, text("merhaba"))
    [call] = graph.calls
    assert call.kind == "button"
    assert call.text == "Devam edelim mi?"
    assert call.choices == [(f"/choice_{i}", f"Seçenek {i}") for i in (1, 2, 3)]
    assert graph.rejected == []


def test_four_to_ten_buttons_become_one_list_with_a_localised_label(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    content: ContentStore,
) -> None:
    greeting = content.render("utter_greet", "fa")  # six topics, Persian titles
    reply_with(rasa, greeting.text, greeting.buttons)
    send(client, adapter, text("سلام"))
    [call] = graph.calls
    assert call.kind == "list"
    assert call.text == greeting.text
    assert call.body["interactive"]["action"]["button"] == (
        content.render("msg_whatsapp_list_button", "fa").text
    )
    assert call.choices == [(b["payload"], b["title"]) for b in greeting.buttons]
    assert graph.rejected == []


def test_thirteen_buttons_become_two_lists_and_keep_every_choice_in_order(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    content: ContentStore,
) -> None:
    reply_with(rasa, "Hangi konu?", choices(13))
    send(client, adapter, text("konular"))
    first, second = graph.calls
    assert (first.kind, second.kind) == ("list", "list")
    assert (len(first.choices), len(second.choices)) == (7, 6)
    assert first.choices + second.choices == [(b["payload"], b["title"]) for b in choices(13)]
    assert first.text == "Hangi konu?"
    assert second.text == content.render("msg_whatsapp_more_choices", "tr").text
    assert graph.rejected == []


def test_titles_too_long_for_whatsapp_are_shortened_and_kept_whole_in_the_row_description(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa, graph: FakeGraph
) -> None:
    long_title = "Uluslararası koruma başvurusu hakkında"  # 38 characters
    buttons = [{"title": long_title, "payload": "/ask_international_protection"}, *choices(3)]
    reply_with(rasa, "Konu seçin", buttons)
    send(client, adapter, text("koruma"))
    [call] = graph.calls
    row = call.body["interactive"]["action"]["sections"][0]["rows"][0]
    assert len(row["title"]) == 24 and row["title"].endswith("…")
    assert row["description"] == long_title
    assert graph.rejected == []


@pytest.mark.parametrize(
    "buttons",
    [
        [{"title": "Uluslararası koruma başvurusu", "payload": "/a"}, *choices(1)],
        [{"title": "Evet", "payload": "/affirm"}, {"title": "Evet", "payload": "/affirm_all"}],
    ],
    ids=["title-too-long-for-a-button", "two-buttons-one-title"],
)
def test_buttons_whatsapp_would_refuse_become_a_list_instead(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    buttons: list[dict[str, str]],
) -> None:
    reply_with(rasa, "Seçin", buttons)
    send(client, adapter, text("merhaba"))
    [call] = graph.calls
    assert call.kind == "list"
    assert [row_id for row_id, _ in call.choices] == [b["payload"] for b in buttons]
    assert graph.rejected == []


def test_a_long_answer_with_buttons_is_sent_first_then_the_choices(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    content: ContentStore,
) -> None:
    long_answer = "Sağlık hizmetlerinden yararlanmak için şunları bilmelisiniz. " * 25  # > 1024
    reply_with(rasa, long_answer, choices(2))
    send(client, adapter, text("hastane"))
    first, second = graph.calls
    assert (first.kind, first.text) == ("text", long_answer.strip())
    assert second.kind == "button"
    assert second.text == content.render("msg_whatsapp_choose", "tr").text
    assert graph.rejected == []


def test_content_gives_whatsapp_labels_that_fit_in_every_language(content: ContentStore) -> None:
    for language in LANGUAGES:
        label = content.render("msg_whatsapp_list_button", language)
        assert label.language == language and 0 < len(label.text) <= 20
        for key in ("msg_whatsapp_choose", "msg_whatsapp_more_choices"):
            assert 0 < len(content.render(key, language).text) <= 1024


# --- what people send: clicks, locations, media ---------------------------------------------
@pytest.mark.parametrize(
    "click",
    [
        {"type": "button_reply", "button_reply": {"id": "/ask_legal_aid", "title": "Legal help"}},
        {
            "type": "list_reply",
            "list_reply": {"id": "/ask_legal_aid", "title": "Legal help", "description": ""},
        },
    ],
)
def test_a_button_or_list_click_sends_its_payload_to_rasa(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    click: dict[str, Any],
) -> None:
    send(client, adapter, message("interactive", click, context={"id": "wamid.earlier"}))
    assert [m["message"] for m in rasa.received] == ["/ask_legal_aid"]
    assert [c.text for c in graph.calls] == ["echo: /ask_legal_aid"]


def test_a_template_quick_reply_sends_its_payload_to_rasa(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa
) -> None:
    send(client, adapter, message("button", {"payload": "/request_human", "text": "Görevli"}))
    assert [m["message"] for m in rasa.received] == ["/request_human"]


def test_a_shared_location_reaches_rasa_as_a_location(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa, graph: FakeGraph
) -> None:
    location = {"latitude": 41.0082, "longitude": 28.9784, "name": "Fatih", "address": "İstanbul"}
    send(client, adapter, message("location", location))
    [sent] = rasa.received
    assert sent["message"] == "/share_location"
    assert sent["metadata"]["attachment"] == {
        "kind": "location",
        "latitude": 41.0082,
        "longitude": 28.9784,
    }
    assert len(graph.calls) == 1


def test_a_location_with_impossible_coordinates_is_answered_not_passed_on(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    content: ContentStore,
) -> None:
    send(client, adapter, message("location", {"latitude": "NaN", "longitude": 999}))
    assert rasa.received == []
    assert [c.text for c in graph.calls] == [content.render("msg_attachment_other", "tr").text]


MEDIA = [
    ("image", {"mime_type": "image/jpeg", "sha256": "abc", "id": "1"}, "msg_attachment_photo"),
    (
        "audio",
        {"mime_type": "audio/ogg; codecs=opus", "id": "2", "voice": True},
        "msg_attachment_voice",
    ),
    ("audio", {"mime_type": "audio/mpeg", "id": "3", "voice": False}, "msg_attachment_audio"),
    ("video", {"mime_type": "video/mp4", "id": "4"}, "msg_attachment_video"),
    (
        "document",
        {"mime_type": "application/pdf", "filename": "kimlik.pdf", "id": "5"},
        "msg_attachment_document",
    ),
    (
        "sticker",
        {"mime_type": "image/webp", "animated": False, "id": "6"},
        "msg_attachment_sticker",
    ),
    (
        "contacts",
        [{"name": {"formatted_name": "Ali"}, "phones": [{"phone": "+90 532"}]}],
        "msg_attachment_contact",
    ),
    ("unsupported", None, "msg_attachment_other"),
    ("order", {"catalog_id": "1", "product_items": []}, "msg_attachment_other"),
]


@pytest.mark.parametrize(("kind", "content_", "key"), MEDIA)
def test_media_and_contacts_get_the_right_answer_in_the_persons_language(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    content: ContentStore,
    kind: str,
    content_: Any,
    key: str,
) -> None:
    assert client.portal is not None
    client.portal.call(adapter.gateway.state.set_language, f"whatsapp:{USER}", "fa")
    item = message(kind, None)
    if content_ is not None:
        item[kind] = content_
    send(client, adapter, item)
    assert rasa.received == []
    [call] = graph.calls
    assert call.text == content.render(key, "fa").text


def test_a_voice_note_from_a_syrian_number_is_answered_in_arabic(
    client: TestClient, adapter: WhatsAppAdapter, graph: FakeGraph, content: ContentStore
) -> None:
    syrian = "963944123456"
    send(client, adapter, message("audio", {"id": "7", "voice": True}, user=syrian))
    assert [c.text for c in graph.to(syrian)] == [content.render("msg_attachment_voice", "ar").text]


def test_a_photo_with_a_caption_sends_the_caption_to_rasa(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa
) -> None:
    send(client, adapter, message("image", {"id": "8", "caption": "bu belge ne demek?"}))
    [sent] = rasa.received
    assert sent["message"] == "bu belge ne demek?"
    assert sent["metadata"]["attachment"]["kind"] == "photo"


@pytest.mark.parametrize(
    "item",
    [
        message("reaction", {"message_id": "wamid.ours", "emoji": "👍"}),
        message("system", {"body": "User changed number", "type": "user_changed_number"}),
    ],
)
def test_reactions_and_system_notices_need_no_answer(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    item: dict[str, Any],
) -> None:
    send(client, adapter, item)
    assert rasa.received == [] and graph.calls == []


def test_status_callbacks_are_ignored(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    caplog: pytest.LogCaptureFixture,
) -> None:
    statuses = [
        {"id": "wamid.a", "status": "delivered", "timestamp": "1", "recipient_id": USER},
        {"id": "wamid.b", "status": "read", "timestamp": "2", "recipient_id": USER},
        {
            "id": "wamid.c",
            "status": "failed",
            "timestamp": "3",
            "recipient_id": USER,
            "errors": [{"code": 131047, "title": "Re-engagement message"}],
        },
    ]
    with caplog.at_level(logging.WARNING, logger="bot.channels.whatsapp"):
        response = post(client, payload(statuses=statuses))
        settle(client, adapter)
    assert response.status_code == 200
    assert rasa.received == [] and graph.calls == []
    assert "131047" in caplog.text and USER not in caplog.text


def test_several_messages_in_one_webhook_are_answered_in_order(
    client: TestClient, adapter: WhatsAppAdapter, graph: FakeGraph
) -> None:
    send(client, adapter, text("bir"), text("iki"), text("üç"), text("hi", user=OTHER_USER))
    assert [c.text for c in graph.to(USER)] == ["echo: bir", "echo: iki", "echo: üç"]
    assert [c.text for c in graph.to(OTHER_USER)] == ["echo: hi"]


def test_a_sender_known_only_by_business_scoped_id_is_answered_by_that_id(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa, graph: FakeGraph
) -> None:
    item = text("merhaba")
    del item["from"]
    item["from_user_id"] = "TR.1502576394655843"
    send(client, adapter, item)
    assert rasa.received[0]["sender"] == "whatsapp:TR.1502576394655843"
    [call] = graph.calls
    assert call.body["recipient"] == "TR.1502576394655843" and "to" not in call.body


def test_messages_for_another_phone_number_of_the_account_are_ignored(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa, graph: FakeGraph
) -> None:
    response = post(client, payload(text("merhaba"), phone_id="999999999999"))
    settle(client, adapter)
    assert response.status_code == 200
    assert rasa.received == [] and graph.calls == []


# --- hostile and broken input ---------------------------------------------------------------
def test_missing_signature_is_401_and_forged_signatures_are_403(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = json.dumps(payload(text("gizli mesaj içeriği"))).encode()
    headers = {"Content-Type": "application/json"}
    with caplog.at_level(logging.WARNING, logger="bot.channels.whatsapp"):
        missing = client.post("/webhooks/whatsapp", content=body, headers=headers)
        forged = [
            client.post(
                "/webhooks/whatsapp",
                content=body,
                headers={**headers, "X-Hub-Signature-256": signature},
            )
            for signature in (
                sign(body, "not-the-app-secret"),
                sign(body + b" "),  # the body was changed after signing
                sign(body).replace("sha256=", "sha1="),
                "sha256=" + "z" * 64,
                "sha256=",
                "garbage",
            )
        ]
        non_ascii = client.post(
            "/webhooks/whatsapp",
            content=body,
            headers=[
                (b"content-type", b"application/json"),
                (b"x-hub-signature-256", "sha256=ÿ".encode("latin-1")),
            ],
        )
        settle(client, adapter)
    assert missing.status_code == 401
    assert [r.status_code for r in forged] == [403] * 6
    assert non_ascii.status_code == 403
    assert rasa.received == [] and graph.calls == []
    assert "without X-Hub-Signature-256" in caplog.text and "wrong signature" in caplog.text
    assert "gizli" not in caplog.text


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", '{"a": "\xff"}'.encode("latin-1"), b"[" * 200_000 + b"]" * 200_000],
    ids=["broken", "empty", "not-utf8", "nested-too-deep"],
)
def test_malformed_json_is_400(
    client: TestClient, adapter: WhatsAppAdapter, graph: FakeGraph, body: bytes
) -> None:
    assert post(client, body).status_code == 400
    settle(client, adapter)
    assert graph.calls == []


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": "x"},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": []}]}]},
        {"object": "whatsapp_business_account", "entry": [None, {"changes": None}]},
        payload(message("text", {"body": 42}, id=None), {"no": "type"}, "x"),  # type: ignore[arg-type]
        payload(text("merhaba", user="+90 (532) <script>")),
    ],
)
def test_valid_json_that_is_not_a_message_is_accepted_and_ignored(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    data: Any,
) -> None:
    assert post(client, json.dumps(data).encode()).status_code == 200
    settle(client, adapter)
    assert rasa.received == [] and graph.calls == []


def test_one_broken_message_does_not_stop_the_others_in_the_webhook(
    client: TestClient, adapter: WhatsAppAdapter, graph: FakeGraph
) -> None:
    broken = {"from": USER, "type": "text", "text": {"body": "kimliksiz"}}  # no id
    send(client, adapter, broken, text("merhaba"))
    assert [c.text for c in graph.calls] == ["echo: merhaba"]


def test_a_body_over_one_megabyte_is_413(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa
) -> None:
    big = payload(text("x" * (1024 * 1024)))
    response = post(client, json.dumps(big).encode())
    assert response.status_code == 413
    settle(client, adapter)
    assert rasa.received == []


def test_a_replayed_webhook_is_answered_once(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa, graph: FakeGraph
) -> None:
    data = payload(text("merhaba"))
    send_twice = [post(client, data), post(client, data)]
    settle(client, adapter)
    assert [r.status_code for r in send_twice] == [200, 200]
    assert len(rasa.received) == 1
    assert [c.text for c in graph.calls] == ["echo: merhaba"]


def test_a_full_backlog_asks_meta_to_retry_later(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa, graph: FakeGraph
) -> None:
    adapter.max_backlog = 1
    data = payload(text("bir"), text("iki"))
    assert post(client, data).status_code == 503
    settle(client, adapter)
    assert rasa.received == []
    adapter.max_backlog = 10
    send(client, adapter, *data["entry"][0]["changes"][0]["value"]["messages"])
    assert [c.text for c in graph.calls] == ["echo: bir", "echo: iki"]


# --- the 24-hour window and Graph failures ---------------------------------------------------
def test_outside_the_24_hour_window_nothing_is_sent_and_it_is_recorded(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Meta redelivers webhooks for days after an outage; by then the window has closed.
    old = text("merhaba", timestamp=str(int(time.time()) - 25 * 3600))
    with caplog.at_level(logging.WARNING, logger="bot.channels.whatsapp"):
        send(client, adapter, old)
    assert len(rasa.received) == 1  # the conversation record still has the message
    assert graph.calls == [] and graph.attempts == 0
    [record] = adapter.undelivered
    assert (record.conversation_id, record.reason, record.messages) == (
        f"whatsapp:{USER}",
        "outside_24h_window",
        1,
    )
    assert "outside the 24-hour window" in caplog.text and USER not in caplog.text


def test_nothing_is_sent_to_someone_who_never_wrote(
    client: TestClient, adapter: WhatsAppAdapter, graph: FakeGraph
) -> None:
    stranger = IncomingMessage("whatsapp", "905550000000", "wamid.x", "selam")
    assert client.portal is not None
    client.portal.call(adapter.deliver, stranger, [OutgoingMessage("Merhaba", "tr")])
    assert graph.attempts == 0
    assert [(u.conversation_id, u.reason) for u in adapter.undelivered] == [
        ("whatsapp:905550000000", "outside_24h_window")
    ]


@pytest.mark.parametrize(
    ("failures", "attempts"),
    [([(429, 130429)], 2), ([(500, 2), (503, 2)], 3), ([(400, 131056)], 2)],
    ids=["429", "5xx-twice", "pair-rate-limit"],
)
def test_rate_limits_and_server_errors_are_retried_then_delivered(
    client: TestClient,
    adapter: WhatsAppAdapter,
    graph: FakeGraph,
    failures: list[tuple[int, int]],
    attempts: int,
) -> None:
    for status, code in failures:
        graph.fail_next(status, code=code, retry_after="0")
    send(client, adapter, text("merhaba"))
    assert graph.attempts == attempts
    assert [c.text for c in graph.calls] == ["echo: merhaba"]
    assert list(adapter.undelivered) == []


def test_a_graph_api_that_keeps_failing_is_logged_and_the_next_message_still_goes_out(
    client: TestClient,
    adapter: WhatsAppAdapter,
    graph: FakeGraph,
    caplog: pytest.LogCaptureFixture,
) -> None:
    graph.fail_next(500, times=3)
    with caplog.at_level(logging.WARNING, logger="bot.channels.whatsapp"):
        send(client, adapter, text("bir"))
    assert graph.attempts == 3 and graph.calls == []
    assert [u.reason for u in adapter.undelivered] == ["graph_error"]
    assert "not sent" in caplog.text
    send(client, adapter, text("iki"))
    assert [c.text for c in graph.calls] == ["echo: iki"]


def test_a_person_who_blocked_us_is_not_retried_and_others_are_still_answered(
    client: TestClient, adapter: WhatsAppAdapter, graph: FakeGraph
) -> None:
    graph.fail_next(400, code=131026)  # "Message undeliverable" (blocked, no WhatsApp, ...)
    send(client, adapter, text("bir"))
    assert graph.attempts == 1
    assert [(u.conversation_id, u.reason) for u in adapter.undelivered] == [
        (f"whatsapp:{USER}", "graph_error")
    ]
    send(client, adapter, text("merhaba", user=OTHER_USER))
    assert [c.to for c in graph.calls] == [OTHER_USER]


def test_a_graph_timeout_is_logged_not_retried_and_does_not_crash(
    client: TestClient, adapter: WhatsAppAdapter, graph: FakeGraph
) -> None:
    assert adapter.client is not None
    adapter.client.timeout = 0.2
    graph.fail_next(200, delay=0.6)  # answers, but too late
    send(client, adapter, text("bir"))
    assert graph.attempts == 1
    assert [u.reason for u in adapter.undelivered] == ["graph_error"]
    send(client, adapter, text("iki"))
    assert graph.wait_for(1)[-1].text == "echo: iki"


def test_a_failed_first_part_of_a_long_answer_skips_the_rest_to_keep_the_order(
    client: TestClient, adapter: WhatsAppAdapter, rasa: ScriptedRasa, graph: FakeGraph
) -> None:
    reply_with(rasa, "Uzun bir cevap. " * 300, choices(2))  # two texts, then buttons
    graph.fail_next(403, code=10)  # permission error: not retried
    send(client, adapter, text("bilgi"))
    assert graph.calls == []
    [record] = adapter.undelivered
    assert record.messages == 3


# --- bursts and outages ---------------------------------------------------------------------
def test_a_burst_of_100_messages_gets_answers_then_one_polite_notice(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    content: ContentStore,
) -> None:
    # The gateway says so once per clock minute: start the burst well inside one.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    responses = [post(client, payload(text(f"soru {i}"))) for i in range(100)]
    settle(client, adapter)
    assert {r.status_code for r in responses} == {200}
    texts = [c.text for c in graph.calls]
    assert texts == [f"echo: soru {i}" for i in range(5)] + [
        content.render("msg_rate_limited", "tr").text
    ]
    assert len(rasa.received) == 5
    assert [e["text"] for e in rasa.recorded] == [f"soru {i}" for i in range(5, 100)]


def test_while_rasa_is_down_the_person_is_told_and_the_answer_follows(
    client: TestClient,
    adapter: WhatsAppAdapter,
    rasa: ScriptedRasa,
    graph: FakeGraph,
    content: ContentStore,
) -> None:
    rasa.up = False
    send(client, adapter, text("merhaba"))
    assert [c.text for c in graph.calls] == [content.render("msg_received_will_answer", "tr").text]
    rasa.up = True
    calls: list[GraphCall] = graph.wait_for(2, timeout=15)  # the app drains every 2 s
    assert calls[1].text == "echo: merhaba" and calls[1].to == USER


# --- end to end: the real Rasa, action server and NLG ----------------------------------------
@pytest.mark.rasa
def test_end_to_end_an_arabic_question_gets_the_arabic_answer_on_whatsapp(
    stack: Any, graph: FakeGraph, settings: Settings, content: ContentStore
) -> None:
    real = replace(
        settings,
        rasa_url=stack.rasa_url,
        action_server_url=f"http://127.0.0.1:{stack.actions_port}",
    )
    with TestClient(create_app(real, MemoryState())) as client:
        adapter = client.app.state.services.channels["whatsapp"]  # type: ignore[attr-defined]
        user = "963944000111"
        send(client, adapter, text("مرحبا، بدي محامي ببلاش عندي قضية بالمحكمة", user=user))
        info, services = graph.to(user)
        assert info.text.replace("\n\u00a0\n", "\n\n") == (
            content.render("utter_legal_aid_info", "ar").text
        )
        # then the legal-aid services from the catalogue, as an Arabic interactive list
        assert any(payload == "/request_human" for payload, _ in services.choices)
        assert graph.rejected == []


@pytest.mark.rasa
def test_end_to_end_a_tapped_arabic_choice_is_answered_in_arabic(
    stack: Any, graph: FakeGraph, settings: Settings, content: ContentStore
) -> None:
    real = replace(
        settings,
        rasa_url=stack.rasa_url,
        action_server_url=f"http://127.0.0.1:{stack.actions_port}",
    )
    with TestClient(create_app(real, MemoryState())) as client:
        adapter = client.app.state.services.channels["whatsapp"]  # type: ignore[attr-defined]
        user = "963944000222"
        send(client, adapter, text("السلام عليكم", user=user))
        [greeting] = graph.to(user)
        assert ("/ask_legal_aid", "مساعدة قانونية") in greeting.choices  # the Arabic list
        tap = {"type": "list_reply", "list_reply": {"id": "/ask_legal_aid", "title": "مساعدة"}}
        send(client, adapter, message("interactive", tap, user=user))
        answer = graph.to(user)[1]
        assert answer.text.replace("\n\u00a0\n", "\n\n") == (
            content.render("utter_legal_aid_info", "ar").text
        )
