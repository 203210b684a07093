"""password_link: one-time links to set a password (the first admin of an empty install, `aimsflow init`)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 09:00:00

"""
from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('password_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', engine.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_password_link_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_link_token_hash'))
    )
    op.create_index(op.f('ix_password_link_user_id'), 'password_link', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_password_link_user_id'), table_name='password_link')
    op.drop_table('password_link')
