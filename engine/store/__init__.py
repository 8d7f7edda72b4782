"""The database: organisations, API keys, judges, jobs, results and the webhook outbox.

    store = Store.open(settings.database_url)   # migrates to head first
    claim = store.claim_job(job_id, bucket, object_name, generation)
"""

from .base import is_transient
from .jobs import DEFAULT_JOB_LEASE, DEFAULT_UPLOAD_TTL, ClaimOutcome, ClaimResult
from .migrate import current_revision, head_revision, upgrade
from .outbox import DEFAULT_SEND_LEASE
from .records import (
    ApiKey,
    Attempt,
    Delivery,
    DeliveryStatus,
    Job,
    JobStatus,
    NewApiKey,
    NewOrg,
    Org,
    Result,
)
from .store import Store

__all__ = [
    "DEFAULT_JOB_LEASE",
    "DEFAULT_SEND_LEASE",
    "DEFAULT_UPLOAD_TTL",
    "ApiKey",
    "Attempt",
    "ClaimOutcome",
    "ClaimResult",
    "Delivery",
    "DeliveryStatus",
    "Job",
    "JobStatus",
    "NewApiKey",
    "NewOrg",
    "Org",
    "Result",
    "Store",
    "current_revision",
    "head_revision",
    "is_transient",
    "upgrade",
]
