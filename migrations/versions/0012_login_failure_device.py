"""login_failure.device: failed logins from a browser with a device cookie count for that device only

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_failure') as batch_op:
        batch_op.add_column(sa.Column('device', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_login_failure_device_at', ['device', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('login_failure') as batch_op:
        batch_op.drop_index('ix_login_failure_device_at')
        batch_op.drop_column('device')
