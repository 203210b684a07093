"""risk treatment actions keep their evidence and blocker; an approval may have no conditions

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-30 09:50:00

"""
from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('risk_treatment_action', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evidence', engine.core.db.JSONText(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('blocker', sa.Text(), nullable=True))
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.alter_column('conditions', existing_type=engine.core.db.JSONText(), nullable=True)


def downgrade():
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.alter_column('conditions', existing_type=engine.core.db.JSONText(), nullable=False)
    with op.batch_alter_table('risk_treatment_action', schema=None) as batch_op:
        batch_op.drop_column('blocker')
        batch_op.drop_column('evidence')
