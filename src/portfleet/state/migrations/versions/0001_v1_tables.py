"""The tables of schema_version 1, as portfleet created them before Alembic.

A state.db from that release already holds some or all of them (the reboot tables appear only once
a reboot command has opened it): each table is created only when missing, so that database is
taken over in place and a new database gets the same tables.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    text, integer = sa.Text, sa.Integer
    if _missing("meta"):
        op.create_table("meta", sa.Column("key", text, primary_key=True), sa.Column("value", text, nullable=False))
    if _missing("runs"):
        op.create_table(
            "runs",
            sa.Column("id", text, primary_key=True),
            sa.Column("kind", text, nullable=False),
            sa.Column("check_mode", integer, nullable=False, server_default="0"),
            sa.Column("status", text, nullable=False),
            sa.Column("started_at", text, nullable=False),
            sa.Column("finished_at", text),
            sa.Column("inventory", text),
            sa.Column("playbook", text),
            sa.Column("limit_pattern", text),
            sa.Column("parent_run", text),
            sa.Column("summary", text),
            sa.Column("note", text),
        )
    if _missing("host_results"):
        op.create_table(
            "host_results",
            sa.Column("run_id", text, sa.ForeignKey("runs.id"), primary_key=True),
            sa.Column("host", text, primary_key=True),
            sa.Column("status", text, nullable=False),
            sa.Column("detail", text),
            sa.Column("facts", text),
            sa.Column("settings", text),
            sa.Column("finished_at", text, nullable=False),
        )
    if _missing("journal"):
        op.create_table(
            "journal",
            sa.Column("id", integer, primary_key=True, autoincrement=True),
            sa.Column("run_id", text, sa.ForeignKey("runs.id"), nullable=False),
            sa.Column("host", text, nullable=False),
            sa.Column("setting", text, nullable=False),
            sa.Column("prior", text),
            sa.Column("desired", text),
            sa.Column("command", text, nullable=False),
            sa.Column("state", text, nullable=False),
            sa.Column("exit_code", integer),
            sa.Column("output", text),
            sa.Column("created_at", text, nullable=False),
            sa.Column("updated_at", text, nullable=False),
            sqlite_autoincrement=True,
        )
        op.create_index("journal_run", "journal", ["run_id", "host"])
    if _missing("pending_reboots"):
        op.create_table(
            "pending_reboots",
            sa.Column("host", text, primary_key=True),
            sa.Column("setting", text, primary_key=True),
            sa.Column("applied_at", text, nullable=False),
            sa.Column("run_id", text, nullable=False),
        )
    if _missing("reboot_runs"):
        op.create_table(
            "reboot_runs",
            sa.Column("run_id", text, sa.ForeignKey("runs.id"), primary_key=True),
            sa.Column("options", text, nullable=False),
            sa.Column("controller_pid", integer),
            sa.Column("controller_host", text),
            sa.Column("updated_at", text, nullable=False),
        )
    if _missing("reboot_hosts"):
        op.create_table(
            "reboot_hosts",
            sa.Column("run_id", text, sa.ForeignKey("runs.id"), primary_key=True),
            sa.Column("host", text, primary_key=True),
            sa.Column("position", integer, nullable=False),
            sa.Column("batch", integer),
            sa.Column("state", text, nullable=False),
            sa.Column("reasons", text, nullable=False),
            sa.Column("forced", integer, nullable=False, server_default="0"),
            sa.Column("boot_before", text),
            sa.Column("command", text),
            sa.Column("sent_at", text),
            sa.Column("down_at", text),
            sa.Column("boot_after", text),
            sa.Column("detail", text),
            sa.Column("updated_at", text, nullable=False),
        )
    if _missing("reboot_schedules"):
        op.create_table(
            "reboot_schedules",
            sa.Column("host", text, primary_key=True),
            sa.Column("task", text, nullable=False),
            sa.Column("due_at", text, nullable=False),
            sa.Column("local_start", text, nullable=False),
            sa.Column("command", text, nullable=False),
            sa.Column("boot_before", text),
            sa.Column("run_id", text),
            sa.Column("created_at", text, nullable=False),
        )
    meta = sa.table("meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    bind = op.get_bind()
    if bind.execute(sa.select(meta.c.key).where(meta.c.key == "schema_version")).first() is None:
        op.execute(meta.insert().values(key="schema_version", value="1"))


def downgrade() -> None:
    raise NotImplementedError("portfleet state is never downgraded: keep a copy of state.db before upgrading")
