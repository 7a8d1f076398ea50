"""report indexes: tickets by creation time, call-backs in the ticket history

The reports (``tickets/reports``) read the tickets created in a period and the calls started
in one. ``call_log.started_at`` is indexed already (``ix_call_log_started_at``);
``tickets.created_at`` was only indexed behind ``status`` or ``customer_id``, so a period's
tickets were a scan of the table: ``ix_tickets_created_at``. First-contact resolution counts
a ticket's other contacts: the calls linked to it and the times staff rang the customer
about it (``called_back`` history events), both made after the ticket was, so read since
the period's start: ``ix_ticket_calls_linked_at`` and the partial (``kind =
'called_back'``) ``ix_ticket_events_called_back`` on ``(at, ticket_id)``, a small index
instead of every event of the period.

Number 0012: written as 0011 beside 0011 (callbacks) and chained after it when main was merged in.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CALLED_BACK = sa.text("kind = 'called_back'")


def upgrade() -> None:
    op.create_index('ix_tickets_created_at', 'tickets', ['created_at'], unique=False)
    op.create_index('ix_ticket_events_called_back', 'ticket_events', ['at', 'ticket_id'],
                    unique=False, postgresql_where=CALLED_BACK, sqlite_where=CALLED_BACK)
    op.create_index('ix_ticket_calls_linked_at', 'ticket_calls', ['linked_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ticket_calls_linked_at', table_name='ticket_calls')
    op.drop_index('ix_ticket_events_called_back', table_name='ticket_events')
    op.drop_index('ix_tickets_created_at', table_name='tickets')
