"""The journal's schema, versioned with Alembic (revisions in ``versions/``, written by hand).

:func:`upgrade` runs on every :class:`~macrostrike.keeper.journal.Journal` construction and brings
the database to :data:`HEAD` in place:

- an empty database gets every revision;
- a database created before migrations existed (the journal's tables, no ``alembic_version``) is
  stamped ``0001`` (the schema of that code) and upgraded from there;
- a database already at :data:`HEAD` costs one look at ``alembic_version`` (Alembic itself is
  not even imported).

Alembic is configured in code (no ``alembic.ini``); it works on the caller's connection, passed
through ``config.attributes["connection"]`` (see ``env.py``), inside one transaction: on SQLite it
is opened with ``BEGIN IMMEDIATE`` and on PostgreSQL it takes an advisory lock, so two keepers
opening the same old journal at once migrate it once, and a failed migration leaves nothing
half-done (SQLite and PostgreSQL both roll DDL back).

A new revision: copy the newest file in ``versions/``, set ``revision``/``down_revision``, write its
``op`` calls (``op.batch_alter_table`` for what SQLite cannot ``ALTER``), bump :data:`HEAD`; the
migration tests check the result against ``journal.metadata``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

#: The newest revision: the schema of ``macrostrike.keeper.journal.metadata``.
HEAD = "0003"
#: The tables of revision 0001 (the journal before migrations); any of them without a version table
#: means a database created by that code.
LEGACY_TABLES = ("decisions", "transactions", "cursors")
VERSION_TABLE = "alembic_version"
_PG_LOCK_KEY = 0x6D6B6A6E  # pg_advisory_xact_lock key serialising concurrent migrations ("mkjn")
_HERE = Path(__file__).resolve().parent

logger = logging.getLogger("macrostrike.keeper")


def current_revision(engine: Engine) -> str | None:
    """The journal database's schema revision, or None (empty, or created before migrations)."""
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    versions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(versions) > 1:
        raise RuntimeError(f"the journal's {VERSION_TABLE} holds several revisions {versions}; expected one")
    return versions[0] if versions else None


def alembic_config(connection: Connection | None = None) -> Any:
    """An Alembic ``Config`` for the journal's revisions, bound to ``connection`` (for ``alembic.command``)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic logs INFO lines for every run ("Context impl", "Running upgrade"): hold them back
    unless the application configured the ``alembic`` logger itself."""
    alembic_logger = logging.getLogger("alembic")
    if alembic_logger.level != logging.NOTSET:
        yield
        return
    alembic_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_logger.setLevel(logging.NOTSET)


def _lock(conn: Connection) -> None:
    """Serialise migrations of one database between processes (held until the transaction ends)."""
    if conn.dialect.name == "sqlite":
        # pysqlite starts no transaction before DDL: make it one, and take the write lock now
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def upgrade(engine: Engine) -> None:
    """Bring the journal database at ``engine`` to :data:`HEAD` (see the module docstring).

    Raises:
        RuntimeError: the database is at a revision this code does not know (written by a newer
            keeper), or holds only some of the pre-migration tables.
    """
    if current_revision(engine) == HEAD:  # the common case: no Alembic at all
        return
    with _quiet_alembic(), engine.begin() as conn:
        from alembic import command  # imported under _quiet_alembic: its plugins log INFO lines at import
        from alembic.script import ScriptDirectory

        _lock(conn)
        revision = _revision(conn)  # again, under the lock: another process may have migrated meanwhile
        if revision == HEAD:
            return
        config = alembic_config(conn)
        start = revision or "empty"
        if revision is None:
            inspector = inspect(conn)
            present = [t for t in LEGACY_TABLES if inspector.has_table(t)]
            if present and len(present) < len(LEGACY_TABLES):
                raise RuntimeError(f"the journal database has only some of its tables ({', '.join(present)}); "
                                   "not a journal this code can upgrade")
            if present:
                logger.info("journal: a database from before schema migrations; stamping revision 0001")
                command.stamp(config, "0001")
                start = "0001 (stamped)"
        else:
            known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
            if revision not in known:
                raise RuntimeError(f"the journal database is at schema revision {revision!r}, unknown to this "
                                   f"keeper (newest known: {HEAD}); was it written by a newer version?")
        command.upgrade(config, HEAD)
        logger.info("journal: schema upgraded from %s to %s", start, HEAD)
