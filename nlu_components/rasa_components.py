"""Rasa 3.6 pipeline components (imported only by the Rasa engine's virtualenv).

- ``LanguageDetector`` puts the message's language, and the language to reply in, into
  the parse data (``language``), using the conversation as the prior.
- ``GazetteerEntityExtractor`` finds ``district``, ``service_category``, ``language`` and
  ``referral_id`` from ``nlu_data/lookups/gazetteer.yml``.
- ``SpacyBlankTokenizer`` tokenizes with ``spacy.blank(<detected language>)``.
- ``SafeFallbackClassifier`` is Rasa's FallbackClassifier that never hides ``emergency``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components import language as langid
from nlu_components.gazetteer import Gazetteer, PhraseList, load_data

LANGUAGE_KEY = "language"
EMERGENCY_INTENT = "emergency"
SAFETY_NOTICE_KEY = "safety_notice"


def _previous_language(tracker: DialogueStateTracker | None) -> str | None:
    if tracker is None or tracker.latest_message is None:
        return None
    previous = tracker.latest_message.parse_data.get(LANGUAGE_KEY) or {}
    code = previous.get("code") if isinstance(previous, dict) else None
    return code if code in langid.LANGUAGES else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class LanguageDetector(GraphComponent):
    """Detects ar/fa/tr/en per message; the conversation's language is the prior.

    Output ``language``: ``code`` (reply language: an explicit choice in the ``language``
    slot wins), ``detected`` (this message), ``confidence`` and ``source``.
    """

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        langid.warm_up()
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            if example.get(TEXT):
                detection = langid.detect(example.get(TEXT))
                example.set(LANGUAGE_KEY, {"code": detection.code, "detected": detection.code})
        return training_data

    def process(
        self, messages: List[Message], tracker: DialogueStateTracker | None = None
    ) -> List[Message]:
        chosen = tracker.get_slot(LANGUAGE_KEY) if tracker is not None else None
        for message in messages:
            metadata = message.get("metadata") or {}
            hint = metadata.get("language_hint") if isinstance(metadata, dict) else None
            prior = _previous_language(tracker) or (hint if hint in langid.LANGUAGES else None)
            detection = langid.detect(message.get(TEXT) or "", prior)
            result = detection.as_dict()
            result["detected"] = detection.code
            if chosen in langid.LANGUAGES:
                result["code"], result["source"] = chosen, "chosen"
            elif result["code"] is None:
                result["code"] = prior
            message.set(LANGUAGE_KEY, result, add_to_output=True)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=True)
class GazetteerEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Entities from a gazetteer file, matched across scripts, suffixes and typos."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        # Only entities worth finding in any message; answer words (contact preference,
        # "the first one") are read by the actions that asked for them.
        return {
            "path": "nlu_data/lookups/gazetteer.yml",
            "entities": ["district", "service_category", "language"],
        }

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str | None:
        path = Path(config.get("path") or cls.get_default_config()["path"])
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        data: Dict[str, Any] | None = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._data = data or {}
        self._gazetteer = Gazetteer.from_data(self._data, only=config.get("entities"))

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GazetteerEntityExtractor:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        self._data = load_data(self._config["path"])
        with self._model_storage.write_to(self._resource) as directory:
            import json

            (directory / "gazetteer.json").write_text(
                json.dumps(self._data, ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> GazetteerEntityExtractor:
        import json

        with model_storage.read_from(resource) as directory:
            data = json.loads((directory / "gazetteer.json").read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, data)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue
            found = [
                match.as_rasa_entity(self.__class__.__name__)
                for match in self._gazetteer.extract(text)
            ]
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class SpacyBlankTokenizer(WhitespaceTokenizer):
    """Tokenizes text with the rule-based tokenizer of ``spacy.blank(lang)``.

    The language comes from ``LanguageDetector`` (which must run first); nothing is
    downloaded — blank pipelines ship with spaCy.
    """

    def __init__(self, config: Dict[str, Any]) -> None:
        super().__init__(config)
        self._pipelines: Dict[str, Any] = {}

    def _nlp(self, code: str) -> Any:
        if code not in self._pipelines:
            import spacy

            self._pipelines[code] = spacy.blank(code)
        return self._pipelines[code]

    def tokenize(self, message: Message, attribute: str) -> List[Token]:
        if attribute != TEXT:
            return super().tokenize(message, attribute)
        info = message.get(LANGUAGE_KEY) or {}
        code = info.get("detected") or info.get("code") or "en"
        text = message.get(attribute) or ""
        tokens = [
            Token(token.text, token.idx)
            for token in self._nlp(code)(text)
            if not token.is_space and not (token.is_punct and len(token.text) == 1)
        ]
        return self._apply_token_pattern(tokens)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class SafeFallbackClassifier(FallbackClassifier):
    """FallbackClassifier that lets ``emergency`` through whenever it is plausible.

    A person in danger who writes hesitantly must still get the emergency numbers, so an
    ``emergency`` score at or above ``emergency_floor`` anywhere in the ranking wins, and so
    does any danger phrase from ``emergency_phrases`` (nlu_data/lookups/emergency.yml).

    Below that, an ``emergency`` score at or above ``notice_floor`` keeps the message's own
    intent but marks it ``safety_notice`` (the score): the person gets their answer and, once
    per turn, a line with the emergency numbers (the NLG endpoint and the gateway add it).
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            **FallbackClassifier.get_default_config(),
            "emergency_floor": 0.25,
            "notice_floor": 0.1,
            "emergency_phrases": "nlu_data/lookups/emergency.yml",
        }

    def __init__(self, config: Dict[str, Any]) -> None:
        super().__init__({**self.get_default_config(), **config})
        path = Path(self.component_config.get("emergency_phrases") or "")
        self._danger = PhraseList.from_file(path) if path.is_file() else PhraseList([])

    def process(self, messages: List[Message]) -> List[Message]:
        floor = self.component_config["emergency_floor"]
        notice = self.component_config["notice_floor"]
        for message in messages:
            text = message.get(TEXT) or ""
            if not text.startswith("/") and self._danger.find(text):
                message.set(
                    INTENT,
                    {INTENT_NAME_KEY: EMERGENCY_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0},
                    add_to_output=True,
                )
                continue
            for ranked in message.get(INTENT_RANKING_KEY) or []:
                if ranked.get(INTENT_NAME_KEY) != EMERGENCY_INTENT:
                    continue
                score = ranked.get(PREDICTED_CONFIDENCE_KEY, 0.0)
                if score >= floor:
                    message.set(INTENT, dict(ranked), add_to_output=True)
                elif score >= notice:
                    message.set(SAFETY_NOTICE_KEY, round(float(score), 3), add_to_output=True)
                break
        rest = [
            m for m in messages if (m.get(INTENT) or {}).get(INTENT_NAME_KEY) != EMERGENCY_INTENT
        ]
        super().process(rest)
        return messages
