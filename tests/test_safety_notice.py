"""The safety notice: a message that might describe danger, but not clearly enough to be an
emergency, gets its own answer and then, once, the emergency numbers in the person's language.

Each layer is tested where it runs: the NLU component in the Rasa environment, the NLG
endpoint, and the gateway that adds the notice once per turn on every channel.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from bot.app import create_app
from bot.content import LANGUAGES, ContentStore
from bot.gateway import Gateway, IncomingMessage
from bot.rasa_client import RasaClient
from bot.settings import Settings
from bot.state import MemoryState

ROOT = Path(__file__).resolve().parent.parent
RASA_PY = ROOT / ".venv" / "rasa" / "bin" / "python"

# Runs SafeFallbackClassifier (Rasa environment) on messages with a given emergency score.
COMPONENT = """
import json, sys
from rasa.shared.nlu.training_data.message import Message
from nlu_components.rasa_components import SafeFallbackClassifier
component = SafeFallbackClassifier({"threshold": 0.5, "emergency_floor": 0.25,
                                    "notice_floor": 0.1, "emergency_phrases": ""})
out = []
for text, top, emergency in json.loads(sys.argv[1]):
    ranking = [{"name": "ask_psychosocial_support", "confidence": top},
               {"name": "emergency", "confidence": emergency}]
    message = Message({"text": text, "intent": dict(ranking[0]), "intent_ranking": ranking})
    component.process([message])
    out.append({"intent": message.get("intent")["name"],
                "notice": message.get("safety_notice"),
                "output": sorted(message.as_dict(only_output_properties=True))})
print(json.dumps(out))
"""


def test_component_marks_possible_danger_and_keeps_the_intent() -> None:
    cases = [
        ("I can't go on like this", 0.7, 0.15),  # possible danger: answer + notice
        ("my husband shouts at me every day", 0.6, 0.3),  # over the floor: emergency
        ("I feel sad since we came", 0.8, 0.05),  # nothing to add
        ("hmm", 0.3, 0.12),  # falls back, still gets the notice
    ]
    result = subprocess.run(
        [str(RASA_PY), "-c", COMPONENT, json.dumps(cases)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=True,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert [(o["intent"], o["notice"]) for o in out] == [
        ("ask_psychosocial_support", 0.15),
        ("emergency", None),
        ("ask_psychosocial_support", None),
        ("nlu_fallback", 0.12),
    ]
    assert "safety_notice" in out[0]["output"]  # it reaches the tracker's parse data


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


def nlg(client: TestClient, response: str, latest: dict) -> dict:
    tracker = {"sender_id": "web:abc12345", "slots": {}, "latest_message": latest}
    body = {"response": response, "arguments": {}, "tracker": tracker, "channel": {"name": "rest"}}
    return client.post("/nlg", json=body).json()


def test_nlg_marks_answers_to_a_possible_danger(client: TestClient) -> None:
    latest = {"language": {"code": "fa"}, "safety_notice": 0.14}
    assert nlg(client, "utter_psychosocial_support_info", latest)["custom"]["safety_notice"] is True
    # The emergency answer already holds the numbers.
    assert "safety_notice" not in nlg(client, "utter_emergency", latest)["custom"]
    assert "safety_notice" not in nlg(client, "utter_psychosocial_support_info", {})["custom"]


class NoticeRasa:
    """Rasa's REST channel as it answers a marked turn: each NLG text, then its custom part
    as a separate message (how Rasa's CollectingOutputChannel sends ``custom``)."""

    def __init__(self, marked: bool) -> None:
        self.marked = marked
        self.events: list[dict] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        if request.method == "GET":
            return httpx.Response(200, json={"events": self.events})
        body = json.loads(request.content)
        custom = {"language": "ar", "direction": "rtl"}
        if self.marked:
            custom["safety_notice"] = True
        out = []
        for text in ("first answer", "second answer"):
            out += [{"recipient_id": body["sender"], "text": text}, {"custom": custom}]
            self.events.append({"event": "bot", "text": text, "data": {"custom": custom}})
        self.events.insert(0, {"event": "user", "metadata": body["metadata"]})
        return httpx.Response(200, json=out)


def gateway_for(rasa: NoticeRasa, content: ContentStore) -> Gateway:
    client = RasaClient(
        "http://rasa.test",
        action_server_url="http://actions.test",
        client=httpx.AsyncClient(transport=httpx.MockTransport(rasa.handler)),
    )
    return Gateway(Settings(), MemoryState(), client, content)


def arabic(text: str, message_id: str = "m-notice-1") -> IncomingMessage:
    return IncomingMessage(channel="web", user_id="u1", message_id=message_id, text=text)


async def test_gateway_adds_the_numbers_once_after_the_answer(content: ContentStore) -> None:
    gateway = gateway_for(NoticeRasa(marked=True), content)
    replies = await gateway.handle(arabic("ما عاد فيني اتحمل هالحياة"))
    notice = content.render("msg_safety_notice", "ar").text
    assert [r.text for r in replies] == ["first answer", "second answer", notice]
    assert replies[-1].language == "ar" and replies[-1].direction == "rtl"


async def test_gateway_adds_nothing_to_an_ordinary_turn(content: ContentStore) -> None:
    gateway = gateway_for(NoticeRasa(marked=False), content)
    replies = await gateway.handle(arabic("بدي كورس تركي"))
    assert [r.text for r in replies] == ["first answer", "second answer"]


async def test_answer_recovered_from_the_tracker_keeps_the_notice(content: ContentStore) -> None:
    rasa = NoticeRasa(marked=True)
    gateway = gateway_for(rasa, content)
    message = arabic("ما عاد فيني اتحمل", message_id="m-notice-2")
    await gateway.handle(message)  # Rasa answered; suppose the reply was lost on the way
    earlier = await gateway.rasa.replies_in_tracker(message.conversation_id, message.message_id)
    assert earlier is not None
    texts = [r.text for r in gateway._turn(earlier, "ar")]
    assert texts[-1] == content.render("msg_safety_notice", "ar").text
    assert texts.count(texts[-1]) == 1


@pytest.mark.parametrize("lang", LANGUAGES)
def test_notice_names_the_emergency_numbers(content: ContentStore, lang: str) -> None:
    text = content.render("msg_safety_notice", lang).text
    assert all(number in text for number in ("112", "183", "157"))
