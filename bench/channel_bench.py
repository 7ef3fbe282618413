"""Telegram channel under load: N people chatting at once, end to end on loopback.

    .venv/app/bin/python bench/channel_bench.py                       # N = 10, 100, 1000
    .venv/app/bin/python bench/channel_bench.py --users 10 --turns 3
    .venv/app/bin/python bench/channel_bench.py --app-url http://127.0.0.1:8000 \\
        --rasa-url http://127.0.0.1:5005 --fake-port 8081   # a stack you started yourself,
        # with TELEGRAM_TOKEN=<tests/fake_telegram.TOKEN> TELEGRAM_BASE_URL=http://127.0.0.1:8081

The fake Bot API server (tests/fake_telegram.py) stands in for Telegram: each simulated
person's messages are served to the app by getUpdates (polling mode), and the replies arrive
at the fake's sendMessage. Behind the app is the real Rasa with the trained model (started
here as tests/conftest.Stack does, unless --app-url/--rasa-url point at a running stack).

Each person sends a short scripted conversation in one of the four languages and waits for
the whole answer before the next message (closed loop). With ``--think S`` each person also
pauses before every message for a random time with mean S seconds (exponential, seeded, the
first pause spread uniformly over [0, 2S]) as people do when reading and typing on a phone;
without it (the default, S = 0) everyone fires their next message at once, which measures the
saturation throughput, and the latency is then mostly queueing. Before the runs, one person per
language goes through the same script alone; their replies are the expected replies, so a
reply that never came counts as lost and one too many as duplicated (both must be zero).

Measured per N: turns/s; latency from "update available to getUpdates" to the first and to
the last sendMessage of the turn (p50/p95/p99); RSS of the app (gateway) and Rasa processes
(peak sampled during the run); lost and duplicated replies. Table on stdout, JSON in
reports/channel_bench.json.

Note: the app sends through PTB's AIORateLimiter (Telegram's 30 messages/s per bot), so
with many people the send rate, not Rasa, sets turns/s; that is what production would see.
TELEGRAM_MAX_RATE=0 in the environment lifts that limit to measure the gateway and Rasa alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import MODEL, Stack  # noqa: E402
from tests.fake_telegram import TOKEN, Call, FakeTelegram  # noqa: E402

SCRIPTS: dict[str, list[str]] = {
    "ar": ["مرحبا", "بدي محامي ببلاش عندي قضية بالمحكمة", "شكرا كتير"],
    "fa": ["سلام", "میخواهم ترکی یاد بگیرم، کورس زبان کجاست؟", "خیلی ممنون"],
    "tr": ["merhaba", "çocuğum 9 yaşında ve hâlâ okula kaydı yapılmadı", "teşekkürler"],
    "en": ["hello", "how can I renew my residence permit ikamet", "thank you"],
}
LANGUAGES = tuple(SCRIPTS)
# Chat ids are new in every invocation: with --redis, Rasa keeps whole trackers across runs,
# and reusing people would make each run slower than the last (longer trackers to load).
CHAT_BASE = (int(time.time()) % 1_000_000) * 10_000_000
QUIET_SECONDS = 1.5  # calibration: a turn is over after this long without a new reply
QUIET_AFTER_RUN = 10.0  # after a run: queued answers are done when none came for this long
DRAIN_LIMIT_SECONDS = 600.0


def received_notices() -> set[str]:
    """The "we received your message, the answer follows" texts (not answers, not duplicates)."""
    from bot.content import ContentStore

    store = ContentStore.load(ROOT / "content")
    return {store.render("msg_received_will_answer", lang).text for lang in LANGUAGES}


@dataclass
class Inbox:
    """Replies (sendMessage accepted by the fake) for one chat, as they arrive."""

    calls: list[Call] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Replies:
    def __init__(self, fake: FakeTelegram, loop: asyncio.AbstractEventLoop) -> None:
        self.inboxes: dict[int, Inbox] = {}
        self.loop = loop
        fake.on_call = self._on_call  # runs in the fake server's thread

    def inbox(self, chat: int) -> Inbox:
        return self.inboxes.setdefault(chat, Inbox())

    def _on_call(self, call: Call) -> None:
        if call.method == "sendMessage" and call.status == 200:
            self.loop.call_soon_threadsafe(self._add, call)

    def _add(self, call: Call) -> None:
        inbox = self.inbox(int(call.params["chat_id"]))
        inbox.calls.append(call)
        inbox.changed.set()

    async def wait_count(self, chat: int, count: int, timeout: float) -> bool:
        inbox = self.inbox(chat)
        deadline = time.monotonic() + timeout
        while len(inbox.calls) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            inbox.changed.clear()
            try:
                await asyncio.wait_for(inbox.changed.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    async def wait_quiet(self, chat: int, at_least: int, timeout: float) -> None:
        """Calibration: waits for at least one reply, then until none comes for a while."""
        await self.wait_count(chat, at_least, timeout)
        inbox = self.inbox(chat)
        while True:
            seen = len(inbox.calls)
            await asyncio.sleep(QUIET_SECONDS)
            if len(inbox.calls) == seen:
                return


def script_for(language: str, turns: int) -> list[str]:
    lines = SCRIPTS[language]
    return [lines[i % len(lines)] for i in range(turns)]


async def calibrate(
    fake: FakeTelegram, replies: Replies, turns: int, timeout: float
) -> dict[str, list[list[str]]]:
    """The replies one person gets for each turn when alone (expected for everyone)."""
    expected: dict[str, list[list[str]]] = {}
    for index, language in enumerate(LANGUAGES):
        chat = CHAT_BASE + 9_000_000 + index
        inbox = replies.inbox(chat)
        per_turn: list[list[str]] = []
        for text in script_for(language, turns):
            before = len(inbox.calls)
            fake.push(fake.text(chat, text, language_code=language))
            await replies.wait_quiet(chat, before + 1, timeout)
            per_turn.append([c.params["text"] for c in inbox.calls[before:]])
        expected[language] = per_turn
        print(f"  calibrated {language}: replies per turn {[len(t) for t in per_turn]}")
    return expected


@dataclass
class Turn:
    first_ms: float | None
    last_ms: float | None
    complete: bool


async def person(
    fake: FakeTelegram,
    replies: Replies,
    chat: int,
    language: str,
    expected: list[list[str]],
    timeout: float,
    think: float = 0.0,
) -> list[Turn]:
    inbox = replies.inbox(chat)
    turns: list[Turn] = []
    total = 0
    pauses = random.Random(chat)
    for index, (text, answer) in enumerate(
        zip(script_for(language, len(expected)), expected, strict=True)
    ):
        if think > 0:
            first = index == 0
            await asyncio.sleep(
                pauses.uniform(0, 2 * think) if first else pauses.expovariate(1 / think)
            )
        update_id = fake.push(fake.text(chat, text, language_code=language))
        available = fake.available_at[update_id]
        before = total
        total += len(answer)
        complete = await replies.wait_count(chat, total, timeout)
        got = inbox.calls[before:total]
        turns.append(
            Turn(
                first_ms=(got[0].at - available) * 1000 if got else None,
                last_ms=(got[-1].at - available) * 1000 if complete and got else None,
                complete=complete,
            )
        )
        if not complete:
            total = len(inbox.calls)  # keep going; the shortfall is counted as lost
    return turns


def _own_rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def _own_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """Child processes, recursively (Rasa's Sanic workers are children of its main process)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        children = [int(c) for task in tasks for c in (task / "children").read_text().split()]
    except OSError:
        return []
    return children + [d for child in children for d in _descendants(child)]


def _tree_total(measure: Any, pid: int | None, descendants: bool = True) -> float | None:
    """``measure`` of a process plus (optionally) its descendants; None if it is gone."""
    if pid is None:
        return None
    own = measure(pid)
    if own is None or not descendants:
        return own
    return own + sum(measure(child) or 0.0 for child in _descendants(pid))


def cpu_seconds(pid: int | None, descendants: bool = True) -> float | None:
    """User + system CPU time of a process (and its descendants), in seconds."""
    return _tree_total(_own_cpu_seconds, pid, descendants)


def rss_mb(pid: int | None) -> float | None:
    """RSS of a process and its descendants."""
    return _tree_total(_own_rss_mb, pid)


def cpu_now(pids: dict[str, int | None]) -> dict[str, float | None]:
    """CPU seconds so far of each stack process, and of this process (the load generator)."""
    usage = {name: cpu_seconds(pid) for name, pid in pids.items()}
    usage["load generator"] = cpu_seconds(os.getpid(), descendants=False)
    return usage


def pid_listening_on(port: int) -> int | None:
    """The process with a listening TCP socket on ``port`` (Linux /proc), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def sample_rss(
    pids: dict[str, int | None], peaks: dict[str, float], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        for name, pid in pids.items():
            value = rss_mb(pid)
            if value is not None:
                peaks[name] = max(peaks.get(name, 0.0), value)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def run(
    fake: FakeTelegram,
    replies: Replies,
    users: int,
    run_index: int,
    expected: dict[str, list[list[str]]],
    pids: dict[str, int | None],
    timeout: float,
    think: float = 0.0,
) -> dict[str, Any]:
    chats = [
        (CHAT_BASE + 8_000_000 + run_index * 100_000 + i, LANGUAGES[i % len(LANGUAGES)])
        for i in range(users)
    ]
    peaks: dict[str, float] = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pids, peaks, stop))
    cpu_before = cpu_now(pids)
    started = time.monotonic()
    results = await asyncio.gather(
        *(person(fake, replies, chat, lang, expected[lang], timeout, think) for chat, lang in chats)
    )
    elapsed = time.monotonic() - started
    # Answers that waited in the pending queue (Rasa overloaded) still arrive: wait until
    # nothing has been sent for QUIET_AFTER_RUN seconds (late duplicates would show too).
    deadline = time.monotonic() + DRAIN_LIMIT_SECONDS
    while time.monotonic() < deadline:
        count = sum(len(replies.inbox(chat).calls) for chat, _ in chats)
        await asyncio.sleep(QUIET_AFTER_RUN)
        if sum(len(replies.inbox(chat).calls) for chat, _ in chats) == count:
            break
    stop.set()
    await sampler
    cpu_after = cpu_now(pids)

    notices = received_notices()
    lost = duplicated = deferred = 0
    for chat, lang in chats:
        want = Counter(text for turn in expected[lang] for text in turn)
        got = Counter(c.params["text"] for c in replies.inbox(chat).calls)
        deferred += sum(n for text, n in got.items() if text in notices)
        got = Counter({t: n for t, n in got.items() if t not in notices})
        lost += sum((want - got).values())
        duplicated += sum((got - want).values())
    turns = [t for person_turns in results for t in person_turns]
    first = sorted(t.first_ms for t in turns if t.first_ms is not None)
    last = sorted(t.last_ms for t in turns if t.last_ms is not None)
    completed = sum(t.complete for t in turns)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "users": users,
        "think_seconds_mean": think,
        "turns": len(turns),
        "turns_completed": completed,
        "seconds": round(elapsed, 2),
        "turns_per_second": round(completed / elapsed, 2) if elapsed else None,
        "latency_last_reply_ms": {f"p{q}": rounded(percentile(last, q)) for q in (50, 95, 99)},
        "latency_first_reply_ms": {f"p{q}": rounded(percentile(first, q)) for q in (50, 95, 99)},
        "replies_expected": sum(len(t) for lang in (c[1] for c in chats) for t in expected[lang]),
        "replies_lost": lost,
        "replies_duplicated": duplicated,
        "received_notices": deferred,
        "cpu_ms_per_turn": {
            name: round((cpu_after[name] - before) * 1000 / completed, 1)
            for name, before in cpu_before.items()
            if before is not None and cpu_after.get(name) is not None and completed
        },
        "rss_mb_peak": {k: round(v) for k, v in peaks.items()},
        "rss_mb_end": {k: rounded(rss_mb(pid)) for k, pid in pids.items()},
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'users':>6} {'think':>6} {'turns':>6} {'turns/s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'1st p50':>8} {'lost':>5} {'dup':>4} {'wait':>5} {'app MB':>7} {'rasa MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        last, first, peak = (
            r["latency_last_reply_ms"],
            r["latency_first_reply_ms"],
            r["rss_mb_peak"],
        )
        print(
            f"{r['users']:>6} {r['think_seconds_mean']:>6} "
            f"{r['turns_completed']:>6} {r['turns_per_second']:>8} "
            f"{last['p50']!s:>8} {last['p95']!s:>8} {last['p99']!s:>8} {first['p50']!s:>8} "
            f"{r['replies_lost']:>5} {r['replies_duplicated']:>4} {r['received_notices']:>5} "
            f"{peak.get('app', '-')!s:>7} {peak.get('rasa', '-')!s:>8}"
        )


async def bench(
    args: argparse.Namespace, fake: FakeTelegram, pids: dict[str, int | None]
) -> list[dict[str, Any]]:
    replies = Replies(fake, asyncio.get_running_loop())
    print("calibrating (one person per language, alone)…")
    expected = await calibrate(fake, replies, args.turns, args.timeout)
    rows = []
    for index, users in enumerate(args.users):
        turns = args.turns if users < 1000 else min(args.turns, args.turns_at_1000)
        scripted = {lang: expected[lang][:turns] for lang in LANGUAGES}
        print(f"running {users} people × {turns} turns…")
        rows.append(
            await run(fake, replies, users, index, scripted, pids, args.timeout, args.think)
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--turns", type=int, default=3, help="messages per person")
    parser.add_argument("--turns-at-1000", type=int, default=2, help="cap for N >= 1000")
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean pause before each message, seconds"
    )
    parser.add_argument(
        "--redis", metavar="URL", help="run the stack on Redis (e.g. redis://127.0.0.1:6379/14)"
    )
    parser.add_argument(
        "--rasa-workers", type=int, default=1, help="Sanic workers for Rasa (needs --redis)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait per turn")
    parser.add_argument("--app-url", help="a running app (started with the fake's URL)")
    parser.add_argument("--rasa-url", help="its Rasa server")
    parser.add_argument("--fake-port", type=int, default=0, help="port for the fake Bot API")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "channel_bench.json")
    args = parser.parse_args()
    if bool(args.app_url) != bool(args.rasa_url):
        parser.error("give both --app-url and --rasa-url, or neither")
    if args.rasa_workers > 1 and not args.redis:
        parser.error("several Rasa workers share conversations only through Redis: add --redis")
    if args.app_url and not args.fake_port:
        parser.error("with a running stack, --fake-port must match its TELEGRAM_BASE_URL")

    stack: Stack | None = None
    # Update ids go on from run to run, as Telegram's do: with --redis, the gateway's record of
    # answered updates from an earlier run must not swallow this run's updates.
    first_update_id = int(time.time() * 1000)
    with FakeTelegram(
        port=args.fake_port, max_poll_wait=10.0, first_update_id=first_update_id
    ) as fake:
        try:
            if args.app_url:
                from urllib.parse import urlparse

                app_port = urlparse(args.app_url).port or 80
                rasa_port = urlparse(args.rasa_url).port or 80
                pids = {"app": pid_listening_on(app_port), "rasa": pid_listening_on(rasa_port)}
            else:
                if not MODEL.exists():
                    print(f"no trained model at {MODEL}; run `make model` first", file=sys.stderr)
                    return 2
                data = Path(tempfile.mkdtemp(prefix="channel_bench_"))
                env = {
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "RASA_TELEMETRY_ENABLED": "false",
                    "DATABASE_URL": f"sqlite:///{data}/rehber.db",
                    "TELEGRAM_TOKEN": TOKEN,
                    "TELEGRAM_BASE_URL": fake.url,
                    "TELEGRAM_MODE": "polling",
                }
                env.pop("REDIS_URL", None)
                if args.redis:
                    env["REDIS_URL"] = args.redis
                if args.rasa_workers > 1:
                    env["SANIC_WORKERS"] = str(args.rasa_workers)
                stack = Stack(data, env)
                print(f"starting the stack (logs in {data})…")
                stack.start()
                pids = {
                    "app": stack.processes["app"].pid,
                    "rasa": stack.processes["rasa"].pid,
                    "actions": stack.processes["actions"].pid,
                }
            rows = asyncio.run(bench(args, fake, pids))
        finally:
            if stack is not None:
                stack.close()
    print()
    print_table(rows)
    for r in rows:
        print(f"CPU ms per turn at N = {r['users']}: {r['cpu_ms_per_turn']}")
    report = {
        "what": "Telegram channel end to end: fake Bot API (polling) → app → Rasa → sendMessage",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "turns_per_person": args.turns,
        "redis": bool(args.redis),
        "rasa_workers": args.rasa_workers,
        "telegram_max_rate": os.environ.get("TELEGRAM_MAX_RATE", "30 (default)"),
        "runs": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")
    return 0 if all(r["replies_lost"] == 0 and r["replies_duplicated"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
