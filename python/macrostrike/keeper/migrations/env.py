"""Alembic's environment for the keeper journal (run by :func:`macrostrike.keeper.migrations.upgrade`).

Online only, on the connection the caller put in ``config.attributes["connection"]`` (Alembic's
"sharing a connection" recipe): the caller owns its transaction, so the migrations commit or roll
back with it, and an in-memory SQLite journal (one StaticPool connection) is migrated in place.
"""

from alembic import context

from macrostrike.keeper.journal import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the journal's migrations run on a given connection: "
                       "use macrostrike.keeper.migrations.upgrade(engine)")

# target_metadata: for `compare_metadata`/autogenerate only; the revisions themselves are explicit op calls
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():  # joins the caller's transaction
    context.run_migrations()
