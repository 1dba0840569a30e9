"""Host leases, and who drives each run (DESIGN "Rules that matter": one run per host at a time).

runs gains controller_host, controller_pid (the process driving the run) and heartbeat_at (its last
sign of life); those of older runs stay null, shown as they were. host_leases holds one row per
host a run is working on; its primary key on host makes two runs' acquisitions exclude each other.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    # ADD COLUMN of a nullable column without default: in place on SQLite (no table rebuild) and PostgreSQL.
    for name, kind in (("controller_host", sa.Text), ("controller_pid", sa.Integer), ("heartbeat_at", sa.Text)):
        if name not in present:
            op.add_column("runs", sa.Column(name, kind))
    op.create_table(
        "host_leases",
        sa.Column("host", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("controller_host", sa.Text, nullable=False),
        sa.Column("controller_pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
    )
    op.create_index("host_leases_run", "host_leases", ["run_id"])
    meta = sa.table("meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="2"))


def downgrade() -> None:
    raise NotImplementedError("portfleet state is never downgraded: keep a copy of state.db before upgrading")
