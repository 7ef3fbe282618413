"""Shared fixtures: content, the language/gazetteer helpers, and the running stack.

The ``stack`` fixture starts the real processes — Rasa (trained model), the action server
and the app — on their own ports, so tests talk to the product as a user would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import yaml

from bot.content import ContentStore
from nlu_components.gazetteer import Gazetteer

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
RASA_PY = ROOT / ".venv" / "rasa" / "bin" / "python"
APP_PY = Path(sys.executable)
MODEL = ROOT / "models" / "rehber.tar.gz"


@pytest.fixture(scope="session")
def content() -> ContentStore:
    return ContentStore.load(ROOT / "content")


@pytest.fixture(scope="session")
def domain() -> dict:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_file(ROOT / "nlu_data" / "lookups" / "gazetteer.yml")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, seconds: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not come up in {seconds}s")


@dataclass
class Stack:
    """The three processes of `make run`, on free ports, with their own data directory."""

    data_dir: Path
    env: dict[str, str]
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    app_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_rasa(self) -> None:
        env = {
            **self.env,
            "RASA_PORT": str(self.rasa_port),
            "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{self.actions_port}/webhook",
            "NLG_ENDPOINT_URL": f"{self.app_url}/nlg",
        }
        self._spawn("rasa", [str(RASA_PY), "scripts/rasa_serve.py"], env)
        wait_for(f"{self.rasa_url}/status", 180, self.processes["rasa"])

    def start_actions(self, wait: bool = True) -> None:
        actions_env = {**self.env, "SANIC_HOST": "127.0.0.1"}
        command = ["-m", "rasa_sdk", "--actions", "actions", "--port", str(self.actions_port)]
        self._spawn("actions", [str(APP_PY), *command], actions_env)
        if wait:
            wait_for(f"http://127.0.0.1:{self.actions_port}/health", 60, self.processes["actions"])

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def start(self) -> None:
        # Every process must agree on where Rasa keeps trackers (erasure deletes there).
        self.env.setdefault("RASA_TRACKER_DB", str(self.data_dir / "tracker.db"))
        subprocess.run(
            [str(APP_PY), "-m", "service_catalogue", "seed"],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.start_actions(wait=False)
        app_env = {
            **self.env,
            "REHBER_PORT": str(self.app_port),
            "RASA_URL": self.rasa_url,
            "ACTION_SERVER_URL": f"http://127.0.0.1:{self.actions_port}",
        }
        self._spawn("app", [str(APP_PY), "-m", "bot"], app_env)
        wait_for(f"http://127.0.0.1:{self.actions_port}/health", 60, self.processes["actions"])
        wait_for(f"{self.app_url}/healthz", 60, self.processes["app"])
        self.start_rasa()

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}; `make test` trains it first")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('db')}/rehber.db",
    }
    env.pop("REDIS_URL", None)
    running = Stack(tmp_path_factory.mktemp("stack"), env)
    try:
        running.start()
        yield running
    finally:
        running.close()


# --- databases: the same tests run on SQLite (embedded default) and PostgreSQL (real server) ---

POSTGRES_URL = os.environ.get(
    "REHBER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a migrated, empty catalogue database: a SQLite file, or a fresh schema in
    the real PostgreSQL server (dropped afterwards)."""
    import uuid

    from sqlalchemy import text

    from service_catalogue.db import make_engine, upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rehber.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    from service_catalogue.db import make_engine

    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    from sqlalchemy.orm import Session

    with Session(db_engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def seeded(db_session: Session) -> Session:
    """The database loaded from content/services (the real catalogue)."""
    from service_catalogue.seed import read_catalogue, write_catalogue

    catalogue = read_catalogue(
        ROOT / "content", Gazetteer.from_file(ROOT / "nlu_data" / "lookups" / "gazetteer.yml")
    )
    write_catalogue(db_session, catalogue)
    db_session.commit()
    return db_session
