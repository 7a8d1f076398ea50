"""mail: received messages (one row per Message-ID), customers found by email address

``mail_messages`` is the inbound email channel's idempotency key and log: a unique
``message_id`` so one mail never makes two tickets, what became of it (``outcome``,
``reason``) and the ticket, customer and comment it made. ``ix_customers_email_lower`` lets
the ingester match a sender to a customer by address without a scan. Existing rows: none.

Number 0010: 0008 and 0009 (SLA, notifications) were being written at the same time; the
lead re-chains ``down_revision`` at merge.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-01 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'mail_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.String(length=255), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sender', sa.String(length=255), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=True),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('comment_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['comment_id'], ['comments.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id'),
    )
    op.create_index(op.f('ix_mail_messages_ticket_id'), 'mail_messages', ['ticket_id'],
                    unique=False)
    op.create_index('ix_customers_email_lower', 'customers', [sa.text('lower(email)')],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_customers_email_lower', table_name='customers')
    op.drop_index(op.f('ix_mail_messages_ticket_id'), table_name='mail_messages')
    op.drop_table('mail_messages')
