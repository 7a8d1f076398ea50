"""attachments: public or internal

A customer could list and download on their own ticket every attachment, including what staff
uploaded for internal use. ``attachments.public`` says whether the customer may see one.
Existing rows: what a customer uploaded stays public (they uploaded it); staff uploads become
internal, the safe reading of "uploaded before anyone could say" (staff can publish them).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_attachments = sa.table('attachments', sa.column('public', sa.Boolean),
                        sa.column('uploaded_by_id', sa.Integer))
_users = sa.table('users', sa.column('id', sa.Integer), sa.column('role', sa.String))


def upgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    customers = sa.select(_users.c.id).where(_users.c.role == 'customer')
    op.execute(_attachments.update().where(_attachments.c.uploaded_by_id.in_(customers))
               .values(public=True))


def downgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_column('public')
