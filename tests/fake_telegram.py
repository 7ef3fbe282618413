"""A fake Telegram Bot API server on 127.0.0.1, for tests and benchmarks.

A real HTTP server (Starlette + uvicorn in a thread) speaking the Bot API wire format at
``/bot<token>/<method>``: parameters as query string, form, multipart or JSON; answers
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ..., "description": ...}``
like Telegram. It serves queued updates through ``getUpdates`` (offset confirms, long poll
honoured up to ``max_poll_wait`` seconds), records every call, enforces the limits Telegram
enforces (4096 UTF-16 units of text, 1-64 bytes of callback_data, non-empty text), and can be
told to answer 429 with ``retry_after``, 403 "blocked", or a 502 for one chat.

Update builders (``text``, ``command``, ``media``, ``location``, ``click``…) produce the JSON
shapes of https://core.telegram.org/bots/api#update.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT_ID = 123456789
BOT_USERNAME = "rehber_test_bot"
MAX_TEXT_UNITS = 4096
MAX_CALLBACK_BYTES = 64
_JSON_PARAMS = {"reply_markup", "allowed_updates", "commands", "scope", "link_preview_options"}
_INT_PARAMS = {"chat_id", "offset", "limit", "timeout", "message_id", "max_connections"}
UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "my_chat_member",
    "chat_member",
)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    status: int
    method: str
    retry_after: int | None
    times: int


def user(
    user_id: int, language_code: str | None = "en", first_name: str = "Test"
) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code is not None:
        data["language_code"] = language_code
    return data


def private_chat(chat_id: int, first_name: str = "Test") -> dict[str, Any]:
    return {"id": chat_id, "first_name": first_name, "type": "private"}


class FakeTelegram:
    """The Bot API for one bot token. ``start()``/``stop()`` or use as a context manager."""

    def __init__(
        self,
        token: str = TOKEN,
        port: int = 0,
        max_poll_wait: float = 1.0,
        first_update_id: int = 1000,
    ) -> None:
        self.token = token
        self.max_poll_wait = max_poll_wait
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self.port = int(self._socket.getsockname()[1])
        self._lock = threading.Lock()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(first_update_id)
        self._message_ids: dict[int, Iterator[int]] = {}
        self._callback_ids = itertools.count(5000)
        self.available_at: dict[int, float] = {}  # update_id -> when getUpdates could serve it
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, message_id) -> message
        self.allowed_updates: list[str] = []
        self.webhook: dict[str, Any] = {}
        self.commands: dict[str | None, list[dict[str, str]]] = {}
        self._failures: dict[int, list[_Failure]] = {}
        self._blocked: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False
        # Called (in the server's thread) with every finished call; benchmarks use it.
        self.on_call: Callable[[Call], None] | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTelegram:
        app = Starlette(
            routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])]
        )
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", ws="none", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="fake-telegram", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake Telegram server did not start")
            time.sleep(0.01)
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        assert self._server is not None
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._socket]))
        finally:
            loop.close()

    def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._socket.close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    # --- updates ----------------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Makes an update available to getUpdates (an update_id is assigned if missing)."""
        with self._lock:
            if "update_id" not in update:
                update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
            self.available_at[update["update_id"]] = time.monotonic()
        self._notify()
        return int(update["update_id"])

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)

    def new_update_id(self) -> int:
        return next(self._update_ids)

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _incoming_message(self, chat_id: int, language_code: str | None) -> dict[str, Any]:
        with self._lock:
            message_id = self._next_message_id(chat_id)
        return {
            "message_id": message_id,
            "from": user(chat_id, language_code),
            "chat": private_chat(chat_id),
            "date": int(time.time()),
        }

    def text(self, chat_id: int, text: str, language_code: str | None = "en") -> dict[str, Any]:
        return {"message": {**self._incoming_message(chat_id, language_code), "text": text}}

    def command(self, chat_id: int, text: str, language_code: str | None = "en") -> dict[str, Any]:
        update = self.text(chat_id, text, language_code)
        length = len(text.split()[0])
        update["message"]["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
        return update

    def media(
        self, chat_id: int, kind: str, language_code: str | None = "en", caption: str = ""
    ) -> dict[str, Any]:
        file = {"file_id": f"AgAD{kind}{chat_id}", "file_unique_id": f"AQAD{kind}"}
        bodies: dict[str, Any] = {
            "voice": {**file, "duration": 3, "mime_type": "audio/ogg", "file_size": 5120},
            "audio": {**file, "duration": 95, "mime_type": "audio/mpeg", "title": "kayit"},
            "photo": [
                {**file, "width": 90, "height": 67, "file_size": 1254},
                {**file, "file_id": "AgADbig", "width": 1280, "height": 960, "file_size": 90210},
            ],
            "video": {**file, "width": 640, "height": 360, "duration": 12},
            "document": {**file, "file_name": "kimlik.pdf", "mime_type": "application/pdf"},
            "sticker": {
                **file,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "👍",
            },
            "contact": {"phone_number": "+905320000000", "first_name": "Ali", "user_id": 777},
            "poll": {
                "id": "5012",
                "question": "?",
                "options": [
                    {"persistent_id": "0", "text": "evet", "voter_count": 0},
                    {"persistent_id": "1", "text": "hayır", "voter_count": 0},
                ],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            },
        }
        message = {**self._incoming_message(chat_id, language_code), kind: bodies[kind]}
        if caption:
            message["caption"] = caption
        return {"message": message}

    def location(
        self, chat_id: int, latitude: float, longitude: float, language_code: str | None = "en"
    ) -> dict[str, Any]:
        message = self._incoming_message(chat_id, language_code)
        return {"message": {**message, "location": {"latitude": latitude, "longitude": longitude}}}

    def edited(self, update: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """The same message, edited (a new update carrying ``edited_message``)."""
        message = {k: v for k, v in update["message"].items() if k not in ("text", "location")}
        return {"edited_message": {**message, **changes, "edit_date": int(time.time())}}

    def click(
        self, chat_id: int, message: dict[str, Any], title: str, language_code: str | None = "en"
    ) -> dict[str, Any]:
        """The person presses the inline button titled ``title`` under a message we sent."""
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        data = next((b["callback_data"] for row in rows for b in row if b["text"] == title), None)
        if data is None:
            raise AssertionError(f"no button {title!r} under message {message['message_id']}")
        return self.click_data(chat_id, message, data, language_code)

    def click_data(
        self, chat_id: int, message: dict[str, Any], data: str, language_code: str | None = "en"
    ) -> dict[str, Any]:
        """A callback query with any data (what a modified client could send)."""
        return {
            "callback_query": {
                "id": str(next(self._callback_ids)),
                "from": user(chat_id, language_code),
                "message": message,
                "chat_instance": f"-88{chat_id}",
                "data": data,
            }
        }

    # --- failure injection ------------------------------------------------------------------

    def fail_next(
        self,
        chat_id: int,
        status: int,
        *,
        retry_after: int | None = None,
        times: int = 1,
        method: str = "sendMessage",
    ) -> None:
        """The next ``times`` calls of ``method`` for this chat get HTTP ``status``."""
        with self._lock:
            self._failures.setdefault(chat_id, []).append(
                _Failure(status, method, retry_after, times)
            )

    def block(self, chat_id: int) -> None:
        """The person blocked the bot: every send to the chat gets 403."""
        with self._lock:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        with self._lock:
            self._blocked.discard(chat_id)

    # --- inspection -------------------------------------------------------------------------

    def calls_of(self, method: str, chat_id: int | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self.calls
                if c.method == method and (chat_id is None or c.params.get("chat_id") == chat_id)
            ]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages that Telegram accepted (sendMessage with status 200), in order."""
        return [c.params for c in self.calls_of("sendMessage", chat_id) if c.status == 200]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        return [p["text"] for p in self.sent(chat_id)]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        with self._lock:
            return dict(self.messages[(chat_id, message_id)])

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in this chat as they are now (after edits), oldest first."""
        with self._lock:
            return [dict(m) for (chat, _), m in self.messages.items() if chat == chat_id]

    def last_message(self, chat_id: int) -> dict[str, Any]:
        return self.bot_messages(chat_id)[-1]

    async def wait_for(
        self, method: str, count: int, chat_id: int | None = None, timeout: float = 15.0
    ) -> list[Call]:
        """Waits until ``count`` successful calls of ``method`` arrived (then a short settle
        time, so that extra calls would be seen too)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [c for c in self.calls_of(method, chat_id) if c.status == 200]
            if len(done) >= count:
                await asyncio.sleep(0.2)
                return [c for c in self.calls_of(method, chat_id) if c.status == 200]
            await asyncio.sleep(0.01)
        done = [c for c in self.calls_of(method, chat_id) if c.status == 200]
        raise AssertionError(f"expected {count} {method} calls, got {len(done)}: {done}")

    def wait_for_sync(
        self, method: str, count: int, chat_id: int | None = None, timeout: float = 60.0
    ) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [c for c in self.calls_of(method, chat_id) if c.status == 200]
            if len(done) >= count:
                time.sleep(0.3)
                return [c for c in self.calls_of(method, chat_id) if c.status == 200]
            time.sleep(0.02)
        done = [c for c in self.calls_of(method, chat_id) if c.status == 200]
        raise AssertionError(f"expected {count} {method} calls, got {len(done)}: {done}")

    # --- the HTTP endpoint ------------------------------------------------------------------

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = await request.body()
            if body:
                params.update(json.loads(body))
        elif content_type.startswith("multipart/form-data"):
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            form_text = (await request.body()).decode("utf-8")
            params.update(parse_qsl(form_text, keep_blank_values=True))
        for key in _JSON_PARAMS & params.keys():
            if isinstance(params[key], str):
                params[key] = json.loads(params[key])
        for key in _INT_PARAMS & params.keys():
            if isinstance(params[key], str) and params[key].lstrip("-").isdigit():
                params[key] = int(params[key])
        return params

    async def _endpoint(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        try:
            params = await self._params(request)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Bad Request: can't parse request parameters")
        call = Call(method, params)
        with self._lock:
            self.calls.append(call)
            response = self._injected(method, params)
        if response is None:
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                response = _error(404, "Not Found")
            else:
                response = await handler(params)
        call.status = response.status_code
        if self.on_call is not None:
            self.on_call(call)
        return response

    def _injected(self, method: str, params: dict[str, Any]) -> JSONResponse | None:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            return None
        if chat_id in self._blocked and method.startswith("send"):
            return _error(403, "Forbidden: bot was blocked by the user")
        for failure in self._failures.get(chat_id, []):
            if failure.method == method and failure.times > 0:
                failure.times -= 1
                if failure.status == 429:
                    after = failure.retry_after or 1
                    return _error(
                        429, f"Too Many Requests: retry after {after}", {"retry_after": after}
                    )
                if failure.status == 403:
                    return _error(403, "Forbidden: bot was blocked by the user")
                return _error(failure.status, "Bad Gateway")
        return None

    async def _api_getMe(self, params: dict[str, Any]) -> JSONResponse:
        return _ok(
            {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Rehber",
                "username": BOT_USERNAME,
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _api_getUpdates(self, params: dict[str, Any]) -> JSONResponse:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"] or [])
        deadline = time.monotonic() + min(timeout, self.max_poll_wait)
        while True:
            assert self._wake is not None
            self._wake.clear()
            with self._lock:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self.allowed_updates:  # Telegram never delivers the others
                    self._updates = [u for u in self._updates if _kind(u) in self.allowed_updates]
                batch = self._updates[:limit]
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing:
                return _ok(batch)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> JSONResponse:
        self.webhook = {}
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            with self._lock:
                self._updates.clear()
        return _ok(True)

    async def _api_setWebhook(self, params: dict[str, Any]) -> JSONResponse:
        self.webhook = dict(params)
        return _ok(True)

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> JSONResponse:
        return _ok(
            {
                "url": self.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": self.pending_updates(),
            }
        )

    async def _api_setMyCommands(self, params: dict[str, Any]) -> JSONResponse:
        commands = params.get("commands") or []
        for command in commands:
            if not 1 <= len(command.get("description", "")) <= 256:
                return _error(400, "Bad Request: command description is invalid")
        self.commands[params.get("language_code") or None] = commands
        return _ok(True)

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> JSONResponse:
        if not params.get("callback_query_id"):
            return _error(400, "Bad Request: query is too old and response timeout expired")
        return _ok(True)

    def _check_text(self, params: dict[str, Any]) -> JSONResponse | None:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if utf16_units(text) > MAX_TEXT_UNITS:
            return _error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard") or []:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES:
                    return _error(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    return _error(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
        return None

    def _bot_message(self, chat_id: int, message_id: int, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Rehber",
                "username": BOT_USERNAME,
            },
            "chat": private_chat(chat_id),
            "date": int(time.time()),
            "text": params["text"],
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _api_sendMessage(self, params: dict[str, Any]) -> JSONResponse:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            return _error(400, "Bad Request: chat not found")
        problem = self._check_text(params)
        if problem is not None:
            return problem
        with self._lock:
            message = self._bot_message(chat_id, self._next_message_id(chat_id), params)
            self.messages[(chat_id, message["message_id"])] = message
        return _ok(message)

    async def _api_editMessageText(self, params: dict[str, Any]) -> JSONResponse:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        problem = self._check_text(params)
        if problem is not None:
            return problem
        with self._lock:
            old = self.messages.get((chat_id, message_id))  # type: ignore[arg-type]
            if old is None:
                return _error(400, "Bad Request: message to edit not found")
            if old["text"] == params["text"] and old.get("reply_markup") == params.get(
                "reply_markup"
            ):
                return _error(400, "Bad Request: message is not modified")
            message = {
                **self._bot_message(chat_id, message_id, params),  # type: ignore[arg-type]
                "edit_date": int(time.time()),
            }
            self.messages[(chat_id, message_id)] = message  # type: ignore[index]
        return _ok(message)


def _kind(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)
