"""The API's request and response bodies, as its OpenAPI schema declares them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator

__all__ = [
    "MAX_DESCRIPTION_CHARS",
    "MAX_FILE_SIZE_BYTES",
    "MAX_TITLE_CHARS",
    "MAX_WEBHOOK_URL_CHARS",
    "ErrorBody",
    "ErrorDetail",
    "EvaluationStatus",
    "Health",
    "PresignedUploadRequest",
    "PresignedUploadResponse",
    "Readiness",
]

# Our limit, not Google's (a GCS object may be 5 TiB): far above any media a judge needs,
# and small enough that one PUT finishes well inside the 15-minute URL on a decent link.
MAX_FILE_SIZE_BYTES = 5 * 1024**3
MAX_TITLE_CHARS = 1_000
MAX_DESCRIPTION_CHARS = 10_000
MAX_WEBHOOK_URL_CHARS = 2_048

# Validated as a plain string (the URL is stored exactly as given, and the network guard says
# what is wrong with it), but declared as what it must be, so clients and fuzzers know.
WebhookUrl = Annotated[
    str,
    StringConstraints(max_length=MAX_WEBHOOK_URL_CHARS),
    WithJsonSchema({"type": "string", "format": "uri", "maxLength": MAX_WEBHOOK_URL_CHARS}),
]


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
    webhook_url: WebhookUrl | None = Field(
        default=None,
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
        "upload_headers": {"Content-Type": "video/mp4", "x-goog-content-length-range": "52428800,52428800",
                           "x-goog-if-generation-match": "0"},
        "expires_at": "2024-01-15T11:30:00Z",
    }]})  # fmt: skip

    job_id: str = Field(description="Unique identifier for the evaluation job.")
    upload_url: str = Field(description="Pre-signed URL: upload the file with one PUT request.")
    upload_headers: dict[str, str] = Field(
        description="Headers the PUT must carry, exactly: the file's Content-Type, "
        "x-goog-content-length-range binding the body to file_size_bytes, and "
        "x-goog-if-generation-match: 0, so the URL uploads once and never replaces an upload."
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


class Readiness(BaseModel):
    """Whether the API can serve the contract: its database answers and is migrated, and it can sign."""

    status: Literal["ready", "not_ready"]
    reason: str | None = Field(description="What is missing and how to provide it, or null when ready.")
