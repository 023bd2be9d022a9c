"""initial: the journal as released before migrations (commit 2821a93): decisions, transactions, cursors.

A database created by that code (its tables, no ``alembic_version``) is stamped at this revision
by :func:`macrostrike.keeper.migrations.upgrade`, then upgraded.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("block", sa.BigInteger, nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("bot_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_decisions_block", "decisions", ["block"])
    op.create_index("ix_decisions_reason", "decisions", ["reason"])

    op.create_table(
        "transactions",
        sa.Column("tx_hash", sa.String(66), primary_key=True),
        sa.Column("signer", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("bot_id", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gas_used", sa.BigInteger, nullable=True),
        sa.Column("effective_gas_price", sa.BigInteger, nullable=True),
        sa.Column("block", sa.BigInteger, nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("sent_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_transactions_signer", "transactions", ["signer"])
    op.create_index("ix_transactions_status", "transactions", ["status"])

    op.create_table(
        "cursors",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("last_block", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(66), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("cursors")
    op.drop_index("ix_transactions_status", table_name="transactions")
    op.drop_index("ix_transactions_signer", table_name="transactions")
    op.drop_table("transactions")
    op.drop_index("ix_decisions_reason", table_name="decisions")
    op.drop_index("ix_decisions_block", table_name="decisions")
    op.drop_table("decisions")
