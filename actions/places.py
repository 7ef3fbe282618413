"""Districts and cities from the gazetteer (the same file the NLU uses)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from nlu_components.gazetteer import Entry, Gazetteer

GAZETTEER = Path(__file__).resolve().parent.parent / "nlu_data" / "lookups" / "gazetteer.yml"


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    return Gazetteer.from_file(GAZETTEER)


def district_entry(text: str) -> Entry | None:
    """The district someone typed, forgiving suffixes, scripts and small typos."""
    return gazetteer().lookup(text, "district")


def city_of(district: str) -> str | None:
    entry = district_entry(district)
    city = entry.extra.get("city") if entry else None
    return str(city) if city else None
