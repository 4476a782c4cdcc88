"""Alembic environment for regauth.

At runtime `regauth.store.open.open_store` runs the upgrade itself: it builds an
`alembic.config.Config` in code and hands over an open connection (already inside a transaction
that holds the migration lock) as `config.attributes["connection"]`. Without a connection, the URL
in the `sqlalchemy.url` option is used (handy for `alembic revision --autogenerate` by hand).
"""

from __future__ import annotations

from alembic import context

from regauth.store.schema import metadata

config = context.config


def _configure(**kw) -> None:
    context.configure(
        target_metadata=metadata,
        render_as_batch=True,   # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
        **kw,
    )


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from regauth.store.open import create_store_engine

    engine = create_store_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
