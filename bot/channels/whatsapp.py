"""WhatsApp (Cloud API): Meta's signed webhooks in, Graph API messages out.

In: ``GET /webhooks/whatsapp`` answers Meta's verification handshake; ``POST`` checks the
``X-Hub-Signature-256`` HMAC of the raw body, turns every ``entry[].changes[].value.messages[]``
into an ``IncomingMessage`` and answers 200 at once. The messages are handled in the
background, one conversation at a time and in arrival order, so a slow Rasa never makes Meta
resend a webhook.

Out: ``POST {graph}/{phone_id}/messages``. Text longer than WhatsApp's 4096 characters is cut
at paragraph or line ends; up to 3 Rasa buttons become reply buttons, 4-10 a list, more than
10 several lists of at most 10 rows. Nothing is sent outside the 24-hour customer-service
window (it is logged and kept in ``undelivered``). 429 and 5xx answers are retried with
backoff; other Graph errors are logged and the conversation goes on.

Logs never carry message text or phone numbers: people are named by a keyed hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.gateway import Attachment, Gateway, IncomingMessage, OutgoingMessage
from bot.settings import Settings

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
# Limits of the Cloud API (characters).
MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_REPLY_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_ID = 200  # reply button ids may be 256; payloads over 200 fit neither, left out
MAX_ROW_DESCRIPTION = 72
MAX_LIST_LABEL = 20
CUSTOMER_SERVICE_WINDOW_SECONDS = 24 * 3600
# Graph error codes worth another try: throughput / rate limits and temporary failures.
RETRYABLE_GRAPH_CODES = frozenset({1, 2, 4, 80007, 130429, 131056})
# Message types that need no answer: a reaction to our message, or a notice from WhatsApp.
SILENT_TYPES = frozenset({"reaction", "system", "request_welcome"})
MEDIA_KINDS = {
    "image": "photo",
    "audio": "audio",
    "voice": "voice",
    "video": "video",
    "document": "document",
    "sticker": "sticker",
    "contacts": "contact",
}
# A first hint for people whose first message carries no text (a voice note, a photo):
# numbers from these countries get answered in the country's language until they write.
LANGUAGE_BY_COUNTRY_CODE = {"963": "ar", "964": "ar", "98": "fa", "93": "fa"}
# wa_id (digits) or a business-scoped user id ("TR.1234...").
_USER_ID = re.compile(r"^[A-Za-z0-9._-]{1,160}$")
_PHONE = re.compile(r"^[0-9]{5,20}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Undelivered:
    """Replies that were not sent; the tickets work will note these on the ticket."""

    conversation_id: str
    reason: str  # "outside_24h_window" | "graph_error"
    messages: int
    at: float


class GraphError(Exception):
    def __init__(self, status: int, code: int | None, detail: str) -> None:
        super().__init__(f"HTTP {status}, code {code}: {detail}")
        self.status = status
        self.code = code


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cuts a long text into parts of at most ``limit`` characters, at a paragraph end in
    the second half of the part if there is one, else at a line end, else at a space;
    never drops characters other than the whitespace at the cuts."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cuts = [window.rfind(sep) for sep in ("\n\u00a0\n", "\n\n", "\n", " ")]
        cut = next((c for c in cuts if c > limit // 2), max(cuts))
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return [part for part in parts if part]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _chunks(items: list[dict[str, str]], size: int) -> list[list[dict[str, str]]]:
    """Splits into as few chunks of at most ``size`` as possible, evenly (13 → 7 + 6)."""
    count = math.ceil(len(items) / size)
    base, extra = divmod(len(items), count)
    chunks: list[list[dict[str, str]]] = []
    start = 0
    for index in range(count):
        end = start + base + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


def _timestamp(value: Any) -> float:
    try:
        stamp = float(value)
    except (TypeError, ValueError):
        return time.time()
    return stamp if math.isfinite(stamp) and stamp > 0 else time.time()


def _coordinate(value: Any, bound: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and -bound <= number <= bound else None


def _language_hint(user_id: str) -> str | None:
    if not _PHONE.match(user_id):
        return None
    for prefix, language in LANGUAGE_BY_COUNTRY_CODE.items():
        if user_id.startswith(prefix):
            return language
    return None


def parse_message(raw: Any) -> IncomingMessage | None:
    """One ``messages[]`` item → ``IncomingMessage``; ``None`` for what needs no answer
    (reactions, system notices) or cannot be answered (no sender, no id)."""
    if not isinstance(raw, dict):
        return None
    sender = raw.get("from") or raw.get("from_user_id")
    message_id = raw.get("id")
    kind = raw.get("type")
    if not isinstance(sender, str) or not _USER_ID.match(sender):
        logger.warning("whatsapp message without a usable sender ignored (type %s)", kind)
        return None
    if not isinstance(message_id, str) or not message_id or len(message_id) > 256:
        logger.warning("whatsapp message without a usable id ignored (type %s)", kind)
        return None
    if kind in SILENT_TYPES:
        logger.info("whatsapp %s needs no answer", kind)
        return None
    text, attachment = _content(raw, kind)
    return IncomingMessage(
        channel=CHANNEL,
        user_id=sender,
        message_id=message_id,
        text=text,
        attachment=attachment,
        language_hint=_language_hint(sender),
        received_at=_timestamp(raw.get("timestamp")),
    )


def _field(raw: dict[str, Any], *path: str) -> Any:
    value: Any = raw
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _content(raw: dict[str, Any], kind: Any) -> tuple[str, Attachment | None]:
    other = Attachment("other")
    if kind == "text":
        body = _field(raw, "text", "body")
        return (body, None) if isinstance(body, str) else ("", other)
    if kind == "interactive":
        reply_type = _field(raw, "interactive", "type")
        if reply_type in ("button_reply", "list_reply"):
            reply_id = _field(raw, "interactive", reply_type, "id")
            if isinstance(reply_id, str) and reply_id:
                return reply_id, None
        return "", other
    if kind == "button":  # a quick-reply button of a template message
        payload = _field(raw, "button", "payload") or _field(raw, "button", "text")
        return (payload, None) if isinstance(payload, str) and payload else ("", other)
    if kind == "location":
        latitude = _coordinate(_field(raw, "location", "latitude"), 90.0)
        longitude = _coordinate(_field(raw, "location", "longitude"), 180.0)
        if latitude is None or longitude is None:
            return "", other
        return "", Attachment("location", latitude, longitude)
    if isinstance(kind, str) and kind in MEDIA_KINDS:
        media_kind = MEDIA_KINDS[kind]
        if kind == "audio" and _field(raw, "audio", "voice") is True:
            media_kind = "voice"
        caption = _field(raw, kind, "caption")
        return (caption if isinstance(caption, str) else ""), Attachment(media_kind)
    return "", other


def parse_webhook(payload: Any, phone_id: str) -> list[IncomingMessage]:
    """Every message in a webhook for our phone number, in order; statuses and other
    fields are logged (failures only) and otherwise ignored."""
    messages: list[IncomingMessage] = []
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            number = _field(value, "metadata", "phone_number_id")
            if number is not None and str(number) != phone_id:
                logger.info("whatsapp webhook for another phone number ignored")
                continue
            _log_statuses(value.get("statuses"))
            if isinstance(value.get("errors"), list):
                codes = [e.get("code") for e in value["errors"] if isinstance(e, dict)]
                logger.warning("whatsapp reported errors %s", codes)
            raw_messages = value.get("messages")
            for raw in raw_messages if isinstance(raw_messages, list) else []:
                message = parse_message(raw)
                if message is not None:
                    messages.append(message)
    return messages


def _log_statuses(statuses: Any) -> None:
    for status in statuses if isinstance(statuses, list) else []:
        if isinstance(status, dict) and status.get("status") == "failed":
            errors = status.get("errors")
            codes = [e.get("code") for e in errors if isinstance(e, dict)] if errors else []
            logger.warning("whatsapp could not deliver a message (codes %s)", codes)


class WhatsAppAdapter:
    name = CHANNEL

    def __init__(
        self,
        gateway: Gateway,
        *,
        token: str,
        phone_id: str,
        app_secret: str,
        verify_token: str,
        graph_url: str,
        timeout_seconds: float = 10.0,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        max_backlog: int = 5000,
    ) -> None:
        self.gateway = gateway
        self.token = token
        self.phone_id = phone_id
        self.app_secret = app_secret.encode("utf-8")
        self.verify_token = verify_token.encode("utf-8")
        self.graph_url = graph_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.max_backlog = max_backlog
        self.client: httpx.AsyncClient | None = None
        self.undelivered: deque[Undelivered] = deque(maxlen=1000)
        self.backlog = 0
        self._queues: dict[str, deque[IncomingMessage]] = {}
        self._workers: set[asyncio.Task[None]] = set()

    # --- life cycle -------------------------------------------------------------------
    async def start(self) -> None:
        self.client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=self.timeout_seconds,
        )
        self.gateway.register_channel(CHANNEL, self.deliver)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Lets the messages in hand finish (a few seconds at most), then closes."""
        if self._workers:
            _, unfinished = await asyncio.wait(set(self._workers), timeout=grace_seconds)
            for task in unfinished:
                task.cancel()
            for task in unfinished:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if unfinished:
                logger.warning("whatsapp stopped with %d conversations unanswered", len(unfinished))
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def idle(self) -> None:
        """Waits until every received message has been handled (tests, shutdown)."""
        while self._workers:
            await asyncio.wait(set(self._workers))

    # --- webhook ----------------------------------------------------------------------
    async def webhook(self, request: Request) -> Response:
        if request.method == "GET":
            return self._verify(request)
        body = await request.body()
        signature = request.headers.get("x-hub-signature-256")
        client = request.client.host if request.client else "?"
        if signature is None:
            logger.warning("whatsapp webhook without X-Hub-Signature-256 from %s rejected", client)
            return JSONResponse({"error": "missing signature"}, status_code=401)
        if not self._signed(body, signature):
            logger.warning("whatsapp webhook with a wrong signature from %s rejected", client)
            return JSONResponse({"error": "invalid signature"}, status_code=403)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            logger.warning("whatsapp webhook with a body that is not JSON rejected")
            return JSONResponse({"error": "expected JSON"}, status_code=400)
        if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
            logger.info("whatsapp webhook that is not a business account payload ignored")
            return PlainTextResponse("ignored")
        messages = parse_webhook(payload, self.phone_id)
        if self.backlog + len(messages) > self.max_backlog:
            # Meta delivers the webhook again later; ids already seen are answered once.
            logger.warning("whatsapp backlog full (%d); asking Meta to retry", self.backlog)
            return JSONResponse({"error": "busy, retry later"}, status_code=503)
        for message in messages:
            self._enqueue(message)
        return PlainTextResponse("ok")

    def _verify(self, request: Request) -> Response:
        params = request.query_params
        token = params.get("hub.verify_token", "").encode("utf-8")
        challenge = params.get("hub.challenge", "")
        if (
            params.get("hub.mode") == "subscribe"
            and hmac.compare_digest(token, self.verify_token)
            and 0 < len(challenge) <= 512
        ):
            logger.info("whatsapp webhook verified")
            return PlainTextResponse(challenge)
        logger.warning("whatsapp webhook verification refused")
        return PlainTextResponse("verification failed", status_code=403)

    def _signed(self, body: bytes, header: str) -> bool:
        provided = header.strip()
        if not provided.startswith("sha256="):
            return False
        provided = provided[len("sha256=") :].lower()
        if not _HEX.match(provided):
            return False
        expected = hmac.new(self.app_secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode("ascii"), provided.encode("ascii"))

    # --- background handling: one worker per conversation, messages in order ------------
    def _enqueue(self, message: IncomingMessage) -> None:
        conversation = message.conversation_id
        queue = self._queues.get(conversation)
        self.backlog += 1
        if queue is not None:
            queue.append(message)
            return
        queue = self._queues[conversation] = deque([message])
        task = asyncio.create_task(self._work(conversation, queue))
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _work(self, conversation: str, queue: deque[IncomingMessage]) -> None:
        try:
            while queue:
                message = queue.popleft()
                try:
                    replies = await self.gateway.handle(message)
                    if replies:
                        await self.deliver(message, replies)
                except Exception:
                    logger.exception(
                        "whatsapp message %s from %s failed",
                        message.message_id,
                        self.person(message.user_id),
                    )
                finally:
                    self.backlog -= 1
        finally:
            self.backlog -= len(queue)
            self._queues.pop(conversation, None)

    # --- sending ------------------------------------------------------------------------
    async def deliver(self, message: IncomingMessage, replies: list[OutgoingMessage]) -> None:
        """Sends the replies to the person, inside the 24-hour window only."""
        conversation = message.conversation_id
        bodies = [body for reply in replies for body in self.render(reply)]
        if not bodies:
            return
        last = await self.gateway.state.get_last_inbound(conversation)
        if last is None or time.time() - float(last) > CUSTOMER_SERVICE_WINDOW_SECONDS:
            logger.warning(
                "whatsapp: %d replies to %s not sent, outside the 24-hour window",
                len(bodies),
                self.person(message.user_id),
            )
            self._record(conversation, "outside_24h_window", len(bodies))
            return
        for index, body in enumerate(bodies):
            try:
                await self._send(message.user_id, body)
            except GraphError as error:
                logger.error(
                    "whatsapp: reply to %s not sent (%s); %d more skipped",
                    self.person(message.user_id),
                    error,
                    len(bodies) - index - 1,
                )
                self._record(conversation, "graph_error", len(bodies) - index)
                return

    def person(self, user_id: str) -> str:
        """A short, stable name for a person in logs: keyed with the app secret, so the
        phone number cannot be recovered from it by trying every number."""
        return hmac.new(self.app_secret, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:10]

    def _record(self, conversation: str, reason: str, count: int) -> None:
        self.undelivered.append(Undelivered(conversation, reason, count, time.time()))

    def render(self, reply: OutgoingMessage) -> list[dict[str, Any]]:
        """One gateway reply → the Graph message bodies that carry it, in order."""
        buttons = self._usable_buttons(reply.buttons)
        if not buttons:
            return [_text(part) for part in split_text(reply.text)]
        bodies: list[dict[str, Any]] = []
        text = reply.text.strip()
        if len(text) > MAX_INTERACTIVE_BODY or not text:
            bodies += [_text(part) for part in split_text(text)]
            text = self.gateway.say("msg_whatsapp_choose", reply.language).text
        titles = {b["title"] for b in buttons}
        if (
            len(buttons) <= MAX_REPLY_BUTTONS
            and len(titles) == len(buttons)  # WhatsApp refuses two buttons with one title
            and all(len(title) <= MAX_BUTTON_TITLE for title in titles)
        ):
            return [*bodies, _reply_buttons(text, buttons)]
        # A list also when a title is too long for a button: a row shows it whole.
        label = _shorten(
            self.gateway.say("msg_whatsapp_list_button", reply.language).text, MAX_LIST_LABEL
        )
        for index, chunk in enumerate(_chunks(buttons, MAX_LIST_ROWS)):
            if index:
                text = self.gateway.say("msg_whatsapp_more_choices", reply.language).text
            bodies.append(_list(text, label, chunk))
        return bodies

    @staticmethod
    def _usable_buttons(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
        usable: list[dict[str, str]] = []
        seen: set[str] = set()
        for button in buttons:
            payload = button.get("payload", "")
            title = " ".join(button.get("title", "").split())
            if not payload or not title or len(payload) > MAX_ROW_ID or payload in seen:
                logger.warning("whatsapp: a button WhatsApp cannot carry was left out")
                continue
            seen.add(payload)
            usable.append({"payload": payload, "title": title})
        return usable

    async def _send(self, to: str, body: dict[str, Any]) -> str:
        """Posts one message; retries rate limits and server errors; returns its id."""
        if self.client is None:
            raise GraphError(0, None, "the WhatsApp channel is not started")
        recipient = {"to": to} if _PHONE.match(to) else {"recipient": to}
        envelope = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **recipient,
            **body,
        }
        path = f"{self.graph_url}/{self.phone_id}/messages"
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            try:
                response = await self.client.post(path, json=envelope)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                failure = GraphError(0, None, f"not reachable: {error!r}")
            except httpx.HTTPError as error:
                # The request may have reached Meta (read timeout): sending it again could
                # make the person read it twice, so this one is not retried.
                raise GraphError(0, None, f"no answer: {error!r}") from error
            else:
                if response.status_code < 300:
                    return _message_id(response)
                failure = _graph_error(response)
                if not _retryable(failure):
                    raise failure
                retry_after = _retry_after(response)
            if attempt == self.attempts:
                raise failure
            delay = self.backoff_seconds * 2 ** (attempt - 1)
            logger.warning("whatsapp send failed (%s); retrying", failure)
            await asyncio.sleep(min(30.0, max(delay, retry_after or 0.0)))
        raise GraphError(0, None, "no attempt made")  # attempts < 1


def _text(part: str) -> dict[str, Any]:
    return {"type": "text", "text": {"preview_url": False, "body": part}}


def _reply_buttons(text: str, buttons: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": text},
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {
                            "id": b["payload"],
                            "title": b["title"],
                        },
                    }
                    for b in buttons
                ]
            },
        },
    }


def _list(text: str, label: str, buttons: list[dict[str, str]]) -> dict[str, Any]:
    rows = []
    for button in buttons:
        title = button["title"]
        row = {"id": button["payload"], "title": _shorten(title, MAX_ROW_TITLE)}
        if len(title) > MAX_ROW_TITLE:  # the whole title stays readable under the row
            row["description"] = _shorten(title, MAX_ROW_DESCRIPTION)
        rows.append(row)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": text},
            "action": {"button": label, "sections": [{"title": label, "rows": rows}]},
        },
    }


def _message_id(response: httpx.Response) -> str:
    try:
        messages = response.json().get("messages") or [{}]
        return str(messages[0].get("id", ""))
    except (ValueError, AttributeError, IndexError):
        return ""


def _graph_error(response: httpx.Response) -> GraphError:
    try:
        error = response.json().get("error") or {}
        code = error.get("code")
        detail = str((error.get("error_data") or {}).get("details") or error.get("message"))
    except (ValueError, AttributeError):
        code, detail = None, response.text[:200]
    return GraphError(response.status_code, code if isinstance(code, int) else None, detail)


def _retryable(error: GraphError) -> bool:
    return error.status == 429 or error.status >= 500 or error.code in RETRYABLE_GRAPH_CODES


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def from_settings(settings: Settings, gateway: Gateway) -> WhatsAppAdapter | None:
    """The adapter, or ``None`` unless token, phone id, app secret and verify token are set."""
    required = (
        settings.whatsapp_token,
        settings.whatsapp_phone_id,
        settings.whatsapp_app_secret,
        settings.whatsapp_verify_token,
    )
    if not all(value.strip() for value in required):
        return None
    return WhatsAppAdapter(
        gateway,
        token=settings.whatsapp_token.strip(),
        phone_id=settings.whatsapp_phone_id.strip(),
        app_secret=settings.whatsapp_app_secret.strip(),
        verify_token=settings.whatsapp_verify_token.strip(),
        graph_url=settings.whatsapp_graph_url,
    )
