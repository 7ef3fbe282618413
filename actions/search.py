"""Finding services in the catalogue: search, more, wider area, details, nearest."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    catalogue_index,
    catalogue_session,
    localized,
    message_metadata,
    user_language,
)
from actions.texts import Texts, texts
from service_catalogue.models import Service
from service_catalogue.search import Hit, Query, nearest, search
from service_catalogue.taxonomy import category_for, category_name

PAGE = 3


def _district_and_city(tracker: Tracker) -> tuple[str | None, str | None]:
    from actions.places import city_of

    district = tracker.get_slot("district")
    if not isinstance(district, str) or not district:
        return None, None
    return district, city_of(district)


def _place(service: Service, language: str, t: Texts) -> str:
    districts = sorted({a.name for a in service.service_areas})
    for link in service.service_at_locations:
        if link.location.district and link.location.district not in districts:
            districts.append(link.location.district)
    return ", ".join(districts) if districts else t.text("msg_service_place_unknown")


def _short(name: str, limit: int = 20) -> str:
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def _list_services(
    dispatcher: CollectingDispatcher,
    hits: list[Hit],
    language: str,
    t: Texts,
    header: str,
    offset: int,
    more: bool,
) -> List[EventType]:
    lines = [header]
    buttons = []
    for number, hit in enumerate(hits, start=offset + 1):
        name = localized(hit.service.name, language) or hit.service.id
        if hit.distance_km is not None:
            key = "msg_distance_approx" if hit.distance_is_approximate else "msg_distance_exact"
            where = t.text(key, km=f"{hit.distance_km:.1f}")
        else:
            where = _place(hit.service, language, t)
        lines.append(t.text("msg_services_line", number=str(number), name=name, place=where))
        buttons.append(
            {
                "title": f"{number}. {_short(name, 16)}",
                "payload": f'/show_service{{"service_pick":"{number}"}}',
            }
        )
    if more:
        buttons.append({"title": t.text("msg_button_more"), "payload": "/search_more"})
    buttons.append({"title": t.text("msg_button_person"), "payload": "/request_human"})
    lines.append(t.text("msg_services_pick"))
    dispatcher.utter_message(text="\n".join(lines), buttons=buttons)
    return []


class ActionSearchServices(Action):
    """Lists the best services for the topic, in the person's district and language."""

    def name(self) -> str:
        return "action_search_services"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        entity = next(tracker.get_latest_entity_values("service_category"), None)
        category = category_for(intent, entity) or tracker.get_slot("search_category")
        language = user_language(tracker)
        t = texts(language)
        if not category:
            dispatcher.utter_message(response="utter_find_service_ask_topic")
            return []
        return _run_search(dispatcher, tracker, category, 0, language, t, wider=False)


def _run_search(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    category: str,
    offset: int,
    language: str,
    t: Texts,
    wider: bool,
) -> List[EventType]:
    district, city = _district_and_city(tracker)
    query = Query(
        category=category,
        district=None if wider else district,
        city=None if wider else city,
        language=language,
    )
    with catalogue_session() as session:
        hits, total = search(session, query, limit=PAGE, offset=offset, index=catalogue_index())
        events: List[EventType] = [
            SlotSet("search_category", category),
            SlotSet("search_offset", float(offset)),
            SlotSet("search_wider", wider),
        ]
        topic = category_name(category, language)
        if not hits:
            key = "msg_services_none_more" if offset else "msg_services_none"
            buttons = [{"title": t.text("msg_button_person"), "payload": "/request_human"}]
            if district and not wider:
                buttons.insert(0, {"title": t.text("msg_button_wider"), "payload": "/search_wider"})
            place = district if district and not wider else t.text("msg_place_anywhere")
            dispatcher.utter_message(text=t.text(key, category=topic, place=place), buttons=buttons)
            return events
        header = (
            t.text("msg_services_header", category=topic, place=district)
            if district and not wider
            else t.text("msg_services_header_anywhere", category=topic)
        )
        _list_services(dispatcher, hits, language, t, header, offset, more=offset + PAGE < total)
        previous = list(tracker.get_slot("search_results") or []) if offset else []
        return events + [SlotSet("search_results", previous + [h.service.id for h in hits])]


class _ContinueSearch(Action, ABC):
    """Continues the last search (same category): the next page, or a wider area."""

    @abstractmethod
    def page(self, tracker: Tracker) -> tuple[int, bool]:
        """(offset, wider) of the search to run."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        language = user_language(tracker)
        category = tracker.get_slot("search_category")
        if not category:
            dispatcher.utter_message(response="utter_find_service_ask_topic")
            return []
        offset, wider = self.page(tracker)
        return _run_search(dispatcher, tracker, category, offset, language, texts(language), wider)


class ActionSearchMore(_ContinueSearch):
    def name(self) -> str:
        return "action_search_more"

    def page(self, tracker: Tracker) -> tuple[int, bool]:
        offset = int(tracker.get_slot("search_offset") or 0) + PAGE
        return offset, bool(tracker.get_slot("search_wider"))


class ActionSearchWider(_ContinueSearch):
    def name(self) -> str:
        return "action_search_wider"

    def page(self, tracker: Tracker) -> tuple[int, bool]:
        return 0, True


class ActionShowService(Action):
    """Everything known about one service; what is unknown is said to be unknown."""

    def name(self) -> str:
        return "action_show_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        from actions.details import describe

        language = user_language(tracker)
        t = texts(language)
        results = list(tracker.get_slot("search_results") or [])
        pick = tracker.get_slot("service_pick")
        try:
            index = int(str(pick)) - 1
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < len(results):
            dispatcher.utter_message(text=t.text("msg_service_pick_unknown"))
            return [SlotSet("service_pick", None)]
        with catalogue_session() as session:
            service = session.get(Service, results[index])
            if service is None or service.status != "active":
                dispatcher.utter_message(text=t.text("msg_service_pick_unknown"))
                return [SlotSet("service_pick", None)]
            dispatcher.utter_message(
                text=describe(service, language, t),
                buttons=[{"title": t.text("msg_button_person"), "payload": "/request_human"}],
            )
        return [SlotSet("service_pick", None)]


class ActionNearestServices(Action):
    """Services nearest to a shared location (coordinates in the message metadata)."""

    def name(self) -> str:
        return "action_nearest_services"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        language = user_language(tracker)
        t = texts(language)
        attachment = message_metadata(tracker).get("attachment") or {}
        lat, lon = attachment.get("latitude"), attachment.get("longitude")
        if not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
            dispatcher.utter_message(text=t.text("msg_location_unreadable"))
            return []
        category = tracker.get_slot("search_category")
        with catalogue_session() as session:
            hits = nearest(session, float(lat), float(lon), category=category, limit=PAGE)
            if not hits:
                dispatcher.utter_message(
                    text=t.text("msg_nearest_none"),
                    buttons=[{"title": t.text("msg_button_person"), "payload": "/request_human"}],
                )
                return []
            header = (
                t.text("msg_nearest_header_category", category=category_name(category, language))
                if category
                else t.text("msg_nearest_header")
            )
            _list_services(dispatcher, hits, language, t, header, 0, more=False)
            return [SlotSet("search_results", [h.service.id for h in hits])]
