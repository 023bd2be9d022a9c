"""intents: intents (one open per subject), heartbeats, and the attempt columns of transactions.

Existing transaction rows keep NULL in the new columns (they belong to no intent).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: the open intent states when this revision was written (frozen: not imported from the journal)
_OPEN = "state IN ('planned', 'sent')"


def upgrade() -> None:
    op.create_table(
        "intents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("bot_id", sa.Integer, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("gas_limit", sa.BigInteger, nullable=False),
        sa.Column("signer", sa.String(42), nullable=True),
        sa.Column("nonce", sa.BigInteger, nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block", sa.BigInteger, nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("created_block", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("error", sa.String(300), nullable=True),
    )
    op.create_index("ix_intents_state", "intents", ["state"])
    # at most one open intent per subject: a partial unique index (SQLite and PostgreSQL)
    op.create_index("uq_intents_open_subject", "intents", ["subject"], unique=True,
                    sqlite_where=sa.text(_OPEN), postgresql_where=sa.text(_OPEN))

    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
    )

    # nullable columns: SQLite adds them with ALTER TABLE (batch mode only recreates when it must)
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("intent_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("raw", sa.Text, nullable=True))
        batch.add_column(sa.Column("tip", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("max_fee", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("error", sa.String(300), nullable=True))
        batch.create_index("ix_transactions_intent_id", ["intent_id"])


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_index("ix_transactions_intent_id")
        batch.drop_column("error")
        batch.drop_column("max_fee")
        batch.drop_column("tip")
        batch.drop_column("raw")
        batch.drop_column("intent_id")
    op.drop_table("heartbeats")
    op.drop_index("uq_intents_open_subject", table_name="intents")
    op.drop_index("ix_intents_state", table_name="intents")
    op.drop_table("intents")
