"""Alembic's environment script for the store (run by Alembic for every command).

Online, the connection comes from :mod:`viewer.store.migrate` through ``config.attributes``, already
inside the transaction that holds the upgrade lock: the revisions and the version stamp commit
together or not at all. Offline (``--sql``), Alembic writes the statements for the URL's dialect
instead of running them, after the ``preamble`` statements (the lock, a stamp) the runner asks for.
"""

from __future__ import annotations

from alembic import context

from viewer.store.schema import metadata

config = context.config
if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transactional_ddl=True,  # SQLite too: the script is one transaction, as a run is
    )
else:
    connection = config.attributes.get("connection")
    if connection is None:  # e.g. the alembic command itself: it would upgrade without the lock
        raise RuntimeError("upgrade the store with `wsi-viewer db upgrade` (or a server start), not alembic")
    context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    for statement in config.attributes.get("preamble", ()):
        context.execute(statement)
    context.run_migrations()
