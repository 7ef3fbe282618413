"""Finds districts, service categories, language names and referral ids in a message.

Pure Python; used by the Rasa entity extractor and by the catalogue (district matching).
Matching is script-aware: case, Turkish diacritics, Arabic/Persian letter variants and
spaces inside names are ignored; districts also match Turkish case suffixes
("Osmangazi'de", "zeytinburnuda"), Arabic prefixes ("بالفاتح") and small typos.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from nlu_components.language import clean_text

# Shared with the intent classifier's normalisation (nlu_components/linear_classifier.py).
TURKISH_FOLD = str.maketrans("çşğıöüâîûÇŞĞIİÖÜÂÎÛ", "csgiouaiuCSGIIOUAIU")
_ARABIC_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ی": "ي",
        "ئ": "ي",
        "ک": "ك",
        "ة": "ه",
        "ۀ": "ه",
        "ؤ": "و",
        "گ": "ك",
        "\u200c": None,
        "ـ": None,
    }
)
DIACRITICS = re.compile("[\u064b-\u065f\u0670\u0307]")
DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_TOKEN = re.compile(r"[^\W_]+(?:['’`\-][^\W_]+)*", re.UNICODE)
_APOSTROPHE = re.compile(r"['’`].*$")
_REFERRAL = re.compile(r"(?<![\w])[Rr]\s?[-‐–_ ]?\s?([0-9٠-٩۰-۹]{1,7})(?![\w])")

# Turkish case and locative suffixes written without an apostrophe ("zeytinburnuda").
_TR_SUFFIXES = frozenset(
    [
        "a",
        "e",
        "ya",
        "ye",
        "i",
        "u",
        "yi",
        "yu",
        "da",
        "de",
        "ta",
        "te",
        "dan",
        "den",
        "tan",
        "ten",
        "nda",
        "nde",
        "ndan",
        "nden",
        "daki",
        "deki",
        "nin",
        "nun",
        "in",
        "un",
        "ya",
        "ye",
        "li",
        "lu",
        "lı",
        "dayim",
        "dayiz",
        "deyim",
        "deyiz",
    ]
)
_AR_PREFIXES = ("وبال", "بال", "وال", "فال", "لل", "ال", "وب", "وف", "ب", "ل", "و", "ف")
FUZZY_ENTITIES = frozenset({"district"})


def fold(text: str) -> str:
    """Reduces a name to a matching key: no case, diacritics, letter variants or spaces."""
    text = clean_text(text).casefold()
    text = DIACRITICS.sub("", text).translate(TURKISH_FOLD).translate(_ARABIC_FOLD)
    return re.sub(r"[\s'’`\-.]+", "", text.translate(DIGITS))


def fold_words(text: str) -> str:
    """Like ``fold`` but keeps the words apart: " words like this " for phrase matching."""
    text = clean_text(text).casefold()
    text = DIACRITICS.sub("", text).translate(TURKISH_FOLD).translate(_ARABIC_FOLD)
    return " " + " ".join(re.findall(r"[^\W_]+", text.translate(DIGITS))) + " "


# A phrase right after a negation is not a danger phrase: "i dont want to die, i just want to
# talk", "ما اريد اموت بس تعبت", "مش عايزة أأذي نفسي". The classifier still reads the message
# ("please help i dont want to die" is an emergency to it too). Folded forms: "don't" is "don t".
# These may stand one word (a verb) before the phrase: "ما افكر اأذي نفسي".
_NEGATIONS = frozenset({"not", "never", "dont", "didnt", "wont", "doesnt", "ما", "مش", "مو", "مب"})
# "لا" is also a bare "no" ("لا جوزي عم يضربني"), so it counts only right before the phrase.
_NEGATIONS_RIGHT_BEFORE = _NEGATIONS | {"لا"}
_NEGATED_ENDINGS = (" don t", " didn t", " won t", " doesn t")


def _negated(before: str) -> bool:
    """Whether the folded text before a phrase ends in a negation."""
    words = before.split()
    return (
        words[-1:] != [] and words[-1] in _NEGATIONS_RIGHT_BEFORE
        or len(words) >= 2 and words[-2] in _NEGATIONS
        or before.endswith(_NEGATED_ENDINGS)
    )  # fmt: skip


class PhraseList:
    """Whole-word phrases in any of the four languages (e.g. danger words)."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self.phrases = sorted({fold_words(p) for p in phrases if p.strip()}, key=len, reverse=True)
        # The last word may carry a suffix ("öldür" matches "öldürmek", "bleeding" itself).
        self._patterns = [re.compile(re.escape(p.rstrip()) + r"[^\W_]* ") for p in self.phrases]

    @classmethod
    def from_file(cls, path: str | Path) -> PhraseList:
        data = load_data(path)
        return cls(str(p) for items in data.values() for p in items)

    def find(self, text: str) -> str | None:
        folded = fold_words(text)
        return next(
            (p.strip() for p, pattern in zip(self.phrases, self._patterns, strict=True)
             if any(not _negated(folded[: m.start()]) for m in pattern.finditer(folded))),
            None,
        )  # fmt: skip


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class Entry:
    entity: str
    value: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Match:
    entity: str
    value: str
    start: int
    end: int
    text: str
    confidence: float

    def as_rasa_entity(self, extractor: str) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "confidence_entity": self.confidence,
            "extractor": extractor,
        }


class Gazetteer:
    """An index from folded names to entity values."""

    def __init__(self, entries: Iterable[tuple[str, Entry]]) -> None:
        self.index: dict[str, Entry] = {}
        for name, entry in entries:
            key = fold(name)
            if len(key) >= 2:
                self.index.setdefault(key, entry)
        self._fuzzy_keys = [(k, e) for k, e in self.index.items() if e.entity in FUZZY_ENTITIES]
        self.max_tokens = 4

    @classmethod
    def from_data(
        cls, data: dict[str, list[dict[str, Any]]], only: Iterable[str] | None = None
    ) -> Gazetteer:
        """``only``: the entity types to use (default: all in the file)."""
        wanted = set(only) if only is not None else None
        pairs = []
        for entity, items in data.items():
            if wanted is not None and entity not in wanted:
                continue
            for item in items:
                extra = {k: v for k, v in item.items() if k not in ("value", "names")}
                entry = Entry(entity, str(item["value"]), extra)
                for name in [item["value"], *item.get("names", [])]:
                    pairs.append((str(name), entry))
        return cls(pairs)

    @classmethod
    def from_file(cls, path: str | Path, only: Iterable[str] | None = None) -> Gazetteer:
        return cls.from_data(load_data(path), only=only)

    def values(self, entity: str) -> dict[str, Entry]:
        return {e.value: e for e in self.index.values() if e.entity == entity}

    def lookup(self, name: str, entity: str | None = None) -> Entry | None:
        """Canonical entry for a name typed alone ("osmangazı", "Zeytinburnu'da")."""
        matches = self.extract(name)
        for match in matches:
            if entity is None or match.entity == entity:
                return self.index_entry(match)
        return None

    def index_entry(self, match: Match) -> Entry:
        for entry in self.index.values():
            if entry.entity == match.entity and entry.value == match.value:
                return entry
        raise KeyError(match.value)

    def _match_key(self, key: str, fuzzy: bool) -> tuple[Entry | None, float]:
        entry = self.index.get(key)
        if entry:
            return entry, 1.0
        for suffix_len in (2, 3, 4, 5, 1):
            if len(key) > suffix_len + 3 and key[-suffix_len:] in _TR_SUFFIXES:
                entry = self.index.get(key[:-suffix_len])
                if entry and entry.entity in FUZZY_ENTITIES:
                    return entry, 0.95
        for prefix in _AR_PREFIXES if "\u0600" <= key[:1] <= "\u06ff" else ():
            if key.startswith(prefix) and len(key) - len(prefix) >= 3:
                entry = self.index.get(key[len(prefix) :])
                if entry:
                    return entry, 0.95
        if fuzzy and len(key) >= 6:
            limit = 2 if len(key) >= 10 else 1
            best: Entry | None = None
            best_distance = limit + 1
            for candidate, cand_entry in self._fuzzy_keys:
                if abs(len(candidate) - len(key)) > limit or candidate[0] != key[0] and limit == 1:
                    continue
                distance = edit_distance(key, candidate, limit)
                if distance < best_distance:
                    best, best_distance = cand_entry, distance
            if best is not None:
                return best, 0.9 - 0.1 * best_distance
        return None, 0.0

    def extract(self, text: str) -> list[Match]:
        """All entities in the text, longest match first, without overlaps."""
        matches: list[Match] = []
        for found in _REFERRAL.finditer(text):
            digits = found.group(1).translate(DIGITS)
            matches.append(
                Match(
                    "referral_id",
                    f"R-{int(digits)}",
                    found.start(),
                    found.end(),
                    found.group(0),
                    1.0,
                )
            )
        taken = [(m.start, m.end) for m in matches]
        tokens = list(_TOKEN.finditer(text))
        i = 0
        while i < len(tokens):
            if any(s <= tokens[i].start() < e for s, e in taken):
                i += 1
                continue
            matched = False
            for n in range(min(self.max_tokens, len(tokens) - i), 0, -1):
                span = tokens[i : i + n]
                start, end = span[0].start(), span[-1].end()
                raw = text[start:end]
                key = fold(_APOSTROPHE.sub("", raw) if n == 1 else raw)
                if n > 1:
                    # the last word may carry a Turkish suffix after an apostrophe
                    last = _APOSTROPHE.sub("", span[-1].group(0))
                    key = fold(text[start : span[-1].start()] + last)
                entry, confidence = self._match_key(key, fuzzy=n == 1)
                if entry is None and n == 1 and "'" not in raw and "’" not in raw:
                    continue
                if entry is not None:
                    matches.append(Match(entry.entity, entry.value, start, end, raw, confidence))
                    i += n
                    matched = True
                    break
            if not matched:
                i += 1
        return sorted(matches, key=lambda m: m.start)


def load_data(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of entity name to entries")
    return data
