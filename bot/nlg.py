"""Rasa's NLG endpoint: Rasa names a response, we answer with its text in the right language.

Which language: an explicit choice (the ``language`` slot) first, then the language the
NLU pipeline detected for the latest message (with the conversation as its prior), then
the gateway's hint, then the default.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.content import LANGUAGES, ContentStore, Rendered

logger = logging.getLogger(__name__)
FALLBACK_RESPONSE = "utter_default"
EMERGENCY_RESPONSE = "utter_emergency"


def reply_language(tracker: dict[str, Any], default: str) -> str:
    slots = tracker.get("slots") or {}
    chosen = slots.get("language")
    if chosen in LANGUAGES:
        return str(chosen)
    latest = tracker.get("latest_message") or {}
    info = latest.get("language") or {}
    code: str | None = info.get("code") if isinstance(info, dict) else None
    if code in LANGUAGES:
        return str(code)
    metadata = latest.get("metadata") or {}
    hint = metadata.get("language_hint") if isinstance(metadata, dict) else None
    return str(hint) if hint in LANGUAGES else default


def _values(body: dict[str, Any]) -> dict[str, Any]:
    tracker = body.get("tracker") or {}
    values = {
        k: v for k, v in (tracker.get("slots") or {}).items() if isinstance(v, (str, int, float))
    }
    values.update({k: v for k, v in (body.get("arguments") or {}).items() if v is not None})
    return values


def generate(body: dict[str, Any], content: ContentStore, default_language: str) -> Rendered:
    """Renders the response Rasa asked for; an unknown name degrades to the fallback text."""
    tracker = body.get("tracker") or {}
    language = reply_language(tracker, default_language)
    name = str(body.get("response") or "")
    if not content.has(name):
        logger.error("NLG asked for unknown response %r; sending %s", name, FALLBACK_RESPONSE)
        name = FALLBACK_RESPONSE
    rendered = content.render(name, language, _values(body))
    # The NLU marked a possible danger below the emergency level: the answer goes out as asked
    # and carries the mark; the gateway adds the emergency numbers once for the whole turn.
    latest = tracker.get("latest_message") or {}
    notice = bool(latest.get("safety_notice")) and name != EMERGENCY_RESPONSE
    # Rasa's REST channel cuts a text at every blank line into separate messages; a line
    # holding one no-break space still reads as a paragraph break but keeps one message.
    text = rendered.text.replace("\n\n", "\n\u00a0\n")
    return replace(rendered, text=text, safety_notice=notice)
