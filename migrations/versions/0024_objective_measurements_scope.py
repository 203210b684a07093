"""Objectives' measurements over time (objective_measurement, moved out of ai_objective.measurements) and
the versioned, approved AIMS scope statement (scope_statement, 4.3)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 12:00:00

"""
import calendar
import json
import re
from datetime import date, datetime, timezone

from alembic import op
import sqlalchemy as sa

import engine.core.db


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def _day(m):
    """The day a JSON measurement stands for: its ``measured_on``, else the last day of its ``period``
    (2026-03, 2026-Q1, 2026), else None."""
    text = str(m.get("measured_on") or m.get("period") or "").strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    if found := re.fullmatch(r"(\d{4})-(\d{2})", text):
        year, month = int(found[1]), int(found[2])
    elif found := re.fullmatch(r"(\d{4})-Q([1-4])", text):
        year, month = int(found[1]), 3 * int(found[2])
    elif re.fullmatch(r"\d{4}", text):
        year, month = int(text), 12
    else:
        return None
    return date(year, month, calendar.monthrange(year, month)[1])


def upgrade():
    op.create_table('objective_measurement',
    sa.Column('objective_id', sa.Integer(), nullable=False),
    sa.Column('measured_on', sa.Date(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
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
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_objective_measurement_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_objective_measurement_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['objective_id'], ['ai_objective.id'], name=op.f('fk_objective_measurement_objective_id_ai_objective')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_objective_measurement_updated_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objective_measurement')),
    sa.UniqueConstraint('ref', name=op.f('uq_objective_measurement_ref'))
    )
    with op.batch_alter_table('objective_measurement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objective_measurement_objective_id'), ['objective_id'], unique=False)
    op.create_table('scope_statement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('boundaries', sa.Text(), nullable=False),
    sa.Column('exclusions', engine.core.db.JSONText(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('approver_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', engine.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['approver_id'], ['user_account.id'], name=op.f('fk_scope_statement_approver_id_user_account')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_scope_statement_author_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scope_statement')),
    sa.UniqueConstraint('version', name=op.f('uq_scope_statement_version'))
    )
    _move_measurements()
    # in place (SQLite 3.35+ and PostgreSQL): a batch copy of ai_objective would trip the foreign keys
    # that now point at it
    op.execute('ALTER TABLE ai_objective DROP COLUMN measurements')


def _move_measurements():
    """Each JSON measurement becomes a row (MEAS-0001 ...). One without a day (or period) or without a
    number gives no result to draw and is left out."""
    bind = op.get_bind()
    objective = sa.table('ai_objective', sa.column('id', sa.Integer), sa.column('measurements', sa.Text),
                         sa.column('created_by_id', sa.Integer))
    measurement = sa.table(
        'objective_measurement', sa.column('objective_id', sa.Integer), sa.column('measured_on', sa.Date),
        sa.column('value', sa.Float), sa.column('note', sa.Text), sa.column('ref', sa.String),
        sa.column('status', sa.String), sa.column('created_at', engine.core.db.UTCDateTime(timezone=True)),
        sa.column('updated_at', engine.core.db.UTCDateTime(timezone=True)), sa.column('row_version', sa.Integer),
        sa.column('iso_refs', sa.Text), sa.column('created_by_id', sa.Integer),
        sa.column('updated_by_id', sa.Integer))
    counter = sa.table('ref_counter', sa.column('prefix', sa.String), sa.column('last', sa.Integer))
    now = datetime.now(timezone.utc)
    number = 0
    for row in bind.execute(sa.select(objective.c.id, objective.c.measurements, objective.c.created_by_id)
                            .order_by(objective.c.id)):
        try:
            items = json.loads(row.measurements or "[]")
        except ValueError:
            continue
        for m in items if isinstance(items, list) else []:
            if not isinstance(m, dict):
                continue
            day = _day(m)
            try:
                value = float(m.get("value"))
            except (TypeError, ValueError):
                continue
            if day is None:
                continue
            number += 1
            note = " ".join(str(m.get(k)) for k in ("note", "comment") if m.get(k)) or None
            bind.execute(measurement.insert().values(
                objective_id=row.id, measured_on=day, value=value, note=note, ref=f"MEAS-{number:04d}",
                status="recorded", created_at=now, updated_at=now, row_version=1, iso_refs='["6.2", "9.1"]',
                created_by_id=row.created_by_id, updated_by_id=row.created_by_id))
    if number:
        bind.execute(counter.delete().where(counter.c.prefix == 'MEAS'))
        bind.execute(counter.insert().values(prefix='MEAS', last=number))


def downgrade():
    with op.batch_alter_table('ai_objective', schema=None) as batch_op:
        batch_op.add_column(sa.Column('measurements', engine.core.db.JSONText(), nullable=False,
                                      server_default='[]'))
    bind = op.get_bind()
    kept = {}
    for row in bind.execute(sa.text("SELECT objective_id, measured_on, value, note FROM objective_measurement "
                                    "WHERE retired_at IS NULL ORDER BY measured_on, id")):
        kept.setdefault(row.objective_id, []).append(
            {"measured_on": str(row.measured_on)[:10], "value": row.value, **({"note": row.note} if row.note else {})})
    for objective_id, items in kept.items():
        bind.execute(sa.text("UPDATE ai_objective SET measurements = :m WHERE id = :id"),
                     {"m": json.dumps(items), "id": objective_id})
    op.drop_table('scope_statement')
    with op.batch_alter_table('objective_measurement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objective_measurement_objective_id'))
    op.drop_table('objective_measurement')
