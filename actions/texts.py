"""Content texts for actions that compose messages from catalogue data.

The same ``content/`` files the NLG endpoint serves, loaded once per action-server process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.content import ContentStore

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"


@lru_cache(maxsize=1)
def _store() -> ContentStore:
    return ContentStore.load(CONTENT_DIR)


@dataclass(frozen=True)
class Texts:
    language: str

    def text(self, key: str, **values: Any) -> str:
        return _store().render(key, self.language, values).text


def texts(language: str) -> Texts:
    return Texts(language)
