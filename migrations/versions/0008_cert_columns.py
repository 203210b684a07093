"""SoA entries record the control owner's last review; external audits keep their details (schedule,
information requests, evidence-pack manifest)

Revision ID: 0008
Revises: 0002
Create Date: 2026-11-30 10:30:00

"""
from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0008'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('soa_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reviewed_at', engine.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reviewed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_soa_entry_reviewed_by_id_user_account'), 'user_account',
                                    ['reviewed_by_id'], ['id'])
    with op.batch_alter_table('external_audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', engine.core.db.JSONText(), nullable=False, server_default='{}'))


def downgrade():
    with op.batch_alter_table('external_audit', schema=None) as batch_op:
        batch_op.drop_column('details')
    with op.batch_alter_table('soa_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_soa_entry_reviewed_by_id_user_account'), type_='foreignkey')
        batch_op.drop_column('reviewed_by_id')
        batch_op.drop_column('reviewed_at')
