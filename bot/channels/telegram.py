"""Telegram channel (python-telegram-bot 22): updates in, the gateway's replies out.

Off unless ``TELEGRAM_TOKEN`` is set. Two ways to receive updates:

``TELEGRAM_MODE=polling`` (default)
    The app long-polls ``getUpdates`` itself (``allowed_updates``: message, edited_message,
    callback_query; pending updates are kept). Starting to poll deletes any webhook.

``TELEGRAM_MODE=webhook``
    Telegram POSTs every update to ``/webhooks/telegram``. Register the public URL once after
    deploying, with the same secret as ``TELEGRAM_WEBHOOK_SECRET`` (1-256 characters from
    ``A-Z a-z 0-9 _ -``)::

        curl -sS "https://api.telegram.org/bot$TELEGRAM_TOKEN/setWebhook" \\
            --data-urlencode "url=https://rehber.example.org/webhooks/telegram" \\
            --data-urlencode "secret_token=$TELEGRAM_WEBHOOK_SECRET" \\
            --data-urlencode 'allowed_updates=["message","edited_message","callback_query"]'

    Telegram then sends the secret in ``X-Telegram-Bot-Api-Secret-Token``; a request with a
    missing or wrong secret gets 401 and a log line. Each update is processed before the 200
    goes back, so an update lost to a crash is redelivered by Telegram (and answered once:
    see idempotency). ``getWebhookInfo`` shows delivery errors; ``deleteWebhook`` undoes it.

Decisions
    * One update is one ``IncomingMessage``: user id = chat id, message id = update id.
      Telegram redelivers updates (webhook retries, a poller restarted before confirming), so
      every update id is checked once before anything else — this also covers the commands
      the adapter answers itself, which never reach the gateway's own check.
    * Private chats only. A migrant's questions do not belong in a group, and ``/forget`` in a
      group would erase everyone's thread; other chats are ignored with a log line.
    * Edited messages: an edited *text* is answered as a new message with its own update id —
      the person corrected their question and expects an answer to the corrected one, and the
      record keeps both versions. Other edits are ignored: edited commands, captions, and live
      locations (Telegram sends a live location's every move as an edit).
    * Updates of one chat are handled in arrival order, different chats concurrently
      (``ChatOrderedProcessor``).
    * Rasa button payloads become ``callback_data`` as they are. One longer than Telegram's 64
      bytes (or starting with this adapter's ``tg:`` prefix) is replaced by ``tg:p:`` + a hash
      kept in a bounded in-memory map (``PayloadMap``); a click whose key the process no longer
      knows (restart, eviction, another gateway process) gets ``msg_telegram_button_expired``.
    * Sending goes through PTB's ``AIORateLimiter``: at most 30 messages/s for the whole bot,
      20/min per group; a 429 pauses all sending for its ``retry_after`` and is retried up to
      ``SEND_RETRIES`` times. (PTB does not pace private chats; Telegram allows short bursts
      there and answers 429 otherwise, which is retried.) A 403 (the person blocked the bot)
      is logged and the rest of that reply is dropped; nothing retries it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.content import LANGUAGES
from bot.gateway import Attachment, Gateway, IncomingMessage, OutgoingMessage
from bot.settings import Settings

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
COMMANDS = ("start", "language", "help", "human", "forget")
# Telegram's limit is 4096 UTF-16 code units per text; parts stay well below it.
MAX_PART_UNITS = 4000
MAX_CALLBACK_BYTES = 64
SHORT_TITLE = 14  # two buttons share a row only when both titles are at most this long
SEND_RETRIES = 3  # 429 answers retried by the rate limiter
NETWORK_RETRY_DELAYS = (0.5, 2.0)  # a send that failed to reach Telegram (not a timeout)
MAX_CONCURRENT_UPDATES = 256
BOOT_RETRY_MAX_SECONDS = 60.0
INTERNAL_PREFIX = "tg:"
FORGET_CONFIRM = "tg:forget:yes"
FORGET_CANCEL = "tg:forget:no"
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_ISOLATE_OPEN = frozenset("\u2066\u2067\u2068")
_PDI = "\u2069"

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


# --- rendering helpers (pure) ------------------------------------------------------------


def utf16_units(text: str) -> int:
    """Length as Telegram counts it (characters outside the BMP, e.g. emoji, count twice)."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _prefix_within(text: str, limit: int) -> str:
    units = 0
    for index, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def _cut_point(head: str) -> int:
    """Where to cut ``head``: the last paragraph break, else line break, else space in its
    second half (never inside a bidi isolate); else the last break anywhere; -1 if none."""
    last = [-1, -1, -1]  # paragraph, line, space
    depth = 0
    line_blank = False  # the line ending at the current newline held only spaces
    for index, ch in enumerate(head):
        if ch in _ISOLATE_OPEN:
            depth += 1
        elif ch == _PDI:
            depth = max(0, depth - 1)
        if ch == "\n":
            if index > 0 and depth == 0:
                last[0 if line_blank else 1] = index
            line_blank = True
        elif ch.isspace():
            if depth == 0 and index > 0:
                last[2] = index
        else:
            line_blank = False
    half = len(head) // 2
    for position in last:
        if position >= half:
            return position
    return max(last)


def split_text(text: str, limit: int = MAX_PART_UNITS) -> list[str]:
    """Parts of at most ``limit`` UTF-16 units, cut at a paragraph break, else a line break,
    else a space. Only a single "word" longer than the limit (a long link) is cut inside."""
    rest = text.strip()
    parts: list[str] = []
    while utf16_units(rest) > limit:
        head = _prefix_within(rest, limit)
        cut = _cut_point(head)
        if cut <= 0:
            cut = len(head)
        part, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if part:
            parts.append(part)
    if rest:
        parts.append(rest)
    return parts


def button_rows(buttons: list[InlineKeyboardButton]) -> list[list[InlineKeyboardButton]]:
    """Short titles two to a row, long ones on their own row; order kept."""
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons:
        short = len(button.text) <= SHORT_TITLE
        if short and rows and len(rows[-1]) == 1 and len(rows[-1][0].text) <= SHORT_TITLE:
            rows[-1].append(button)
        else:
            rows.append([button])
    return rows


class PayloadMap:
    """Rasa payloads that cannot be ``callback_data`` as they are, behind a short key.

    The key is a hash of the payload, so it is the same in every process; the map is per
    process and keeps the ``size`` most recently rendered payloads.
    """

    PREFIX = INTERNAL_PREFIX + "p:"

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def encode(self, payload: str) -> str:
        fits = len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES
        if fits and not payload.startswith(INTERNAL_PREFIX):
            return payload
        digest = hashlib.sha256(payload.encode("utf-8")).digest()[:15]
        key = self.PREFIX + base64.urlsafe_b64encode(digest).decode("ascii")
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        while len(self._payloads) > self._size:
            self._payloads.popitem(last=False)
        return key

    def decode(self, data: str) -> str | None:
        """The payload behind ``callback_data``; None for a key this process does not know."""
        if not data.startswith(self.PREFIX):
            return data
        return self._payloads.get(data)

    def __len__(self) -> int:
        return len(self._payloads)


def language_hint(user: User | None) -> str | None:
    """The person's Telegram app language ("fa", "en-GB" → "en") when it is one of ours."""
    code = ((user.language_code if user else None) or "").split("-")[0].lower()
    return code if code in LANGUAGES else None


def message_content(message: Message) -> tuple[str, Attachment | None]:
    """A message's text (or caption) and what it carries; ("", None) for service messages."""
    text = message.text or message.caption or ""
    if message.location is not None:  # also set for venues
        return text, Attachment("location", message.location.latitude, message.location.longitude)
    kinds: tuple[tuple[str, object], ...] = (
        ("voice", message.voice),
        ("audio", message.audio),
        ("photo", message.photo),
        ("video", message.video or message.video_note or message.animation),
        ("document", message.document),
        ("sticker", message.sticker),
        ("contact", message.contact),
        ("other", message.poll or message.dice or message.game or message.story),
    )
    for kind, present in kinds:
        if present:
            return text, Attachment(kind)
    return text, None


# --- update processing ---------------------------------------------------------------------


@dataclass
class _ChatTurn:
    lock: asyncio.Lock
    users: int = 0


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Processes one chat's updates in arrival order and different chats concurrently, so
    a person's second message never reaches Rasa before their first."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._turns: dict[int, _ChatTurn] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        turn = self._turns.get(chat.id)
        if turn is None:
            turn = self._turns[chat.id] = _ChatTurn(asyncio.Lock())
        turn.users += 1
        try:
            async with turn.lock:
                await coroutine
        finally:
            turn.users -= 1
            if turn.users == 0:
                del self._turns[chat.id]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class _RedactToken(logging.Filter):
    """httpx logs every request URL, and Bot API URLs contain the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<TELEGRAM_TOKEN>"), None
        return True


def _redact_token_in_logs(token: str) -> None:
    target = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactToken) and f.token == token for f in target.filters):
        target.addFilter(_RedactToken(token))


class TelegramAdapter:
    name = CHANNEL

    def __init__(self, settings: Settings, gateway: Gateway, application: TelegramApp) -> None:
        self.settings = settings
        self.gateway = gateway
        self.application = application
        # update_id is only unique per bot: idempotency keys carry the bot's id (the token's
        # numeric part), so a new bot on the same Redis is never taken for a redelivery.
        self.bot_id = settings.telegram_token.split(":", 1)[0]
        self.webhook_mode = settings.telegram_mode.strip().lower() == "webhook"
        self.payloads = PayloadMap()
        self.ready = False
        self._boot_task: asyncio.Task[None] | None = None
        self._add_handlers()

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(TypeHandler(Update, self._screen), group=-1)
        only_new = filters.UpdateType.MESSAGE
        app.add_handler(CommandHandler("start", self._on_start, filters=only_new))
        app.add_handler(CommandHandler("language", self._on_language, filters=only_new))
        app.add_handler(CommandHandler("help", self._on_help, filters=only_new))
        app.add_handler(CommandHandler("human", self._on_human, filters=only_new))
        app.add_handler(CommandHandler("forget", self._on_forget, filters=only_new))
        app.add_handler(CallbackQueryHandler(self._on_callback))
        app.add_handler(MessageHandler(filters.ALL, self._on_message))
        app.add_error_handler(self._on_error)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connects to the Bot API; when Telegram cannot be reached the app still starts and
        the channel keeps trying in the background."""
        try:
            await self._boot()
        except InvalidToken:
            logger.error("telegram: the Bot API rejected TELEGRAM_TOKEN; the channel stays off")
        except TelegramError as error:
            logger.warning(
                "telegram: Bot API not reachable (%s); retrying in the background", error
            )
            self._boot_task = asyncio.create_task(self._boot_later())

    async def _boot(self) -> None:
        app = self.application  # every step is skipped when done by an earlier attempt
        await app.initialize()  # getMe
        await self._set_commands()
        if not app.running:
            await app.start()
        if not self.webhook_mode and app.updater is not None and not app.updater.running:
            await app.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
            )
        self.ready = True
        logger.info(
            "telegram channel is up as @%s (%s mode)",
            app.bot.username,
            "webhook" if self.webhook_mode else "polling",
        )

    async def _boot_later(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self._boot()
                return
            except InvalidToken:
                logger.error("telegram: the Bot API rejected TELEGRAM_TOKEN; the channel stays off")
                return
            except TelegramError as error:
                delay = min(delay * 2, BOOT_RETRY_MAX_SECONDS)
                logger.warning("telegram: Bot API still not reachable (%s)", error)

    async def _set_commands(self) -> None:
        """The command menu in the person's app language (and the default language)."""
        bot = self.application.bot
        for language in (None, *LANGUAGES):
            text_language = language or self.settings.default_language
            commands = [
                BotCommand(
                    name, self.gateway.say(f"msg_telegram_command_{name}", text_language).text
                )
                for name in COMMANDS
            ]
            try:
                await bot.set_my_commands(commands, language_code=language)
            except InvalidToken:
                raise
            except TelegramError as error:
                logger.warning("telegram: setMyCommands failed (%s); menu not updated", error)
                return

    async def stop(self) -> None:
        if self._boot_task is not None:
            self._boot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._boot_task
        self.ready = False
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    # --- webhook -----------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        if not self.webhook_mode:
            return JSONResponse(
                {"error": "the Telegram channel runs in polling mode"}, status_code=404
            )
        if request.method != "POST":
            return JSONResponse(
                {"error": "POST updates here"}, status_code=405, headers={"Allow": "POST"}
            )
        given = request.headers.get(SECRET_HEADER, "")
        expected = self.settings.telegram_webhook_secret
        if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            logger.warning(
                "telegram webhook: request from %s with a %s secret token rejected",
                request.client.host if request.client else "unknown",
                "wrong" if given else "missing",
            )
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if not self.ready:  # Telegram retries later
            return JSONResponse({"error": "starting up"}, status_code=503)
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "expected a JSON update"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("update_id"), int):
            return JSONResponse({"error": "expected a JSON update"}, status_code=400)
        try:
            update = Update.de_json(body, self.application.bot)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            logger.warning(
                "telegram webhook: update %s does not parse (%s)",
                body["update_id"],
                type(error).__name__,
            )
            return JSONResponse({"error": "malformed update"}, status_code=400)
        app = self.application
        await app.update_processor.process_update(update, app.process_update(update))
        return JSONResponse({"ok": True})

    # --- handlers ----------------------------------------------------------------------------

    async def _screen(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Runs first for every update: private chats only, the edits we answer, once each."""
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            logger.info("telegram update %s ignored: not a private chat", update.update_id)
            raise ApplicationHandlerStop
        edited = update.edited_message
        if edited is not None and (not edited.text or edited.text.startswith("/")):
            logger.info("telegram update %s ignored: edit without new text", update.update_id)
            raise ApplicationHandlerStop
        if not await self.gateway.state.first_delivery(
            "telegram-update",
            f"{self.bot_id}:{update.update_id}",
            self.settings.idempotency_ttl_seconds,
        ):
            logger.info("telegram update %s redelivered; already answered", update.update_id)
            raise ApplicationHandlerStop

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        text, attachment = message_content(message)
        if not text and attachment is None:
            logger.info("telegram update %s ignored: service message", update.update_id)
            return
        await self._through_gateway(update, text, attachment)

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        replies = await self._through_gateway(update, "/greet", send=False)
        if self._answered(replies):
            language = await self._language(update)
            replies.append(self.gateway.say("utter_language_choose", language))
        await self._send_to(update, replies)

    async def _on_human(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._through_gateway(update, "/request_human")

    async def _on_language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._local_turn(update, "/language"):
            language = await self._language(update)
            await self._send_to(update, [self.gateway.say("utter_language_choose", language)])

    async def _on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._local_turn(update, "/help"):
            language = await self._language(update)
            await self._send_to(update, [self.gateway.say("msg_telegram_help", language)])

    async def _on_forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._local_turn(update, "/forget"):
            return
        language = await self._language(update)
        question = self.gateway.say("msg_forget_confirm", language)
        buttons = [
            {
                "title": self.gateway.say("msg_forget_button_confirm", language).text,
                "payload": FORGET_CONFIRM,
            },
            {
                "title": self.gateway.say("msg_forget_button_cancel", language).text,
                "payload": FORGET_CANCEL,
            },
        ]
        question = OutgoingMessage(question.text, language, buttons)
        await self.send(self._chat_id(update), [question], internal=True)

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()  # stops the spinner on the button
        except TelegramError as error:
            logger.info("telegram: answerCallbackQuery failed (%s)", error)
        data = query.data or ""
        if data in (FORGET_CONFIRM, FORGET_CANCEL):
            if await self._local_turn(update, data):
                await self._forget_answer(update, query, confirmed=data == FORGET_CONFIRM)
            return
        payload = self.payloads.decode(data)
        if payload is None or not payload.strip():
            if await self._local_turn(update, data):
                language = await self._language(update)
                await self._send_to(
                    update, [self.gateway.say("msg_telegram_button_expired", language)]
                )
            return
        await self._through_gateway(update, payload)

    async def _forget_answer(self, update: Update, query: CallbackQuery, confirmed: bool) -> None:
        chat_id = self._chat_id(update)
        language = await self._language(update)
        if not confirmed:
            await self._replace(query, self.gateway.say("msg_forget_cancelled", language))
            return
        try:
            await self.gateway.forget(f"{CHANNEL}:{chat_id}")
        except Exception:  # Rasa or the state store is down: say so, keep the question
            logger.warning("telegram: an erasure could not be completed; the person was told")
            await self._send_to(update, [self.gateway.say("msg_forget_failed", language)])
            return
        self.application.drop_chat_data(chat_id)
        if update.effective_user is not None:
            self.application.drop_user_data(update.effective_user.id)
        logger.info("telegram: a person erased their conversation")
        await self._replace(query, self.gateway.say("msg_forget_done", language))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        logger.error("telegram update %s failed", update_id, exc_info=context.error)

    # --- the gateway ---------------------------------------------------------------------------

    @staticmethod
    def _chat_id(update: Update) -> int:
        chat = update.effective_chat
        if chat is None:  # _screen lets only private chats through
            raise ValueError(f"update {update.update_id} has no chat")
        return chat.id

    def _incoming(
        self, update: Update, text: str, attachment: Attachment | None
    ) -> IncomingMessage:
        return IncomingMessage(
            channel=CHANNEL,
            user_id=str(self._chat_id(update)),
            message_id=f"{self.bot_id}:{update.update_id}",
            text=text,
            attachment=attachment,
            language_hint=language_hint(update.effective_user),
        )

    async def _through_gateway(
        self,
        update: Update,
        text: str,
        attachment: Attachment | None = None,
        send: bool = True,
    ) -> list[OutgoingMessage]:
        replies = await self.gateway.handle(self._incoming(update, text, attachment))
        if send:
            await self._send_to(update, replies)
        return replies

    async def _local_turn(self, update: Update, text: str) -> bool:
        """Counts a message the adapter answers itself against the person's rate limit;
        over it, the gateway records the message and says so (once per window)."""
        settings = self.settings
        conversation = f"{CHANNEL}:{self._chat_id(update)}"
        if await self.gateway.state.allow(
            conversation, settings.rate_limit_messages, settings.rate_limit_window_seconds
        ):
            return True
        await self._through_gateway(update, text)
        return False

    def _answered(self, replies: list[OutgoingMessage]) -> bool:
        """False when the gateway only said "too many messages" (or nothing)."""
        notices = {self.gateway.say("msg_rate_limited", r.language).text for r in replies}
        return any(r.text not in notices for r in replies)

    async def _language(self, update: Update) -> str:
        conversation = f"{CHANNEL}:{self._chat_id(update)}"
        return (
            await self.gateway.state.get_language(conversation)
            or language_hint(update.effective_user)
            or self.settings.default_language
        )

    # --- sending -----------------------------------------------------------------------------

    async def deliver(self, message: IncomingMessage, replies: list[OutgoingMessage]) -> None:
        """Answers that waited for Rasa (registered with the gateway)."""
        try:
            chat_id = int(message.user_id)
        except ValueError:
            logger.error("telegram: queued answer for a user id that is not a chat id")
            return
        await self.send(chat_id, replies)

    async def _send_to(self, update: Update, replies: list[OutgoingMessage]) -> None:
        await self.send(self._chat_id(update), replies)

    def markup(
        self, buttons: list[dict[str, str]], internal: bool = False
    ) -> InlineKeyboardMarkup | None:
        """Rasa's buttons as an inline keyboard. Only the adapter's own questions
        (``internal``) may carry ``tg:`` data as it is; a Rasa payload never can."""
        if not buttons:
            return None
        keys = []
        for button in buttons:
            payload = button["payload"]
            data = payload if internal else self.payloads.encode(payload)
            keys.append(InlineKeyboardButton(button.get("title") or payload, callback_data=data))
        return InlineKeyboardMarkup(button_rows(keys))

    async def send(
        self, chat_id: int, replies: list[OutgoingMessage], internal: bool = False
    ) -> int:
        """Sends replies in order; returns how many Telegram messages arrived."""
        sent = 0
        for reply in replies:
            text = reply.text.strip()
            if not text and reply.buttons:
                text = self.gateway.say("msg_telegram_choose_below", reply.language).text
            parts = split_text(text)
            markup = self.markup(reply.buttons, internal)
            for index, part in enumerate(parts):
                keyboard = markup if index == len(parts) - 1 else None
                outcome = await self._send_one(chat_id, part, keyboard)
                if outcome is None:
                    return sent  # blocked, or Telegram keeps refusing: stop this reply here
                sent += int(outcome)
        return sent

    async def _send_one(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> bool | None:
        """True when sent; False when this message was refused; None when the chat cannot
        be reached now (nothing else should be tried)."""
        bot = self.application.bot
        for delay in (*NETWORK_RETRY_DELAYS, None):
            try:
                await bot.send_message(chat_id, text, reply_markup=markup)
                return True
            except Forbidden as error:
                logger.warning("telegram chat %s cannot be reached: %s", chat_id, error.message)
                return None
            except RetryAfter:
                logger.error("telegram chat %s: still rate-limited after retries", chat_id)
                return None
            except (BadRequest, TimedOut) as error:
                # A timeout may have delivered the message: resending could duplicate it.
                logger.error("telegram chat %s: message not sent (%s)", chat_id, error.message)
                return False
            except NetworkError as error:
                if delay is None:
                    logger.error("telegram chat %s: Bot API unreachable (%s)", chat_id, error)
                    return None
                await asyncio.sleep(delay)
            except TelegramError as error:
                logger.error("telegram chat %s: message not sent (%s)", chat_id, error.message)
                return False
        return None

    async def _replace(self, query: CallbackQuery, reply: OutgoingMessage) -> None:
        """Turns the question with the buttons into the answer (the buttons go away)."""
        message = query.message
        if message is not None:
            try:
                await self.application.bot.edit_message_text(
                    reply.text, chat_id=message.chat.id, message_id=message.message_id
                )
                return
            except TelegramError as error:
                logger.info("telegram: could not edit the question (%s); sending instead", error)
        await self.send(query.from_user.id, [reply])


def from_settings(settings: Settings, gateway: Gateway) -> TelegramAdapter | None:
    """The Telegram adapter, or None when ``TELEGRAM_TOKEN`` is not set."""
    if not settings.telegram_token:
        return None
    mode = settings.telegram_mode.strip().lower()
    if mode not in ("polling", "webhook"):
        raise SystemExit(f"rehber: TELEGRAM_MODE must be polling or webhook, got {mode!r}")
    if mode == "webhook" and not _SECRET.match(settings.telegram_webhook_secret):
        raise SystemExit(
            "rehber: TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET (1-256 characters: "
            "A-Z, a-z, 0-9, _ and -), the secret_token given to setWebhook"
        )
    base = settings.telegram_base_url.rstrip("/")
    builder = (
        Application.builder()
        .token(settings.telegram_token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .rate_limiter(
            AIORateLimiter(overall_max_rate=settings.telegram_max_rate, max_retries=SEND_RETRIES)
        )
        .concurrent_updates(ChatOrderedProcessor(MAX_CONCURRENT_UPDATES))
        .job_queue(None)
    )
    if mode == "webhook":
        builder = builder.updater(None)
    _redact_token_in_logs(settings.telegram_token)
    adapter = TelegramAdapter(settings, gateway, builder.build())
    gateway.register_channel(CHANNEL, adapter.deliver)
    return adapter
