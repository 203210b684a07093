"""login_failure gets indexes for the throttle's count by client address and the worker's purge by age

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00

"""
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_failure') as batch_op:
        batch_op.create_index('ix_login_failure_ip_at', ['ip', 'at'], unique=False)
        batch_op.create_index('ix_login_failure_at', ['at'], unique=False)


def downgrade():
    with op.batch_alter_table('login_failure') as batch_op:
        batch_op.drop_index('ix_login_failure_at')
        batch_op.drop_index('ix_login_failure_ip_at')
