"""sla: business calendars, policies, fired steps, supervision orders; the ticket's clock

``sla_calendars`` and ``sla_policies`` are what admins edit; the seed is today's fixed table
(urgent 30 min / 4 h, high 2 h / 24 h, normal 8 h / 3 days, low 1 day / 7 days) on a 24×7
calendar, so due times do not change until an admin says so, plus an office calendar
(Monday to Friday 09:00–12:00 and 13:30–18:00, the site's holidays) ready to be chosen.
``sla_fired`` (unique ticket, target, step) makes each reminder/breach/escalation step fire
once; ``supervision_orders`` are 督办. Tickets get their clock columns; ``sla_next_at`` is
indexed (the sweep reads ``sla_next_at <= now`` through it). Existing tickets: no policy
recorded, nothing pending (the clock starts when they are next changed).

Number 0009: 0008 (the outbox) is written at the same time; the lead chains them at merge.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01 10:40:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def JSONType() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


OFFICE = {d: ["09:00-12:00", "13:30-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
#: priority → (first response, resolution) minutes: tickets/sla's former fixed table
SEED = {"urgent": (30, 240), "high": (120, 1440), "normal": (480, 4320),
        "low": (1440, 10080)}


def upgrade() -> None:
    calendars = op.create_table(
        'sla_calendars',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=True),
        sa.Column('holidays', sa.String(length=16), nullable=True),
        sa.Column('hours', JSONType(), nullable=False),
        sa.Column('closed_days', JSONType(), nullable=False),
        sa.Column('open_days', JSONType(), nullable=False),
        sa.Column('always_open', sa.Boolean(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    policies = op.create_table(
        'sla_policies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('priority', sa.String(length=16), nullable=False),
        sa.Column('type_key', sa.String(length=64), nullable=True),
        sa.Column('customer_tier', sa.String(length=16), nullable=True),
        sa.Column('flow_step', sa.Integer(), nullable=True),
        sa.Column('calendar_id', sa.Integer(), nullable=False),
        sa.Column('first_response_minutes', sa.Integer(), nullable=False),
        sa.Column('resolution_minutes', sa.Integer(), nullable=False),
        sa.Column('reminder_share', sa.Float(), nullable=False),
        sa.Column('escalation', JSONType(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['calendar_id'], ['sla_calendars.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'sla_fired',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('target', sa.String(length=32), nullable=False),
        sa.Column('step', sa.String(length=32), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('skipped', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ticket_id', 'target', 'step', name='uq_sla_fired_step'),
    )
    op.create_table(
        'supervision_orders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('deadline_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('closed_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_supervision_orders_ticket_id'), 'supervision_orders',
                    ['ticket_id'], unique=False)
    with op.batch_alter_table('tickets', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('sla_policy_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sla_paused_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('sla_paused_s', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('sla_next_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('sla_breached_at', UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_tickets_sla_next_at'), ['sla_next_at'],
                              unique=False)
    now = datetime.now(UTC)
    op.bulk_insert(calendars, [
        {'id': 1, 'key': '24x7', 'name': '24×7', 'timezone': None, 'holidays': None,
         'hours': {}, 'closed_days': [], 'open_days': [], 'always_open': True, 'version': 1,
         'updated_at': now},
        {'id': 2, 'key': 'office', 'name': 'Office hours 办公时间', 'timezone': None,
         'holidays': None, 'hours': OFFICE, 'closed_days': [], 'open_days': [],
         'always_open': False, 'version': 1, 'updated_at': now},
    ])
    op.bulk_insert(policies, [
        {'id': i, 'name': f'{priority} (default)', 'enabled': True, 'priority': priority,
         'type_key': None, 'customer_tier': None, 'flow_step': None, 'calendar_id': 1,
         'first_response_minutes': first, 'resolution_minutes': resolution,
         'reminder_share': 0.8, 'escalation': [], 'version': 1, 'updated_at': now}
        for i, (priority, (first, resolution)) in enumerate(SEED.items(), start=1)])
    if op.get_bind().dialect.name == 'postgresql':  # ids given by hand: move the sequences
        for table in ('sla_calendars', 'sla_policies'):
            op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"(SELECT max(id) FROM {table}))")


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_sla_next_at'))
        batch_op.drop_column('sla_breached_at')
        batch_op.drop_column('sla_next_at')
        batch_op.drop_column('sla_paused_s')
        batch_op.drop_column('sla_paused_at')
        batch_op.drop_column('sla_policy_id')
    op.drop_index(op.f('ix_supervision_orders_ticket_id'), table_name='supervision_orders')
    op.drop_table('supervision_orders')
    op.drop_table('sla_fired')
    op.drop_table('sla_policies')
    op.drop_table('sla_calendars')
