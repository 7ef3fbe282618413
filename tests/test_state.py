"""Gateway state behaves the same in-process and in Redis (the real server at 127.0.0.1:6379)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from bot.redis_state import RedisState
from bot.state import GatewayState, MemoryState

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def redis_state() -> AsyncIterator[RedisState]:
    """Gateway state on the real Redis, under a prefix of its own (removed afterwards)."""
    prefix = f"rehbertest{uuid.uuid4().hex[:8]}"
    state = await RedisState.connect(REDIS_URL, prefix=prefix)
    try:
        yield state
    finally:
        keys = [k async for k in state.redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await state.redis.delete(*keys)
        await state.close()


@pytest.fixture(params=["memory", "redis"])
def state(request: pytest.FixtureRequest) -> GatewayState:
    if request.param == "memory":
        return MemoryState()
    redis_state: RedisState = request.getfixturevalue("redis_state")
    return redis_state


async def test_idempotency(state: GatewayState) -> None:
    assert await state.first_delivery("telegram", "1001", 60)
    assert not await state.first_delivery("telegram", "1001", 60)
    assert await state.first_delivery("whatsapp", "1001", 60)


async def test_rate_limit(state: GatewayState) -> None:
    results = [await state.allow("c1", 3, 60) for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert await state.allow("c2", 3, 60)


async def test_language_and_takeover(state: GatewayState) -> None:
    assert await state.get_language("c1") is None
    await state.set_language("c1", "fa")
    assert await state.get_language("c1") == "fa"
    assert not await state.is_taken_over("c1")
    await state.set_taken_over("c1", True)
    assert await state.is_taken_over("c1")
    await state.set_taken_over("c1", False)
    assert not await state.is_taken_over("c1")


async def test_pending_queue_keeps_order_until_acknowledged(state: GatewayState) -> None:
    first = await state.enqueue_pending({"conversation_id": "c1", "text": "bir"})
    await state.enqueue_pending({"conversation_id": "c2", "text": "iki"})
    await state.enqueue_pending({"conversation_id": "c1", "text": "üç"})
    assert [m["text"] for _, m in await state.pending()] == ["bir", "iki", "üç"]
    assert await state.has_pending("c1") and await state.has_pending("c2")
    await state.ack_pending(first)
    assert [m["text"] for _, m in await state.pending()] == ["iki", "üç"]
    for entry_id, _ in await state.pending():
        await state.ack_pending(entry_id)
    assert not await state.has_pending("c1")
    assert await state.pending() == []


async def test_outbox(state: GatewayState) -> None:
    await state.push_outbox("c1", [{"text": "مرحبا"}, {"text": "٢"}])
    assert await state.pop_outbox("c1") == [{"text": "مرحبا"}, {"text": "٢"}]
    assert await state.pop_outbox("c1") == []


async def test_forget_erases_one_conversation_only(state: GatewayState) -> None:
    for conversation in ("c1", "c2"):
        await state.set_language(conversation, "ar")
        await state.set_taken_over(conversation, True)
        await state.push_outbox(conversation, [{"text": "x"}])
        await state.enqueue_pending({"conversation_id": conversation, "text": "y"})
        await state.allow(conversation, 5, 60)
    await state.forget("c1")
    assert await state.get_language("c1") is None
    assert not await state.is_taken_over("c1")
    assert await state.pop_outbox("c1") == []
    assert not await state.has_pending("c1")
    assert await state.get_language("c2") == "ar"
    assert [m["conversation_id"] for _, m in await state.pending()] == ["c2"]


async def test_redis_keys_expire(redis_state: RedisState) -> None:
    state = redis_state
    await state.set_language("c1", "tr")
    await state.first_delivery("web", "m1", 60)
    await state.allow("c1", 5, 60)
    await state.push_outbox("c1", [{"text": "x"}])
    async for key in state.redis.scan_iter(match=f"{state.prefix}:*"):
        if key.startswith(f"{state.prefix}:pending"):
            continue  # the pending stream is a durable queue
        assert await state.redis.ttl(key) > 0, key
