"""Process versions keep their lint warnings (shown on the versions page)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:00:00

"""
from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('process_version') as batch_op:
        batch_op.add_column(sa.Column('lint_warnings', engine.core.db.JSONText(), nullable=False,
                                      server_default='[]'))


def downgrade():
    with op.batch_alter_table('process_version') as batch_op:
        batch_op.drop_column('lint_warnings')
