"""Engine, sessions and migrations. Callers own session lifetimes; nothing runs at import."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver we install)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: object) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)  # type: ignore[arg-type]

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
            # Let SQLAlchemy, not the driver, open transactions, so that SAVEPOINTs and
            # rollbacks behave as on PostgreSQL (SQLAlchemy's documented pysqlite recipe).
            connection.isolation_level = None
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN")

        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)  # type: ignore[arg-type]

    @event.listens_for(engine, "connect")
    def _no_jit(connection, _record) -> None:  # type: ignore[no-untyped-def]
        # PostgreSQL's JIT compiles our small catalogue queries for ~20 ms each, longer
        # than running them (measured in bench/catalogue_bench.py): off for this app.
        cursor = connection.cursor()
        cursor.execute("SET jit = off")
        cursor.close()
        connection.commit()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Brings the schema to the latest Alembic revision (the only way the schema changes)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
