"""Sliced jobs (DESIGN "Rules that matter": scale-out): each run names the job it is a shard of.

runs gains job (the --job / $PORTFLEET_JOB label shared by the shards of one sliced run) and shard
("K/N"); both stay null for runs recorded before, and for runs started without them. Two indexes
serve `runs list --job` and `portfleet status` (the newest result of every host) on big stores.

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
    inspector = sa.inspect(op.get_bind())
    present = {c["name"] for c in inspector.get_columns("runs")}
    # ADD COLUMN of a nullable column without default: in place on SQLite (no table rebuild) and PostgreSQL.
    for name in ("job", "shard"):
        if name not in present:
            op.add_column("runs", sa.Column(name, sa.Text))
    indexes = {i["name"] for t in ("runs", "host_results") for i in inspector.get_indexes(t)}
    if "runs_job" not in indexes:
        op.create_index("runs_job", "runs", ["job"])
    if "host_results_host" not in indexes:
        op.create_index("host_results_host", "host_results", ["host", "finished_at"])
    meta = sa.table("meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="3"))


def downgrade() -> None:
    raise NotImplementedError("portfleet state is never downgraded: keep a copy of state.db before upgrading")
