"""callbacks: the call-back of abandoned calls and its attempts; the wallboard's thresholds

``callbacks`` holds what was done about an abandoned call (one row per ``call_log.call_id``,
created at the first call-back attempt or "done"; no row: still open), ``callback_attempts``
each call-back (who, when, from which phone, what the PBX said). ``wallboard_settings`` is
one row (id 1) of thresholds as JSON, seeded empty: every threshold takes its default
(``tickets.floor.schemas.Thresholds``) until a supervisor changes it. Existing rows: none.

Number 0011 after 0010 (mail); another helper of issue #13 may add an 0011 too: the lead
re-chains ``down_revision`` at merge.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 13:40:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def JSONType() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'callbacks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('call_id', sa.String(length=96), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_attempt_at', UTCDateTime(), nullable=True),
        sa.Column('done_at', UTCDateTime(), nullable=True),
        sa.Column('done_by_id', sa.Integer(), nullable=True),
        sa.Column('note', sa.String(length=500), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['call_id'], ['call_log.call_id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['done_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('call_id'),
    )
    op.create_table(
        'callback_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('callback_id', sa.Integer(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('by_id', sa.Integer(), nullable=True),
        sa.Column('extension', sa.String(length=32), nullable=False),
        sa.Column('number', sa.String(length=40), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('detail', sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(['callback_id'], ['callbacks.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_callback_attempts_callback_id'), 'callback_attempts',
                    ['callback_id'], unique=False)
    settings = op.create_table(
        'wallboard_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('thresholds', JSONType(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(settings, [{'id': 1, 'thresholds': {}, 'version': 1,
                               'updated_at': datetime.now(UTC), 'updated_by_id': None}])


def downgrade() -> None:
    op.drop_table('wallboard_settings')
    op.drop_index(op.f('ix_callback_attempts_callback_id'), table_name='callback_attempts')
    op.drop_table('callback_attempts')
    op.drop_table('callbacks')
