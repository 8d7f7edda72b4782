"""The upload API of the contract: create an evaluation job and hand out its signed upload URL.

    app = create_app(Store.open(settings.database_url), GcsSigner(settings.bucket), settings)

Routes: ``POST /v1/evaluations/presigned-upload`` (the contract), ``GET /v1/evaluations/{job_id}``,
``GET /healthz``, and the OpenAPI schema at ``/openapi.json`` (docs at ``/docs``).

Every error, whatever its status, has one JSON shape (`ErrorBody`)::

    {"error": {"code": "invalid_request", "message": "filename: ...", "field": "filename"}}

``field`` names the request body field at fault, or is null. Authentication is checked before
anything else, so a request without a valid key gets 401 whatever its body.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import JudgeNotFound, StoreError, WebhookTargetRefused
from ..webhooks.netguard import validate_webhook_url
from ..settings import Settings
from ..storage.upload_urls import UploadSigner, content_type_for, safe_object_filename
from ..store import JobStatus, Org, Store

__all__ = [
    "MAX_FILE_SIZE_BYTES",
    "UPLOAD_TTL",
    "ApiError",
    "ErrorBody",
    "EvaluationStatus",
    "PresignedUploadRequest",
    "PresignedUploadResponse",
    "create_app",
]

log = logging.getLogger(__name__)

UPLOAD_TTL = timedelta(minutes=15)  # the contract: the URL expires 15 minutes after creation
# Our limit, not Google's (a GCS object may be 5 TiB): far above any media a judge needs,
# and small enough that one PUT finishes well inside the 15-minute URL on a decent link.
MAX_FILE_SIZE_BYTES = 5 * 1024**3
MAX_TITLE_CHARS = 1_000
MAX_DESCRIPTION_CHARS = 10_000
MAX_BODY_BYTES = 256 * 1024  # a valid body is at most ~150 KB, even with every character \u-escaped
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_API_KEY_CHARS = re.compile(r"[\x21-\x7e]{1,256}")


API_DESCRIPTION = """\
Create an evaluation job, upload the file straight to storage with the pre-signed URL, and
receive the result by signed webhook (or read it from `GET /v1/evaluations/{job_id}`).

**Authentication:** every `/v1/` request carries your organisation's API key in the
`X-API-Key` header. It is checked before the body: without a valid key the answer is 401.

**Errors** all have one shape, whatever the status:

```json
{"error": {"code": "invalid_request", "message": "file_size_bytes: Input should be greater than 0",
           "field": "file_size_bytes"}}
```

`code` is stable and machine-readable, `message` is for people, and `field` names the request
body field at fault (or is null). Any invalid input, including malformed JSON, a missing or
unknown field, a value out of range, or a webhook URL to a private host, is 400.
"""

# --- errors ------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: `invalid_request`, `missing_api_key`, "
                      "`invalid_api_key`, `judge_not_found`, `job_not_found`, `not_found`, "
                      "`method_not_allowed`, `upload_url_failed`, `internal_error`.")  # fmt: skip
    message: str = Field(description="What went wrong and what to do about it, for people.")
    field: str | None = Field(description="The request body field at fault, or null.")


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(json_schema_extra={
        "examples": [{"error": {"code": "invalid_request", "field": "filename",
                                "message": "filename: String should have at most 255 characters"}}]
    })  # fmt: skip

    error: ErrorDetail


class ApiError(Exception):
    """An error answered with `ErrorBody`; routes added through `extra_routes` may raise it too."""

    def __init__(self, status_code: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status_code, self.code, self.message, self.field = status_code, code, message, field

    def response(self) -> JSONResponse:
        body = {"error": {"code": self.code, "message": self.message, "field": self.field}}
        return JSONResponse(body, status_code=self.status_code)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The request is invalid: malformed JSON, a missing or unknown field, or a value out of range.",
        401: "The X-API-Key header is missing, or the key is unknown or revoked.",
        404: "Not found, or not accessible by your organisation.",
        500: "A server error, such as failing to create the upload URL; retrying later may succeed.",
    }
    return {code: {"model": ErrorBody, "description": described[code]} for code in codes}


# --- request and response bodies ---------------------------------------------------------


def _storable(value: str | None) -> str | None:
    """Refuse what no database column can hold (pydantic already refuses lone surrogates)."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class PresignedUploadRequest(BaseModel):
    """The body of ``POST /v1/evaluations/presigned-upload``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{
            "judge_id": "judge_abc123", "content_type": "video", "filename": "safety_test_video.mp4",
            "file_size_bytes": 52428800, "title": "Product Demo Video",
            "description": "Marketing video for new product launch",
        }]},
    )  # fmt: skip

    judge_id: str = Field(min_length=1, max_length=200, description="The ID of the judge to use for evaluation.")
    content_type: Literal["video", "image", "audio"] = Field(description="The type of content being uploaded.")
    filename: str = Field(
        min_length=1,
        max_length=255,
        description="The original filename of the content, 1-255 characters. The object is stored under a "
        "safe form of it: no directories, control or invisible characters, at most 255 bytes, same extension.",
    )
    file_size_bytes: int = Field(
        gt=0,
        le=MAX_FILE_SIZE_BYTES,
        description=f"The size of the file in bytes, at most {MAX_FILE_SIZE_BYTES:,} (5 GiB). "
        "The upload must be exactly this size.",
    )
    title: str | None = Field(default=None, max_length=MAX_TITLE_CHARS, description="Optional title for the content.")
    description: str | None = Field(
        default=None, max_length=MAX_DESCRIPTION_CHARS, description="Optional description for the content."
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Optional webhook URL overriding your organisation's for this job; signed with your "
        "organisation's webhook secret. https (or http where allowed), and no private or loopback hosts "
        "unless the server allows them.",
    )

    # The filename is exempt: `safe_object_filename` drops what cannot be stored.
    @field_validator("judge_id", "title", "description", "webhook_url")
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        return _storable(value)


class PresignedUploadResponse(BaseModel):
    """Where and how to upload the file."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "job_id": "job_xKt9mNp2qRs3vWy7",
        "upload_url": "https://storage.googleapis.com/judge-content/org_123/pending/job_xKt9mNp2qRs3vWy7/"
                      "safety_test_video.mp4?X-Goog-Algorithm=GOOG4-RSA-SHA256&...",
        "upload_headers": {"Content-Type": "video/mp4", "x-goog-content-length-range": "52428800,52428800"},
        "expires_at": "2024-01-15T11:30:00Z",
    }]})  # fmt: skip

    job_id: str = Field(description="Unique identifier for the evaluation job.")
    upload_url: str = Field(description="Pre-signed URL: upload the file with one PUT request.")
    upload_headers: dict[str, str] = Field(
        description="Headers the PUT must carry, exactly: the file's Content-Type, and "
        "x-goog-content-length-range binding the body to file_size_bytes."
    )
    expires_at: str = Field(
        json_schema_extra={"format": "date-time"},
        description="When the upload URL expires (ISO 8601, UTC): 15 minutes after creation.",
    )


class EvaluationStatus(BaseModel):
    """A job's state, and once it is finished, the payload its webhook carried."""

    job_id: str
    status: Literal["awaiting_upload", "processing", "completed", "failed", "expired"]
    judge_id: str
    content_type: Literal["video", "image", "audio"]
    filename: str = Field(description="The name the upload is stored under.")
    file_size_bytes: int
    title: str | None
    description: str | None
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    expires_at: str = Field(json_schema_extra={"format": "date-time"}, description="When the upload URL expires.")
    result: dict[str, Any] | None = Field(
        description="Once completed or failed: the webhook payload, the same JSON the webhook carried."
    )


class Health(BaseModel):
    status: Literal["ok"]


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- the app -----------------------------------------------------------------------------

_api_key = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKeyAuth",
    description="Your organisation's API key (`pk_...`).",
    auto_error=False,
)


def _org_for_key(store: Store, key: str | None) -> Org:
    if not key:
        raise ApiError(401, "missing_api_key", "the X-API-Key header is missing; send your organisation's API key")
    org = store.org_for_api_key(key) if _API_KEY_CHARS.fullmatch(key) else None
    if org is None:
        raise ApiError(401, "invalid_api_key", "the API key in X-API-Key is unknown or has been revoked; "
                       "check it, or ask for a new key")  # fmt: skip
    return org


def authenticate(request: Request, key: Annotated[str | None, Security(_api_key)]) -> Org:
    """The organisation whose active API key the request carries; 401 otherwise."""
    return _org_for_key(request.app.state.store, key)


Authenticated = Annotated[Org, Depends(authenticate)]


def create_app(
    store: Store,
    signer: UploadSigner,
    settings: Settings,
    *,
    extra_routes: Iterable[APIRouter | BaseRoute] | None = None,
) -> FastAPI:
    """The API over `store`, handing out URLs made by `signer`; `extra_routes` are mounted as well."""
    app = FastAPI(title="pique-engine", version=_version(), description=API_DESCRIPTION, openapi_url="/openapi.json")
    app.state.store, app.state.signer, app.state.settings = store, signer, settings

    @app.post(
        "/v1/evaluations/presigned-upload",
        response_model=PresignedUploadResponse,
        responses=_responses(400, 401, 404, 500),
        summary="Create an evaluation job and a pre-signed upload URL",
        tags=["evaluations"],
    )
    def presigned_upload(body: PresignedUploadRequest, org: Authenticated) -> JSONResponse:
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
        except JudgeNotFound as exc:
            raise ApiError(404, "judge_not_found", str(exc), "judge_id") from None
        mime = content_type_for(filename, body.content_type)
        try:
            signed = signer.sign_put(job.object_name, content_type=mime, size=body.file_size_bytes,
                                     expires=job.expires_at)  # fmt: skip
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

    @app.get(
        "/v1/evaluations/{job_id}",
        response_model=EvaluationStatus,
        responses=_responses(401, 404, 500),
        summary="An evaluation job's status and result",
        tags=["evaluations"],
    )
    def evaluation_status(job_id: str, org: Authenticated) -> EvaluationStatus:
        """The job's status; once completed or failed, `result` holds the webhook payload."""
        job = store.get_job(job_id, org_id=org.id) if _JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise ApiError(404, "job_not_found", f"job {job_id!r} not found for organisation {org.id!r}")
        result = None
        if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
            stored = store.get_result(job.job_id)
            result = json.loads(stored.payload) if stored is not None else None
        return EvaluationStatus(
            job_id=job.job_id, status=job.status.value, judge_id=job.judge_id, content_type=job.content_type,
            filename=job.filename, file_size_bytes=job.file_size_bytes, title=job.title, description=job.description,
            created_at=_iso(job.created_at), expires_at=_iso(job.expires_at), result=result,
        )  # fmt: skip

    @app.get("/healthz", response_model=Health, summary="Liveness", tags=["operations"])
    def healthz() -> Health:
        return Health(status="ok")

    app.add_middleware(_BodyLimit, max_bytes=MAX_BODY_BYTES)
    _install_error_handlers(app)
    _install_openapi(app)
    for route in extra_routes or ():
        if isinstance(route, APIRouter):
            app.include_router(route)
        else:
            app.router.routes.append(route)
    return app


class _BodyLimit:
    """Refuse API request bodies over `max_bytes` with a 400, before they are read into memory.

    Raised from inside `receive`, the error reaches the app's handlers and keeps the JSON
    error shape (Starlette's own limit answers in plain text). Other routes, such as the dev
    server's uploads, are left alone.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length", "")
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_large()
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> StarletteHTTPException:
        # An HTTPException is the one kind FastAPI lets out of its body reading unchanged.
        return StarletteHTTPException(400, f"the request body is larger than {self.max_bytes // 1024} KiB")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    async def unauthenticated(request: Request) -> JSONResponse | None:
        # FastAPI reads and validates the body before the route's dependencies run; check the
        # key first anyway, so that without a valid key nothing about the body is answered.
        if not request.url.path.startswith("/v1/"):
            return None
        try:
            await run_in_threadpool(_org_for_key, app.state.store, request.headers.get("x-api-key"))
        except ApiError as auth_error:
            return auth_error.response()
        return None

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        is_json = "json" in request.headers.get("content-type", "").lower()
        return await unauthenticated(request) or _validation_error(exc.errors(), is_json).response()

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and (refused := await unauthenticated(request)):
            return refused
        code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
        message = {404: f"no such endpoint: {request.method} {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        if message == "There was an error parsing the body":  # FastAPI's words for e.g. JSON nested too deep
            message = "the request body could not be parsed as JSON"
        response = ApiError(exc.status_code, code.get(exc.status_code, "http_error"), message).response()
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(StoreError)
    async def on_store_error(request: Request, exc: StoreError) -> JSONResponse:
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return ApiError(500, "internal_error", "the database is unavailable; retry in a moment").response()

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs and re-raises after this response is sent.
        return ApiError(500, "internal_error", "internal server error; retry in a moment").response()


def _validation_error(errors: Any, is_json: bool = True) -> ApiError:
    """One `invalid_request` for the first of pydantic's errors, naming its field."""
    errors = list(errors) or [{"type": "missing", "loc": ("body",), "msg": "invalid request"}]
    first = errors[0]
    kind, loc = first.get("type", ""), tuple(first.get("loc", ()))
    where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    field = ".".join(str(part) for part in where) or None
    if kind == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "malformed JSON")
        return ApiError(400, "invalid_request", f"the request body is not valid JSON ({reason})")
    if field is None:
        if not is_json:
            return ApiError(400, "invalid_request", "the request body must be JSON, sent with "
                            "Content-Type: application/json")  # fmt: skip
        if kind == "missing":
            return ApiError(400, "invalid_request", "the request body is missing; send a JSON object with "
                            "Content-Type: application/json")  # fmt: skip
        return ApiError(400, "invalid_request", "the request body must be a JSON object")
    if kind == "missing":
        message = f"{field} is required"
    elif kind == "extra_forbidden":
        message = f"{field} is not a field of this request; check its spelling"
    else:
        message = f"{field}: {str(first.get('msg', 'is invalid')).removeprefix('Value error, ')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ApiError(400, "invalid_request", message, field)


def _install_openapi(app: FastAPI) -> None:
    """The generated schema, minus FastAPI's 422 responses: invalid input is answered with 400."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = jsonable_encoder(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    try:
        return version("pique-engine")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout without installing
        return "0"
