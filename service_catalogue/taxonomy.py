"""Our taxonomy: the 13 service categories and the audiences, named in content/taxonomy.yml.

Intents and the ``service_category`` entity map onto these category codes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

CONTENT = Path(__file__).resolve().parent.parent / "content" / "taxonomy.yml"
CITIES = ("Bursa", "İstanbul")

CATEGORY_CODES = (
    "legal_aid", "international_protection", "residence", "work_permit", "jobs", "health",
    "child_education", "language_course", "vocational_course", "psychosocial",
    "social_assistance", "housing", "interpreting",
)  # fmt: skip
AUDIENCE_CODES = (
    "everyone", "refugees", "women", "children", "temporary_protection",
    "international_protection", "residence_permit", "host_community", "municipal_staff",
)  # fmt: skip

# Which category each topic intent asks about.
INTENT_CATEGORY = {
    "ask_legal_aid": "legal_aid",
    "ask_international_protection": "international_protection",
    "ask_residence_permit": "residence",
    "ask_work_permit": "work_permit",
    "ask_job_search": "jobs",
    "ask_health_services": "health",
    "ask_child_education": "child_education",
    "ask_language_course": "language_course",
    "ask_vocational_course": "vocational_course",
    "ask_psychosocial_support": "psychosocial",
    "ask_social_assistance": "social_assistance",
    "ask_housing": "housing",
    "ask_interpreter": "interpreting",
}


@lru_cache(maxsize=1)
def _names() -> dict[str, dict[str, dict[str, str]]]:
    data = yaml.safe_load(CONTENT.read_text(encoding="utf-8"))
    return {"categories": data["categories"], "audiences": data["audiences"]}


def category_name(code: str, language: str) -> str:
    names = _names()["categories"].get(code) or {}
    return names.get(language) or names.get("tr") or code


def category_names() -> dict[str, dict[str, str]]:
    return _names()["categories"]


def audience_names() -> dict[str, dict[str, str]]:
    return _names()["audiences"]


def category_for(intent: str | None, entity: str | None) -> str | None:
    """The category a message asks about: the named category first, then the intent's."""
    if entity in CATEGORY_CODES:
        return entity
    return INTENT_CATEGORY.get(intent or "")
