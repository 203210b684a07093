"""Register rows can be retired instead of deleted: every register table gets retired_at

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

#: every table whose model uses RegisterMixin
TABLES = ('nonconformity', 'corrective_action', 'action_item', 'document', 'evidence', 'audit_programme',
          'internal_audit', 'audit_finding', 'soa_version', 'ai_system', 'impact_assessment', 'risk',
          'risk_treatment_action', 'risk_acceptance', 'management_review', 'review_action', 'ai_objective',
          'competence_requirement', 'training_record', 'certification_cycle', 'readiness_review',
          'external_audit', 'external_finding')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('retired_at', engine.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('retired_at')
