"""pdf render queue: the finish queues its PDF, a background renderer claims it with a lease

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07 04:40:00.000000

Issue 21, finding 10: `result_reports` becomes the durable queue of the background renderer
(`flask --app quiz render-pdfs`). The finish inserts the row in its own transaction
(`queued_at`); a renderer claims due rows (`claimed_at`, a lease it renews while it renders,
`attempts` proving which claim is whose) and stores the PDF. `content_version` and `branding`
record what the PDF is (or will be) made with: the content version of the response and the
brand (name, colour, logo, call to action) as the site settings stood when it was queued, so a
PDF rendered after a settings change is still the document of its moment. A partial index keeps
the queue's look-up small however many PDFs are stored. Rows from before keep `queued_at` NULL:
they were asked for by a download and are rendered on demand as before.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("result_reports") as batch:
        batch.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("content_version", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("branding", sa.JSON(), nullable=True))
    op.create_index(
        "ix_result_reports_queue",
        "result_reports",
        ["queued_at"],
        unique=False,
        sqlite_where=sa.text("rendered_at IS NULL"),
        postgresql_where=sa.text("rendered_at IS NULL"),
    )


def downgrade():
    op.drop_index("ix_result_reports_queue", table_name="result_reports")
    with op.batch_alter_table("result_reports") as batch:
        batch.drop_column("branding")
        batch.drop_column("content_version")
        batch.drop_column("attempts")
        batch.drop_column("queued_at")
