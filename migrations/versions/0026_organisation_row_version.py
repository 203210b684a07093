"""The organisation row gets a row_version: its settings and risk criteria change by compare-and-set

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 13:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organisation') as batch_op:
        batch_op.add_column(sa.Column('row_version', sa.Integer(), nullable=False, server_default='1'))


def downgrade():
    with op.batch_alter_table('organisation') as batch_op:
        batch_op.drop_column('row_version')
