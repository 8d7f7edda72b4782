"""The API's routes: the contract's evaluations, and the operations probes.

Routes reach the store, the signer and the settings that `create_app` puts on ``app.state``
through the dependency functions here, so they can live at module level.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..errors import JudgeNotFound, WebhookTargetRefused
from ..settings import Settings
from ..storage.filenames import content_type_for, safe_object_filename
from ..storage.upload_urls import UploadSigner
from ..store import JobStatus, Store
from ..webhooks.netguard import validate_webhook_url
from .auth import Authenticated
from .errors import ApiError, clip, error_responses
from .readiness import readiness_problem
from .schemas import EvaluationStatus, Health, PresignedUploadRequest, PresignedUploadResponse, Readiness

__all__ = ["UPLOAD_TTL", "evaluations", "operations"]

log = logging.getLogger(__name__)

UPLOAD_TTL = timedelta(minutes=15)  # the contract: the URL expires 15 minutes after creation
# Every id we issue matches; anything else cannot name a job, so it is not looked up.
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _store(request: Request) -> Store:
    return request.app.state.store


def _signer(request: Request) -> UploadSigner:
    return request.app.state.signer


def _settings(request: Request) -> Settings:
    return request.app.state.settings


StoreDep = Annotated[Store, Depends(_store)]
SignerDep = Annotated[UploadSigner, Depends(_signer)]
SettingsDep = Annotated[Settings, Depends(_settings)]


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


evaluations = APIRouter(tags=["evaluations"])


@evaluations.post(
    "/v1/evaluations/presigned-upload",
    response_model=PresignedUploadResponse,
    responses=error_responses(400, 401, 404, 500),
    summary="Create an evaluation job and a pre-signed upload URL",
)
def presigned_upload(
    body: PresignedUploadRequest, org: Authenticated, store: StoreDep, signer: SignerDep, settings: SettingsDep
) -> JSONResponse:
    """Create a job awaiting its upload, and a URL to PUT the file to within 15 minutes.

    Upload with one PUT to `upload_url` carrying exactly `upload_headers`; the evaluation
    starts when the upload completes and its result is sent to the webhook.
    """
    if body.webhook_url is not None:
        try:
            validate_webhook_url(body.webhook_url, allow_private=settings.webhook_allow_private)
        except WebhookTargetRefused as exc:
            raise ApiError(400, "invalid_request", f"webhook_url: {exc}", "webhook_url") from None
    filename = safe_object_filename(body.filename)
    now = datetime.now(UTC).replace(microsecond=0)  # expires_at then reads the same everywhere
    try:
        job = store.create_job(
            org.id, judge_id=body.judge_id, content_type=body.content_type, filename=filename,
            file_size_bytes=body.file_size_bytes, title=body.title, description=body.description,
            webhook_url=body.webhook_url, upload_ttl=UPLOAD_TTL, now=now,
        )  # fmt: skip
    except JudgeNotFound:
        raise ApiError(404, "judge_not_found", f"judge {clip(body.judge_id)!r} not found for organisation "
                       f"{org.id!r}", "judge_id") from None  # fmt: skip
    mime = content_type_for(filename, body.content_type)
    try:
        signed = signer.sign_put(job.object_name, content_type=mime, size=body.file_size_bytes, expires=job.expires_at)
    except Exception:  # any failure to sign is the contract's 500
        # The job stays awaiting_upload with no URL out there; it expires like any unused one.
        log.exception("could not sign the upload URL for job %s (%s)", job.job_id, job.object_name)
        raise ApiError(500, "upload_url_failed", "failed to create the upload URL due to a server error; "
                       "retry in a moment") from None  # fmt: skip
    log.info("job %s created for %s: %s %r, %d bytes", job.job_id, org.id, body.content_type, filename,
             body.file_size_bytes)  # fmt: skip
    response = PresignedUploadResponse(
        job_id=job.job_id, upload_url=signed.url, upload_headers=signed.headers, expires_at=_iso(job.expires_at)
    )
    return JSONResponse(response.model_dump(), headers={"Cache-Control": "no-store"})


@evaluations.get(
    "/v1/evaluations/{job_id}",
    response_model=EvaluationStatus,
    responses=error_responses(401, 404, 500),
    summary="An evaluation job's status and result",
)
def evaluation_status(job_id: str, org: Authenticated, store: StoreDep) -> EvaluationStatus:
    """The job's status; once completed or failed, `result` holds the webhook payload."""
    job = store.get_job(job_id, org_id=org.id) if _JOB_ID.fullmatch(job_id) else None
    if job is None:
        raise ApiError(404, "job_not_found", f"job {clip(job_id)!r} not found for organisation {org.id!r}")
    result = None
    if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
        stored = store.get_result(job.job_id)
        result = json.loads(stored.payload) if stored is not None else None
    return EvaluationStatus(
        job_id=job.job_id, status=job.status.value, judge_id=job.judge_id, content_type=job.content_type,
        filename=job.filename, file_size_bytes=job.file_size_bytes, title=job.title, description=job.description,
        created_at=_iso(job.created_at), expires_at=_iso(job.expires_at), result=result,
    )  # fmt: skip


operations = APIRouter(tags=["operations"])


@operations.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> Health:
    return Health(status="ok")


@operations.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: `reason` says what is missing."}},
    summary="Readiness: the database is reachable and migrated, and upload URLs can be signed",
)
def readyz(store: StoreDep, signer: SignerDep) -> JSONResponse:
    problem = readiness_problem(store, signer)
    if problem is not None:
        return JSONResponse(Readiness(status="not_ready", reason=problem).model_dump(), status_code=503)
    return JSONResponse(Readiness(status="ready", reason=None).model_dump())
