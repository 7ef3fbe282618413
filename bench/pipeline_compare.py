"""Trains NLU pipelines and scores each on the held-out set (run with the Rasa venv).

    make compare-pipelines            # bench/configs/pipeline_*.yml
    .venv/rasa/bin/python bench/pipeline_compare.py bench/configs/x.yml ...

For each config: NLU training time, peak RSS of the training process, and the held-out
metrics of scripts/nlu_eval.py (after the fallback step). Results: reports/pipelines.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from nlu_eval import predict, read_tsv, summarise  # noqa: E402


def train(config: Path, out_dir: Path, seed: int | None) -> tuple[Path, float, float]:
    if seed is not None:
        text = config.read_text(encoding="utf-8").replace("random_seed: 42", f"random_seed: {seed}")
        seeded = out_dir / f"{config.stem}_seed{seed}.yml"
        seeded.write_text(text, encoding="utf-8")
        config = seeded
    name = f"{config.stem}"
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [
            str(Path(sys.executable).with_name("rasa")),
            "train",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            str(ROOT / "nlu_data" / "nlu"),
            "--out",
            str(out_dir),
            "--fixed-model-name",
            name,
            "--quiet",
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    peak_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return out_dir / f"{name}.tar.gz", seconds, peak_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("configs", nargs="*", type=Path)
    parser.add_argument("--test", type=Path, default=ROOT / "nlu_data" / "heldout.tsv")
    parser.add_argument("--seeds", default="", help="comma-separated seeds (default: config's)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "pipelines.json")
    args = parser.parse_args()
    configs = args.configs or sorted((ROOT / "bench" / "configs").glob("pipeline_*.yml"))
    seeds = [int(s) for s in args.seeds.split(",") if s] or [None]
    rows = read_tsv(args.test)
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in configs:
            for seed in seeds:
                model, seconds, rss = train(config, Path(tmp), seed)
                summary = summarise(asyncio.run(predict(model, rows)))
                result = {
                    "config": config.name,
                    "seed": seed,
                    "train_seconds": round(seconds, 1),
                    "train_peak_rss_mb": round(rss),
                    "model_mb": round(model.stat().st_size / 2**20, 1),
                    **{
                        k: summary[k]
                        for k in (
                            "macro_f1",
                            "intent_accuracy",
                            "language_id_accuracy",
                            "confident_errors",
                            "fallback_rate",
                            "f1_gap_best_to_worst",
                            "emergency_false_alarms",
                        )
                    },
                    "emergency_missed": len(summary["emergency_missed"]),
                    "per_language_f1": {
                        k: v["macro_f1"] for k, v in summary["per_language"].items()
                    },
                    "worst_confusions": summary["worst_confusions"][:8],
                }
                results.append(result)
                print(
                    json.dumps(
                        {k: v for k, v in result.items() if k != "worst_confusions"},
                        ensure_ascii=False,
                    ),
                    flush=True,
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
