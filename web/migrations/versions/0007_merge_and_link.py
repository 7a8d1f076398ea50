"""tickets: merge duplicates, parent incidents with child tickets

``tickets.parent_id`` links a child ticket to its parent incident (depth one);
``tickets.merged_into_id`` (since 0001) gets an index, since a ticket's detail lists the
tickets merged into it. ``comments.merged_from_id`` and ``attachments.merged_from_id`` mark
the copies a merge carried over to the target, naming the merged ticket they came from.
Existing rows: nothing is a child or a copy.

Number 0007: 0006 (routing rules) was being written at the same time.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_tickets_parent_id_tickets'), 'tickets',
                                    ['parent_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_tickets_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_merged_into_id'), ['merged_into_id'],
                              unique=False)
    for table in ('comments', 'attachments'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('merged_from_id', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_merged_from_id_tickets'),
                                        'tickets', ['merged_from_id'], ['id'])


def downgrade() -> None:
    for table in ('attachments', 'comments'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_merged_from_id_tickets'),
                                     type_='foreignkey')
            batch_op.drop_column('merged_from_id')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_merged_into_id'))
        batch_op.drop_index(batch_op.f('ix_tickets_parent_id'))
        batch_op.drop_constraint(batch_op.f('fk_tickets_parent_id_tickets'), type_='foreignkey')
        batch_op.drop_column('parent_id')
