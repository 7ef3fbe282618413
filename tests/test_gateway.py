"""The gateway's one message path, with a scripted Rasa behind it (the real one is in
test_stack.py): bad input, duplicates, bursts, and nothing lost while Rasa is down."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest

from bot.content import ContentStore
from bot.gateway import Attachment, Gateway, IncomingMessage
from bot.rasa_client import RasaClient
from bot.settings import Settings
from bot.state import MemoryState


class ScriptedRasa:
    """Answers like Rasa's REST channel; records what it was sent; can be 'down'."""

    def __init__(self) -> None:
        self.up = True
        self.time_out_after_processing = False
        self.received: list[dict] = []
        self.recorded: list[dict] = []
        self.events: dict[str, list[dict]] = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        if request.method == "GET" and request.url.path.endswith("/tracker"):
            sender = request.url.path.split("/")[2]
            return httpx.Response(200, json={"events": self.events.get(sender, [])})
        body = json.loads(request.content)
        if request.url.path.endswith("/tracker/events"):
            self.recorded.append(body)
            return httpx.Response(200, json={})
        self.received.append(body)
        reply = f"echo: {body['message']}"
        self.events.setdefault(body["sender"], []).extend(
            [
                {"event": "user", "text": body["message"], "metadata": body["metadata"]},
                {"event": "bot", "text": reply, "data": {}},
            ]
        )
        if self.time_out_after_processing:
            raise httpx.ReadTimeout("processed, but the answer came too late", request=request)
        return httpx.Response(200, json=[{"recipient_id": body["sender"], "text": reply}])


@pytest.fixture
def rasa() -> ScriptedRasa:
    return ScriptedRasa()


@pytest.fixture
def gateway(rasa: ScriptedRasa, content: ContentStore) -> Gateway:
    settings = replace(Settings(), rate_limit_messages=5, rate_limit_window_seconds=60)
    client = RasaClient(
        "http://rasa.test",
        action_server_url="http://actions.test",
        client=httpx.AsyncClient(transport=httpx.MockTransport(rasa.handler)),
    )
    return Gateway(settings, MemoryState(), client, content)


def message(text: str, message_id: str = "m1", user: str = "u1", **kw: object) -> IncomingMessage:
    return IncomingMessage(channel="web", user_id=user, message_id=message_id, text=text, **kw)  # type: ignore[arg-type]


async def test_text_goes_to_rasa_with_metadata(gateway: Gateway, rasa: ScriptedRasa) -> None:
    replies = await gateway.handle(message("بدي محامي"))
    assert [r.text for r in replies] == ["echo: بدي محامي"]
    sent = rasa.received[0]
    assert sent["sender"] == "web:u1"
    assert sent["metadata"]["channel"] == "web"
    assert sent["metadata"]["language_hint"] == "ar"


async def test_redelivered_message_is_answered_once(gateway: Gateway, rasa: ScriptedRasa) -> None:
    first = await gateway.handle(message("merhaba", "same-id"))
    second = await gateway.handle(message("merhaba", "same-id"))
    assert len(first) == 1 and second == []
    assert len(rasa.received) == 1


@pytest.mark.parametrize(
    ("text", "language"),
    [("", "tr"), ("   \n\t ", "tr"), ("\u200b\u200f\u202e", "tr")],
)
async def test_empty_message_gets_a_clear_answer(
    gateway: Gateway, rasa: ScriptedRasa, content: ContentStore, text: str, language: str
) -> None:
    replies = await gateway.handle(message(text))
    assert [r.text for r in replies] == [content.render("msg_empty_message", language).text]
    assert rasa.received == []


async def test_empty_message_answers_in_the_conversation_language(
    gateway: Gateway, content: ContentStore
) -> None:
    await gateway.state.set_language("web:u1", "fa")
    replies = await gateway.handle(message("  "))
    assert replies[0].text == content.render("msg_empty_message", "fa").text
    assert replies[0].direction == "rtl"


async def test_very_long_message_is_read_in_part_and_kept_whole(
    gateway: Gateway, rasa: ScriptedRasa, content: ContentStore
) -> None:
    text = "Merhaba, oturma izni hakkında soru sormak istiyorum. " * 200  # ~10,000 characters
    replies = await gateway.handle(message(text))
    assert replies[0].text == content.render("msg_long_message", "tr").text
    sent = rasa.received[0]
    assert len(sent["message"]) == gateway.settings.nlu_max_chars
    assert sent["metadata"]["full_text"] == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        "😀😀😀🙏",
        "<script>alert('x')</script> ikamet",
        "'; DROP TABLE tickets; -- avukat",
        "\u202eﮎﻼﺳ زبان\u202c english mixed Türkçe عربي",
        "x" * 20,
    ],
)
async def test_odd_but_real_text_reaches_rasa_unchanged_but_for_controls(
    gateway: Gateway, rasa: ScriptedRasa, text: str
) -> None:
    replies = await gateway.handle(message(text))
    assert len(replies) == 1
    assert "\u202e" not in rasa.received[0]["message"]
    assert rasa.received[0]["message"].replace("\u202c", "") == rasa.received[0]["message"]


@pytest.mark.parametrize("kind", ["voice", "photo", "document", "sticker", "video", "contact"])
async def test_attachments_get_a_helpful_answer_in_the_users_language(
    gateway: Gateway, rasa: ScriptedRasa, content: ContentStore, kind: str
) -> None:
    await gateway.state.set_language("web:u1", "ar")
    replies = await gateway.handle(message("", attachment=Attachment(kind)))
    assert [r.text for r in replies] == [content.render(f"msg_attachment_{kind}", "ar").text]
    assert rasa.received == []


async def test_burst_is_answered_politely_and_nothing_is_lost(
    gateway: Gateway, rasa: ScriptedRasa, content: ContentStore
) -> None:
    answers = [await gateway.handle(message(f"soru {i}", f"id-{i}")) for i in range(100)]
    answered = answers[:5]
    assert all(len(a) == 1 and a[0].text.startswith("echo") for a in answered)
    notices = [a for a in answers[5:] if a]
    assert [n[0].text for n in notices] == [content.render("msg_rate_limited", "tr").text]
    # every message is in the conversation record: 5 answered, 95 recorded without a reply
    assert len(rasa.received) == 5
    assert [e["text"] for e in rasa.recorded] == [f"soru {i}" for i in range(5, 100)]


async def test_rasa_down_queues_in_order_and_drains_when_back(
    gateway: Gateway, rasa: ScriptedRasa, content: ContentStore
) -> None:
    delivered: list[tuple[str, list[str]]] = []

    async def deliver(msg: IncomingMessage, replies: list) -> None:  # type: ignore[type-arg]
        delivered.append((msg.text, [r.text for r in replies]))

    gateway.register_channel("web", deliver)
    rasa.up = False
    first = await gateway.handle(message("birinci", "a1"))
    second = await gateway.handle(message("ikinci", "a2"))
    for replies in (first, second):
        assert [r.text for r in replies] == [content.render("msg_received_will_answer", "tr").text]
    assert await gateway.drain_pending() == 0  # still down: nothing lost, nothing sent

    rasa.up = True
    # a new message while older ones wait must queue behind them, not overtake them
    third = await gateway.handle(message("üçüncü", "a3"))
    assert [r.text for r in third] == [content.render("msg_received_will_answer", "tr").text]
    assert await gateway.drain_pending() == 3
    assert delivered == [
        ("birinci", ["echo: birinci"]),
        ("ikinci", ["echo: ikinci"]),
        ("üçüncü", ["echo: üçüncü"]),
    ]
    assert await gateway.state.pending() == []


async def test_confirmed_erasure_forgets_the_person(
    gateway: Gateway, rasa: ScriptedRasa, content: ContentStore
) -> None:
    erased: list[str] = []

    async def eraser(conversation_id: str) -> None:
        erased.append(conversation_id)

    gateway.erasers.append(eraser)
    await gateway.handle(message("سلام، می‌خواهم ترکی یاد بگیرم", "e1"))
    await gateway.state.set_language("web:u1", "fa")
    replies = await gateway.handle(message("/erase_data_confirm", "e2"))
    assert [r.text for r in replies] == [content.render("msg_erase_done", "fa").text]
    assert erased == ["web:u1"]
    assert await gateway.state.get_language("web:u1") is None
    assert rasa.recorded[-1] == []  # the tracker was replaced by an empty one
    assert [m["message"] for m in rasa.received] == ["سلام، می‌خواهم ترکی یاد بگیرم"]


async def test_erasure_failure_is_said_plainly(
    gateway: Gateway, rasa: ScriptedRasa, content: ContentStore
) -> None:
    rasa.up = False
    replies = await gateway.handle(message("/erase_data_confirm", "e3"))
    assert [r.text for r in replies] == [content.render("msg_erase_failed", "tr").text]


async def test_a_timed_out_message_is_not_processed_twice(
    gateway: Gateway, rasa: ScriptedRasa, content: ContentStore
) -> None:
    """Rasa took the message but answered too late: the answer is found in the tracker and
    delivered once; the message is not sent to Rasa a second time."""
    delivered: list[list[str]] = []

    async def deliver(msg: IncomingMessage, replies: list) -> None:  # type: ignore[type-arg]
        delivered.append([r.text for r in replies])

    gateway.register_channel("web", deliver)
    rasa.time_out_after_processing = True
    first = await gateway.handle(message("avukat lazım", "t1"))
    assert [r.text for r in first] == [content.render("msg_received_will_answer", "tr").text]
    rasa.time_out_after_processing = False
    assert await gateway.drain_pending() == 1
    assert delivered == [["echo: avukat lazım"]]
    assert len(rasa.received) == 1
