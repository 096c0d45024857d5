"""documents' index by indicator and round also holds the status, for index-only counts

Revision ID: 0007_counts_index
Revises: 0006_login_throttle
Create Date: 2026-11-24 06:50:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007_counts_index'
down_revision = '0006_login_throttle'
branch_labels = None
depends_on = None


def upgrade():
    # The new index first: on MariaDB the foreign key on indicator_id must keep one.
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(
            'ix_documents_indicator_round_status',
            ['indicator_id', 'round_months', 'status'],
            unique=False,
        )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_indicator_round')


def downgrade():
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(
            'ix_documents_indicator_round', ['indicator_id', 'round_months'], unique=False
        )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_indicator_round_status')
