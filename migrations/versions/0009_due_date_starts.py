"""Reviews started by register dates (the worker's due-date phase): one row per (kind, object, due date)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:10:00

"""
from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('due_date_start',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('object_ref', sa.String(length=60), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('process_id', sa.String(length=100), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('started_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                            name=op.f('fk_due_date_start_instance_id_process_instance')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_due_date_start')),
    sa.UniqueConstraint('kind', 'object_id', 'due_on', name=op.f('uq_due_date_start_kind'))
    )


def downgrade():
    op.drop_table('due_date_start')
