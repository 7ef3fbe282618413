"""Before `make run`: ports free and content valid, each problem as one readable line."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.content import ContentStore  # noqa: E402
from service_catalogue.yamlsource import ContentErrors  # noqa: E402

PORTS = {
    "the Rasa server (RASA_PORT)": int(os.environ.get("RASA_PORT", "5005")),
    "the action server": 5055,
    "the app (REHBER_PORT)": int(os.environ.get("REHBER_PORT", "8000")),
}


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def main() -> int:
    problems = [
        f"port {port} for {what} is already in use (is Rehber already running?)"
        for what, port in PORTS.items()
        if port_in_use(port)
    ]
    try:
        ContentStore.load(ROOT / "content")
    except ContentErrors as errors:
        problems += [f"content error: {error}" for error in errors.errors]
    for problem in problems:
        print(f"rehber: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
