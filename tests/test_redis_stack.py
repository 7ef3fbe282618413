"""The product on Redis (REDIS_URL): Rasa's tracker and lock stores and the gateway state
live in the real Redis at 127.0.0.1:6379, so replicas can share conversations."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from conftest import MODEL, Stack

from bot.content import ContentStore

pytestmark = [pytest.mark.rasa, pytest.mark.redis]
REDIS_DB = 13


@pytest.fixture(scope="module")
def redis_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}; `make test` trains it first")
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "RASA_TELEMETRY_ENABLED": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('redisdb')}/rehber.db",
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
    }
    running = Stack(tmp_path_factory.mktemp("redisstack"), env)
    try:
        running.start()
        yield running
    finally:
        running.close()
        client.flushdb()
        client.close()


def test_conversation_lives_in_redis(redis_stack: Stack, content: ContentStore) -> None:
    conversation = uuid.uuid4().hex
    response = httpx.post(
        f"{redis_stack.app_url}/api/webchat/messages",
        json={"conversation_id": conversation, "text": "سلام، کورس زبان ترکی کجاست؟"},
        timeout=60,
    )
    messages = response.json()["messages"]
    assert (
        messages[0]["text"].replace("\n\u00a0\n", "\n\n")
        == content.render("utter_language_course_info", "fa").text
    )
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, decode_responses=True)
    keys = set(client.keys("*"))
    # Rasa's tracker, and the gateway's language and idempotency keys, all in Redis
    assert f"rehber:tracker:web:{conversation}" in keys, keys
    assert client.get(f"rehber:lang:web:{conversation}") == "fa"
    assert client.ttl(f"rehber:lang:web:{conversation}") > 0
    assert any(k.startswith("rehber:seen:web:") for k in keys)
    client.close()


def test_erasure_on_redis_removes_the_tracker(redis_stack: Stack, content: ContentStore) -> None:
    conversation = uuid.uuid4().hex
    url = f"{redis_stack.app_url}/api/webchat/messages"
    httpx.post(url, json={"conversation_id": conversation, "text": "merhaba"}, timeout=60)
    done = httpx.post(
        url, json={"conversation_id": conversation, "text": "/erase_data_confirm"}, timeout=60
    ).json()
    assert done["messages"][0]["text"] == content.render("msg_erase_done", "tr").text
    tracker = httpx.get(
        f"{redis_stack.rasa_url}/conversations/web:{conversation}/tracker", timeout=30
    ).json()
    assert not [e for e in tracker["events"] if e["event"] == "user"]
