"""routing: rules, group assignment methods, agent seniority and caps, type skills, flows

Tickets were routed only by hand. ``routing_rules`` holds the admin's ordered rules; groups
choose how a ticket finds its person (``assignment``, ``vip_to_senior``); users get a
seniority, a cap on open tickets and when they were last given one (round robin); types say
which skills they need and which flow steps must not be skipped; a ticket keeps its own copy
of the flow it walks (``flow_path``). Existing rows: every group assigns by hand (as
before), no caps, no required skills, tickets without a copy use their type's flow.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def JSONType() -> sa.types.TypeEngine:  # one place for the two dialects
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'routing_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('stop', sa.Boolean(), nullable=False),
        sa.Column('triggers', JSONType(), nullable=False),
        sa.Column('conditions', JSONType(), nullable=False),
        sa.Column('actions', JSONType(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    with op.batch_alter_table('groups', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('assignment', sa.String(length=16), nullable=False,
                                      server_default='manual'))
        # '0', not sa.false(): a literal lets SQLite add the column in place (an expression
        # makes alembic rebuild the table, which the rows of group_members forbid)
        batch_op.add_column(sa.Column('vip_to_senior', sa.Boolean(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('seniority', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('max_open_tickets', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_assigned_at', UTCDateTime(), nullable=True))
    with op.batch_alter_table('ticket_types', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('required_skills', JSONType(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('required_steps', JSONType(), nullable=False,
                                      server_default='[]'))
    with op.batch_alter_table('tickets', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('flow_path', JSONType(), nullable=True))


def downgrade() -> None:
    # recreate='never': SQLite (3.35+) drops a column in place; recreating these tables,
    # which others reference, would break their foreign keys.
    with op.batch_alter_table('tickets', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('flow_path')
    with op.batch_alter_table('ticket_types', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('required_steps')
        batch_op.drop_column('required_skills')
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('last_assigned_at')
        batch_op.drop_column('max_open_tickets')
        batch_op.drop_column('seniority')
    with op.batch_alter_table('groups', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('vip_to_senior')
        batch_op.drop_column('assignment')
    op.drop_table('routing_rules')
