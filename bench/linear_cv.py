"""Chooses the linear classifier's C by 5-fold cross-validation on the training data only.

    .venv/rasa/bin/python bench/linear_cv.py --c 0.25 0.5 1.0 2.0

The held-out and safety sets are not touched, so they stay an honest measure of the choice.
Per C and fallback threshold: macro-F1 per language after the fallback step (with the
emergency floor as in config.yml), confident errors, fallback share and emergency recall
(the classifier alone, without the danger-phrase list). Folds are stratified by language and
intent. Cross-validated scores are lower than held-out ones: the training data holds the
harder, more varied phrasings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu_components.linear_classifier import LinearIntentModel  # noqa: E402

LANGUAGES = ("ar", "fa", "tr", "en")
EMERGENCY_FLOOR = 0.25


def training_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    texts, labels, langs = [], [], []
    for path in sorted((ROOT / "nlu_data" / "nlu").glob("*/*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" not in item:
                continue
            for line in item["examples"].splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.append(line[2:])
                    labels.append(item["intent"])
                    langs.append(path.parent.name)
    return np.array(texts, dtype=object), np.array(labels), np.array(langs)


def macro_f1(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> float:
    scores = []
    for label in labels:
        tp = int(((truth == label) & (predicted == label)).sum())
        wrong = int(((truth != label) & (predicted == label)).sum())
        missed = int(((truth == label) & (predicted != label)).sum())
        scores.append(2 * tp / (2 * tp + wrong + missed) if tp + wrong + missed else 1.0)
    return float(np.mean(scores))


def main() -> int:
    from sklearn.model_selection import StratifiedKFold

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--c", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.4, 0.5, 0.55])
    args = parser.parse_args()
    texts, labels, langs = training_data()
    strata = np.array([f"{lang}|{label}" for lang, label in zip(langs, labels, strict=True)])
    intents = sorted(set(labels))
    for c in args.c:
        probabilities: np.ndarray | None = None
        classes: list[str] = []
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        for train, test in folds.split(texts, strata):
            model = LinearIntentModel(c=c).fit(list(texts[train]), list(labels[train]))
            fold = model.predict(list(texts[test]))
            if probabilities is None:
                probabilities, classes = np.zeros((len(texts), fold.shape[1])), model.classes
            probabilities[test] = fold
        assert probabilities is not None
        top = np.array(classes)[probabilities.argmax(1)]
        confidence = probabilities.max(1)
        emergency = probabilities[:, classes.index("emergency")]
        for threshold in args.thresholds:
            predicted = np.where(confidence >= threshold, top, "nlu_fallback")
            floor = (emergency >= EMERGENCY_FLOOR) & (predicted == "nlu_fallback")
            predicted = np.where(floor, "emergency", predicted)
            per_language = " ".join(
                f"{lang} {macro_f1(labels[langs == lang], predicted[langs == lang], intents):.3f}"
                for lang in LANGUAGES
            )
            confident_errors = ((predicted != labels) & (predicted != "nlu_fallback")).mean()
            fallback = (predicted == "nlu_fallback").mean()
            recall = ((predicted == "emergency") & (labels == "emergency")).sum() / (
                labels == "emergency"
            ).sum()
            print(
                f"C={c:<5} threshold={threshold:<5} macro-F1 {per_language}  "
                f"confident errors {confident_errors:.3f}  fallback {fallback:.3f}  "
                f"emergency recall {recall:.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
