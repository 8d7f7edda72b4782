"""Signed upload URLs: where a client PUTs its file, and the headers the PUT must carry.

Every signer answers `UploadSigner.sign_put` with a `SignedUpload`. The PUT must send exactly
the returned headers: ``Content-Type`` (the file's MIME type),
``x-goog-content-length-range: N,N``, which binds the body to the declared size, and
``x-goog-if-generation-match: 0``, which makes storage refuse the PUT when the object already
exists, so a URL uploads once and an evaluated upload is never replaced. All three are part
of the signature, so a client can neither swap the type, send a different number of bytes,
nor drop the precondition.

- `GcsSigner`: V4 signed URLs for Google Cloud Storage. With a service-account key
  (``GOOGLE_APPLICATION_CREDENTIALS``) it signs locally; with keyless credentials (Cloud Run,
  GKE, Compute Engine) it signs through the IAM ``signBlob`` API. Against ``pique-engine
  stack``, sign with the throwaway key it writes: its front checks signatures as GCS does.
- `LocalSigner`: HMAC-signed URLs served by ``pique-engine dev`` itself, with `LocalSigner.verify`
  for the server that receives the PUT.

`UploadSigner.check` says, before any request, whether a signer can sign at all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

from ..errors import SigningError, UploadRefused
from .filenames import ALL_MIME_TYPES

__all__ = [
    "MAX_URL_LIFETIME",
    "GcsSigner",
    "LocalSigner",
    "RefusalReason",
    "SignedUpload",
    "SigningError",
    "UploadRefused",
    "UploadSigner",
    "upload_headers",
]

log = logging.getLogger(__name__)

MAX_URL_LIFETIME = timedelta(days=7)  # the most a V4 signature may be valid for
CONTENT_LENGTH_RANGE = "x-goog-content-length-range"
IF_GENERATION_MATCH = "x-goog-if-generation-match"
_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
_NO_WAY_TO_SIGN = "no way to sign upload URLs"
_HOW_TO_SIGN = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (pique-engine stack writes one for "
    "the emulators) or run with credentials that can call iam.serviceAccounts.signBlob"
)


class RefusalReason(StrEnum):
    """Why `LocalSigner.verify` refused a PUT."""

    EXPIRED = "expired"
    BAD_SIGNATURE = "bad_signature"
    WRONG_CONTENT_TYPE = "wrong_content_type"
    WRONG_LENGTH = "wrong_length"
    WRONG_PRECONDITION = "wrong_precondition"


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

    def check(self) -> None:
        """Raise `SigningError` saying what is missing and how to provide it, unless this signer can sign."""
        ...


def upload_headers(content_type: str, size: int) -> dict[str, str]:
    """The headers every signed PUT must carry, and that every signer signs.

    Generation 0 means "no live object": GCS answers 412 Precondition Failed to a PUT onto an
    existing object, so a URL cannot replace an upload that was (or is being) evaluated.
    """
    return {"Content-Type": content_type, CONTENT_LENGTH_RANGE: f"{size},{size}", IF_GENERATION_MATCH: "0"}


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

    def check(self) -> None:
        """Raise `SigningError` unless credentials are found that hold a key or name a service account.

        Keyless credentials are refreshed (a call to the metadata server or token endpoint), but
        signBlob is not called: whether IAM grants it shows at the first signature.
        """
        try:
            self._signing_identity()
        except SigningError:
            raise
        except Exception as exc:  # refreshing keyless credentials failed
            raise SigningError(f"{_NO_WAY_TO_SIGN}: the Google credentials could not be refreshed "
                               f"({type(exc).__name__}: {exc}); {_HOW_TO_SIGN}") from exc  # fmt: skip

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
                    with _silenced(logging.getLogger("google.auth._default")):
                        self._credentials, _ = google.auth.default(scopes=[_CLOUD_PLATFORM])
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    reason = " ".join(str(exc).split())
                    raise SigningError(f"{_NO_WAY_TO_SIGN}: {_HOW_TO_SIGN} (Google credentials: {reason})") from exc
            credentials = self._credentials
            if isinstance(credentials, google.auth.credentials.Signing):
                return credentials, {}
            if not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())
            email = getattr(credentials, "service_account_email", None)
            if not email or email == "default":
                raise SigningError(
                    f"{_NO_WAY_TO_SIGN}: the credentials found ({type(credentials).__module__}."
                    f"{type(credentials).__name__}) hold no key and name no service account; {_HOW_TO_SIGN}, "
                    "or impersonate a service account "
                    "(gcloud auth application-default login --impersonate-service-account=SA_EMAIL)"
                )
            return credentials, {"service_account_email": email, "access_token": credentials.token}


@contextmanager
def _silenced(logger: logging.Logger) -> Iterator[None]:
    """Drop `logger`'s records meanwhile: google.auth warns of each way it failed to find
    credentials, where `SigningError` already says what is missing in one line."""
    def drop(record: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


# --- local (pique-engine dev) --------------------------------------------------------------


class LocalSigner:
    """Signed PUT URLs for the embedded development server's own storage.

    The URL is ``{base_url}/storage/{object_name}?expires=<unix>&signature=<hex>``, where the
    signature is HMAC-SHA256 over
    ``"PUT\\n{object_name}\\n{content_type}\\n{size}\\n{expires}\\n{x-goog-if-generation-match}"``
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

    def signature(self, object_name: str, content_type: str, size: int, expires: int, generation_match: str = "0") -> str:
        message = f"PUT\n{object_name}\n{content_type}\n{size}\n{expires}\n{generation_match}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self) -> None:
        """A local signer holds its key from the start: it can always sign."""

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
        generation_match: str | None = None,
    ) -> None:
        """Accept a PUT of `content_length` bytes or raise `UploadRefused` saying what is wrong.

        `object_name` is the URL path after ``/storage/``, percent-decoded; `expires` and
        `signature` are the query parameters; `length_range` and `generation_match` are the
        request's ``x-goog-content-length-range`` and ``x-goog-if-generation-match`` headers,
        or None when it sent none. Whether the object already exists is for the storage to say.
        """
        content_type = content_type or ""
        unix = _unexpired(expires, now or datetime.now(UTC))
        if length_range is not None:
            low, high = _parse_range(length_range)
            if not low <= content_length <= high:
                raise UploadRefused(
                    RefusalReason.WRONG_LENGTH,
                    f"the body is {content_length:,} bytes but the upload allows {_allowed(low, high)}; "
                    "upload the file whose size was declared, or create a new job with the real size",
                )
        if not self._matches(signature, object_name, content_type, content_length, unix, generation_match or ""):
            raise self._mismatch(signature, object_name, content_type, content_length, unix, generation_match)

    def _mismatch(
        self, signature: str, object_name: str, content_type: str, size: int, expires: int, generation_match: str | None
    ) -> UploadRefused:
        """Why the signature does not match: a header when some other value of it would have matched."""
        if self._matches(signature, object_name, content_type, size, expires, "0"):
            return UploadRefused(
                RefusalReason.WRONG_PRECONDITION,
                f"the PUT's {IF_GENERATION_MATCH} is {generation_match or 'missing'!r} but the URL was signed for '0' "
                "(upload once, never over an existing object); send exactly the upload_headers the API returned",
            )
        for other in ALL_MIME_TYPES:
            if other != content_type and self._matches(signature, object_name, other, size, expires, "0"):
                return UploadRefused(
                    RefusalReason.WRONG_CONTENT_TYPE,
                    f"the PUT's Content-Type is {content_type or 'missing'!r} but the URL was signed for {other!r}; "
                    "send exactly the upload_headers the API returned",
                )
        return UploadRefused(
            RefusalReason.BAD_SIGNATURE,
            "the signature does not match: the URL was altered, or the PUT's headers or length differ "
            "from what was signed; send the upload_url unchanged with exactly the upload_headers, "
            "and a body of the declared size",
        )

    def _matches(
        self, signature: str, object_name: str, content_type: str, size: int, expires: int, generation_match: str
    ) -> bool:
        given = signature.lower().encode() if signature.isascii() else b""
        expected = self.signature(object_name, content_type, size, expires, generation_match)
        return hmac.compare_digest(expected.encode(), given)


def _unexpired(expires: str | int, now: datetime) -> int:
    """The URL's expiry as a Unix time, or `UploadRefused` when it is not one or has passed."""
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
    return unix


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
