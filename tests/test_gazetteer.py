"""Entities as people type them: districts with suffixes, typos and other scripts; reference ids."""

from __future__ import annotations

import pytest

from nlu_components.gazetteer import Gazetteer, edit_distance, fold


def values(gazetteer: Gazetteer, text: str) -> list[tuple[str, str]]:
    return [(m.entity, m.value) for m in gazetteer.extract(text)]


@pytest.mark.parametrize(
    ("text", "district"),
    [
        ("Osmangazi'de avukat lazım", "Osmangazi"),
        ("osmangazı", "Osmangazi"),
        ("zeytinburnu'da kurs var mı", "Zeytinburnu"),
        ("zeytinburnuda turkce kursu", "Zeytinburnu"),
        ("Zeytinbrunu", "Zeytinburnu"),
        ("kucukcekmece", "Küçükçekmece"),
        ("Küçük Çekmece'de", "Küçükçekmece"),
        ("بدي محامي بعثمان غازي", "Osmangazi"),
        ("وين مكتب الهجرة بالفاتح", "Fatih"),
        ("کلاس زبان ترکی در یلدریم", "Yıldırım"),
        ("كلاس زبان در يلدريم", "Yıldırım"),
        ("we live in Esenyurt", "Esenyurt"),
        ("Esenyurtta oturuyorum", "Esenyurt"),
        ("Inegol", "İnegöl"),
    ],
)
def test_districts(gazetteer: Gazetteer, text: str, district: str) -> None:
    assert ("district", district) in values(gazetteer, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my referral R-1042 status", ("referral_id", "R-1042")),
        ("r 2210 ne oldu", ("referral_id", "R-2210")),
        ("طلبي R-١٠٤٢", ("referral_id", "R-1042")),
        ("r4512", ("referral_id", "R-4512")),
        ("I need an Arabic interpreter", ("language", "ar")),
        ("مترجم فارسی میخواهم", ("language", "fa")),
        ("Türkçe yaz lütfen", ("language", "tr")),
        ("avukat lazım", ("service_category", "legal_aid")),
        ("BUSMEK kursları", ("service_category", "vocational_course")),
        ("كورس تركي", ("service_category", "language_course")),
    ],
)
def test_other_entities(gazetteer: Gazetteer, text: str, expected: tuple[str, str]) -> None:
    assert expected in values(gazetteer, text)


@pytest.mark.parametrize(
    "text",
    [
        "this is it",
        "is there a way",
        "in the morning",
        "ev sahibi beni çıkarıyor",
        "bir sorum var",
        "<script>alert(1)</script>",
        "'; DROP TABLE tickets; --",
        "R2D2 is a robot",
    ],
)
def test_no_entities_in_ordinary_words(gazetteer: Gazetteer, text: str) -> None:
    assert [v for v in values(gazetteer, text) if v[0] in ("district", "referral_id")] == []


def test_unknown_district_is_not_guessed(gazetteer: Gazetteer) -> None:
    assert gazetteer.lookup("Ankara", "district") is None
    assert gazetteer.lookup("Atlantis", "district") is None


def test_lookup_returns_the_city(gazetteer: Gazetteer) -> None:
    entry = gazetteer.lookup("zeytinburnu'da", "district")
    assert entry is not None and entry.value == "Zeytinburnu" and entry.extra["city"] == "İstanbul"


def test_fold_and_distance() -> None:
    assert fold("İŞKUR") == fold("iskur")
    assert fold("يلدريم") == fold("یلدریم")
    assert edit_distance("zeytinbrunu", "zeytinburnu", 2) == 2
    assert edit_distance("abc", "xyzxyz", 1) == 2
