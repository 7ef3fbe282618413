"""Starts the Rasa server for `make run` (run with the Rasa virtualenv's Python).

Chooses the tracker/lock store from REDIS_URL (endpoints.redis.yml) or the embedded
default (endpoints.yml, SQLite), checks the model file and the port first, and turns
telemetry off. Problems are reported as one readable line.
"""

from __future__ import annotations

import os
import socket
import sys
import tarfile
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


def fail(message: str) -> None:
    print(f"rehber: {message}", file=sys.stderr)
    sys.exit(2)


def check_model(path: Path) -> None:
    if not path.exists():
        fail(f"no model at {path}; run 'make model' (or 'make run', which trains it)")
    try:
        with tarfile.open(path, "r:gz") as archive:
            names = archive.getnames()
    except (tarfile.TarError, OSError, EOFError) as error:
        fail(
            f"the model file {path} is damaged ({error.__class__.__name__}); "
            "delete it and run 'make run' to retrain"
        )
    if not any(name.endswith("metadata.json") for name in names):
        fail(f"the model file {path} is not a Rasa model; delete it and run 'make run' to retrain")


def check_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError:
            fail(
                f"port {port} on {host} is already in use (is Rehber already running?); "
                "stop it or set RASA_PORT"
            )


def main() -> None:
    model = Path(os.environ.get("REHBER_MODEL", ROOT / "models" / "rehber.tar.gz"))
    host = os.environ.get("RASA_HOST", "127.0.0.1")
    port = int(os.environ.get("RASA_PORT", "5005"))
    check_model(model)
    check_port(host, port)
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    endpoints = ROOT / "endpoints.yml"
    os.environ.setdefault("ACTION_ENDPOINT_URL", "http://127.0.0.1:5055/webhook")
    os.environ.setdefault("NLG_ENDPOINT_URL", "http://127.0.0.1:8000/nlg")
    os.environ.setdefault("RASA_TRACKER_DB", str(ROOT / ".data" / "rasa_tracker.db"))
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        parsed = urlparse(redis_url)
        os.environ.setdefault("REDIS_HOST", parsed.hostname or "127.0.0.1")
        os.environ.setdefault("REDIS_PORT", str(parsed.port or 6379))
        os.environ.setdefault("REDIS_DB", (parsed.path or "/0").lstrip("/") or "0")
        os.environ.setdefault("REDIS_PASSWORD", parsed.password or "")
        endpoints = ROOT / "endpoints.redis.yml"
    (ROOT / ".data").mkdir(exist_ok=True)
    args = [
        "rasa",
        "run",
        "--enable-api",
        "-i",
        host,
        "-p",
        str(port),
        "-m",
        str(model),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(ROOT / "credentials.yml"),
    ]
    if os.environ.get("RASA_TOKEN"):
        args += ["--auth-token", os.environ["RASA_TOKEN"]]
    reuse_schema_validators()
    if not redis_url:
        tune_sqlite()
    sys.argv = args
    from rasa.__main__ import main as rasa_main

    rasa_main()


def tune_sqlite() -> None:
    """The embedded SQLite tracker store in WAL mode with ``synchronous=NORMAL``: a commit no
    longer waits for the disk twice (fsync was a tenth of Rasa's time under load, py-spy).
    A crash of Rasa loses nothing; a power cut may lose the last moments of conversation
    history (SQLite's documented trade-off). The Redis stores are unaffected."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragmas(connection: object, _record: object) -> None:
        if isinstance(connection, sqlite3.Connection):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()


def reuse_schema_validators() -> None:
    """Rasa 3.6 validates every action-server and NLG response with ``jsonschema.validate``,
    which re-checks the schema itself on every call: a third of Rasa's CPU under load
    (py-spy, docs/benchmarks.md). Same validation, with one validator per schema."""
    import json

    import jsonschema

    validators: dict[str, object] = {}

    def validate(
        instance: object, schema: dict, cls: type | None = None, *args: object, **kwargs: object
    ) -> None:
        key = json.dumps(schema, sort_keys=True, default=str)
        validator = validators.get(key)
        if validator is None:
            validator_class = cls or jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
            validator = validators[key] = validator_class(schema, *args, **kwargs)
        errors = validator.iter_errors(instance)  # type: ignore[attr-defined]
        error = jsonschema.exceptions.best_match(errors)
        if error is not None:
            raise error

    jsonschema.validate = validate


if __name__ == "__main__":
    main()
