"""The training data covers every intent in every language and never leaks into the held-out set."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("ar", "fa", "tr", "en")
REQUIRED_INTENTS = """greet goodbye thank affirm deny bot_challenge ask_legal_aid
ask_international_protection ask_residence_permit ask_work_permit ask_job_search
ask_health_services ask_child_education ask_language_course ask_vocational_course
ask_psychosocial_support ask_social_assistance ask_housing ask_interpreter find_service_nearby
request_human check_referral_status emergency out_of_scope""".split()


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold().replace("\u200c", "")
    text = text.translate(str.maketrans("يكى", "یکی"))
    return re.sub(r"[\W_]+", " ", text).strip()


def training_examples() -> dict[tuple[str, str], list[str]]:
    examples: dict[tuple[str, str], list[str]] = {}
    for path in sorted((ROOT / "nlu_data" / "nlu").glob("*/*.yml")):
        lang = path.parent.name
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            lines = [
                line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")
            ]
            examples.setdefault((lang, block["intent"]), []).extend(lines)
    return examples


def read_tsv(name: str) -> list[dict[str, str]]:
    with open(ROOT / "nlu_data" / name, encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_domain_lists_exactly_the_trained_intents(domain: dict) -> None:
    trained = {intent for _, intent in training_examples()}
    assert set(REQUIRED_INTENTS) <= set(domain["intents"])
    assert set(domain["intents"]) == trained


@pytest.mark.parametrize("lang", LANGUAGES)
def test_at_least_40_examples_per_intent(lang: str, domain: dict) -> None:
    """40 for every required intent; the button-driven ones (more, details, location...) 10."""
    examples = training_examples()
    counts = {i: len(examples.get((lang, i), [])) for i in domain["intents"]}
    assert {i: n for i, n in counts.items() if n < (40 if i in REQUIRED_INTENTS else 10)} == {}


def test_no_example_is_labelled_twice() -> None:
    seen: dict[str, str] = {}
    conflicts = []
    for (_, intent), lines in training_examples().items():
        for line in lines:
            key = normalise(line)
            if key in seen and seen[key] != intent:
                conflicts.append((line, seen[key], intent))
            seen[key] = intent
    assert conflicts == []


@lru_cache(maxsize=1)
def trained_texts() -> frozenset[str]:
    """Every training example, normalised (read once for all the leak checks)."""
    return frozenset(normalise(x) for lines in training_examples().values() for x in lines)


@pytest.mark.parametrize(
    ("name", "minimum"),
    [
        ("heldout.tsv", 10),
        # Written without sight of the training data or the first held-out set; lines that
        # happened to equal a training line were dropped from it, never trained.
        ("heldout2.tsv", 4),
        # Set 3: written the same way, in the style of the first (hard, realistic), and kept
        # sealed while the classifier was changed; its 240 lines equal to a training line
        # (mostly greetings, yes/no, thanks) were dropped, leaving at least 3 per intent.
        ("heldout3.tsv", 3),
        # Set 4 (session 9): written from the label guide only, every message in its column's
        # language; its 89 lines equal to a training line were dropped unread, leaving >= 2.
        ("heldout4.tsv", 2),
    ],
)
def test_held_out_sets_cover_every_intent_and_never_train(name: str, minimum: int) -> None:
    rows = read_tsv(name)
    counts = Counter((r["lang"], r["intent"]) for r in rows)
    for lang in LANGUAGES:
        for intent in REQUIRED_INTENTS:
            assert counts[(lang, intent)] >= minimum, (lang, intent, counts[(lang, intent)])
    trained = trained_texts()
    leaked = [r["text"] for r in rows if normalise(r["text"]) in trained]
    assert leaked == []


def test_story_messages_are_neither_trained_nor_held_out() -> None:
    trained = trained_texts()
    held = {normalise(r["text"]) for r in read_tsv("heldout.tsv")}
    story = [r["text"] for r in read_tsv("story_messages.tsv")]
    assert [t for t in story if normalise(t) in trained | held] == []


@pytest.mark.parametrize(
    "name",
    [
        "heldout_safety.tsv",
        "heldout_safety2.tsv",
        "heldout_safety3.tsv",
        "heldout_safety4.tsv",
        "heldout_safety5.tsv",
    ],
)
def test_safety_sets_are_independent_of_training(name: str) -> None:
    """The safety sets (emergencies and their near misses, written without sight of the
    training data) are test sets only: none of their messages may be trained on."""
    rows = read_tsv(name)
    # 50 per language as written; set 3 lost one line that equalled a training line.
    assert set(Counter(r["lang"] for r in rows).values()) <= {49, 50}
    assert {r["lang"] for r in rows} == set(LANGUAGES)
    assert {r["intent"] for r in rows} <= set(REQUIRED_INTENTS)
    trained = trained_texts()
    assert [r["text"] for r in rows if normalise(r["text"]) in trained] == []


@pytest.mark.parametrize("name", ["heldout_romanized2.tsv", "heldout_romanized3.tsv"])
def test_romanized_sets_are_independent_of_training(name: str) -> None:
    """Persian and Arabic typed in Latin letters (session 9): 30 emergencies and 30 other
    messages per language, written from the label guide only by helpers who saw no training
    data; the few lines that equalled a training line (greetings, a "no") were dropped."""
    rows = read_tsv(name)
    counts = Counter((r["lang"], r["intent"] == "emergency") for r in rows)
    assert counts[("ar", True)] == counts[("fa", True)] == 30
    assert counts[("ar", False)] >= 28 and counts[("fa", False)] >= 28
    trained = trained_texts()
    assert [r["text"] for r in rows if normalise(r["text"]) in trained] == []
