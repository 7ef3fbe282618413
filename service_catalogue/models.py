"""Catalogue and ticket tables, shaped on Open Referral HSDS 3.0.

Translatable texts are JSON objects ``{"ar": ..., "fa": ..., "tr": ..., "en": ...}`` with a
per-field, per-language status in ``i18n_status`` (``reviewed`` / ``machine_draft``; a
language absent from the object is ``missing``). What the sources do not tell us is listed
in ``unknown`` (e.g. ``["phones", "address"]``) and shown to people as unknown — never guessed.
Schema changes go through Alembic (``service_catalogue/migrations``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

I18n = dict[str, str]
# People see tickets as R-1001, R-1002, ...: short, but not "ticket number 1".
REFERENCE_OFFSET = 1000


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, dict[str, str]: JSON, list[str]: JSON}


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[I18n]
    description: Mapped[I18n] = mapped_column(default=dict)
    website: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(200))
    i18n_status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unknown: Mapped[list[str]] = mapped_column(default=list)
    source: Mapped[str | None] = mapped_column(Text)

    services: Mapped[list[Service]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", order_by="Service.id"
    )
    locations: Mapped[list[Location]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", order_by="Location.id"
    )
    phones: Mapped[list[Phone]] = relationship(
        cascade="all, delete-orphan", primaryjoin="Phone.organization_id == Organization.id"
    )


class Service(Base):
    __tablename__ = "service"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[I18n]
    description: Mapped[I18n] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="active")
    url: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(200))
    eligibility: Mapped[I18n] = mapped_column(default=dict)
    fees_description: Mapped[I18n] = mapped_column(default=dict)
    cost: Mapped[str] = mapped_column(String(10), default="unknown")  # free | paid | unknown
    interpreters: Mapped[bool | None] = mapped_column(default=None)
    minimum_age: Mapped[int | None] = mapped_column(Integer)
    maximum_age: Mapped[int | None] = mapped_column(Integer)
    i18n_status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unknown: Mapped[list[str]] = mapped_column(default=list)

    organization: Mapped[Organization] = relationship(back_populates="services")
    phones: Mapped[list[Phone]] = relationship(
        cascade="all, delete-orphan", primaryjoin="Phone.service_id == Service.id"
    )
    schedules: Mapped[list[Schedule]] = relationship(
        cascade="all, delete-orphan", primaryjoin="Schedule.service_id == Service.id"
    )
    languages: Mapped[list[Language]] = relationship(
        cascade="all, delete-orphan", primaryjoin="Language.service_id == Service.id"
    )
    service_areas: Mapped[list[ServiceArea]] = relationship(cascade="all, delete-orphan")
    required_documents: Mapped[list[RequiredDocument]] = relationship(cascade="all, delete-orphan")
    attributes: Mapped[list[ServiceAttribute]] = relationship(cascade="all, delete-orphan")
    service_at_locations: Mapped[list[ServiceAtLocation]] = relationship(
        back_populates="service", cascade="all, delete-orphan"
    )


class Location(Base):
    __tablename__ = "location"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    location_type: Mapped[str] = mapped_column(String(20), default="physical")
    name: Mapped[I18n]
    description: Mapped[I18n] = mapped_column(default=dict)
    address_1: Mapped[str | None] = mapped_column(String(300))
    district: Mapped[str | None] = mapped_column(String(60), index=True)
    city: Mapped[str | None] = mapped_column(String(60))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # "exact" when the source gives coordinates; "district_centre" when only the district is known
    coordinates_source: Mapped[str | None] = mapped_column(String(20))
    i18n_status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unknown: Mapped[list[str]] = mapped_column(default=list)

    organization: Mapped[Organization] = relationship(back_populates="locations")
    phones: Mapped[list[Phone]] = relationship(
        cascade="all, delete-orphan", primaryjoin="Phone.location_id == Location.id"
    )
    schedules: Mapped[list[Schedule]] = relationship(
        cascade="all, delete-orphan", primaryjoin="Schedule.location_id == Location.id"
    )
    languages: Mapped[list[Language]] = relationship(
        cascade="all, delete-orphan", primaryjoin="Language.location_id == Location.id"
    )


class ServiceAtLocation(Base):
    __tablename__ = "service_at_location"

    id: Mapped[str] = mapped_column(String(220), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), index=True
    )
    location_id: Mapped[str] = mapped_column(
        ForeignKey("location.id", ondelete="CASCADE"), index=True
    )

    service: Mapped[Service] = relationship(back_populates="service_at_locations")
    location: Mapped[Location] = relationship()


class Phone(Base):
    __tablename__ = "phone"
    __table_args__ = (
        Index("ix_phone_service", "service_id"),
        Index("ix_phone_location", "location_id"),
    )

    id: Mapped[str] = mapped_column(String(220), primary_key=True)
    organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    service_id: Mapped[str | None] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    location_id: Mapped[str | None] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(50))
    type: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[I18n] = mapped_column(default=dict)


class Schedule(Base):
    """Opening hours, one row per set of days with the same hours (iCal-style ``byday``)."""

    __tablename__ = "schedule"
    __table_args__ = (
        Index("ix_schedule_service", "service_id"),
        Index("ix_schedule_location", "location_id"),
    )

    id: Mapped[str] = mapped_column(String(220), primary_key=True)
    service_id: Mapped[str | None] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    location_id: Mapped[str | None] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    freq: Mapped[str] = mapped_column(String(10), default="WEEKLY")
    byday: Mapped[str] = mapped_column(String(40))  # "MO,TU,WE,TH,FR"
    opens_at: Mapped[str] = mapped_column(String(5))  # "08:30"
    closes_at: Mapped[str] = mapped_column(String(5))  # "17:30"
    timezone: Mapped[str] = mapped_column(String(40), default="Europe/Istanbul")
    description: Mapped[I18n] = mapped_column(default=dict)


class Language(Base):
    """A language staff speak (note "interpreter" when through an interpreter)."""

    __tablename__ = "language"
    __table_args__ = (Index("ix_language_service", "service_id"),)

    id: Mapped[str] = mapped_column(String(220), primary_key=True)
    service_id: Mapped[str | None] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    location_id: Mapped[str | None] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(String(200))


class ServiceArea(Base):
    __tablename__ = "service_area"

    id: Mapped[str] = mapped_column(String(220), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(60), index=True)  # a district, or a whole city
    city: Mapped[str | None] = mapped_column(String(60))


class RequiredDocument(Base):
    __tablename__ = "required_document"

    id: Mapped[str] = mapped_column(String(220), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), index=True
    )
    document: Mapped[I18n]
    uri: Mapped[str | None] = mapped_column(String(500))


class TaxonomyTerm(Base):
    """Our categories (taxonomy ``rehber-category``) and audiences (``rehber-audience``)."""

    __tablename__ = "taxonomy_term"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    code: Mapped[str] = mapped_column(String(60))
    taxonomy: Mapped[str] = mapped_column(String(40))
    name: Mapped[I18n]
    description: Mapped[I18n] = mapped_column(default=dict)


class ServiceAttribute(Base):
    """HSDS ``attribute``: links a service to a taxonomy term."""

    __tablename__ = "attribute"
    __table_args__ = (Index("ix_attribute_term", "taxonomy_term_id", "service_id"),)

    id: Mapped[str] = mapped_column(String(220), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), index=True
    )
    taxonomy_term_id: Mapped[str] = mapped_column(ForeignKey("taxonomy_term.id"))

    taxonomy_term: Mapped[TaxonomyTerm] = relationship()


class Ticket(Base):
    """A referral ticket for staff. Personal fields are erasable (``erased_at``)."""

    __tablename__ = "ticket"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str | None] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    category: Mapped[str | None] = mapped_column(String(60))
    urgency: Mapped[str] = mapped_column(String(10), default="normal")  # normal | urgent
    summary: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    description_trimmed: Mapped[bool] = mapped_column(default=False)
    contact_preference: Mapped[str] = mapped_column(String(10), default="chat")  # chat | phone
    phone: Mapped[str | None] = mapped_column(String(40))
    district: Mapped[str | None] = mapped_column(String(60))
    consent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    assigned_to: Mapped[str | None] = mapped_column(String(100))
    referred_service_id: Mapped[str | None] = mapped_column(
        ForeignKey("service.id", ondelete="SET NULL")
    )
    notes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketEvent.id"
    )

    @property
    def reference(self) -> str:
        return f"R-{self.id + REFERENCE_OFFSET}"


class TicketEvent(Base):
    """The audit trail: every transition with who, when and a note."""

    __tablename__ = "ticket_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
