"""Procfile helper for `make run`: says when Rehber can answer, then idles until stopped."""

from __future__ import annotations

import os
import signal
import sys
import time

import httpx

CHECKS = {
    "Rasa": f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}/status",
    "actions": "http://127.0.0.1:5055/health",
    "app": f"http://127.0.0.1:{os.environ.get('REHBER_PORT', '8000')}/healthz",
}


def ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    started = time.monotonic()
    waiting = dict(CHECKS)
    while waiting:
        waiting = {name: url for name, url in waiting.items() if not ready(url)}
        time.sleep(1)
    app = CHECKS["app"].rsplit("/", 1)[0]
    print(f"Rehber is ready after {time.monotonic() - started:.0f} s: open {app}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
