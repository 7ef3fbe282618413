"""Gateway state in Redis (``REDIS_URL``): shared by every gateway process.

Keys: ``rehber:seen:<channel>:<message id>``, ``rehber:rate:<conversation>:<window>``,
``rehber:lang:<conversation>``, ``rehber:takeover:<conversation>``,
``rehber:outbox:<conversation>`` — all with TTLs — and the durable stream
``rehber:pending`` with its per-conversation counter hash ``rehber:pending:count``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from bot.state import LANGUAGE_TTL, OUTBOX_TTL, TAKEOVER_TTL


class RedisState:
    def __init__(self, client: Redis, prefix: str = "rehber") -> None:
        # redis-py's asyncio stubs type each command as "value or awaitable"; Any keeps the
        # awaits readable without a cast on every line.
        self.redis: Any = client
        self.prefix = prefix
        self.stream = f"{prefix}:pending"
        self.counts = f"{prefix}:pending:count"

    @classmethod
    async def connect(cls, url: str, prefix: str = "rehber") -> RedisState:
        client = Redis.from_url(url, decode_responses=True)
        await client.ping()
        return cls(client, prefix)

    def _key(self, purpose: str, ident: str) -> str:
        return f"{self.prefix}:{purpose}:{ident}"

    async def first_delivery(self, channel: str, message_id: str, ttl: int) -> bool:
        created = await self.redis.set(
            self._key("seen", f"{channel}:{message_id}"), "1", nx=True, ex=ttl
        )
        return bool(created)

    async def allow(self, conversation_id: str, limit: int, window: int) -> bool:
        key = self._key("rate", f"{conversation_id}:{int(time.time()) // window}")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window * 2)
            count, _ = await pipe.execute()
        return int(count) <= limit

    async def get_language(self, conversation_id: str) -> str | None:
        value = await self.redis.get(self._key("lang", conversation_id))
        return str(value) if value is not None else None

    async def set_language(self, conversation_id: str, language: str) -> None:
        await self.redis.set(self._key("lang", conversation_id), language, ex=LANGUAGE_TTL)

    async def is_taken_over(self, conversation_id: str) -> bool:
        return bool(await self.redis.exists(self._key("takeover", conversation_id)))

    async def set_taken_over(self, conversation_id: str, taken: bool) -> None:
        key = self._key("takeover", conversation_id)
        if taken:
            await self.redis.set(key, "1", ex=TAKEOVER_TTL)
        else:
            await self.redis.delete(key)

    async def set_last_inbound(self, conversation_id: str, timestamp: float) -> None:
        # Keep the latest time: a late redelivery must not move the window backwards.
        key = self._key("inbound", conversation_id)
        previous = await self.redis.get(key)
        if previous is None or float(previous) < timestamp:
            await self.redis.set(key, str(timestamp), ex=LANGUAGE_TTL)

    async def get_last_inbound(self, conversation_id: str) -> float | None:
        value = await self.redis.get(self._key("inbound", conversation_id))
        return float(value) if value is not None else None

    async def enqueue_pending(self, message: dict[str, Any]) -> str:
        conversation = str(message.get("conversation_id", ""))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.stream, {"message": json.dumps(message, ensure_ascii=False)})
            pipe.hincrby(self.counts, conversation, 1)
            entry_id, _ = await pipe.execute()
        return str(entry_id)

    async def pending(self, limit: int = 100) -> list[tuple[str, dict[str, Any]]]:
        entries = await self.redis.xrange(self.stream, count=limit)
        return [(entry_id, json.loads(fields["message"])) for entry_id, fields in entries]

    async def ack_pending(self, entry_id: str) -> None:
        entries = await self.redis.xrange(self.stream, min=entry_id, max=entry_id)
        if not entries:
            return
        conversation = json.loads(entries[0][1]["message"]).get("conversation_id", "")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xdel(self.stream, entry_id)
            pipe.hincrby(self.counts, conversation, -1)
            await pipe.execute()
        if int(await self.redis.hget(self.counts, conversation) or 0) <= 0:
            await self.redis.hdel(self.counts, conversation)

    async def has_pending(self, conversation_id: str) -> bool:
        return int(await self.redis.hget(self.counts, conversation_id) or 0) > 0

    async def push_outbox(self, conversation_id: str, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        key = self._key("outbox", conversation_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, *[json.dumps(m, ensure_ascii=False) for m in messages])
            pipe.expire(key, OUTBOX_TTL)
            await pipe.execute()

    async def pop_outbox(self, conversation_id: str) -> list[dict[str, Any]]:
        key = self._key("outbox", conversation_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            items, _ = await pipe.execute()
        return [json.loads(item) for item in items]

    async def forget(self, conversation_id: str) -> None:
        keys = [self._key(p, conversation_id) for p in ("lang", "takeover", "outbox", "inbound")]
        async for key in self.redis.scan_iter(match=self._key("rate", f"{conversation_id}:*")):
            keys.append(key)
        await self.redis.delete(*keys)
        for entry_id, message in await self.pending(limit=100_000):
            if message.get("conversation_id") == conversation_id:
                await self.ack_pending(entry_id)

    async def close(self) -> None:
        await self.redis.aclose()
