"""The NLG endpoint Rasa calls: the right text, in the right language, for every response."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from bot.app import create_app
from bot.content import LANGUAGES, ContentStore
from bot.settings import Settings


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


def nlg_body(response: str, slots: dict | None = None, latest: dict | None = None) -> dict:
    return {
        "response": response,
        "arguments": {},
        "tracker": {
            "sender_id": "web:abc12345",
            "slots": slots or {},
            "latest_message": latest or {},
        },
        "channel": {"name": "rest"},
    }


def paragraphs(text: str) -> str:
    return text.replace("\n\u00a0\n", "\n\n")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_detected_language_decides(client: TestClient, content: ContentStore, lang: str) -> None:
    body = nlg_body("utter_emergency", latest={"language": {"code": lang, "detected": lang}})
    answer = client.post("/nlg", json=body).json()
    assert paragraphs(answer["text"]) == content.render("utter_emergency", lang).text
    assert answer["custom"]["direction"] == ("rtl" if lang in ("ar", "fa") else "ltr")


def test_explicit_choice_beats_detection(client: TestClient, content: ContentStore) -> None:
    body = nlg_body("utter_greet", slots={"language": "fa"}, latest={"language": {"code": "en"}})
    answer = client.post("/nlg", json=body).json()
    assert paragraphs(answer["text"]) == content.render("utter_greet", "fa").text
    assert [b["title"] for b in answer["buttons"]] == [
        b.title["fa"] for b in content.responses["utter_greet"].buttons
    ]


def test_gateway_hint_then_default(client: TestClient, content: ContentStore) -> None:
    hinted = nlg_body("utter_thank", latest={"metadata": {"language_hint": "ar"}})
    assert (
        client.post("/nlg", json=hinted).json()["text"] == content.render("utter_thank", "ar").text
    )
    bare = nlg_body("utter_thank")
    assert client.post("/nlg", json=bare).json()["text"] == content.render("utter_thank", "tr").text


def test_reply_language_is_remembered_for_the_gateway(client: TestClient) -> None:
    client.post("/nlg", json=nlg_body("utter_thank", latest={"language": {"code": "fa"}}))
    services = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal.call(services.state.get_language, "web:abc12345") == "fa"


def test_unknown_response_degrades_to_the_fallback(
    client: TestClient, content: ContentStore
) -> None:
    answer = client.post("/nlg", json=nlg_body("utter_does_not_exist")).json()
    assert paragraphs(answer["text"]) == content.render("utter_default", "tr").text


def test_paragraphs_stay_in_one_message(client: TestClient) -> None:
    answer = client.post("/nlg", json=nlg_body("utter_emergency")).json()
    assert "\n\n" not in answer["text"]


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'"text"', b"{"])
def test_malformed_requests_are_rejected(client: TestClient, body: bytes) -> None:
    response = client.post("/nlg", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
