"""The audit chain's head follows its last event by a trigger: an append is one statement (the insert)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 16:00:00

"""
from alembic import op


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

# as engine/core/models/audit_trail.py HEAD_FOLLOWS creates it with the table (kept here as it was at this revision)
SQLITE = ("CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_event BEGIN "
          "UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash "
          "WHERE id = 1 AND seq = NEW.seq - 1 AND hash = NEW.prev_hash; END")
POSTGRESQL = ("CREATE OR REPLACE FUNCTION audit_head_follows() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
              "UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash "
              "WHERE id = 1 AND seq = NEW.seq - 1 AND hash = NEW.prev_hash; RETURN NULL; END $$",
              "CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_event "
              "FOR EACH ROW EXECUTE FUNCTION audit_head_follows()")


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(SQLITE)
    elif dialect == "postgresql":
        for statement in POSTGRESQL:
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_head_follows")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_head_follows ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_head_follows()")
