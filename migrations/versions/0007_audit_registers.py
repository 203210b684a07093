"""audit findings name their auditee and keep the response details; audit programmes keep their details

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:30:00

"""
from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_programme', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', engine.core.db.JSONText(), nullable=False, server_default='{}'))
    with op.batch_alter_table('audit_finding', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auditee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('details', engine.core.db.JSONText(), nullable=False, server_default='{}'))
        batch_op.create_foreign_key('fk_audit_finding_auditee_id_user_account', 'user_account', ['auditee_id'], ['id'])


def downgrade():
    with op.batch_alter_table('audit_finding', schema=None) as batch_op:
        batch_op.drop_constraint('fk_audit_finding_auditee_id_user_account', type_='foreignkey')
        batch_op.drop_column('details')
        batch_op.drop_column('auditee_id')
    with op.batch_alter_table('audit_programme', schema=None) as batch_op:
        batch_op.drop_column('details')
