"""HTTP client for the Rasa server (REST channel and tracker API)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import quote

import httpx

logger = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa (or the action server behind it) cannot take the message now."""


class RasaTimeout(RasaUnavailable):
    """Rasa took the message but did not answer in time: it may still process it, so the
    message must not simply be sent again (see ``replies_in_tracker``)."""


class RasaClient:
    def __init__(
        self,
        base_url: str,
        timeout: float = 30.0,
        action_server_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        max_concurrency: int = 8,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._actions = action_server_url.rstrip("/") if action_server_url else None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        # At most this many messages in Rasa at once; the rest wait here, where waiting does
        # not count against the request timeout (an overloaded Rasa would time them out).
        self._slots = asyncio.Semaphore(max_concurrency)

    async def close(self) -> None:
        await self._client.aclose()

    async def _actions_healthy(self) -> bool:
        """Asks the action server before every message (about a millisecond on the same host):
        a cached answer would let messages reach Rasa just after the action server died,
        and Rasa would then answer without the action's part."""
        if self._actions is None:
            return True
        try:
            response = await self._client.get(f"{self._actions}/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def send(
        self, conversation_id: str, text: str, metadata: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Sends one user message; returns Rasa's replies (text, buttons, custom)."""
        if not await self._actions_healthy():
            raise RasaUnavailable("action server is not answering")
        body = {"sender": conversation_id, "message": text, "metadata": metadata}
        try:
            async with self._slots:
                response = await self._client.post(f"{self._base}/webhooks/rest/webhook", json=body)
        except (httpx.ReadTimeout, httpx.RemoteProtocolError) as error:
            raise RasaTimeout(f"Rasa did not answer in time: {error!r}") from error
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa is not answering: {error!r}") from error
        if response.status_code >= 500 or response.status_code in (404, 409, 503):
            raise RasaUnavailable(f"Rasa answered HTTP {response.status_code}")
        response.raise_for_status()
        replies = response.json()
        return replies if isinstance(replies, list) else []

    async def replies_in_tracker(
        self, conversation_id: str, message_id: str
    ) -> list[dict[str, Any]] | None:
        """The bot's answers to one user message, read from the tracker; None when the
        message never reached the tracker (then it is safe to send it again)."""
        url = f"{self._base}/conversations/{quote(conversation_id, safe='')}/tracker"
        try:
            response = await self._client.get(url, params={"include_events": "ALL"})
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa is not answering: {error!r}") from error
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa answered HTTP {response.status_code}")
        events = response.json().get("events") or []
        start = next(
            (
                i
                for i, e in enumerate(events)
                if e.get("event") == "user"
                and (e.get("metadata") or {}).get("message_id") == message_id
            ),
            None,
        )
        if start is None:
            return None
        replies = []
        for event in events[start + 1 :]:
            if event.get("event") == "user":
                break
            if event.get("event") == "bot":
                data = event.get("data") or {}
                replies.append(
                    {
                        "text": event.get("text"),
                        "buttons": data.get("buttons") or [],
                        "custom": data.get("custom") or {},
                    }
                )
        return replies

    async def record(self, conversation_id: str, text: str, metadata: dict[str, Any]) -> None:
        """Stores a user message in the tracker without asking for a reply."""
        event = {"event": "user", "text": text, "timestamp": time.time(), "metadata": metadata}
        url = f"{self._base}/conversations/{quote(conversation_id, safe='')}/tracker/events"
        try:
            response = await self._client.post(url, json=event, params={"output_channel": "latest"})
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa is not answering: {error!r}") from error
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa answered HTTP {response.status_code}")

    async def erase(self, conversation_id: str) -> None:
        """Replaces the conversation's tracker with an empty one (right to erasure)."""
        url = f"{self._base}/conversations/{quote(conversation_id, safe='')}/tracker/events"
        try:
            response = await self._client.put(url, json=[])
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa is not answering: {error!r}") from error
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa answered HTTP {response.status_code}")
