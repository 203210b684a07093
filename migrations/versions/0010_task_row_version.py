"""Task rows get an optimistic lock: every change checks and bumps human_task.row_version

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.add_column(sa.Column('row_version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.drop_column('row_version')
