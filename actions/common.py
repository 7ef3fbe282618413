"""Helpers shared by the actions: the person's language, the catalogue database, texts."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rasa_sdk import Tracker
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from service_catalogue.search import FactsIndex

LANGUAGES = ("ar", "fa", "tr", "en")
DEFAULT_DATABASE_URL = "sqlite:///.data/rehber.db"


def user_language(tracker: Tracker) -> str:
    """The reply language, decided the same way as the NLG endpoint."""
    chosen = tracker.get_slot("language")
    if chosen in LANGUAGES:
        return str(chosen)
    info = (tracker.latest_message or {}).get("language") or {}
    code = info.get("code") if isinstance(info, dict) else None
    if code in LANGUAGES:
        return str(code)
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    hint = metadata.get("language_hint") if isinstance(metadata, dict) else None
    return str(hint) if hint in LANGUAGES else "tr"


def message_metadata(tracker: Tracker) -> dict[str, Any]:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return metadata if isinstance(metadata, dict) else {}


def channel_of(tracker: Tracker) -> str:
    channel = message_metadata(tracker).get("channel") or tracker.get_slot("channel")
    if isinstance(channel, str) and channel:
        return channel
    sender = tracker.sender_id or ""
    return sender.split(":", 1)[0] if ":" in sender else "rest"


@lru_cache(maxsize=1)
def _sessions() -> sessionmaker[Session]:
    # Built on first use in the action server process (never at import).
    from service_catalogue.db import make_engine, session_factory

    return session_factory(make_engine(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)))


def catalogue_session() -> Session:
    return _sessions()()


@lru_cache(maxsize=1)
def catalogue_index() -> FactsIndex:
    """Ranking facts kept in memory by the action server; catalogue changes made elsewhere
    (``make seed``, an HSDS import) reach searches within CATALOGUE_INDEX_MAX_AGE seconds."""
    from service_catalogue.search import FactsIndex

    return FactsIndex(float(os.environ.get("CATALOGUE_INDEX_MAX_AGE", "30")))


def localized(texts: dict[str, str] | None, language: str) -> str | None:
    """The text in the person's language, else Turkish (the source), else any."""
    if not texts:
        return None
    return texts.get(language) or texts.get("tr") or next(iter(texts.values()), None)


def reset_database_cache() -> None:
    """For tests that point DATABASE_URL elsewhere."""
    _sessions.cache_clear()
    catalogue_index.cache_clear()
