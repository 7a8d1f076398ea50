"""phone numbers: extension and written form kept; rows that are not valid numbers flagged

Before this revision numbers were stored when merely "possible" (``6552 9988`` became
``+8665529988``, which does not exist). Such rows are not dropped or silently kept:
``invalid_reason`` says why, and the API shows it. phonenumbers is used directly here so
the migration does not change if the application's rules do later.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 18:20:00.000000
"""

from collections.abc import Sequence

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _reason(e164: str) -> str | None:
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        return f"not a phone number ({exc})"[:200]
    if not phonenumbers.is_valid_number(parsed):
        return "not a valid number in its country's numbering plan"
    return None


def upgrade() -> None:
    with op.batch_alter_table('customer_phones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extension', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('written', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('invalid_reason', sa.String(length=200), nullable=True))
    phones = sa.table('customer_phones', sa.column('id', sa.Integer),
                      sa.column('e164', sa.String), sa.column('invalid_reason', sa.String))
    conn = op.get_bind()
    for row_id, e164 in conn.execute(sa.select(phones.c.id, phones.c.e164)).all():
        reason = _reason(e164)
        if reason is not None:
            conn.execute(phones.update().where(phones.c.id == row_id)
                         .values(invalid_reason=reason))


def downgrade() -> None:
    with op.batch_alter_table('customer_phones', schema=None) as batch_op:
        batch_op.drop_column('invalid_reason')
        batch_op.drop_column('written')
        batch_op.drop_column('extension')
