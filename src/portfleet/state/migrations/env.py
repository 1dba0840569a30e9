"""Alembic's entry point, run on the connection portfleet opened (config.attributes["connection"]),
inside portfleet's own transaction: the migration and its version row commit together."""

from alembic import context

from portfleet.state.schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
