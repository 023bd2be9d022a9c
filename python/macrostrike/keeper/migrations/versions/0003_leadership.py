"""leadership: the leader epoch of each keeper group, the keeper processes' heartbeats, and the
epoch each attempt was written under (see macrostrike.keeper.leader).

Existing transaction rows keep NULL in ``epoch`` (written without a leader: a single keeper).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_epochs",
        sa.Column("group_key", sa.String(128), primary_key=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
    )
    op.create_table(
        "keeper_nodes",
        sa.Column("node", sa.String(128), primary_key=True),
        sa.Column("group_key", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_index("ix_keeper_nodes_group_key", "keeper_nodes", ["group_key"])
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("epoch", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("epoch")
    op.drop_index("ix_keeper_nodes_group_key", table_name="keeper_nodes")
    op.drop_table("keeper_nodes")
    op.drop_table("leader_epochs")
