"""Messages correlate to any waiting instance and signals reach every one: event_subscription (what each
running instance waits for, with its correlation key), process_instance.waits_for, and process_message.kind
and .correlation; a message may wait without a target until an instance waits for it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('event_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('correlation', sa.String(length=255), nullable=True),
    sa.Column('element', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                            name=op.f('fk_event_subscription_instance_id_process_instance')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_subscription'))
    )
    op.create_index('ix_event_subscription_kind_name', 'event_subscription', ['kind', 'name', 'correlation'])
    op.create_index(op.f('ix_event_subscription_instance_id'), 'event_subscription', ['instance_id'])
    with op.batch_alter_table('process_instance') as batch_op:
        batch_op.add_column(sa.Column('waits_for', sa.Text(), nullable=True))
    with op.batch_alter_table('process_message') as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), server_default='message', nullable=False))
        batch_op.add_column(sa.Column('correlation', sa.String(length=255), nullable=True))
        batch_op.alter_column('target_instance_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index('ix_process_message_waiting', ['status', 'name', 'correlation'])
    # what running instances wait for is learnt by the worker (messaging.learn_subscriptions)
    op.execute("UPDATE process_instance SET waits_for = '?' WHERE status = 'running'")


def downgrade():
    with op.batch_alter_table('process_message') as batch_op:
        batch_op.drop_index('ix_process_message_waiting')
        batch_op.alter_column('target_instance_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('correlation')
        batch_op.drop_column('kind')
    with op.batch_alter_table('process_instance') as batch_op:
        batch_op.drop_column('waits_for')
    op.drop_index(op.f('ix_event_subscription_instance_id'), table_name='event_subscription')
    op.drop_index('ix_event_subscription_kind_name', table_name='event_subscription')
    op.drop_table('event_subscription')
