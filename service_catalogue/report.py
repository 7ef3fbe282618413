"""What content editors still need to do: unknown facts, missing and machine-drafted texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlu_components.gazetteer import Gazetteer
from service_catalogue.seed import read_catalogue


def _translation_todo(status: dict[str, Any]) -> list[str]:
    todo = []
    for field, languages in sorted(status.items()):
        for lang, state in sorted(languages.items()):
            if state != "reviewed":
                todo.append(f"{field}.{lang}: {state.replace('_', ' ')}")
    return todo


def content_report(content_dir: Path, gazetteer: Gazetteer) -> list[str]:
    catalogue = read_catalogue(content_dir, gazetteer)
    lines = [f"error: {e}" for e in catalogue.errors]
    unknown_total = draft_total = 0
    for organization in catalogue.organizations:
        lines.append(f"\n{organization.source}  [{organization.id}]")
        entries: list[tuple[str, Any]] = [("organization", organization)]
        entries += [(f"location {loc.id}", loc) for loc in organization.locations]
        entries += [(f"service {s.id}", s) for s in organization.services]
        for label, entry in entries:
            todo = _translation_todo(entry.i18n_status)
            if entry.unknown:
                unknown_total += len(entry.unknown)
                lines.append(f"  {label}: unknown — {', '.join(entry.unknown)}")
            if todo:
                draft_total += len(todo)
                lines.append(f"  {label}: to review — {'; '.join(todo)}")
    lines.insert(
        0,
        f"Content report: {len(catalogue.organizations)} organizations, "
        f"{sum(len(o.services) for o in catalogue.organizations)} services; "
        f"{unknown_total} unknown facts to fill, {draft_total} translations to review.",
    )
    return lines
