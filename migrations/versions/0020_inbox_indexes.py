"""human_task gets two partial indexes over open tasks for the inbox: a user's own tasks and a role's queue,
each in due-date order, carrying every column the tab counts read (process, state; the queue also the SoD
exclusions and assignee), so the counts never leave the index

Revision ID: 0020
Revises: 0015
Create Date: 2026-12-03 09:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0015'
branch_labels = None
depends_on = None

OPEN = "state IN ('ready', 'claimed')"


def upgrade():
    op.create_index('ix_human_task_open_assignee', 'human_task',
                    ['assignee_id', 'due_at', 'id', 'process_id', 'state'],
                    unique=False, sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    queue = sa.text(f"assignee_id IS NULL AND {OPEN}")
    op.create_index('ix_human_task_open_queue', 'human_task',
                    ['role', 'due_at', 'id', 'process_id', 'excluded_ids', 'assignee_id', 'state'],
                    unique=False, sqlite_where=queue, postgresql_where=queue)


def downgrade():
    op.drop_index('ix_human_task_open_queue', table_name='human_task')
    op.drop_index('ix_human_task_open_assignee', table_name='human_task')
