"""Index jobs by lease expiry, for the sweep that finds processing jobs nobody finished.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_evaluation_jobs_status_lease_expires_at", "evaluation_jobs", ["status", "lease_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_evaluation_jobs_status_lease_expires_at", table_name="evaluation_jobs")
