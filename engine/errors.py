"""Every error pique-engine raises on purpose.

    PiqueError
    ├── ConfigError            settings or command-line values that cannot work
    ├── PluginError            a plugin failed to load or registered something invalid
    ├── JudgeError             a judge file or criterion is invalid
    │   └── JudgeNotFound      no judge with that id for that organisation
    ├── MediaError             the media cannot be evaluated
    │   ├── ProbeError         the file could not be read as any supported media
    │   ├── MediaLimitError    the file exceeds a safety limit (pixels, duration, size)
    │   └── ContentMismatch    the file is not the declared content type
    ├── DetectorError          a detector raised, returned nonsense or ran out of time
    ├── SignatureError         a webhook signature header is malformed, stale or does not match
    ├── WebhookError           a webhook could not be delivered
    │   └── WebhookTargetRefused  the URL resolves to an address webhooks may not reach
    ├── NotificationError      a Pub/Sub message is not a GCS notification we can read
    ├── SigningError           an upload URL could not be signed
    ├── UploadRefused          a PUT to a locally signed URL does not match it or came too late
    ├── StorageError           the uploaded object could not be read (transient)
    │   └── ObjectGone         the pinned object generation was overwritten or deleted
    ├── StoreError             the database refused or lost an operation
    │   └── JobStateError      a job is not in the state an operation needs
    └── LocalStackError        the local emulators could not be found, started or set up

Messages say what happened and what to do about it; they are shown to users as they are.
"""

from __future__ import annotations


class PiqueError(Exception):
    """Root of every error pique-engine raises on purpose."""


class ConfigError(PiqueError):
    """Settings or command-line values that cannot work."""


class PluginError(PiqueError):
    """A plugin failed to load or registered something invalid."""


class JudgeError(PiqueError):
    """A judge file or one of its criteria is invalid."""


class JudgeNotFound(JudgeError):
    """No judge with that id exists for that organisation."""


class MediaError(PiqueError):
    """The media cannot be evaluated."""


class ProbeError(MediaError):
    """The file could not be read as any supported media."""


class MediaLimitError(MediaError):
    """The file exceeds a safety limit (pixels, duration, frames, size)."""


class ContentMismatch(MediaError):
    """The file is not the content type it was declared as."""


class DetectorError(PiqueError):
    """A detector raised, returned an invalid result or ran out of time."""


class SignatureError(PiqueError):
    """A webhook signature header is malformed, too old, or matches no secret."""


class WebhookError(PiqueError):
    """A webhook could not be delivered."""


class WebhookTargetRefused(WebhookError):
    """The webhook URL resolves to an address webhooks may not reach."""


class NotificationError(PiqueError):
    """A Pub/Sub message is not a GCS notification this engine can read (a poison message)."""


class SigningError(PiqueError):
    """An upload URL could not be signed (no usable credentials, or the IAM API refused)."""


class UploadRefused(PiqueError):
    """A PUT to a locally signed URL does not match its signature, or came too late.

    `reason` is a `pique_engine.storage.upload_urls.RefusalReason`.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class StorageError(PiqueError):
    """The uploaded object could not be read; usually transient."""


class ObjectGone(StorageError):
    """The pinned object generation no longer exists: it was overwritten or deleted.

    Not transient: retrying cannot bring it back. A newer generation has its own notification.
    """


class StoreError(PiqueError):
    """The database refused or lost an operation."""


class JobStateError(StoreError):
    """A job is not in the state an operation needs."""


class LocalStackError(PiqueError):
    """The local emulators could not be found, started or set up."""
