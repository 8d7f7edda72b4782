"""Initial schema: organisations, API keys, judges, jobs, results and the webhook outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.Text(), nullable=False),
        sa.Column("previous_webhook_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name="fk_api_keys_org_id_organisations", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_org_id", "api_keys", ["org_id"])
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])
    op.create_table(
        "judges",
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("judge_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("criteria", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "judge_id", name="pk_judges"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name="fk_judges_org_id_organisations", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "evaluation_jobs",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("judge_id", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("object_name", sa.Text(), nullable=False),
        sa.Column("file_size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("upload_bucket", sa.String(222), nullable=True),
        sa.Column("upload_object", sa.Text(), nullable=True),
        sa.Column("upload_generation", sa.BigInteger(), nullable=True),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name="pk_evaluation_jobs"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name="fk_evaluation_jobs_org_id_organisations", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "judge_id"],
            ["judges.org_id", "judges.judge_id"],
            name="fk_evaluation_jobs_org_id_judge_id_judges",
        ),
        sa.UniqueConstraint("object_name", name="uq_evaluation_jobs_object_name"),
        sa.UniqueConstraint("upload_bucket", "upload_object", "upload_generation", name="uq_evaluation_jobs_upload"),
        sa.CheckConstraint(
            "status IN ('awaiting_upload', 'processing', 'completed', 'failed', 'expired')",
            name="ck_evaluation_jobs_status",
        ),
        sa.CheckConstraint("content_type IN ('video', 'image', 'audio')", name="ck_evaluation_jobs_content_type"),
    )
    op.create_index("ix_evaluation_jobs_org_id", "evaluation_jobs", ["org_id"])
    op.create_index("ix_evaluation_jobs_status_expires_at", "evaluation_jobs", ["status", "expires_at"])
    op.create_table(
        "evaluation_results",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("evaluation_id", sa.String(64), nullable=True),
        sa.Column("content_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_evaluation_results"),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["evaluation_jobs.job_id"],
            name="fk_evaluation_results_job_id_evaluation_jobs",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("evaluation_id", name="uq_evaluation_results_evaluation_id"),
        sa.CheckConstraint("status IN ('completed', 'failed')", name="ck_evaluation_results_status"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["evaluation_jobs.job_id"],
            name="fk_webhook_deliveries_job_id_evaluation_jobs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name="fk_webhook_deliveries_org_id_organisations", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("job_id", name="uq_webhook_deliveries_job_id"),
        sa.UniqueConstraint("event_id", name="uq_webhook_deliveries_event_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'stopped')", name="ck_webhook_deliveries_status"
        ),
    )
    op.create_index("ix_webhook_deliveries_org_id", "webhook_deliveries", ["org_id"])
    op.create_index("ix_webhook_deliveries_status_next_attempt_at", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("delivery_id", "attempt", name="uq_webhook_attempts_delivery_id_attempt"),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    for table in (
        "webhook_attempts",
        "webhook_deliveries",
        "evaluation_results",
        "evaluation_jobs",
        "judges",
        "api_keys",
        "organisations",
    ):
        op.drop_table(table)
