"""NLU benchmarks (run with the Rasa virtualenv): `make bench`.

- parse latency in-process and over HTTP (p50/p95/p99) on >= 500 mixed-language messages
  (the held-out set and the story messages, in all four languages);
- throughput over HTTP with 8 (and 16) concurrent clients;
- Rasa server startup time and resident memory (RSS) after the run;
- full training time (NLU + dialogue) into a temporary directory.
Figures are printed and written to reports/bench_nlu.json; docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from nlu_eval import quiet_rasa  # noqa: E402


def messages() -> list[str]:
    texts = []
    for name in ("heldout.tsv", "story_messages.tsv"):
        with open(ROOT / "nlu_data" / name, encoding="utf-8") as handle:
            texts += [
                r["text"] for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            ]
    return texts


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50) * 1000, 2),
        "p95_ms": round(pick(0.95) * 1000, 2),
        "p99_ms": round(pick(0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


async def in_process(model: Path, texts: list[str]) -> dict[str, Any]:
    from rasa.core.agent import Agent

    quiet_rasa()
    agent = Agent.load(str(model))
    for text in texts[:20]:  # warm-up
        await agent.parse_message(text)
    samples = []
    for text in texts:
        started = time.perf_counter()
        await agent.parse_message(text)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def over_http(model: Path, texts: list[str]) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    endpoints = Path(tempfile.mkdtemp()) / "endpoints.yml"
    endpoints.write_text("# parsing only: no action server, NLG or stores\n", encoding="utf-8")
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("rasa")), "run", "--enable-api", "-i", "127.0.0.1",
         "-p", str(port), "-m", str(model), "--endpoints", str(endpoints)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"{url}/status") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if server.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError("the Rasa server did not start")
                await asyncio.sleep(0.2)
            startup = time.perf_counter() - started

            async def parse(text: str) -> float:
                begun = time.perf_counter()
                async with session.post(f"{url}/model/parse", json={"text": text}) as response:
                    await response.read()
                    response.raise_for_status()
                return time.perf_counter() - begun

            for text in texts[:20]:
                await parse(text)
            sequential = [await parse(text) for text in texts]
            throughput = {}

            async def worker(queue: list[str]) -> int:
                done = 0
                while queue:
                    await parse(queue.pop())
                    done += 1
                return done

            for clients in (8, 16):
                queue = list(texts)
                begun = time.perf_counter()
                total = sum(await asyncio.gather(*[worker(queue) for _ in range(clients)]))
                throughput[f"{clients}_clients_parses_per_s"] = round(
                    total / (time.perf_counter() - begun), 1
                )
            return {
                "startup_s": round(startup, 1),
                "sequential": percentiles(sequential),
                **throughput,
                "server_rss_mb": rss_mb(server.pid),
            }
    finally:
        server.terminate()
        server.wait(30)


def training_time() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).with_name("rasa")), "train", "--config", "config.yml",
             "--domain", "domain.yml",
             "--data", "nlu_data/nlu", "nlu_data/rules", "nlu_data/stories",
             "--out", out, "--fixed-model-name", "bench", "--quiet", "--force"],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        return {"full_training_s": round(time.perf_counter() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "rehber.tar.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_nlu.json")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    texts = messages()
    report: dict[str, Any] = {
        "messages": len(texts),
        "cpu_count": os.cpu_count(),
        "in_process": asyncio.run(in_process(args.model, texts)),
    }
    report["http"] = asyncio.run(over_http(args.model, texts))
    if not args.skip_training:
        report["training"] = training_time()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
