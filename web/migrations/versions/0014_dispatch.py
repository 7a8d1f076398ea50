"""dispatch: engineers' profiles, equipment, work orders, their files, offline-sync receipts
and maintenance schedules (issue #14)

New tables only (``dispatch.models`` says why each is shaped as it is); no existing table is
touched, so SQLite rebuilds nothing. Existing rows: none.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 18:44:08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def JSONType() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('equipment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('serial_number', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('install_date', sa.Date(), nullable=True),
    sa.Column('warranty_end', sa.Date(), nullable=True),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('usage', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_equipment_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_equipment_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment')),
    sa.UniqueConstraint('serial_number', name=op.f('uq_equipment_serial_number'))
    )
    with op.batch_alter_table('equipment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equipment_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_equipment_model'), ['model'], unique=False)

    op.create_table('maintenance_schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('every_months', sa.Integer(), nullable=True),
    sa.Column('every_usage', sa.Integer(), nullable=True),
    sa.Column('lead_days', sa.Integer(), server_default='14', nullable=False),
    sa.Column('required_skills', JSONType(), nullable=False),
    sa.Column('duration_min', sa.Integer(), server_default='60', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('every_months IS NOT NULL OR every_usage IS NOT NULL', name=op.f('ck_maintenance_schedules_period')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_maintenance_schedules_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_schedules'))
    )
    op.create_table('engineer_profiles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('base_lat', sa.Float(), nullable=True),
    sa.Column('base_lon', sa.Float(), nullable=True),
    sa.Column('work_start_min', sa.Integer(), server_default='540', nullable=False),
    sa.Column('work_end_min', sa.Integer(), server_default='1080', nullable=False),
    sa.Column('work_days', JSONType(), nullable=False),
    sa.Column('daily_capacity', sa.Integer(), server_default='8', nullable=False),
    sa.Column('on_duty', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('off_reason', sa.String(length=64), nullable=True),
    sa.Column('last_lat', sa.Float(), nullable=True),
    sa.Column('last_lon', sa.Float(), nullable=True),
    sa.Column('last_seen_at', UTCDateTime(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('daily_capacity >= 0', name=op.f('ck_engineer_profiles_capacity')),
    sa.CheckConstraint('work_start_min >= 0 AND work_end_min <= 1440 AND work_start_min < work_end_min', name=op.f('ck_engineer_profiles_hours')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_engineer_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_engineer_profiles'))
    )
    with op.batch_alter_table('engineer_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engineer_profiles_region'), ['region'], unique=False)

    op.create_table('work_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('equipment_id', sa.Integer(), nullable=True),
    sa.Column('engineer_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('contact_name', sa.String(length=128), nullable=True),
    sa.Column('contact_phone', sa.String(length=32), nullable=True),
    sa.Column('required_skills', JSONType(), nullable=False),
    sa.Column('window_start', UTCDateTime(), nullable=True),
    sa.Column('window_end', UTCDateTime(), nullable=True),
    sa.Column('duration_min', sa.Integer(), server_default='60', nullable=False),
    sa.Column('parts_planned', JSONType(), nullable=False),
    sa.Column('parts_used', JSONType(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('fail_reason', sa.String(length=255), nullable=True),
    sa.Column('signed_by', sa.String(length=128), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('declined_by', JSONType(), nullable=False),
    sa.Column('plan_seq', sa.Integer(), nullable=True),
    sa.Column('planned_arrival', UTCDateTime(), nullable=True),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('status_times', JSONType(), nullable=False),
    sa.CheckConstraint('lat IS NULL OR (lat BETWEEN -90 AND 90)', name=op.f('ck_work_orders_lat')),
    sa.CheckConstraint('lon IS NULL OR (lon BETWEEN -180 AND 180)', name=op.f('ck_work_orders_lon')),
    sa.CheckConstraint('rating IS NULL OR (rating BETWEEN 1 AND 5)', name=op.f('ck_work_orders_rating')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_work_orders_created_by_id_users')),
    sa.ForeignKeyConstraint(['engineer_id'], ['users.id'], name=op.f('fk_work_orders_engineer_id_users')),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_work_orders_equipment_id_equipment')),
    sa.ForeignKeyConstraint(['schedule_id'], ['maintenance_schedules.id'], name=op.f('fk_work_orders_schedule_id_maintenance_schedules'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_work_orders_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_orders')),
    sa.UniqueConstraint('schedule_id', 'equipment_id', 'due_on', name='maintenance_due')
    )
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.create_index('ix_work_orders_engineer_status', ['engineer_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_equipment_id'), ['equipment_id'], unique=False)
        batch_op.create_index('ix_work_orders_status_window', ['status', 'window_start'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('dispatch_sync_receipts',
    sa.Column('op_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('result', JSONType(), nullable=False),
    sa.Column('applied_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_dispatch_sync_receipts_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_dispatch_sync_receipts_work_order_id_work_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('op_id', name=op.f('pk_dispatch_sync_receipts'))
    )
    with op.batch_alter_table('dispatch_sync_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatch_sync_receipts_applied_at'), ['applied_at'], unique=False)

    op.create_table('work_order_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachments.id'], name=op.f('fk_work_order_files_attachment_id_attachments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_work_order_files_work_order_id_work_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_files'))
    )
    with op.batch_alter_table('work_order_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_files_work_order_id'), ['work_order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('work_order_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_order_files_work_order_id'))

    op.drop_table('work_order_files')
    with op.batch_alter_table('dispatch_sync_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatch_sync_receipts_applied_at'))

    op.drop_table('dispatch_sync_receipts')
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_orders_ticket_id'))
        batch_op.drop_index('ix_work_orders_status_window')
        batch_op.drop_index(batch_op.f('ix_work_orders_equipment_id'))
        batch_op.drop_index('ix_work_orders_engineer_status')

    op.drop_table('work_orders')
    with op.batch_alter_table('engineer_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engineer_profiles_region'))

    op.drop_table('engineer_profiles')
    op.drop_table('maintenance_schedules')
    with op.batch_alter_table('equipment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_equipment_model'))
        batch_op.drop_index(batch_op.f('ix_equipment_customer_id'))

    op.drop_table('equipment')
