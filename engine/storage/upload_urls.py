"""Signed upload URLs: where a client PUTs its file, and the headers the PUT must carry.

Every signer answers `UploadSigner.sign_put` with a `SignedUpload`. The PUT must send exactly
the returned headers: ``Content-Type`` (the file's MIME type) and
``x-goog-content-length-range: N,N``, which binds the body to the declared size. Both are
part of the signature, so a client cannot swap the type or send a different number of bytes.

- `GcsSigner`: V4 signed URLs for Google Cloud Storage. With a service-account key
  (``GOOGLE_APPLICATION_CREDENTIALS``) it signs locally; with keyless credentials (Cloud Run,
  GKE, Compute Engine) it signs through the IAM ``signBlob`` API. Against fake-gcs-server,
  any throwaway service-account key works (the emulator checks no signatures).
- `LocalSigner`: HMAC-signed URLs served by ``pique-engine dev`` itself, with `LocalSigner.verify`
  for the server that receives the PUT.

`content_type_for` picks the MIME type for a file; `safe_object_filename` makes a client's
filename safe as the last segment of ``{org_id}/pending/{job_id}/{filename}``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

from ..errors import SigningError, UploadRefused

__all__ = [
    "MAX_FILENAME_BYTES",
    "MAX_URL_LIFETIME",
    "GcsSigner",
    "LocalSigner",
    "RefusalReason",
    "SignedUpload",
    "SigningError",
    "UploadRefused",
    "UploadSigner",
    "content_type_for",
    "safe_object_filename",
    "upload_headers",
]

log = logging.getLogger(__name__)

MAX_URL_LIFETIME = timedelta(days=7)  # the most a V4 signature may be valid for
MAX_FILENAME_BYTES = 255
CONTENT_LENGTH_RANGE = "x-goog-content-length-range"
_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


# Until errors.py holds them (both belong directly under PiqueError).
class RefusalReason(StrEnum):
    """Why `LocalSigner.verify` refused a PUT."""

    EXPIRED = "expired"
    BAD_SIGNATURE = "bad_signature"
    WRONG_CONTENT_TYPE = "wrong_content_type"
    WRONG_LENGTH = "wrong_length"


@dataclass(frozen=True, slots=True)
class SignedUpload:
    """A URL to PUT one object to, the headers the PUT must carry, and when the URL stops working."""

    url: str
    headers: dict[str, str] = field(hash=False)
    expires_at: datetime


class UploadSigner(Protocol):
    """Something that signs PUT URLs for objects of an upload bucket."""

    def sign_put(self, object_name: str, *, content_type: str, size: int, expires: datetime) -> SignedUpload:
        """A URL accepting one PUT of exactly `size` bytes of `content_type` until `expires`.

        Raises `SigningError` when no URL can be made.
        """
        ...


def upload_headers(content_type: str, size: int) -> dict[str, str]:
    """The headers every signed PUT must carry, and that every signer signs."""
    return {"Content-Type": content_type, CONTENT_LENGTH_RANGE: f"{size},{size}"}


def _check_request(content_type: str, size: int, expires: datetime, now: datetime) -> None:
    if not content_type or any(c in content_type for c in "\r\n"):
        raise ValueError(f"content_type must be a MIME type such as 'video/mp4', not {content_type!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be a whole number of bytes, not {size!r}")
    if expires.tzinfo is None:
        raise ValueError("expires must be timezone-aware (UTC)")
    if expires <= now:
        raise ValueError(f"expires ({expires.isoformat()}) is not in the future")
    if expires - now > MAX_URL_LIFETIME:
        raise ValueError(f"a signed URL may be valid for at most {MAX_URL_LIFETIME.days} days")


# --- Google Cloud Storage ----------------------------------------------------------------


class GcsSigner:
    """V4 signed PUT URLs for objects in `bucket`.

    `credentials` default to Application Default Credentials, resolved at the first signature.
    Credentials that can sign (a service-account key, impersonated credentials) sign
    themselves; others (Compute Engine, Cloud Run, GKE workload identity) are refreshed and
    their access token asks the IAM ``signBlob`` API to sign as their service account, which
    needs ``iam.serviceAccounts.signBlob`` on itself (the Service Account Token Creator role).

    `api_access_endpoint` is the scheme and host the URL points at; by default
    ``STORAGE_EMULATOR_HOST`` when that is set (read by the official client), else
    ``https://storage.googleapis.com``.
    """

    def __init__(self, bucket: str, *, credentials: Any = None, api_access_endpoint: str | None = None) -> None:
        if not bucket:
            raise ValueError("bucket must name the upload bucket")
        self.bucket = bucket
        self.api_access_endpoint = api_access_endpoint.rstrip("/") if api_access_endpoint else None
        self._credentials = credentials
        self._lock = threading.Lock()
        self._client: Any = None

    def sign_put(self, object_name: str, *, content_type: str, size: int, expires: datetime) -> SignedUpload:
        now = datetime.now(UTC)
        _check_request(content_type, size, expires, now)
        headers = upload_headers(content_type, size)
        # V4 counts whole seconds from the signing time (truncated), so rounding the lifetime
        # up makes the URL expire on `expires` itself rather than a second before.
        lifetime = timedelta(seconds=math.ceil((expires - now).total_seconds()))
        try:
            credentials, identity = self._signing_identity()
            blob = self._storage_client().bucket(self.bucket).blob(object_name)
            url = blob.generate_signed_url(
                version="v4",
                method="PUT",
                expiration=lifetime,
                headers=dict(headers),  # the client adds to the dict it is given
                credentials=credentials,
                api_access_endpoint=self.api_access_endpoint,
                **identity,
            )
        except SigningError:
            raise
        except Exception as exc:  # google-auth, requests and IAM errors all mean "no URL"
            raise SigningError(
                f"could not sign an upload URL for gs://{self.bucket}/{object_name}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return SignedUpload(url=url, headers=headers, expires_at=expires)

    def _storage_client(self) -> Any:
        from google.cloud import storage

        if self._client is None:
            # Signing makes no storage calls; the client only supplies the endpoint (which
            # honours STORAGE_EMULATOR_HOST) and the universe domain.
            self._client = storage.Client.create_anonymous_client()
        return self._client

    def _signing_identity(self) -> tuple[Any, dict[str, str]]:
        """The credentials to sign with, and the keyword arguments that select signBlob."""
        import google.auth
        import google.auth.credentials
        import google.auth.exceptions
        import google.auth.transport.requests

        with self._lock:
            if self._credentials is None:
                try:
                    self._credentials, _ = google.auth.default(scopes=[_CLOUD_PLATFORM])
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    raise SigningError(
                        "no Google credentials to sign upload URLs with: set GOOGLE_APPLICATION_CREDENTIALS "
                        "to a service-account key file (any throwaway key works against fake-gcs-server), "
                        f"or run as a service account ({exc})"
                    ) from exc
            credentials = self._credentials
            if isinstance(credentials, google.auth.credentials.Signing):
                return credentials, {}
            if not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())
            email = getattr(credentials, "service_account_email", None)
            if not email or email == "default":
                raise SigningError(
                    f"{type(credentials).__module__}.{type(credentials).__name__} cannot sign upload URLs: "
                    "they hold no key and name no service account. Use a service-account key "
                    "(GOOGLE_APPLICATION_CREDENTIALS), run as a service account, or impersonate one "
                    "(gcloud auth application-default login --impersonate-service-account=SA_EMAIL)"
                )
            return credentials, {"service_account_email": email, "access_token": credentials.token}


# --- local (pique-engine dev) --------------------------------------------------------------


class LocalSigner:
    """Signed PUT URLs for the embedded development server's own storage.

    The URL is ``{base_url}/storage/{object_name}?expires=<unix>&signature=<hex>``, where the
    signature is HMAC-SHA256 over ``"PUT\\n{object_name}\\n{content_type}\\n{size}\\n{expires}"``
    keyed with `secret`. The server receiving the PUT checks it with `verify`.
    """

    def __init__(self, base_url: str, secret: str | bytes) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < 16:
            raise ValueError("secret must be at least 16 bytes")
        self.base_url = base_url.rstrip("/")
        self._key = key

    def signature(self, object_name: str, content_type: str, size: int, expires: int) -> str:
        message = f"PUT\n{object_name}\n{content_type}\n{size}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign_put(self, object_name: str, *, content_type: str, size: int, expires: datetime) -> SignedUpload:
        _check_request(content_type, size, expires, datetime.now(UTC))
        unix = math.ceil(expires.timestamp())
        sig = self.signature(object_name, content_type, size, unix)
        url = f"{self.base_url}/storage/{quote(object_name, safe='/~')}?expires={unix}&signature={sig}"
        return SignedUpload(url=url, headers=upload_headers(content_type, size), expires_at=expires)

    def verify(
        self,
        object_name: str,
        content_type: str | None,
        content_length: int,
        expires: str | int,
        signature: str,
        now: datetime | None = None,
        *,
        length_range: str | None = None,
    ) -> None:
        """Accept a PUT of `content_length` bytes or raise `UploadRefused` saying what is wrong.

        `object_name` is the URL path after ``/storage/``, percent-decoded; `expires` and
        `signature` are the query parameters; `length_range` is the request's
        ``x-goog-content-length-range`` header, when it sent one.
        """
        now = now or datetime.now(UTC)
        content_type = content_type or ""
        try:
            unix = int(expires)
        except (TypeError, ValueError):
            unix = -1
        if not 0 <= unix < 2**40:
            raise UploadRefused(
                RefusalReason.BAD_SIGNATURE,
                f"the URL's expires={expires!r} is not a Unix time; use the upload_url exactly as issued",
            )
        if now.timestamp() >= unix:
            when = datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")
            raise UploadRefused(RefusalReason.EXPIRED, f"the upload URL expired at {when}; create a new job for a fresh URL")
        if length_range is not None:
            low, high = _parse_range(length_range)
            if not low <= content_length <= high:
                raise UploadRefused(
                    RefusalReason.WRONG_LENGTH,
                    f"the body is {content_length:,} bytes but the upload allows {_allowed(low, high)}; "
                    "upload the file whose size was declared, or create a new job with the real size",
                )
        if self._matches(signature, object_name, content_type, content_length, unix):
            return
        # Say which header was wrong when some other value would have matched the signature.
        for other in _ALL_MIME_TYPES:
            if other != content_type and self._matches(signature, object_name, other, content_length, unix):
                raise UploadRefused(
                    RefusalReason.WRONG_CONTENT_TYPE,
                    f"the PUT's Content-Type is {content_type or 'missing'!r} but the URL was signed for {other!r}; "
                    "send exactly the upload_headers the API returned",
                )
        raise UploadRefused(
            RefusalReason.BAD_SIGNATURE,
            "the signature does not match: the URL was altered, or the PUT's Content-Type or length differs "
            "from what was signed; send the upload_url unchanged with exactly the upload_headers, "
            "and a body of the declared size",
        )

    def _matches(self, signature: str, object_name: str, content_type: str, size: int, expires: int) -> bool:
        given = signature.lower().encode() if signature.isascii() else b""
        return hmac.compare_digest(self.signature(object_name, content_type, size, expires).encode(), given)


def _parse_range(value: str) -> tuple[int, int]:
    try:
        low, high = (int(part.strip()) for part in value.split(","))
    except ValueError:
        raise UploadRefused(
            RefusalReason.WRONG_LENGTH, f"{CONTENT_LENGTH_RANGE} must be 'MIN,MAX', not {value!r}"
        ) from None
    return low, high


def _allowed(low: int, high: int) -> str:
    return f"exactly {low:,}" if low == high else f"{low:,} to {high:,}"


# --- MIME types and object names ---------------------------------------------------------

# Extension → MIME type within each declared kind. The worker recognises formats from their
# bytes, never from names, so this only labels the stored object: an extension from another
# kind (a .png declared as video) or none at all gets the honest application/octet-stream.
_MIME_TYPES: dict[str, dict[str, str]] = {
    "video": {
        "mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/quicktime", "qt": "video/quicktime",
        "webm": "video/webm", "mkv": "video/x-matroska", "avi": "video/x-msvideo", "mpeg": "video/mpeg",
        "mpg": "video/mpeg", "3gp": "video/3gpp", "3g2": "video/3gpp2", "ogv": "video/ogg", "ogg": "video/ogg",
        "ts": "video/mp2t", "m2ts": "video/mp2t", "flv": "video/x-flv", "wmv": "video/x-ms-wmv",
    },
    "image": {
        "jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "jfif": "image/jpeg", "png": "image/png",
        "webp": "image/webp", "gif": "image/gif", "avif": "image/avif", "heic": "image/heic", "heif": "image/heif",
        "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff",
    },
    "audio": {
        "mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac", "m4a": "audio/mp4", "mp4": "audio/mp4",
        "aac": "audio/aac", "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg", "weba": "audio/webm",
        "webm": "audio/webm", "aif": "audio/aiff", "aiff": "audio/aiff",
    },
}  # fmt: skip
FALLBACK_MIME_TYPE = "application/octet-stream"
_ALL_MIME_TYPES = tuple(sorted({m for kind in _MIME_TYPES.values() for m in kind.values()} | {FALLBACK_MIME_TYPE}))


def content_type_for(filename: str, declared_kind: str) -> str:
    """The MIME type for `filename` as the declared kind (video, image or audio).

    >>> content_type_for("clip.MOV", "video"), content_type_for("voice.mp4", "audio")
    ('video/quicktime', 'audio/mp4')
    >>> content_type_for("photo.png", "video")
    'application/octet-stream'
    """
    if declared_kind not in _MIME_TYPES:
        raise ValueError(f"declared_kind must be one of {', '.join(_MIME_TYPES)}, not {declared_kind!r}")
    _, dot, ext = filename.rpartition(".")
    return _MIME_TYPES[declared_kind].get(ext.lower(), FALLBACK_MIME_TYPE) if dot else FALLBACK_MIME_TYPE


# Categories dropped from names: controls, format characters (bidi overrides, zero-width
# characters, BOM, tags), surrogates, private use, unassigned, line/paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Legal in GCS names but trouble in URLs, gsutil wildcards or shells and file systems.
_REPLACED = frozenset('\\/:*?"<>|#[]')
_MAX_EXTENSION = 16
_DEFAULT_STEM = "file"


def safe_object_filename(filename: str) -> str:
    """`filename` made safe as the last segment of an object name; never empty, keeps the extension.

    Only the part after the last ``/`` or ``\\`` is kept (no directories, no traversal); the
    result is NFC-normalised, has no control or invisible formatting characters, starts with
    no dot, and is at most `MAX_FILENAME_BYTES` bytes of UTF-8.

    >>> safe_object_filename("../../etc/passwd"), safe_object_filename("clip\\u202egnp.mp4")
    ('passwd', 'clipgnp.mp4')
    """
    name = unicodedata.normalize("NFC", filename)
    name = name.replace("\\", "/").rstrip("/ ").rpartition("/")[2]
    chars = []
    for c in name:
        category = unicodedata.category(c)
        if category in _DROPPED_CATEGORIES:
            continue
        chars.append(" " if category == "Zs" else "_" if c in _REPLACED else c)
    name = unicodedata.normalize("NFC", "".join(chars)).strip(" ")
    stem, dot, ext = name.rpartition(".")
    if not dot or not ext or len(ext) > _MAX_EXTENSION or not (ext.isascii() and ext.isalnum()):
        stem, ext = name, ""
    stem = stem.strip(" .") or _DEFAULT_STEM
    suffix = f".{ext}" if ext else ""
    return _truncate(stem, MAX_FILENAME_BYTES - len(suffix.encode())) + suffix


def _truncate(stem: str, max_bytes: int) -> str:
    cut = max_bytes
    while len(stem.encode()) > max_bytes and cut > 0:
        # Cut whole characters, then renormalise: a cut can leave a bare combining mark, and
        # the rare character NFC expands can push the result over again, so cut deeper.
        stem = unicodedata.normalize("NFC", stem.encode()[:cut].decode(errors="ignore")).rstrip(" .")
        cut -= 1
    return stem or _DEFAULT_STEM
