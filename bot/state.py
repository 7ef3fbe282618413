"""Gateway state: idempotency, rate limits, conversation language, takeover flags,
the pending-message stream and the web chat outbox.

Two implementations with one interface: in-process (embedded default, one app process)
and Redis (``REDIS_URL`` set; several gateway processes share it). Redis keys are
``rehber:<purpose>:<id>`` and expire, except the pending stream, which is a durable queue.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import OrderedDict, deque
from typing import Any, Protocol

LANGUAGE_TTL = 90 * 86400
OUTBOX_TTL = 86400
TAKEOVER_TTL = 7 * 86400


class GatewayState(Protocol):
    async def first_delivery(self, channel: str, message_id: str, ttl: int) -> bool:
        """True the first time a channel message id is seen (within ``ttl`` seconds)."""

    async def allow(self, conversation_id: str, limit: int, window: int) -> bool:
        """True while the conversation stays within ``limit`` messages per ``window`` s."""

    async def get_language(self, conversation_id: str) -> str | None: ...

    async def set_language(self, conversation_id: str, language: str) -> None: ...

    async def is_taken_over(self, conversation_id: str) -> bool: ...

    async def set_last_inbound(self, conversation_id: str, timestamp: float) -> None:
        """When the person last wrote (WhatsApp's 24-hour customer-service window)."""

    async def get_last_inbound(self, conversation_id: str) -> float | None: ...

    async def set_taken_over(self, conversation_id: str, taken: bool) -> None: ...

    async def enqueue_pending(self, message: dict[str, Any]) -> str: ...

    async def pending(self, limit: int = 100) -> list[tuple[str, dict[str, Any]]]: ...

    async def ack_pending(self, entry_id: str) -> None: ...

    async def has_pending(self, conversation_id: str) -> bool: ...

    async def push_outbox(self, conversation_id: str, messages: list[dict[str, Any]]) -> None: ...

    async def pop_outbox(self, conversation_id: str) -> list[dict[str, Any]]: ...

    async def forget(self, conversation_id: str) -> None:
        """Erases everything kept about one conversation."""

    async def close(self) -> None: ...


class MemoryState:
    """Single-process state for the embedded default (lost on restart, like Rasa's)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._hits: dict[str, deque[float]] = {}
        self._language: dict[str, str] = {}
        self._takeover: set[str] = set()
        self._pending: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._ids = itertools.count(1)
        self._outbox: dict[str, list[dict[str, Any]]] = {}
        self._last_inbound: dict[str, float] = {}

    async def first_delivery(self, channel: str, message_id: str, ttl: int) -> bool:
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        key = f"{channel}:{message_id}"
        if key in self._seen:
            return False
        self._seen[key] = now + ttl
        return True

    async def allow(self, conversation_id: str, limit: int, window: int) -> bool:
        now = self._clock()
        hits = self._hits.setdefault(conversation_id, deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return False
        hits.append(now)
        return True

    async def get_language(self, conversation_id: str) -> str | None:
        return self._language.get(conversation_id)

    async def set_language(self, conversation_id: str, language: str) -> None:
        self._language[conversation_id] = language

    async def is_taken_over(self, conversation_id: str) -> bool:
        return conversation_id in self._takeover

    async def set_taken_over(self, conversation_id: str, taken: bool) -> None:
        (self._takeover.add if taken else self._takeover.discard)(conversation_id)

    async def set_last_inbound(self, conversation_id: str, timestamp: float) -> None:
        # A late redelivery of an old message must not move the window backwards.
        previous = self._last_inbound.get(conversation_id, 0.0)
        self._last_inbound[conversation_id] = max(previous, timestamp)

    async def get_last_inbound(self, conversation_id: str) -> float | None:
        return self._last_inbound.get(conversation_id)

    async def enqueue_pending(self, message: dict[str, Any]) -> str:
        entry_id = str(next(self._ids))
        self._pending[entry_id] = json.loads(json.dumps(message))
        return entry_id

    async def pending(self, limit: int = 100) -> list[tuple[str, dict[str, Any]]]:
        return list(itertools.islice(self._pending.items(), limit))

    async def ack_pending(self, entry_id: str) -> None:
        self._pending.pop(entry_id, None)

    async def has_pending(self, conversation_id: str) -> bool:
        return any(m.get("conversation_id") == conversation_id for m in self._pending.values())

    async def push_outbox(self, conversation_id: str, messages: list[dict[str, Any]]) -> None:
        self._outbox.setdefault(conversation_id, []).extend(messages)

    async def pop_outbox(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._outbox.pop(conversation_id, [])

    async def forget(self, conversation_id: str) -> None:
        self._language.pop(conversation_id, None)
        self._takeover.discard(conversation_id)
        self._hits.pop(conversation_id, None)
        self._outbox.pop(conversation_id, None)
        self._last_inbound.pop(conversation_id, None)
        for entry_id in [
            k for k, m in self._pending.items() if m.get("conversation_id") == conversation_id
        ]:
            self._pending.pop(entry_id)

    async def close(self) -> None:
        return None
