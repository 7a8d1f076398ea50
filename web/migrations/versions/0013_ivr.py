"""ivr: the ticket PIN, CSAT ratings, IVR journeys (issue #12)

``tickets.pin``: six random digits set when a ticket is created; whoever is not the ticket's
customer needs it to hear the ticket in the IVR. Existing tickets keep ``NULL`` (no PIN:
only their own customer, calling from a known number, can hear them) — inventing PINs here
would hand out secrets nobody was ever told. A plain nullable column: SQLite adds it without
rebuilding ``tickets`` (no batch mode, foreign keys untouched).

``ticket_ratings``: one CSAT score per ticket (``ticket_id`` unique), indexed by
``updated_at`` for a period's ratings. ``ivr_journeys``: one row per IVR leg, indexed by
``call_id`` (the agent's pop looks its call up). Existing rows: none.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def JSONType() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column('tickets', sa.Column('pin', sa.String(length=6), nullable=True))
    op.create_table(
        'ticket_ratings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('call_id', sa.String(length=96), nullable=True),
        sa.Column('comment', sa.String(length=1000), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ticket_id'),
        sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_ticket_ratings_score')),
    )
    op.create_index(op.f('ix_ticket_ratings_updated_at'), 'ticket_ratings', ['updated_at'],
                    unique=False)
    op.create_table(
        'ivr_journeys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('call_id', sa.String(length=96), nullable=True),
        sa.Column('call_ref', sa.String(length=255), nullable=False),
        sa.Column('caller', sa.String(length=64), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('ended_at', UTCDateTime(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('steps', JSONType(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_ivr_journeys_call_id'), 'ivr_journeys', ['call_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ivr_journeys_call_id'), table_name='ivr_journeys')
    op.drop_table('ivr_journeys')
    op.drop_index(op.f('ix_ticket_ratings_updated_at'), table_name='ticket_ratings')
    op.drop_table('ticket_ratings')
    # SQLite ≥ 3.35 drops a plain column in place: no rebuild of ``tickets``
    with op.batch_alter_table('tickets', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('pin')
