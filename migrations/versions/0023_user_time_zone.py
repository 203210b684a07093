"""Each user's time zone (an IANA name such as "Asia/Tokyo"), in which pages and e-mails show dates

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 12:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account') as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('user_account') as batch_op:
        batch_op.drop_column('time_zone')
