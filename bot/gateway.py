"""The one path every message takes, whatever the channel.

adapter → ``IncomingMessage`` → idempotency → bad-input checks → rate limit → Rasa (with
metadata) → ``OutgoingMessage`` list → adapter. When Rasa is unreachable the message waits
in the pending stream, the person is told it arrived, and ``drain_pending`` delivers the
answers in order once Rasa is back.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable

from bot.content import ContentStore, direction
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.settings import Settings
from bot.state import GatewayState
from nlu_components.language import clean_text, detect

logger = logging.getLogger(__name__)


def redact(conversation_id: str) -> str:
    """A conversation named in logs without the phone number or chat id inside it."""
    channel, _, user = conversation_id.partition(":")
    return f"{channel}:{hashlib.sha256(user.encode()).hexdigest()[:10]}"


ERASE_CONFIRM_PAYLOAD = "/erase_data_confirm"
ATTACHMENT_KINDS = (
    "voice",
    "audio",
    "photo",
    "video",
    "document",
    "sticker",
    "location",
    "contact",
)


@dataclass(frozen=True)
class Attachment:
    kind: str
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class IncomingMessage:
    """A channel's message, normalised: nothing channel-specific passes this point."""

    channel: str
    user_id: str
    message_id: str
    text: str = ""
    attachment: Attachment | None = None
    language_hint: str | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def conversation_id(self) -> str:
        return f"{self.channel}:{self.user_id}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "conversation_id": self.conversation_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IncomingMessage:
        attachment = data.get("attachment")
        return cls(
            channel=data["channel"],
            user_id=data["user_id"],
            message_id=data["message_id"],
            text=data.get("text") or "",
            attachment=Attachment(**attachment) if attachment else None,
            language_hint=data.get("language_hint"),
            received_at=data.get("received_at") or time.time(),
        )


@dataclass(frozen=True)
class OutgoingMessage:
    text: str
    language: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        return direction(self.language)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": self.buttons,
            "language": self.language,
            "direction": self.direction,
            "custom": self.custom,
        }


Deliver = Callable[[IncomingMessage, list[OutgoingMessage]], Awaitable[None]]


class Gateway:
    def __init__(
        self,
        settings: Settings,
        state: GatewayState,
        rasa: RasaClient,
        content: ContentStore,
    ) -> None:
        self.settings = settings
        self.state = state
        self.rasa = rasa
        self.content = content
        self.deliverers: dict[str, Deliver] = {}
        self.erasers: list[Callable[[str], Awaitable[None]]] = []

    def register_channel(self, channel: str, deliver: Deliver) -> None:
        """How answers reach a channel's user later (after an outage)."""
        self.deliverers[channel] = deliver

    def say(self, key: str, language: str | None, **values: Any) -> OutgoingMessage:
        """A content text (``msg_*`` or ``utter_*``) rendered for this gateway's channels."""
        rendered = self.content.render(key, language, values)
        return OutgoingMessage(rendered.text, rendered.language, rendered.buttons)

    async def language_of(self, conversation_id: str) -> str:
        """The language the conversation is being answered in (default when new)."""
        return await self.state.get_language(conversation_id) or self.settings.default_language

    async def forget(self, conversation_id: str) -> None:
        """Erases the person's data everywhere the gateway keeps it: Rasa's tracker, the
        gateway state, and whatever erasers other parts registered (tickets). Logs that
        an erasure happened, never what was erased."""
        await self.rasa.erase(conversation_id)
        await self.state.forget(conversation_id)
        for eraser in self.erasers:
            await eraser(conversation_id)
        logger.info("erasure completed for one conversation on %s", conversation_id.split(":")[0])

    async def _language(self, message: IncomingMessage, text: str) -> str:
        prior = await self.state.get_language(message.conversation_id) or message.language_hint
        detected = detect(text, prior).code if text else prior
        return detected or self.settings.default_language

    async def handle(self, message: IncomingMessage) -> list[OutgoingMessage]:
        """Answers one incoming message; a redelivered message id is answered only once."""
        if not await self.state.first_delivery(
            message.channel, message.message_id, self.settings.idempotency_ttl_seconds
        ):
            logger.info("duplicate delivery on %s ignored", message.channel)
            return []
        text = clean_text(message.text)[: self.settings.max_message_chars]
        language = await self._language(message, text)
        conversation = message.conversation_id
        await self.state.set_last_inbound(conversation, message.received_at)

        if not await self.state.allow(
            conversation, self.settings.rate_limit_messages, self.settings.rate_limit_window_seconds
        ):
            return await self._over_rate_limit(message, text, language)

        if message.attachment is not None and message.attachment.kind != "location" and not text:
            key = f"msg_attachment_{message.attachment.kind}"
            return [self.say(key if self.content.has(key) else "msg_attachment_other", language)]
        if not text and message.attachment is None:
            return [self.say("msg_empty_message", language)]

        if text == ERASE_CONFIRM_PAYLOAD:
            # The person confirmed "delete my data" (a button on any channel).
            try:
                await self.forget(conversation)
            except RasaUnavailable:
                return [self.say("msg_erase_failed", language)]
            return [self.say("msg_erase_done", language)]

        replies: list[OutgoingMessage] = []
        if len(text) > self.settings.nlu_max_chars:
            replies.append(self.say("msg_long_message", language))

        if await self.state.has_pending(conversation):
            # Keep the order: this message queues behind the ones still waiting for Rasa.
            await self.state.enqueue_pending(message.to_dict())
            return replies + [self.say("msg_received_will_answer", language)]
        try:
            replies += await self._ask_rasa(message, text, language)
        except RasaUnavailable as error:
            logger.warning(
                "Rasa unavailable (%s); message queued for %s", error, redact(conversation)
            )
            await self.state.enqueue_pending(message.to_dict())
            replies.append(self.say("msg_received_will_answer", language))
        return replies

    def _metadata(self, message: IncomingMessage, text: str, language: str) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "channel": message.channel,
            "message_id": message.message_id,
            "language_hint": language,
            "received_at": message.received_at,
        }
        if len(text) > self.settings.nlu_max_chars:
            metadata["full_text"] = text  # nothing is lost: the tracker keeps all of it
        if message.attachment is not None:
            metadata["attachment"] = asdict(message.attachment)
        return metadata

    async def _ask_rasa(
        self, message: IncomingMessage, text: str, language: str
    ) -> list[OutgoingMessage]:
        nlu_text = text[: self.settings.nlu_max_chars]
        if message.attachment is not None and message.attachment.kind == "location" and not text:
            nlu_text = "/share_location"
        raw = await self.rasa.send(
            message.conversation_id, nlu_text, self._metadata(message, text, language)
        )
        reply_language = await self.state.get_language(message.conversation_id) or language
        return self._turn(raw, reply_language)

    def _turn(self, raw: list[dict[str, Any]], language: str) -> list[OutgoingMessage]:
        """Rasa's replies to one message, plus the emergency numbers once when the NLU saw a
        possible danger below the emergency level (marked by the NLG endpoint)."""
        replies = [
            self._from_rasa(item, language)
            for item in raw
            if item.get("text") or item.get("buttons")
        ]
        if any((item.get("custom") or {}).get("safety_notice") for item in raw):
            replies.append(self.say("msg_safety_notice", language))
        return replies

    @staticmethod
    def _from_rasa(item: dict[str, Any], language: str) -> OutgoingMessage:
        buttons = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in item.get("buttons") or []
            if b.get("payload")
        ]
        return OutgoingMessage(
            str(item.get("text") or ""), language, buttons, item.get("custom") or {}
        )

    async def _over_rate_limit(
        self, message: IncomingMessage, text: str, language: str
    ) -> list[OutgoingMessage]:
        """Too many messages: keep them in the conversation record, say so once per window."""
        conversation = message.conversation_id
        try:
            await self.rasa.record(conversation, text, self._metadata(message, text, language))
        except RasaUnavailable:
            await self.state.enqueue_pending({**message.to_dict(), "record_only": True})
        warned = not await self.state.first_delivery(
            "rate-notice", conversation, self.settings.rate_limit_window_seconds
        )
        return [] if warned else [self.say("msg_rate_limited", language)]

    async def drain_pending(self) -> int:
        """Sends waiting messages to Rasa in arrival order; stops at the first failure."""
        done = 0
        for entry_id, data in await self.state.pending():
            message = IncomingMessage.from_dict(data)
            text = clean_text(message.text)[: self.settings.max_message_chars]
            language = await self._language(message, text)
            try:
                # A message whose first attempt timed out may have been processed after all:
                # then its answer is in the tracker and it must not be sent twice.
                earlier = await self.rasa.replies_in_tracker(
                    message.conversation_id, message.message_id
                )
                if earlier is not None:
                    reply_language = await self.state.get_language(message.conversation_id)
                    replies: list[OutgoingMessage] = self._turn(earlier, reply_language or language)
                elif data.get("record_only"):
                    await self.rasa.record(
                        message.conversation_id, text, self._metadata(message, text, language)
                    )
                    replies = []
                else:
                    replies = await self._ask_rasa(message, text, language)
            except RasaUnavailable:
                break
            deliver = self.deliverers.get(message.channel)
            if replies and deliver is not None:
                await deliver(message, replies)
            await self.state.ack_pending(entry_id)
            done += 1
        return done
