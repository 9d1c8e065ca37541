"""Alembic environment: runs on the engine the application hands over."""

from alembic import context
from sqlalchemy import Engine

from outagedesk.store.db import include_object
from outagedesk.store.models import Base

engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
