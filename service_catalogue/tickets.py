"""Referral tickets: creation with consent, the status lifecycle and its audit trail, erasure.

new → assigned → in_progress → referred (to a catalogue service) → resolved / closed.
Every transition records who, when and a note (``ticket_event``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalogue.models import REFERENCE_OFFSET, Service, Ticket, TicketEvent

STATUSES = ("new", "assigned", "in_progress", "referred", "resolved", "closed")
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "closed"}),
    "assigned": frozenset({"new", "in_progress", "closed"}),
    "in_progress": frozenset({"referred", "resolved", "closed"}),
    "referred": frozenset({"in_progress", "resolved", "closed"}),
    "resolved": frozenset({"in_progress", "closed"}),
    "closed": frozenset(),
}
SUMMARY_CHARS = 280
MAX_DESCRIPTION_CHARS = 20_000
_REFERENCE = re.compile(r"^\s*[Rr]\s*[-‐–_ ]?\s*(\d{1,9})\s*$")


class TicketError(ValueError):
    """A transition or request the lifecycle does not allow."""


def now() -> datetime:
    return datetime.now(timezone.utc)


def summarise(description: str) -> tuple[str, bool]:
    """The first ``SUMMARY_CHARS`` characters, cut at a word; True when it was cut."""
    text = " ".join(description.split())
    if len(text) <= SUMMARY_CHARS:
        return text, False
    cut = text[:SUMMARY_CHARS].rsplit(" ", 1)[0] or text[:SUMMARY_CHARS]
    return cut + "…", True


def create_ticket(
    session: Session,
    *,
    conversation_id: str,
    channel: str,
    language: str,
    description: str,
    consent_at: datetime,
    category: str | None = None,
    urgent: bool = False,
    contact_preference: str = "chat",
    phone: str | None = None,
    district: str | None = None,
    at: datetime | None = None,
) -> Ticket:
    """Creates a ticket; the full description is kept, the summary is trimmed for staff lists."""
    if contact_preference not in ("chat", "phone"):
        raise TicketError(f"unknown contact preference {contact_preference!r}")
    if contact_preference == "phone" and not phone:
        raise TicketError("a phone number is needed for a call back")
    at = at or now()
    description = description.strip()[:MAX_DESCRIPTION_CHARS]
    summary, trimmed = summarise(description)
    ticket = Ticket(
        conversation_id=conversation_id,
        channel=channel,
        language=language,
        category=category,
        urgency="urgent" if urgent else "normal",
        summary=summary,
        description=description,
        description_trimmed=trimmed,
        contact_preference=contact_preference,
        phone=phone if contact_preference == "phone" else None,
        district=district,
        consent_at=consent_at,
        status="new",
        notes=[],
        created_at=at,
        updated_at=at,
    )
    ticket.events.append(
        TicketEvent(
            at=at, actor="rehber-bot", from_status=None, to_status="new", note="created from chat"
        )
    )
    session.add(ticket)
    session.flush()
    return ticket


def transition(
    session: Session,
    ticket: Ticket,
    to_status: str,
    actor: str,
    note: str | None = None,
    referred_service_id: str | None = None,
    at: datetime | None = None,
) -> TicketEvent:
    if to_status not in STATUSES:
        raise TicketError(f"unknown status {to_status!r}")
    if to_status not in TRANSITIONS[ticket.status]:
        raise TicketError(f"a {ticket.status} ticket cannot become {to_status}")
    if not actor.strip():
        raise TicketError("every change needs the name of who made it")
    if to_status == "referred":
        if not referred_service_id or session.get(Service, referred_service_id) is None:
            raise TicketError("a referral needs a service from the catalogue")
        ticket.referred_service_id = referred_service_id
    if to_status == "assigned":
        ticket.assigned_to = actor
    at = at or now()
    event = TicketEvent(
        at=at, actor=actor, from_status=ticket.status, to_status=to_status, note=note
    )
    ticket.events.append(event)
    ticket.status = to_status
    ticket.updated_at = at
    session.flush()
    return event


def parse_reference(text: str) -> int | None:
    """ "R-1042" → the ticket id; None when it is not a reference."""
    match = _REFERENCE.match(text or "")
    if not match:
        return None
    number = int(match.group(1)) - REFERENCE_OFFSET
    return number if number > 0 else None


def find_for_conversation(session: Session, reference: str, conversation_id: str) -> Ticket | None:
    """The ticket only if it belongs to this conversation: another person's reference and a
    reference that does not exist look exactly the same from outside."""
    ticket_id = parse_reference(reference)
    if ticket_id is None:
        return None
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.conversation_id != conversation_id or ticket.erased_at is not None:
        return None
    return ticket


def tickets_of(session: Session, conversation_id: str) -> list[Ticket]:
    return list(
        session.scalars(
            select(Ticket).where(Ticket.conversation_id == conversation_id).order_by(Ticket.id)
        )
    )


def erase_personal_data(session: Session, conversation_id: str, at: datetime | None = None) -> int:
    """Removes what identifies the person from their tickets (right to erasure); the
    anonymous category/status history stays for service statistics."""
    at = at or now()
    tickets = tickets_of(session, conversation_id)
    for ticket in tickets:
        ticket.conversation_id = None
        ticket.summary = None
        ticket.description = None
        ticket.phone = None
        ticket.district = None
        ticket.notes = []
        ticket.erased_at = at
        for event in ticket.events:
            event.note = None
        ticket.events.append(
            TicketEvent(
                at=at,
                actor="rehber-bot",
                from_status=ticket.status,
                to_status=ticket.status,
                note="personal data erased at the person's request",
            )
        )
    session.flush()
    return len(tickets)
