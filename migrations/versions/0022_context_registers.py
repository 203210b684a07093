"""The organisation's context and what it buys in, as registers: context_issue (4.1), interested_party and
party_requirement (4.2), supplier (A.10, 8.1), data_resource (A.7, A.4.3)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('context_issue',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('effect_on_aims', sa.Text(), nullable=True),
    sa.Column('ai_system_ids', engine.core.db.JSONText(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('next_review_at', sa.Date(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('created_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('iso_refs', engine.core.db.JSONText(), nullable=False),
    sa.Column('retired_at', engine.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_context_issue_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_context_issue_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_context_issue_owner_id_user_account')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_context_issue_updated_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_context_issue')),
    sa.UniqueConstraint('ref', name=op.f('uq_context_issue_ref'))
    )
    op.create_table('interested_party',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('party_type', sa.String(length=40), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('created_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('iso_refs', engine.core.db.JSONText(), nullable=False),
    sa.Column('retired_at', engine.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_interested_party_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_interested_party_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_interested_party_owner_id_user_account')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_interested_party_updated_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interested_party')),
    sa.UniqueConstraint('ref', name=op.f('uq_interested_party_ref'))
    )
    op.create_table('supplier',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('services', sa.Text(), nullable=True),
    sa.Column('ai_components', engine.core.db.JSONText(), nullable=False),
    sa.Column('ai_system_ids', engine.core.db.JSONText(), nullable=False),
    sa.Column('contract_ref', sa.String(length=100), nullable=True),
    sa.Column('dpa_in_place', sa.Boolean(), nullable=False),
    sa.Column('data_retention_terms', sa.Text(), nullable=True),
    sa.Column('trains_on_our_data', sa.String(length=20), nullable=True),
    sa.Column('risk_rating', sa.String(length=20), nullable=True),
    sa.Column('last_assessment_result', sa.String(length=40), nullable=True),
    sa.Column('last_assessed_at', sa.Date(), nullable=True),
    sa.Column('assessment_due', sa.Date(), nullable=True),
    sa.Column('conditions', engine.core.db.JSONText(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('created_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('iso_refs', engine.core.db.JSONText(), nullable=False),
    sa.Column('retired_at', engine.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_supplier_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_supplier_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_supplier_owner_id_user_account')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_supplier_updated_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier')),
    sa.UniqueConstraint('ref', name=op.f('uq_supplier_ref'))
    )
    op.create_table('data_resource',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('ai_system_ids', engine.core.db.JSONText(), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=True),
    sa.Column('source', sa.String(length=40), nullable=True),
    sa.Column('supplier_id', sa.Integer(), nullable=True),
    sa.Column('acquisition_method', sa.Text(), nullable=True),
    sa.Column('legal_basis_or_licence', sa.Text(), nullable=True),
    sa.Column('provenance', sa.Text(), nullable=True),
    sa.Column('quality_requirements', sa.Text(), nullable=True),
    sa.Column('quality_checks', sa.Text(), nullable=True),
    sa.Column('intended_use', sa.Text(), nullable=True),
    sa.Column('personal_data', sa.String(length=20), nullable=True),
    sa.Column('retention', sa.Text(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('created_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('iso_refs', engine.core.db.JSONText(), nullable=False),
    sa.Column('retired_at', engine.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_data_resource_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_data_resource_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_data_resource_owner_id_user_account')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_data_resource_supplier_id_supplier')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_data_resource_updated_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_resource')),
    sa.UniqueConstraint('ref', name=op.f('uq_data_resource_ref'))
    )
    op.create_table('party_requirement',
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('requirement', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=True),
    sa.Column('addressed_by_aims', sa.Boolean(), nullable=False),
    sa.Column('how_addressed', sa.Text(), nullable=True),
    sa.Column('linked_controls', engine.core.db.JSONText(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('created_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('iso_refs', engine.core.db.JSONText(), nullable=False),
    sa.Column('retired_at', engine.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_party_requirement_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_party_requirement_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['party_id'], ['interested_party.id'], name=op.f('fk_party_requirement_party_id_interested_party')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_party_requirement_updated_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_party_requirement')),
    sa.UniqueConstraint('ref', name=op.f('uq_party_requirement_ref'))
    )
    with op.batch_alter_table('party_requirement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_party_requirement_party_id'), ['party_id'], unique=False)



def downgrade():
    with op.batch_alter_table('party_requirement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_party_requirement_party_id'))

    op.drop_table('party_requirement')
    op.drop_table('data_resource')
    op.drop_table('supplier')
    op.drop_table('interested_party')
    op.drop_table('context_issue')
