"""Channel adapters: each turns its channel's payloads into ``IncomingMessage`` and renders
``OutgoingMessage`` back. Nothing channel-specific passes the adapter.

An adapter module exposes ``from_settings(settings, gateway) -> ChannelAdapter | None``
(``None`` when the channel is not configured; it then says so at start-up).
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response


class ChannelAdapter(Protocol):
    name: str

    async def start(self) -> None:
        """Starts background work (polling, senders); called once the gateway is up."""

    async def stop(self) -> None:
        """Stops background work; called on shutdown."""

    async def webhook(self, request: Request) -> Response:
        """Handles ``/webhooks/<name>`` (any method)."""
