"""Alembic environment: runs on the connection handed over by service_catalogue.db.upgrade,
or on DATABASE_URL when alembic is called from the command line."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from service_catalogue.db import make_engine
from service_catalogue.models import Base

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = make_engine(os.environ.get("DATABASE_URL", "sqlite:///.data/rehber.db"))
    with engine.begin() as new_connection:
        run(new_connection)
