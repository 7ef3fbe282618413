"""Entities as people type them: districts with suffixes, typos and other scripts; reference ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu_components.gazetteer import Gazetteer, PhraseList, edit_distance, fold

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture(scope="module")
def danger() -> PhraseList:
    return PhraseList.from_file(ROOT / "nlu_data" / "lookups" / "emergency.yml")


@pytest.mark.parametrize(
    "text",
    [
        "please help, my friend is BLEEDING a lot",
        "Acil! Mutfakta yangın çıktı",
        "زوجي عم يضربني هلق",
        "ميخوام خودمو بكشم",  # Persian on an Arabic keyboard
        "پسرم گم شده از صبح",
        "kendimi öldürmek istiyorum",
        # a weapon or a threat to the family, now
        "my neighbour pulled a knife on my son, he is outside the door",
        "patron silah çekti bize, dükkandayız",
        "صاحب الشغل عم يهدد عيلتي اذا ما رجعت",
        "همسایه با چاقو تهدید کرد که امشب میاد",
    ],
)
def test_danger_phrases_are_found_in_every_language(danger: PhraseList, text: str) -> None:
    assert danger.find(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "I need a lawyer for my eviction",
        "my kimlik is missing, how do I get a new one",
        "is there a fire safety course at BUSMEK",
        "bir avukata ihtiyacım var",
        "بدي اسجل ابني بالمدرسة",
        "کلاس زبان ترکی کجاست",
        "the firewall at work blocks e-Devlet",
        "knife skills course for cooks in Osmangazi",
        "silah ruhsatı olan bekçi işi arıyorum",
    ],
)
def test_ordinary_requests_are_not_danger(danger: PhraseList, text: str) -> None:
    assert danger.find(text) is None


def test_danger_phrases_rarely_fire_on_non_emergency_training_examples(danger: PhraseList) -> None:
    import yaml

    hits, total = [], 0
    for path in (ROOT / "nlu_data" / "nlu").glob("*/*.yml"):
        block = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"][0]
        if block["intent"] == "emergency":
            continue
        for line in block["examples"].splitlines():
            total += 1
            if danger.find(line[2:]):
                hits.append(line)
    assert len(hits) <= total // 1000, hits


@pytest.mark.parametrize(
    "text",
    [
        # a child missing now, the wish to sleep and never wake, being a burden to others
        "my daughter went missing at the bazaar an hour ago",
        "oğlumu bulamıyorum parkta, 7 yaşında",
        "ابني ضايع بالسوق من ساعة",
        "پسر ۱۰ ساله ام از دیروز خانه نیامده",
        "I just want to sleep and never wake up",
        "ولله لو متت كلهم بيرتاحو مني",
        "بعضی وقتا فکر میکنم اگه بمیرم راحت میشن",
        "keşke ölsem de bu dertler bitse",
    ],
)
def test_danger_phrases_for_missing_children_and_indirect_suicidal_wishes(
    danger: PhraseList, text: str
) -> None:
    assert danger.find(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "I lost my son in the war and I cannot sleep since",  # grief, not danger now
        "my documents went missing when we moved",
        "فقدت ابني بالحرب وما عم نام",
        "ابني غاب عن المدرسة اليوم",
        "شوهرم هنوز از سر کار خانه نیامده",
    ],
)
def test_grief_and_absence_are_not_danger(danger: PhraseList, text: str) -> None:
    assert danger.find(text) is None


@pytest.mark.parametrize(
    "text",
    [
        # someone very ill or hurt now, violence to a family member now
        "my husband has chest pain and is sweating, what do I do",
        "babam yığıldı kaldı mutfakta",
        "ابني عم يتشنج وحرارته عالية",
        "مادرم از هوش رفت و جواب نمیده",
        "he is beating my mother right now",
        "amcam annemi dövüyor yetişin",
        "جوزها عم يضرب امي هلق",
        "کیسه آبم پاره شد و تنهام",
    ],
)
def test_danger_phrases_for_illness_injury_and_family_violence(
    danger: PhraseList, text: str
) -> None:
    assert danger.find(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        # the same words about the past or said figuratively (from the training data's topics)
        "our building collapsed in the earthquake and we want to sue the contractor",
        "هفته پیش از استرس غش کردم، دکتر گفت با مشاور حرف بزن",
        "کارگاه بسته شد و صاحبش غیب شد، کار میخواهم",
        "dört aile tek dairede kalıyoruz, nefes alamıyoruz, ayrı bir yer lazım",
    ],
)
def test_past_and_figurative_uses_are_not_danger(danger: PhraseList, text: str) -> None:
    assert danger.find(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a negation right before a danger phrase takes it back; the classifier still reads it
        ("i dont want to die, i just want someone to talk to", False),
        ("I don't want to die, I am only tired", False),
        ("ما اريد اموت بس تعبت وما عم نام", False),
        ("والله ما بفكر أأذي حالي بس بدي حدا احكي معه", False),
        ("he is not beating me anymore, I want a divorce lawyer", False),
        # negations that belong to the phrase, or a "no" said before it, do not
        ("please help I want to die", True),
        ("ابني ما عم يتنفس", True),
        ("he is not breathing", True),
        ("لا جوزي عم يضربني هلق", True),
    ],
)
def test_a_negation_before_a_danger_phrase(danger: PhraseList, text: str, expected: bool) -> None:
    assert (danger.find(text) is not None) == expected


def test_a_persian_call_for_help_with_i_dont_want_to_die(danger: PhraseList) -> None:
    """The classifier read "کمکم کنید نمیخوام بمیرم" as `deny`; the list catches it, also on an
    Arabic keyboard and with a comma, and leaves "I don't want to die, I'm just tired" alone."""
    assert danger.find("کمکم کنید نمیخوام بمیرم") is not None
    assert danger.find("تو رو خدا کمک کنید، نمیخواهم بمیرم") is not None
    assert danger.find("كمكم كنيد نميخوام بميرم") is not None
    assert danger.find("نمیخوام بمیرم فقط خسته ام، یه مشاور میخوام") is None
