"""One service described in the person's language; unknowns are said, never guessed."""

from __future__ import annotations

from actions.common import localized
from actions.texts import Texts
from service_catalogue.models import Service

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _hours(service: Service, t: Texts) -> str:
    names = dict(zip(DAYS, t.text("msg_weekdays").split(","), strict=True))
    schedules = list(service.schedules)
    for link in service.service_at_locations:
        schedules += list(link.location.schedules)
    if not schedules:
        return t.text("msg_unknown")
    return "; ".join(
        f"{', '.join(names[d].strip() for d in s.byday.split(','))} {s.opens_at}–{s.closes_at}"
        for s in schedules
    )


def describe(service: Service, language: str, t: Texts) -> str:
    unknown = t.text("msg_unknown")
    addresses = []
    phones = [p.number for p in service.phones]
    for link in service.service_at_locations:
        location = link.location
        name = localized(location.name, language) or ""
        where = location.address_1 or unknown
        district = ", ".join(x for x in (location.district, location.city) if x)
        addresses.append(f"{name} — {where}" + (f" ({district})" if district else ""))
        phones += [p.number for p in location.phones]
    phones += [p.number for p in service.organization.phones]
    if service.languages:
        spoken = ", ".join(sorted({lang.code for lang in service.languages}))
    else:
        spoken = unknown
    if service.interpreters:
        spoken += " · " + t.text("msg_service_interpreters")
    documents = (
        unknown
        if "required_documents" in service.unknown
        else (
            "; ".join(localized(d.document, language) or "" for d in service.required_documents)
            or t.text("msg_service_no_documents")
        )
    )
    cost = {"free": t.text("msg_cost_free"), "paid": t.text("msg_cost_paid")}.get(
        service.cost, unknown
    )
    return t.text(
        "msg_service_details",
        name=localized(service.name, language) or service.id,
        organization=localized(service.organization.name, language) or "",
        description=localized(service.description, language) or "",
        address="; ".join(addresses) or unknown,
        hours=_hours(service, t),
        phone=", ".join(dict.fromkeys(phones)) or unknown,
        languages=spoken,
        eligibility=localized(service.eligibility, language) or unknown,
        documents=documents,
        cost=cost,
    )
