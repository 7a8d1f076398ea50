"""call log: the callee side — index on callee_number, click-to-call rows put right

Until now click-to-call wrote the dialled number in ``caller_number`` and left
``callee_number`` empty. The dialled number belongs in ``callee_number`` (indexed like the
caller, so a customer's calls are found on both sides) and the agent's extension is the
caller side.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 17:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_call_log = sa.table('call_log', sa.column('direction', sa.String),
                     sa.column('caller_number', sa.String),
                     sa.column('callee_number', sa.String),
                     sa.column('agent_extension', sa.String))
_placed = sa.and_(_call_log.c.direction.in_(['outbound', 'internal']),
                  _call_log.c.callee_number.is_(None))


def upgrade() -> None:
    with op.batch_alter_table('call_log', schema=None) as batch_op:
        batch_op.create_index('ix_call_log_callee_started', ['callee_number', 'started_at'],
                              unique=False)
    op.execute(_call_log.update().where(_placed).values(
        callee_number=_call_log.c.caller_number,
        caller_number=_call_log.c.agent_extension))


def downgrade() -> None:
    placed = _call_log.c.direction.in_(['outbound', 'internal'])
    op.execute(_call_log.update().where(placed).values(
        caller_number=_call_log.c.callee_number, callee_number=None))
    with op.batch_alter_table('call_log', schema=None) as batch_op:
        batch_op.drop_index('ix_call_log_callee_started')
