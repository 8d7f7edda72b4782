"""GCS Pub/Sub notifications: what an upload event says, and which job it is for.

GCS publishes one message per object event. The attributes carry the event (`eventType`,
`bucketId`, `objectId`, `objectGeneration`, ...); with `payloadFormat=JSON_API_V1` the data is the
object resource, where `size` and `generation` are JSON strings. Delivery is at least once, so
`Notification.dedupe_key` (bucket, object, generation) is what the worker deduplicates on.

Nothing here talks to Google: parsing is pure, so the worker's adapter stays thin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import NotificationError

__all__ = [
    "OBJECT_ARCHIVE",
    "OBJECT_DELETE",
    "OBJECT_FINALIZE",
    "OBJECT_METADATA_UPDATE",
    "DedupeKey",
    "Notification",
    "NotificationError",
    "ObjectResource",
    "UploadRef",
    "parse_notification",
    "parse_object_name",
]

OBJECT_FINALIZE = "OBJECT_FINALIZE"
OBJECT_METADATA_UPDATE = "OBJECT_METADATA_UPDATE"
OBJECT_DELETE = "OBJECT_DELETE"
OBJECT_ARCHIVE = "OBJECT_ARCHIVE"

JSON_API_V1 = "JSON_API_V1"
PENDING = "pending"


class DedupeKey(NamedTuple):
    """One object generation: at-least-once delivery repeats it, an overwrite changes it."""

    bucket: str
    object_name: str
    generation: int

    def __str__(self) -> str:
        return f"gs://{self.bucket}/{self.object_name}#{self.generation}"


@dataclass(frozen=True, slots=True)
class UploadRef:
    """The job an object name belongs to: ``{org_id}/pending/{job_id}/{filename}``."""

    org_id: str
    job_id: str
    filename: str

    @property
    def object_name(self) -> str:
        return f"{self.org_id}/{PENDING}/{self.job_id}/{self.filename}"


def parse_object_name(name: str) -> UploadRef | None:
    """The upload an object name refers to, or None for any object that is not a pending upload.

    Everything after the job id is the filename, so a filename containing ``/`` still maps to
    its job; the worker must still compare the whole name with the one the job was issued.
    """
    parts = name.split("/")
    if len(parts) < 4 or parts[1] != PENDING or not all(parts):
        return None
    return UploadRef(org_id=parts[0], job_id=parts[2], filename="/".join(parts[3:]))


class ObjectResource(BaseModel):
    """The JSON_API_V1 object resource in a notification's data (the fields we use)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    bucket: str
    name: str
    generation: int
    metageneration: int | None = None
    size: int = Field(ge=0)
    content_type: str | None = Field(default=None, alias="contentType")
    content_encoding: str | None = Field(default=None, alias="contentEncoding")
    md5_hash: str | None = Field(default=None, alias="md5Hash")
    crc32c: str | None = None
    storage_class: str | None = Field(default=None, alias="storageClass")
    time_created: datetime | None = Field(default=None, alias="timeCreated")
    updated: datetime | None = None
    metadata: dict[str, str] | None = None


class Notification(BaseModel):
    """One GCS object event as delivered through Pub/Sub."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    event_type: str = Field(alias="eventType")
    bucket: str = Field(alias="bucketId", min_length=1)
    object_name: str = Field(alias="objectId", min_length=1)
    generation: int = Field(alias="objectGeneration")
    payload_format: str = Field(default="NONE", alias="payloadFormat")
    event_time: datetime | None = Field(default=None, alias="eventTime")
    notification_config: str | None = Field(default=None, alias="notificationConfig")
    overwrote_generation: int | None = Field(default=None, alias="overwroteGeneration")
    overwritten_by_generation: int | None = Field(default=None, alias="overwrittenByGeneration")
    resource: ObjectResource | None = None

    @classmethod
    def finalize(cls, bucket: str, object_name: str, generation: int, size: int | None = None, content_type: str | None = None) -> Notification:
        """The ``OBJECT_FINALIZE`` GCS sends for an object: with `size`, carrying its JSON_API_V1 resource.

        For those who learn of an upload otherwise (the sweep, the dev server's storage).
        """
        resource = None
        if size is not None:
            resource = ObjectResource(bucket=bucket, name=object_name, generation=generation, size=size, content_type=content_type)
        return cls(event_type=OBJECT_FINALIZE, bucket=bucket, object_name=object_name, generation=generation,
                   payload_format=JSON_API_V1 if resource else "NONE", resource=resource)  # fmt: skip

    @property
    def dedupe_key(self) -> DedupeKey:
        return DedupeKey(self.bucket, self.object_name, self.generation)

    @property
    def is_finalize(self) -> bool:
        return self.event_type == OBJECT_FINALIZE

    @property
    def upload(self) -> UploadRef | None:
        """The job this object belongs to, or None when it is not a pending upload."""
        return parse_object_name(self.object_name)

    @property
    def size(self) -> int | None:
        """Object size in bytes, when the payload carried the resource."""
        return self.resource.size if self.resource else None

    @property
    def content_type(self) -> str | None:
        return self.resource.content_type if self.resource else None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "message"
    return f"{where}: {err['msg']}"


def parse_notification(attributes: Mapping[str, str], data: bytes) -> Notification:
    """Read a Pub/Sub message as a GCS notification.

    Raises `NotificationError` when it is not one (missing attributes, a non-numeric generation,
    a JSON_API_V1 payload that is not an object resource or names another object): such a
    message will never parse, so the caller should acknowledge and log it rather than retry.
    """
    attrs = dict(attributes)
    resource = None
    if attrs.get("payloadFormat") == JSON_API_V1 and data:
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise NotificationError(f"JSON_API_V1 notification data is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise NotificationError("JSON_API_V1 notification data is not a JSON object")
        try:
            resource = ObjectResource.model_validate(body)
        except ValidationError as exc:
            raise NotificationError(f"notification object resource is invalid: {_first_error(exc)}") from None
    try:
        note = Notification.model_validate({**attrs, "resource": resource})
    except ValidationError as exc:
        raise NotificationError(
            f"not a GCS notification ({_first_error(exc)}); attributes were {sorted(attrs)}"
        ) from None
    if resource is not None and (resource.bucket, resource.name, resource.generation) != tuple(note.dedupe_key):
        raise NotificationError(
            f"notification attributes name {note.dedupe_key} but its data describes "
            f"gs://{resource.bucket}/{resource.name}#{resource.generation}"
        )
    return note
