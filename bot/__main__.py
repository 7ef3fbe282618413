"""``python -m bot``: serve the app (web chat, NLG endpoint, channel webhooks)."""

from __future__ import annotations

import errno
import logging
import socket
import sys

from bot.settings import Settings


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as error:
            return error.errno != errno.EADDRINUSE
    return True


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # One line per outgoing HTTP request (every getUpdates poll, every Rasa call) and per
    # incoming one (every NLG call from Rasa) was noise in the log and a tenth of the
    # gateway's CPU under load; failures are still logged as warnings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings.from_env()
    if not _port_free(settings.host, settings.port):
        print(
            f"rehber: port {settings.port} on {settings.host} is already in use; stop the other "
            f"program or set REHBER_PORT",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from bot.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
        ws="none",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
