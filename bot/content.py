"""User-facing texts: responses, button sets and gateway messages, in ar, fa, tr, en.

Texts live in ``content/`` (YAML, edited by content editors); nothing user-facing is a
Python literal. Loading validates every entry and reports file, line and field.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from service_catalogue.yamlsource import ContentError, ContentErrors, SourceMap, load

LANGUAGES = ("ar", "fa", "tr", "en")
RTL_LANGUAGES = frozenset({"ar", "fa"})
# Unicode isolates keep an inserted value ("R-1042", "0532 …") from reordering the
# surrounding right-to-left sentence.
FSI, PDI = "\u2068", "\u2069"
MAX_BUTTON_TITLE = 20


def direction(language: str | None) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"


@dataclass(frozen=True)
class Button:
    payload: str
    title: Mapping[str, str]


@dataclass(frozen=True)
class Response:
    key: str
    text: Mapping[str, str]
    buttons: tuple[Button, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Rendered:
    """A response rendered in one language, ready for any channel adapter."""

    key: str
    language: str
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    safety_notice: bool = False

    def as_nlg(self) -> dict[str, Any]:
        custom: dict[str, Any] = {"language": self.language, "direction": direction(self.language)}
        if self.safety_notice:
            custom["safety_notice"] = True
        return {"text": self.text, "buttons": self.buttons, "custom": custom}


def _translations(
    value: Any, path: tuple[Any, ...], source: SourceMap, errors: list[ContentError]
) -> dict[str, str]:
    if not isinstance(value, dict):
        errors.append(source.error(path, "expected one text per language: ar, fa, tr, en"))
        return {}
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            errors.append(source.error(path + (lang,), f"missing {lang} text"))
        else:
            out[lang] = text.strip()
    for extra in set(value) - set(LANGUAGES):
        errors.append(source.error(path + (extra,), "unknown language (use ar, fa, tr, en)"))
    return out


def _placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError:
        return {"<unbalanced braces>"}


class ContentStore:
    """All texts, validated; render(key, language, **values) gives the text to send."""

    def __init__(self, responses: dict[str, Response], button_sets: dict[str, tuple[Button, ...]]):
        self.responses = responses
        self.button_sets = button_sets

    @classmethod
    def load(cls, content_dir: Path) -> ContentStore:
        errors: list[ContentError] = []
        button_sets = cls._load_buttons(content_dir, errors)
        responses: dict[str, Response] = {}
        files = sorted((content_dir / "responses").glob("*.yml")) + sorted(
            (content_dir / "messages").glob("*.yml")
        )
        for path in files:
            name = str(path.relative_to(content_dir.parent))
            try:
                data, source = load(path, name)
            except ContentErrors as error:
                errors.extend(error.errors)
                continue
            if not isinstance(data, dict):
                errors.append(ContentError(name, 1, "", "expected a mapping of response names"))
                continue
            for key, entry in data.items():
                response = cls._response(str(key), entry, source, button_sets, errors)
                if response is None:
                    continue
                if key in responses:
                    errors.append(
                        source.error((key,), f"defined twice (also in {responses[key].source})")
                    )
                responses[str(key)] = response
        if errors:
            raise ContentErrors(errors)
        return cls(responses, button_sets)

    @staticmethod
    def _load_buttons(
        content_dir: Path, errors: list[ContentError]
    ) -> dict[str, tuple[Button, ...]]:
        path = content_dir / "buttons.yml"
        if not path.exists():
            return {}
        name = str(path.relative_to(content_dir.parent))
        try:
            data, source = load(path, name)
        except ContentErrors as error:
            errors.extend(error.errors)
            return {}
        sets: dict[str, tuple[Button, ...]] = {}
        for set_name, items in (data or {}).items():
            if not isinstance(items, list):
                errors.append(source.error((set_name,), "expected a list of buttons"))
                continue
            buttons = []
            for index, item in enumerate(items):
                path_ = (set_name, index)
                if not isinstance(item, dict) or not isinstance(item.get("payload"), str):
                    errors.append(source.error(path_, "each button needs a payload and a title"))
                    continue
                titles = _translations(item.get("title"), path_ + ("title",), source, errors)
                for lang, title in titles.items():
                    if len(title) > MAX_BUTTON_TITLE:
                        errors.append(
                            source.error(
                                path_ + ("title", lang),
                                f"longer than {MAX_BUTTON_TITLE} characters (WhatsApp's limit)",
                            )
                        )
                buttons.append(Button(item["payload"], titles))
            sets[str(set_name)] = tuple(buttons)
        return sets

    @staticmethod
    def _response(
        key: str,
        entry: Any,
        source: SourceMap,
        button_sets: dict[str, tuple[Button, ...]],
        errors: list[ContentError],
    ) -> Response | None:
        if not isinstance(entry, dict) or "text" not in entry:
            errors.append(source.error((key,), "expected 'text' with ar, fa, tr, en"))
            return None
        text = _translations(entry["text"], (key, "text"), source, errors)
        expected = _placeholders(text.get("en", ""))
        for lang, value in text.items():
            if _placeholders(value) != expected:
                errors.append(
                    source.error(
                        (key, "text", lang),
                        f"placeholders {sorted(_placeholders(value))} differ from "
                        f"the English text's {sorted(expected)}",
                    )
                )
        buttons: tuple[Button, ...] = ()
        set_name = entry.get("buttons")
        if set_name is not None:
            if set_name not in button_sets:
                errors.append(source.error((key, "buttons"), f"unknown button set {set_name!r}"))
            else:
                buttons = button_sets[set_name]
        return Response(key, text, buttons, f"{source.file}:{source.line((key,))}")

    def has(self, key: str) -> bool:
        return key in self.responses

    def render(
        self, key: str, language: str | None, values: Mapping[str, Any] | None = None
    ) -> Rendered:
        """The response in the given language (Turkish when unknown), values filled in."""
        lang = language if language in LANGUAGES else "tr"
        response = self.responses[key]
        text = response.text[lang]
        if values:
            isolate = lang in RTL_LANGUAGES
            text = text.format_map(
                _Defaulting({k: f"{FSI}{v}{PDI}" if isolate else f"{v}" for k, v in values.items()})
            )
        buttons = [{"title": b.title[lang], "payload": b.payload} for b in response.buttons]
        return Rendered(key, lang, text, buttons)


class _Defaulting(dict):  # type: ignore[type-arg]
    """Leaves an unknown {placeholder} visible rather than failing the whole reply."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
