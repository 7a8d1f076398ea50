"""notifications: the outbox, staff mute preferences, webhook subscriptions, job runner

``outbox_messages`` holds every message to send (one row per recipient and channel, unique
idempotency ``key``), indexed on (status, next_attempt_at) for the delivery job's claim.
``notification_prefs`` holds the staff's mutes; ``webhook_subscriptions`` the integrators'
endpoints. ``hotline_job_ticks`` / ``hotline_jobs`` belong to the in-process job runner used
on SQLite (web/jobs.py); on PostgreSQL procrastinate keeps its own tables (applied at start).
Existing rows: nothing to send, nobody muted, no subscriptions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def JSONType() -> sa.types.TypeEngine:  # one place for the two dialects
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'outbox_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('ticket_number', sa.String(length=20), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('html', sa.Text(), nullable=True),
        sa.Column('payload', JSONType(), nullable=True),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
        sa.UniqueConstraint('key', name=op.f('uq_outbox_messages_key')),
    )
    op.create_index('ix_outbox_messages_status_next', 'outbox_messages',
                    ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_outbox_messages_ticket_id'), 'outbox_messages', ['ticket_id'],
                    unique=False)
    op.create_table(
        'notification_prefs',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_notification_prefs_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'kind', 'channel',
                                name=op.f('pk_notification_prefs')),
    )
    op.create_table(
        'webhook_subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=False),
        sa.Column('kinds', JSONType(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions')),
    )
    op.create_table(
        'hotline_job_ticks',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('tick', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_hotline_job_ticks')),
    )
    op.create_table(
        'hotline_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task', sa.String(length=100), nullable=False),
        sa.Column('args', JSONType(), nullable=False),
        sa.Column('run_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hotline_jobs')),
    )
    op.create_index('ix_hotline_jobs_status_run_at', 'hotline_jobs', ['status', 'run_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_hotline_jobs_status_run_at', table_name='hotline_jobs')
    op.drop_table('hotline_jobs')
    op.drop_table('hotline_job_ticks')
    op.drop_table('webhook_subscriptions')
    op.drop_table('notification_prefs')
    op.drop_index(op.f('ix_outbox_messages_ticket_id'), table_name='outbox_messages')
    op.drop_index('ix_outbox_messages_status_next', table_name='outbox_messages')
    op.drop_table('outbox_messages')
