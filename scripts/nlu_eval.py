"""Scores a trained model on a TSV (lang<TAB>intent<TAB>text): `make eval [TEST=path.tsv]`;
several files (`TEST="a.tsv b.tsv"`) are scored as one pooled set.

Runs in the Rasa virtualenv. Intents are scored *after* the fallback step (a message that
falls back to nlu_fallback counts as an error, not as a guess), and confident errors —
wrong intents above the fallback threshold — are reported apart, because a confident
wrong answer to a vulnerable person is worse than an honest "I did not understand".
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the model names our pipeline components by module path
FALLBACK = "nlu_fallback"
EMERGENCY = "emergency"


def read_tsv(path: Path) -> list[dict[str, str]]:
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:3]] != ["lang", "intent", "text"]:
            sys.exit(f"rehber: {path}: the first line must be the header lang<TAB>intent<TAB>text")
        for number, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 3:
                sys.exit(
                    f"rehber: {path}:{number}: expected 3 tab-separated fields, got {len(row)}"
                )
            rows.append({"lang": row[0].strip(), "intent": row[1].strip(), "text": row[2]})
    return rows


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    """Macro-F1 over the expected labels (predictions of other labels still cost precision)."""
    labels = sorted({expected for expected, _ in pairs})
    scores = []
    for label in labels:
        tp = sum(1 for e, p in pairs if e == label and p == label)
        fp = sum(1 for e, p in pairs if e != label and p == label)
        fn = sum(1 for e, p in pairs if e == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def summarise(predictions: list[dict[str, Any]]) -> dict[str, Any]:
    by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in predictions:
        by_lang[p["lang"]].append(p)
    per_language = {}
    for lang, items in sorted(by_lang.items()):
        pairs = [(p["expected"], p["predicted"]) for p in items]
        per_language[lang] = {
            "messages": len(items),
            "intent_accuracy": round(sum(e == p for e, p in pairs) / len(items), 4),
            "macro_f1": round(macro_f1(pairs), 4),
            "language_id_accuracy": round(
                sum(p["detected_language"] == lang for p in items) / len(items), 4
            ),
            "confident_errors": round(sum(p["confident_error"] for p in items) / len(items), 4),
            "fallback_rate": round(sum(p["predicted"] == FALLBACK for p in items) / len(items), 4),
        }
    f1s = [v["macro_f1"] for v in per_language.values()]
    pairs = [(p["expected"], p["predicted"]) for p in predictions]
    confusions = Counter((e, p) for e, p in pairs if e != p)
    emergencies = [p for p in predictions if p["expected"] == EMERGENCY]
    return {
        "messages": len(predictions),
        "intent_accuracy": round(sum(e == p for e, p in pairs) / max(len(pairs), 1), 4),
        "macro_f1": round(macro_f1(pairs), 4),
        "language_id_accuracy": round(
            sum(p["detected_language"] == p["lang"] for p in predictions)
            / max(len(predictions), 1),
            4,
        ),
        "confident_errors": round(
            sum(p["confident_error"] for p in predictions) / max(len(predictions), 1), 4
        ),
        "fallback_rate": round(
            sum(p["predicted"] == FALLBACK for p in predictions) / max(len(predictions), 1), 4
        ),
        "f1_gap_best_to_worst": round(max(f1s) - min(f1s), 4) if f1s else 0.0,
        "emergency_missed": [p["text"] for p in emergencies if p["predicted"] != EMERGENCY],
        # Missed as an intent, but answered with the emergency numbers added (safety notice).
        "emergency_missed_with_notice": [
            p["text"] for p in emergencies if p["predicted"] != EMERGENCY and p["safety_notice"]
        ],
        "safety_notices_on_other_messages": sum(
            1 for p in predictions if p["safety_notice"] and p["expected"] != EMERGENCY
        ),
        "emergency_false_alarms": sum(
            1 for p in predictions if p["predicted"] == EMERGENCY and p["expected"] != EMERGENCY
        ),
        "per_language": per_language,
        "worst_confusions": [
            {"expected": e, "predicted": p, "count": n} for (e, p), n in confusions.most_common(15)
        ],
    }


def quiet_rasa() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["LOG_LEVEL"] = "WARNING"
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    logging.disable(logging.WARNING)


async def predict(model: Path, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    from rasa.core.agent import Agent

    quiet_rasa()
    agent = Agent.load(str(model))
    known = set(agent.domain.intents) if agent.domain else set()
    out = []
    for row in rows:
        parsed = await agent.parse_message(row["text"])
        predicted = (parsed.get("intent") or {}).get("name") or FALLBACK
        confidence = float((parsed.get("intent") or {}).get("confidence") or 0.0)
        language = parsed.get("language") or {}
        expected = row["intent"]
        out.append(
            {
                "lang": row["lang"],
                "text": row["text"],
                "expected": expected,
                "predicted": predicted,
                "confidence": round(confidence, 4),
                "detected_language": language.get("detected"),
                "known_intent": expected in known,
                "confident_error": predicted != expected and predicted != FALLBACK,
                "safety_notice": bool(parsed.get("safety_notice")),
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "rehber.tar.gz")
    parser.add_argument(
        "--test", type=Path, nargs="+", default=[ROOT / "nlu_data" / "heldout.tsv"],
        help="one or more TSV files; several are scored as one pooled set",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "nlu_eval.json")
    args = parser.parse_args()
    for path in args.test:
        if not path.exists():
            sys.exit(f"rehber: no test file at {path}")
    if not args.model.exists():
        sys.exit(f"rehber: no model at {args.model}; run 'make model'")
    rows = [row for path in args.test for row in read_tsv(path)]
    predictions = asyncio.run(predict(args.model, rows))
    tests = " + ".join(str(path) for path in args.test)
    report = {"model": str(args.model), "test": tests, **summarise(predictions)}
    report["predictions"] = predictions
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    printable = {k: v for k, v in report.items() if k != "predictions"}
    print(json.dumps(printable, ensure_ascii=False, indent=1))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
