"""How close the training data comes to the test sets, line by line.

    .venv/rasa/bin/python bench/test_overlap.py [--threshold 0.6] [--list]

For every training example, the highest cosine similarity (TF-IDF of character 2-4-grams
within words, on the classifier's normalised text) to any line of the test sets in the same
language. Exact copies are already refused by tests/test_training_data.py; this shows the
near-paraphrases a writer's brief can produce. Data wave 5 dropped new lines at or above 0.6
(docs/benchmarks.md). ``--list`` prints the training lines at or above the threshold with the
test line they resemble - reading it exposes test lines, so do not use it on a sealed set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from linear_cv import LANGUAGES, training_data  # noqa: E402  (bench/, this script's folder)
from nlu_eval import read_tsv  # noqa: E402

from nlu_components.linear_classifier import normalise  # noqa: E402

TEST_SETS = sorted((ROOT / "nlu_data").glob("*.tsv"))


def main() -> int:
    from sklearn.feature_extraction.text import TfidfVectorizer

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threshold", type=float, default=0.6)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    texts, labels, langs = training_data()
    train = list(zip(langs, labels, texts, strict=True))
    test = [
        (path.name, r["lang"], r["intent"], r["text"]) for path in TEST_SETS for r in read_tsv(path)
    ]
    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), preprocessor=normalise, sublinear_tf=True
    ).fit([t[2] for t in train] + [t[3] for t in test])
    best: list[float] = []
    close_header = f">= {args.threshold}"
    print(
        f"{'language':8s} {'training':>8s} {'p50':>5s} {'p90':>5s} {'p99':>5s} {close_header:>8s}"
    )
    for lang in LANGUAGES:
        lines = [t for t in train if t[0] == lang]
        against = [t for t in test if t[1] == lang]
        similarity = (
            vectorizer.transform([t[2] for t in lines])
            @ vectorizer.transform([t[3] for t in against]).T
        ).toarray()
        top = similarity.max(axis=1)
        best += list(top)
        close = int((top >= args.threshold).sum())
        p50, p90, p99 = np.percentile(top, [50, 90, 99])
        print(f"{lang:8s} {len(lines):8d} {p50:5.2f} {p90:5.2f} {p99:5.2f} {close:8d}")
        if args.list:
            for i in np.argsort(-top):
                if top[i] < args.threshold:
                    break
                j = int(similarity[i].argmax())
                source, _, _, text = against[j]
                print(f"  {top[i]:.2f} {lines[i][1]}: {lines[i][2]}  ~  {source}: {text}")
    share = float(np.mean(np.array(best) >= args.threshold))
    print(f"all: {len(best)} training lines, {100 * share:.1f} % at or above {args.threshold}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
