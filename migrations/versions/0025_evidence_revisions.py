"""Evidence revisions: every file an evidence item held (evidence_revision), the item's owner and current
revision number; a start form's upload waits for its instance (evidence_file.instance_id may be empty)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 12:45:00

"""
from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('evidence_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('content_ref', sa.String(length=500), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_revision_evidence_id_evidence'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                            name=op.f('fk_evidence_revision_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['user_account.id'],
                            name=op.f('fk_evidence_revision_submitted_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_revision')),
    sa.UniqueConstraint('evidence_id', 'number', name=op.f('uq_evidence_revision_evidence_id'))
    )
    op.create_index(op.f('ix_evidence_revision_evidence_id'), 'evidence_revision', ['evidence_id'], unique=False)
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.add_column(sa.Column('owner_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('revision', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_foreign_key(batch_op.f('fk_evidence_owner_id_user_account'), 'user_account', ['owner_id'],
                                    ['id'])
    with op.batch_alter_table('evidence_file') as batch_op:
        batch_op.alter_column('instance_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    with op.batch_alter_table('evidence_file') as batch_op:
        batch_op.alter_column('instance_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evidence_owner_id_user_account'), type_='foreignkey')
        batch_op.drop_column('revision')
        batch_op.drop_column('owner_id')
    op.drop_index(op.f('ix_evidence_revision_evidence_id'), table_name='evidence_revision')
    op.drop_table('evidence_revision')
