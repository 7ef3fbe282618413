"""Referral tickets: the consent-first form, ticket creation and the status check."""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from typing import Any, Dict, List

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.common import catalogue_session, channel_of, user_language
from actions.places import district_entry
from actions.texts import texts
from service_catalogue.taxonomy import INTENT_CATEGORY
from service_catalogue.tickets import create_ticket, find_for_conversation, now

logger = logging.getLogger(__name__)

FORM_SLOTS = (
    "referral_consent",
    "referral_description",
    "referral_contact",
    "referral_phone",
    "referral_district",
)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_SKIP_INTENTS = ("deny",)


def normalise_phone(text: str) -> str | None:
    """A Turkish or international phone number as digits with a leading + or 0; None if not one."""
    raw = (text or "").translate(_DIGITS)
    digits = re.sub(r"\D", "", raw)
    if raw.strip().startswith("+") and 10 <= len(digits) <= 15:
        return "+" + digits
    if digits.startswith("90") and len(digits) == 12:
        return "+" + digits
    if digits.startswith("0") and len(digits) == 11:
        return digits
    if digits.startswith("5") and len(digits) == 10:
        return "0" + digits
    return None


class ValidateReferralForm(FormValidationAction):
    """Consent first; nothing is asked (or kept) before the person agrees."""

    def name(self) -> str:
        return "validate_referral_form"

    async def required_slots(
        self,
        domain_slots: List[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[str]:
        if tracker.get_slot("referral_consent") is False:
            return []
        slots = ["referral_consent", "referral_description", "referral_contact"]
        if tracker.get_slot("referral_contact") == "phone":
            slots.append("referral_phone")
        return slots + ["referral_district"]

    def validate_referral_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        if value is True:
            return {"referral_consent": True}
        return {"referral_consent": False, "requested_slot": None}

    def validate_referral_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        text = str(value or "").strip()
        if sum(ch.isalpha() for ch in text) < 3 or text.startswith("/"):
            dispatcher.utter_message(
                text=texts(user_language(tracker)).text("msg_referral_description_short")
            )
            return {"referral_description": None}
        return {"referral_description": text}

    def validate_referral_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        choice = str(value or "").strip()
        if choice not in ("chat", "phone"):
            from actions.places import gazetteer

            found = [
                m.value for m in gazetteer().extract(choice) if m.entity == "contact_preference"
            ]
            choice = found[0] if found else ""
        if choice in ("chat", "phone"):
            return {"referral_contact": choice}
        return {"referral_contact": None}

    def validate_referral_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        phone = normalise_phone(str(value or ""))
        if phone is None:
            dispatcher.utter_message(
                text=texts(user_language(tracker)).text("msg_referral_phone_invalid")
            )
            return {"referral_phone": None}
        return {"referral_phone": phone}

    def validate_referral_district(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent in _SKIP_INTENTS:
            return {"referral_district": "unknown"}
        entry = district_entry(str(value or ""))
        if entry is not None:
            return {"referral_district": entry.value}
        if tracker.get_slot("referral_district_retry"):
            return {"referral_district": "unknown", "referral_district_retry": None}
        dispatcher.utter_message(
            text=texts(user_language(tracker)).text("msg_referral_district_unknown")
        )
        return {"referral_district": None, "referral_district_retry": True}


def _urgent(tracker: Tracker) -> bool:
    """An emergency anywhere in this session makes the ticket urgent."""
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        if (
            event.get("event") == "user"
            and (event.get("parse_data") or {}).get("intent", {}).get("name") == "emergency"
        ):
            return True
    return False


def _category(tracker: Tracker) -> str | None:
    category = tracker.get_slot("search_category")
    if category:
        return str(category)
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            name = (event.get("parse_data") or {}).get("intent", {}).get("name")
            if name in INTENT_CATEGORY:
                return INTENT_CATEGORY[name]
    return None


def _reset() -> List[EventType]:
    return [SlotSet(slot, None) for slot in (*FORM_SLOTS, "referral_district_retry")]


class ActionCreateTicket(Action):
    """Creates the ticket after consent and gives the person its reference."""

    def name(self) -> str:
        return "action_create_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        language = user_language(tracker)
        t = texts(language)
        if tracker.get_slot("referral_consent") is not True:
            dispatcher.utter_message(response="utter_referral_consent_refused")
            return _reset()
        description = str(tracker.get_slot("referral_description") or "")
        district = tracker.get_slot("referral_district")
        try:
            with catalogue_session() as session:
                ticket = create_ticket(
                    session,
                    conversation_id=tracker.sender_id,
                    channel=channel_of(tracker),
                    language=language,
                    description=description,
                    consent_at=now(),
                    category=_category(tracker),
                    urgent=_urgent(tracker),
                    contact_preference=str(tracker.get_slot("referral_contact") or "chat"),
                    phone=tracker.get_slot("referral_phone"),
                    district=None if district in (None, "unknown") else str(district),
                )
                session.commit()
                reference, urgent, trimmed = (
                    ticket.reference,
                    ticket.urgency == "urgent",
                    ticket.description_trimmed,
                )
        except SQLAlchemyError:
            logger.exception("could not store a referral ticket")
            dispatcher.utter_message(text=t.text("msg_referral_failed"))
            return _reset()
        if trimmed:
            dispatcher.utter_message(text=t.text("msg_referral_description_trimmed"))
        key = "msg_referral_created_urgent" if urgent else "msg_referral_created"
        dispatcher.utter_message(text=t.text(key, referral_id=reference))
        return _reset() + [SlotSet("referral_id", reference)]


class ActionCheckReferralStatus(Action):
    """Reads a ticket's status back — only within the conversation that opened it."""

    def name(self) -> str:
        return "action_check_referral_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        language = user_language(tracker)
        t = texts(language)
        reference = next(tracker.get_latest_entity_values("referral_id"), None) or tracker.get_slot(
            "referral_id"
        )
        if not reference:
            dispatcher.utter_message(response="utter_referral_status_ask_id")
            return []
        with catalogue_session() as session:
            ticket = find_for_conversation(session, str(reference), tracker.sender_id)
            if ticket is None:
                dispatcher.utter_message(
                    text=t.text("msg_referral_not_found", referral_id=str(reference))
                )
                return [SlotSet("referral_id", None)]
            status = t.text(f"msg_ticket_status_{ticket.status}")
            dispatcher.utter_message(
                text=t.text("msg_referral_status", referral_id=ticket.reference, status=status)
            )
        return [SlotSet("referral_id", ticket.reference)]


class _AskReferral(Action, ABC):
    """Asks for one form slot with its content response (``utter_ask_<slot>``)."""

    @property
    @abstractmethod
    def slot(self) -> str: ...

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(response=f"utter_ask_{self.slot}")
        return []


class ActionAskReferralConsent(_AskReferral):
    slot = "referral_consent"


class ActionAskReferralDescription(_AskReferral):
    slot = "referral_description"


class ActionAskReferralContact(_AskReferral):
    slot = "referral_contact"


class ActionAskReferralPhone(_AskReferral):
    slot = "referral_phone"


class ActionAskReferralDistrict(_AskReferral):
    slot = "referral_district"
