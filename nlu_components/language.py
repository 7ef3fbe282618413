"""Language identification among Arabic, Persian, Turkish and English.

Pure Python plus lingua; imported by the Rasa component (Rasa env) and by the gateway
(app env). lingua decides long messages well; script cues settle Arabic vs Persian and
Turkish vs English where it is unsure, and the conversation's language is the prior for
short or ambiguous messages ("ok", "تمام", "باي").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector

LANGUAGES = ("ar", "fa", "tr", "en")
ARABIC_SCRIPT = ("ar", "fa")
LATIN_SCRIPT = ("tr", "en")

# Invisible characters people paste in (zero-width, bidi controls, BOM); ZWNJ is kept
# apart because Persian uses it inside words.
_INVISIBLE = re.compile("[\u200b\u200d\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\u061c]")

_PERSIAN_LETTERS = set("پچژگیکۀ")
_ARABIC_ONLY_LETTERS = set("ةىإأؤ")
_TURKISH_LETTERS = set("çşğıöüÇŞĞİÖÜ")
# Phone keyboards type different digits: Persian ۰-۹ (U+06F0-06F9), Arabic ٠-٩ (U+0660-0669).
_PERSIAN_DIGITS = set("۰۱۲۳۴۵۶۷۸۹")
_ARABIC_DIGITS = set("٠١٢٣٤٥٦٧٨٩")

LOOKUPS = Path(__file__).resolve().parent.parent / "nlu_data" / "lookups"
CUES_FILE = LOOKUPS / "language_cues.yml"
# District names say nothing about the language around them ("migrant center in Zeytinburnu
# exist?" read as Turkish): their Latin spellings count as neutral words, like institution names.
GAZETTEER_FILE = LOOKUPS / "gazetteer.yml"


@dataclass(frozen=True)
class _Cues:
    strong: dict[str, frozenset[str]]
    weak: dict[str, frozenset[str]]
    neutral: frozenset[str]
    romanized: dict[str, frozenset[str]]


@lru_cache(maxsize=1)
def _cues() -> _Cues:
    import yaml

    data = yaml.safe_load(CUES_FILE.read_text(encoding="utf-8"))

    def words(text: str | None) -> frozenset[str]:
        return frozenset(fold_case(w) for w in (text or "").split())

    places = yaml.safe_load(GAZETTEER_FILE.read_text(encoding="utf-8")).get("district", [])
    latin_names = " ".join(  # one-word names only: "Küçük Çekmece" holds the word "small"
        str(name)
        for place in places
        for name in place.get("names", [])
        if " " not in str(name) and _script_counts(str(name))[0] == 0
    )
    return _Cues(
        strong={code: words(data["strong"].get(code)) for code in LANGUAGES},
        weak={code: words(data["weak"].get(code)) for code in LANGUAGES},
        neutral=words(data.get("neutral")) | words(latin_names),
        romanized={code: words((data.get("romanized") or {}).get(code)) for code in ARABIC_SCRIPT},
    )


_WORD = re.compile(r"[^\W\d_]+(?:['’\u200c-][^\W\d_]+)*", re.UNICODE)
# Arabizi writes the Arabic letters Latin lacks with digits: 2 ء, 3 ع, 5 خ, 7 ح ("mar7aba",
# "3andi", "sa7", "la2", "we2e3"). Not "2nd", "A2", "R-1042", "5pm" or Turkish "5'ten".
_TOKEN = re.compile(r"(?<![\w-])[a-z0-9]+(?![\w-])", re.IGNORECASE)
_ARABIZI_INSIDE = re.compile(r"[a-z][2357][a-z]|[a-z]{2}[2357]$")
_NOT_ARABIZI = frozenset({"mp3", "ps3", "ps5", "co2"})
_ARABIZI_FRONT = re.compile(
    r"[2357](?!(?:st|nd|rd|th|am|pm|ten|tan|den|dan|te|ta|de|da|er|ar|li|lik|inci|nci|uncu)$)"
    r"[a-z]{3,}$"
)


def _arabizi_words(text: str) -> int:
    """How many words of the text are Arabic written with digits for letters."""
    count = 0
    for token in _TOKEN.findall(text.lower()):
        if sum(ch.isalpha() for ch in token) < 2 or token in _NOT_ARABIZI:
            continue
        if _ARABIZI_INSIDE.search(token) or _ARABIZI_FRONT.match(token):
            count += 1
    return count


@dataclass(frozen=True)
class Detection:
    """One message's language: the code, how sure, and what decided it."""

    code: str | None
    confidence: float
    source: str  # "detected" | "prior" | "script" | "romanized" | "none"

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "confidence": round(self.confidence, 3), "source": self.source}


def clean_text(text: str) -> str:
    """Drops invisible format characters and normalises Unicode (NFC)."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", text or "")).strip()


# Persian typed on an Arabic keyboard: the cue lists are matched with one letter for each pair.
_KEYBOARD = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک"})


def fold_case(word: str) -> str:
    """Case-folds a word the way both Turkish and other users expect ("İŞKUR" -> "işkur"),
    and Arabic-keyboard ي ك as Persian ی ک."""
    return word.casefold().replace("\u0307", "").replace("\u200c", "").translate(_KEYBOARD)


def _script_counts(text: str) -> tuple[int, int]:
    arabic = latin = 0
    for ch in text:
        if "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\ufb50" <= ch <= "\ufeff":
            if ch.isalpha():
                arabic += 1
        elif ch.isalpha() and ch.isascii() or ch in _TURKISH_LETTERS or "\u00c0" <= ch <= "\u024f":
            latin += 1
    return arabic, latin


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    from lingua import Language, LanguageDetectorBuilder

    return (
        LanguageDetectorBuilder.from_languages(
            Language.ARABIC, Language.PERSIAN, Language.TURKISH, Language.ENGLISH
        )
        .with_preloaded_language_models()
        .build()
    )


def warm_up() -> None:
    """Loads lingua's models (a second or so); call at start-up, not at import."""
    _detector()
    _cues()


def _lingua_scores(text: str, pair: tuple[str, str]) -> dict[str, float]:
    names = {"ARABIC": "ar", "PERSIAN": "fa", "TURKISH": "tr", "ENGLISH": "en"}
    scores = dict.fromkeys(pair, 0.0)
    for value in _detector().compute_language_confidence_values(text):
        code = names.get(value.language.name)
        if code in scores:
            scores[code] = value.value
    total = sum(scores.values())
    if total <= 0:
        return dict.fromkeys(pair, 0.5)
    return {code: score / total for code, score in scores.items()}


def _cue_scores(
    text: str, words: list[str], pair: tuple[str, str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Evidence from letters and words: (strong cues, interjection cues) per language."""
    table = _cues()
    cues = dict.fromkeys(pair, 0.0)
    weak = dict.fromkeys(pair, 0.0)
    lowered = [fold_case(w) for w in words]
    for code in pair:
        cues[code] += sum(1.0 for w in lowered if w in table.strong[code])
        weak[code] += sum(1.0 for w in lowered if w in table.weak[code])
    if pair == ARABIC_SCRIPT:
        persian = sum(1 for ch in text if ch in _PERSIAN_LETTERS)
        arabic = sum(1 for ch in text if ch in _ARABIC_ONLY_LETTERS)
        cues["fa"] += 1.5 * persian
        cues["ar"] += 1.5 * arabic
        if digits := _digits_language(text):  # the keyboard the digits were typed on
            cues[digits] += 1.0
        if "\u200c" in text:  # ZWNJ inside words is a Persian habit
            cues["fa"] += 1.0
        # Arabic definite article on a word is common in Arabic, rare in Persian sentences.
        cues["ar"] += 0.5 * sum(1 for w in words if w.startswith("ال") and len(w) > 3)
    else:
        # Turkish letters count, except in institution and place names (capitalised words
        # such as "Bağcılar" or "İŞKUR" inside an English sentence).
        turkish_words = [
            w
            for w, original in zip(lowered, words, strict=True)
            if any(ch in _TURKISH_LETTERS for ch in w) and not _is_name(original)
        ]
        cues["tr"] += 1.5 * len(turkish_words)
    return cues, weak


def _romanized(text: str, words: list[str], prior: str | None) -> str | None:
    """Persian or Arabic typed in Latin letters ("panahandegi sabt nam chetor mikonan",
    "mar7aba kifak"): the language, when the message says so clearly enough."""
    table = _cues()
    lowered = [fold_case(w) for w in words]
    hits = {code: sum(1 for w in lowered if w in table.romanized[code]) for code in ARABIC_SCRIPT}
    hits["ar"] += _arabizi_words(text)
    best = max(ARABIC_SCRIPT, key=lambda code: hits[code])
    if hits[best] == 0 or hits["ar"] == hits["fa"]:
        return None
    latin = max(
        sum(1 for w in lowered if w in table.strong[code] or w in table.weak[code])
        for code in LATIN_SCRIPT
    )
    if prior == best or hits[best] >= 2 and hits[best] > latin:
        return best  # a Persian or Arabic conversation goes on in Latin letters
    if len(words) <= 2 and latin == 0:
        return best  # "mamnoon", "shukran habibi"
    return None


def _digits_language(text: str) -> str | None:
    if any(ch in _PERSIAN_DIGITS for ch in text):
        return "fa"
    if any(ch in _ARABIC_DIGITS for ch in text):
        return "ar"
    return None


def _is_name(word: str) -> bool:
    """A place or institution name: capitalised with Turkish letters, or a known one."""
    return (word[:1].isupper() and any(ch in _TURKISH_LETTERS for ch in word)) or (
        fold_case(word) in _cues().neutral
    )


def _without_names(text: str, words: list[str]) -> str:
    """The text without names, which say nothing about the language it is written in."""
    names = [w for w in words if _is_name(w)]
    if not names or len(names) == len(words):
        return text
    return " ".join(w for w in words if w not in names)


def detect(text: str, prior: str | None = None) -> Detection:
    """Detects the language of one chat message.

    ``prior`` is the conversation's language so far; it decides messages that carry too
    little evidence (one or two words, digits, emoji).
    """
    prior = prior if prior in LANGUAGES else None
    text = clean_text(text)
    if text.startswith("/"):
        # A button payload ("/ask_legal_aid", '/choose_language{"language":"fa"}') is not
        # language: the conversation keeps its own.
        return Detection(prior, 1.0 if prior else 0.0, "prior" if prior else "none")
    arabic, latin = _script_counts(text)
    if arabic == 0 and latin == 0:
        if prior is None and (digits := _digits_language(text)):
            # A phone number typed on a Persian or Arabic keyboard, as a first message.
            return Detection(digits, 0.5, "script")
        return Detection(prior, 1.0 if prior else 0.0, "prior" if prior else "none")
    words = _WORD.findall(text)
    arabic_words = [w for w in words if _script_counts(w)[0] >= 2]
    # Whoever types Arabic-script words reads Arabic script: Arabic and Persian speakers mix
    # Turkish institution words and English into their messages ("ikamet randevusu از کجا
    # بگیرم", "ممكن operator"); Turkish and English speakers do not type Arabic script. So a
    # message with an Arabic-script word is answered in Arabic or Persian, decided on those words.
    pair = ARABIC_SCRIPT if arabic_words or arabic >= latin else LATIN_SCRIPT
    if pair == LATIN_SCRIPT and (romanized := _romanized(text, words, prior)):
        if prior in LATIN_SCRIPT and len(words) <= 3:
            # "shukran habibi" in an English conversation: a courtesy, not a switch
            return Detection(prior, 0.5, "prior")
        return Detection(romanized, 0.5, "romanized")
    if pair == ARABIC_SCRIPT:
        sample = " ".join(arabic_words) if arabic_words and latin else text
    else:
        sample = _without_names(text, words)

    lingua = _lingua_scores(sample, pair)
    cues, weak = _cue_scores(text, words, pair)
    a, b = pair
    cue_margin = cues[a] - cues[b] + 0.7 * (weak[a] - weak[b])
    # Each clear cue moves the decision by a fixed step; lingua keeps the final say on
    # long messages where it is reliable and the cues are few.
    # lingua says little about a short message, so there each cue counts for more.
    step = 0.5 if len(words) <= 2 else 0.3 if len(words) <= 5 else 0.15
    score_a = lingua[a] + step * cue_margin
    winner = a if score_a >= 0.5 else b
    confidence = min(1.0, abs(score_a - 0.5) * 2)

    if prior is not None and prior != winner and len(words) <= 2 and cues[winner] <= 0:
        # One or two words with nothing specific to another language ("ok", "تمام",
        # "hi"): the conversation keeps its language.
        return Detection(prior, 0.5, "prior")
    if prior in pair and prior != winner and confidence < 0.2:
        return Detection(prior, 0.5, "prior")
    return Detection(winner, confidence, "detected")
