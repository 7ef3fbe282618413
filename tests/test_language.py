"""Language identification: the hard pairs (Arabic/Persian, diacritic-less Turkish/English),
short messages decided by the conversation, and the held-out set as a whole."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nlu_components.language import clean_text, detect

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Persian typed with Arabic-keyboard letters (ي ك) is still Persian
        ("ميخواهم بچه ام را در مكتب ثبت نام كنم", "fa"),
        ("من کیملیک ندارم چطور کار پیدا کنم", "fa"),
        ("بدي اسجل ابني بالمدرسة", "ar"),
        ("شلون اطلع اقامة سياحية هسه", "ar"),
        ("أريد محاميا مجانيا في عثمان غازي", "ar"),
        ("کجا میتونم ترکی یاد بگیرم", "fa"),
        # Turkish without its letters is still Turkish, not English
        ("cocugum okula gitmiyor ne yapmaliyim", "tr"),
        ("calisma izni nasil alinir", "tr"),
        ("ikamet iznim bitti ne yapacagim", "tr"),
        # English carrying Turkish institution names is still English
        ("how do I register with İŞKUR", "en"),
        ("where can I renew my ikamet in Osmangazi", "en"),
        ("my kimlik is from Gaziantep, can I get SGK here", "en"),
        # District names from the gazetteer are neutral, without Turkish letters too
        ("migrant center in Zeytinburnu exist?", "en"),
        ("I live in Osmangazi", "en"),
        ("Kestel de iskur var mi", "tr"),
        # Arabic-script words among Turkish or English ones: the person reads Arabic script
        ("sosyal yardım başvurusu muhtarlık üzerinden نحنا وين نروح", "ar"),
        ("e-Devlet şifresi için PTT'ye gitmem lazım مگه نه", "fa"),
        ("yani please help بدي محامي", "ar"),
    ],
)
def test_hard_pairs(text: str, expected: str) -> None:
    assert detect(text).code == expected


@pytest.mark.parametrize(
    ("text", "prior", "expected"),
    [
        ("ok", "ar", "ar"),
        ("ok", "fa", "fa"),
        ("تمام", "ar", "ar"),
        ("تمام", "fa", "fa"),
        ("باي", "ar", "ar"),
        ("👍", "tr", "tr"),
        ("R-1042", "fa", "fa"),
        # a clear sentence in another language switches the conversation
        ("I need a lawyer in Bursa", "ar", "en"),
        ("merhaba avukat lazım", "en", "tr"),
    ],
)
def test_short_messages_follow_the_conversation(text: str, prior: str, expected: str) -> None:
    assert detect(text, prior).code == expected


def test_nothing_to_detect() -> None:
    assert detect("").code is None
    assert detect("   ").code is None
    assert detect("😀😀😀").code is None
    assert detect("12345", "fa").code == "fa"
    assert detect("0532 418 77 21").code is None


def test_persian_and_arabic_keyboard_digits() -> None:
    """A phone number typed on a Persian (۰-۹) or Arabic (٠-٩) keyboard says which script the
    person reads; the conversation's language still wins when there is one."""
    assert detect("۰۵۳۲ ۴۱۷ ۸۸ ۲۰").code == "fa"
    assert detect("٠٥٣٢ ٤١٧ ٨٨ ٢٠").code == "ar"
    assert detect("۰۵۳۲ ۴۱۷ ۸۸ ۲۰", "ar").code == "ar"
    assert detect("۳۴ سال").code == "fa"


@pytest.mark.parametrize(
    ("text", "prior", "expected"),
    [
        # Persian and Arabic typed in Latin letters, as a first message
        ("panahandegi sabt nam chetor mikonan", None, "fa"),
        ("salam, tarjoman mikham baraye bimarestan", None, "fa"),
        ("mamnoon", None, "fa"),
        ("mar7aba kifak", None, "ar"),
        ("baddi mohami ya3ni daroure", None, "ar"),
        ("shukran habibi", None, "ar"),
        # in a Persian or Arabic conversation, one such word is enough
        ("ok bale", "fa", "fa"),
        ("yalla ok", "ar", "ar"),
        # a courtesy in an English conversation does not switch it
        ("shukran habibi", "en", "en"),
        ("ma salama habibi", "en", "en"),
        ("mamnoon", "tr", "tr"),
        # English and Turkish that share words or digits with them stay as they are
        ("yani hala ne oldu", None, "tr"),
        ("ana sinifi kaydi icin ne lazim", None, "tr"),
        ("saat 5ten sonra gelebilir miyim", None, "tr"),
        ("I need a lawyer, the law says my landlord cannot do this", None, "en"),
        ("A2 level course on the 2nd floor at 5pm", None, "en"),
        ("what is the status of R-3157", None, "en"),
    ],
)
def test_romanized_persian_and_arabic(text: str, prior: str | None, expected: str) -> None:
    assert detect(text, prior).code == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # dialect words lingua takes for the other language: Egyptian, Iraqi, Sudanese,
        # Levantine; colloquial Persian, also typed on an Arabic keyboard
        ("عايز اعرف ازاي اطلع اقامة", "ar"),
        ("شكو ماكو هسه", "ar"),
        ("داير شغل", "ar"),
        ("ما بعرف وين روح", "ar"),
        ("موافقم", "fa"),
        ("خونه ارزون ميخوام", "fa"),
        ("نميدونم چيكار كنم", "fa"),
    ],
)
def test_dialect_words(text: str, expected: str) -> None:
    assert detect(text).code == expected


def test_invisible_characters_are_removed_but_persian_zwnj_kept() -> None:
    assert clean_text("\u200bhello\u202e\ufeff") == "hello"
    assert clean_text("می\u200cخواهم") == "می\u200cخواهم"


def _held_out() -> list[dict[str, str]]:
    with open(ROOT / "nlu_data" / "heldout.tsv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_held_out_language_accuracy_in_a_conversation() -> None:
    """As the bot runs: the person's earlier messages are the prior (docs/benchmarks.md)."""
    rows = _held_out()
    wrong = [r for r in rows if detect(r["text"], r["lang"]).code != r["lang"]]
    assert 1 - len(wrong) / len(rows) >= 0.99, [(r["lang"], r["text"]) for r in wrong]


def test_held_out_language_accuracy_of_first_messages() -> None:
    """With no prior at all, only the one- or two-word messages may go wrong."""
    rows = _held_out()
    wrong = [r for r in rows if detect(r["text"]).code != r["lang"]]
    assert 1 - len(wrong) / len(rows) >= 0.98
    assert all(len(r["text"].split()) <= 4 for r in wrong), [r["text"] for r in wrong]
