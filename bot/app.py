"""The app process: web chat, NLG endpoint and (later) channel webhooks, one Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import nlg
from bot.channels import ChannelAdapter, telegram, whatsapp
from bot.content import LANGUAGES, ContentStore, direction
from bot.gateway import Gateway, IncomingMessage, OutgoingMessage
from bot.rasa_client import RasaClient
from bot.settings import ROOT, Settings
from bot.state import GatewayState, MemoryState
from nlu_components.language import warm_up

logger = logging.getLogger(__name__)
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
WEBCHAT_MAX_BODY = 64 * 1024
DRAIN_INTERVAL_SECONDS = 2.0
# Channel adapter modules; each has from_settings(settings, gateway) -> adapter | None.
CHANNEL_MODULES: list[Any] = [telegram, whatsapp]


@dataclass
class Services:
    settings: Settings
    content: ContentStore
    state: GatewayState
    rasa: RasaClient
    gateway: Gateway
    channels: dict[str, ChannelAdapter] = field(default_factory=dict)


class BodyLimit:
    """Rejects request bodies over the limit before reading them whole (413).

    ``limits`` maps a path prefix to its own limit (the NLG endpoint receives whole trackers).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default = max_bytes
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next((v for k, v in self.limits.items() if path.startswith(k)), self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await JSONResponse({"error": "request body too large"}, status_code=413)(
                scope, receive, send
            )
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await JSONResponse({"error": "request body too large"}, status_code=413)(
                scope, receive, send
            )


class _TooLarge(Exception):
    pass


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def nlg_endpoint(request: Request) -> Response:
    services = _services(request)
    body = await _json_body(request)
    if body is None:
        return JSONResponse({"error": "expected a JSON object"}, status_code=400)
    rendered = nlg.generate(body, services.content, services.settings.default_language)
    sender = (body.get("tracker") or {}).get("sender_id")
    if isinstance(sender, str) and sender:
        await services.state.set_language(sender, rendered.language)
    return JSONResponse(rendered.as_nlg())


async def channel_webhook(request: Request) -> Response:
    adapter = _services(request).channels.get(request.path_params["channel"])
    if adapter is None:
        return JSONResponse({"error": "this channel is not configured"}, status_code=404)
    return await adapter.webhook(request)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def webchat_page(request: Request) -> Response:
    services = _services(request)
    strings = {
        lang: {
            key[len("msg_webchat_") :]: services.content.render(key, lang).text
            for key in services.content.responses
            if key.startswith("msg_webchat_")
        }
        for lang in LANGUAGES
    }
    html = (ROOT / "bot" / "templates" / "webchat.html").read_text(encoding="utf-8")
    html = html.replace(
        "__STRINGS__", json.dumps(strings, ensure_ascii=False).replace("</", "<\\/")
    )
    return HTMLResponse(html)


def _webchat_reply(messages: list[OutgoingMessage]) -> list[dict[str, Any]]:
    return [m.to_dict() for m in messages]


async def webchat_message(request: Request) -> Response:
    services = _services(request)
    body = await _json_body(request)
    if body is None:
        return JSONResponse({"error": "expected a JSON object"}, status_code=400)
    conversation = body.get("conversation_id")
    message_id = body.get("message_id") or uuid.uuid4().hex
    text = body.get("text")
    language = body.get("language")
    if not isinstance(conversation, str) or not _ID.match(conversation):
        return JSONResponse(
            {"error": "conversation_id must be 8-64 letters, digits, - or _"}, status_code=400
        )
    if not isinstance(message_id, str) or not _ID.match(message_id):
        return JSONResponse(
            {"error": "message_id must be 8-64 letters, digits, - or _"}, status_code=400
        )
    if not isinstance(text, str):
        return JSONResponse({"error": "text must be a string"}, status_code=400)
    message = IncomingMessage(
        channel="web",
        user_id=conversation,
        message_id=message_id,
        text=text,
        language_hint=language if language in LANGUAGES else None,
    )
    replies = await services.gateway.handle(message)
    current = await services.state.get_language(message.conversation_id)
    return JSONResponse(
        {"messages": _webchat_reply(replies), "language": current, "direction": direction(current)}
    )


async def webchat_outbox(request: Request) -> Response:
    services = _services(request)
    conversation = request.query_params.get("conversation_id", "")
    if not _ID.match(conversation):
        return JSONResponse(
            {"error": "conversation_id must be 8-64 letters, digits, - or _"}, status_code=400
        )
    return JSONResponse({"messages": await services.state.pop_outbox(f"web:{conversation}")})


async def _drain_forever(gateway: Gateway) -> None:
    while True:
        try:
            await gateway.drain_pending()
        except Exception:  # keep draining after a surprise; the entry stays queued
            logger.exception("draining pending messages failed")
        await asyncio.sleep(DRAIN_INTERVAL_SECONDS)


async def build_services(settings: Settings, state: GatewayState | None = None) -> Services:
    content = ContentStore.load(settings.content_dir)
    if state is None:
        if settings.redis_url:
            from bot.redis_state import RedisState

            state = await RedisState.connect(settings.redis_url)
        else:
            state = MemoryState()
    rasa = RasaClient(settings.rasa_url, settings.rasa_timeout_seconds, settings.action_server_url)
    gateway = Gateway(settings, state, rasa, content)

    async def deliver_web(message: IncomingMessage, replies: list[OutgoingMessage]) -> None:
        await gateway.state.push_outbox(message.conversation_id, _webchat_reply(replies))

    gateway.register_channel("web", deliver_web)
    gateway.erasers.append(await _ticket_eraser(settings.database_url))
    if settings.rasa_tracker_url:
        gateway.erasers.append(_tracker_eraser(settings.rasa_tracker_url))
    if settings.redis_url:
        gateway.erasers.append(_redis_tracker_eraser(state))
    services = Services(settings, content, state, rasa, gateway)
    for module in CHANNEL_MODULES:
        adapter = module.from_settings(settings, gateway)
        if adapter is None:
            logger.info("channel %s is off (not configured)", module.__name__.rsplit(".", 1)[-1])
        else:
            services.channels[adapter.name] = adapter
    return services


async def _ticket_eraser(database_url: str) -> Callable[[str], Awaitable[None]]:
    """Erasing a person also removes the personal fields of their referral tickets."""
    from sqlalchemy.orm import Session

    from service_catalogue.db import make_engine, upgrade
    from service_catalogue.tickets import erase_personal_data

    engine = make_engine(database_url)
    await asyncio.to_thread(upgrade, engine)

    def erase(conversation_id: str) -> None:
        with Session(engine) as session:
            erase_personal_data(session, conversation_id)
            session.commit()

    async def eraser(conversation_id: str) -> None:
        await asyncio.to_thread(erase, conversation_id)

    return eraser


def _tracker_eraser(tracker_url: str) -> Callable[[str], Awaitable[None]]:
    """Deletes the person's events from Rasa's SQL tracker store (table ``events``).

    Rasa's SQLTrackerStore appends on every save and never deletes, so replacing the
    tracker through Rasa's API leaves the old events in place; this removes them.
    """
    from sqlalchemy import inspect, text

    from service_catalogue.db import make_engine

    engine = make_engine(tracker_url)

    def erase(conversation_id: str) -> None:
        if not inspect(engine).has_table("events"):
            return
        with engine.begin() as connection:
            connection.execute(
                text("DELETE FROM events WHERE sender_id = :sender"), {"sender": conversation_id}
            )

    async def eraser(conversation_id: str) -> None:
        await asyncio.to_thread(erase, conversation_id)

    return eraser


RASA_REDIS_TRACKER_PREFIX = "rehber:tracker:"  # endpoints.redis.yml: key_prefix rehber


def _redis_tracker_eraser(state: GatewayState) -> Callable[[str], Awaitable[None]]:
    """Deletes the person's tracker from Redis: Rasa 3.6's Redis store merges what it is
    given with what it has, so replacing the tracker through Rasa's API erases nothing."""
    from bot.redis_state import RedisState

    async def eraser(conversation_id: str) -> None:
        if isinstance(state, RedisState):
            await state.redis.delete(f"{RASA_REDIS_TRACKER_PREFIX}{conversation_id}")

    return eraser


def create_app(settings: Settings | None = None, state: GatewayState | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(settings, state)
        await asyncio.to_thread(warm_up)
        app.state.services = services
        for adapter in services.channels.values():
            await adapter.start()
        drainer = asyncio.create_task(_drain_forever(services.gateway))
        try:
            yield
        finally:
            for adapter in services.channels.values():
                await adapter.stop()
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
            await services.rasa.close()
            await services.state.close()

    routes = [
        Route("/", webchat_page),
        Route("/healthz", health),
        Route("/nlg", nlg_endpoint, methods=["POST"]),
        Route("/api/webchat/messages", webchat_message, methods=["POST"]),
        Route("/api/webchat/outbox", webchat_outbox),
        Route("/webhooks/{channel}", channel_webhook, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=ROOT / "bot" / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        limits={"/nlg": settings.max_nlg_body_bytes, "/api/webchat": WEBCHAT_MAX_BODY},
    )
    return app
