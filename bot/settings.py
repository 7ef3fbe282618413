"""One settings object for the app process, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as error:
        raise SystemExit(f"rehber: {name} must be a whole number, got {value!r}") from error


def _tracker_url(env: os._Environ[str], default: str) -> str:
    if env.get("RASA_TRACKER_URL"):
        return env["RASA_TRACKER_URL"]
    if env.get("REDIS_URL"):
        return ""  # trackers live in Redis; replacing them through Rasa's API erases them
    if env.get("RASA_TRACKER_DB"):
        return f"sqlite:///{env['RASA_TRACKER_DB']}"
    return default


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str = "http://127.0.0.1:5055"
    content_dir: Path = ROOT / "content"
    database_url: str = f"sqlite:///{ROOT / '.data' / 'rehber.db'}"
    # Rasa's SQL tracker store (embedded default): erasure deletes the person's rows there,
    # because Rasa's SQL store only ever appends. Empty when Rasa keeps trackers in Redis.
    rasa_tracker_url: str = f"sqlite:///{ROOT / '.data' / 'rasa_tracker.db'}"
    redis_url: str = ""
    # Bad-input limits: what the NLU reads of one message, and the hard cap we accept.
    nlu_max_chars: int = 1000
    max_message_chars: int = 20000
    # Request bodies: webhooks and web chat are capped at 1 MB (rejected before parsing);
    # the NLG endpoint receives Rasa's whole tracker, so it gets more room.
    max_body_bytes: int = 1024 * 1024
    max_nlg_body_bytes: int = 32 * 1024 * 1024
    rasa_timeout_seconds: float = 30.0
    rate_limit_messages: int = 20
    rate_limit_window_seconds: int = 60
    idempotency_ttl_seconds: int = 86400
    default_language: str = "tr"
    # Telegram (python-telegram-bot): off unless TELEGRAM_TOKEN is set.
    telegram_token: str = ""
    telegram_base_url: str = "https://api.telegram.org"
    telegram_mode: str = "polling"  # or "webhook"
    telegram_webhook_secret: str = ""
    # Messages per second for the whole bot (Telegram's limit is about 30); 0 = no limit,
    # for capacity benchmarks against the fake Bot API only.
    telegram_max_rate: float = 30.0
    # WhatsApp Cloud API: off unless all four values are set.
    whatsapp_token: str = ""
    whatsapp_phone_id: str = ""
    whatsapp_app_secret: str = ""
    whatsapp_verify_token: str = ""
    whatsapp_graph_url: str = "https://graph.facebook.com/v21.0"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        defaults = cls()
        return cls(
            host=env.get("REHBER_HOST", defaults.host),
            port=_int("REHBER_PORT", defaults.port),
            rasa_url=env.get("RASA_URL", defaults.rasa_url).rstrip("/"),
            action_server_url=env.get("ACTION_SERVER_URL", defaults.action_server_url).rstrip("/"),
            content_dir=Path(env.get("REHBER_CONTENT_DIR", str(defaults.content_dir))),
            database_url=env.get("DATABASE_URL", defaults.database_url),
            rasa_tracker_url=_tracker_url(env, defaults.rasa_tracker_url),
            redis_url=env.get("REDIS_URL", ""),
            nlu_max_chars=_int("REHBER_NLU_MAX_CHARS", defaults.nlu_max_chars),
            rate_limit_messages=_int("REHBER_RATE_LIMIT", defaults.rate_limit_messages),
            rate_limit_window_seconds=_int(
                "REHBER_RATE_WINDOW", defaults.rate_limit_window_seconds
            ),
            telegram_token=env.get("TELEGRAM_TOKEN", ""),
            telegram_base_url=env.get("TELEGRAM_BASE_URL", defaults.telegram_base_url).rstrip("/"),
            telegram_mode=env.get("TELEGRAM_MODE", defaults.telegram_mode),
            telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET", ""),
            telegram_max_rate=float(env.get("TELEGRAM_MAX_RATE", defaults.telegram_max_rate)),
            whatsapp_token=env.get("WHATSAPP_TOKEN", ""),
            whatsapp_phone_id=env.get("WHATSAPP_PHONE_ID", ""),
            whatsapp_app_secret=env.get("WHATSAPP_APP_SECRET", ""),
            whatsapp_verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
            whatsapp_graph_url=env.get("WHATSAPP_GRAPH_URL", defaults.whatsapp_graph_url).rstrip(
                "/"
            ),
        )
