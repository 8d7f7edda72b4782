"""Checking a V4-signed Cloud Storage request (``X-Goog-Algorithm=GOOG4-RSA-SHA256``) as GCS does.

GCS rebuilds the *canonical request* from what it received::

    HTTP_VERB
    PATH_TO_RESOURCE            (percent-encoded, '/' and '~' kept)
    CANONICAL_QUERY_STRING      (every parameter but X-Goog-Signature, encoded, sorted)
    CANONICAL_HEADERS           (each signed header as 'name:value', lower-case names, sorted)
                                (an empty line)
    SIGNED_HEADERS              ('content-type;host;...')
    UNSIGNED-PAYLOAD

then the *string to sign* ``GOOG4-RSA-SHA256\\n{X-Goog-Date}\\n{scope}\\n{hex SHA-256 of the
canonical request}``, and checks ``X-Goog-Signature`` (hex) as an RSA PKCS#1 v1.5 SHA-256
signature of it by the key of the account named in ``X-Goog-Credential``. Because the signed
headers' values come from the request, a PUT that sends another ``Content-Type`` or
``x-goog-content-length-range`` than was signed fails the same check as a forged signature.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

from .gcs_errors import (
    expired_token,
    invalid_argument,
    malformed_security_header,
    signature_does_not_match,
)

__all__ = ["ALGORITHM", "MAX_EXPIRES_SEC", "SignedRequest", "canonical_request", "is_signed", "load_public_keys", "verify_v4"]

ALGORITHM = "GOOG4-RSA-SHA256"
MAX_EXPIRES_SEC = 604_800  # seven days
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_SCOPE_TAIL = "auto/storage/goog4_request"


@dataclass(frozen=True)
class SignedRequest:
    """What a V4 check reads from a request: the verb, the path as sent, the query and headers."""

    method: str
    raw_path: str
    query: Sequence[tuple[str, str]]
    headers: Sequence[tuple[str, str]]

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name]


def load_public_keys(key_files: Sequence[Path]) -> dict[str, object]:
    """The public keys of service-account key files, by the account's e-mail address."""
    from cryptography.hazmat.primitives import serialization

    keys = {}
    for path in key_files:
        info = json.loads(Path(path).read_text())
        private = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        keys[info["client_email"]] = private.public_key()
    return keys


def is_signed(query: Sequence[tuple[str, str]]) -> bool:
    """Whether a request carries a V4 query-string signature (and so must be checked)."""
    return any(key in ("X-Goog-Signature", "X-Goog-Algorithm") for key, _ in query)


def verify_v4(request: SignedRequest, keys: Mapping[str, object], now: datetime | None = None) -> None:
    """Accept a V4-signed request or raise the `GcsError` GCS would answer it with."""
    params = {name: request.param(name) for name in (
        "X-Goog-Algorithm", "X-Goog-Credential", "X-Goog-Date", "X-Goog-Expires", "X-Goog-SignedHeaders", "X-Goog-Signature")}  # fmt: skip
    missing = [name for name, value in params.items() if value is None]
    if missing:
        raise invalid_argument(f"a V4 signed URL needs {', '.join(missing)} in its query string")
    if params["X-Goog-Algorithm"] != ALGORITHM:
        raise invalid_argument(f"X-Goog-Algorithm {params['X-Goog-Algorithm']!r} is not supported; use {ALGORITHM}")
    signed_at = _signing_time(params["X-Goog-Date"])
    expires = _expires_seconds(params["X-Goog-Expires"])
    now = now or datetime.now(UTC)
    if now >= signed_at + timedelta(seconds=expires):
        raise expired_token(params["X-Goog-Expires"])
    email, _, scope = params["X-Goog-Credential"].partition("/")
    if scope != f"{params['X-Goog-Date'][:8]}/{_SCOPE_TAIL}":
        raise malformed_security_header(
            f"X-Goog-Credential scope {scope!r} must be '{params['X-Goog-Date'][:8]}/{_SCOPE_TAIL}'"
        )
    canonical = canonical_request(request, params["X-Goog-SignedHeaders"])
    to_sign = "\n".join([ALGORITHM, params["X-Goog-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
    if not _signature_ok(keys.get(email), params["X-Goog-Signature"], to_sign):
        raise signature_does_not_match(
            "The request signature we calculated does not match the signature you provided. "
            "Check your Google secret key and signing method (and send exactly the signed headers).",
            to_sign,
            canonical,
        )


def canonical_request(request: SignedRequest, signed_headers: str) -> str:
    """The canonical request GCS rebuilds from `request` for the headers it says it signed."""
    path = quote(unquote(request.raw_path), safe="/~")
    query = "&".join(sorted(
        f"{quote(key, safe='~')}={quote(value, safe='~')}" for key, value in request.query if key != "X-Goog-Signature"))  # fmt: skip
    names = signed_headers.split(";")
    lines = [f"{name}:{','.join(' '.join(v.split()) for v in request.header_values(name))}" for name in names]
    return "\n".join([request.method, path, query, "\n".join(lines) + "\n", signed_headers, "UNSIGNED-PAYLOAD"])


def _signing_time(value: str) -> datetime:
    try:
        return datetime.strptime(value, _DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise malformed_security_header(f"X-Goog-Date {value!r} is not a time like 20261203T120000Z") from None


def _expires_seconds(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise malformed_security_header(f"X-Goog-Expires {value!r} is not a number of seconds") from None
    if not 1 <= seconds <= MAX_EXPIRES_SEC:
        raise invalid_argument(f"X-Goog-Expires must be 1 to {MAX_EXPIRES_SEC} seconds (seven days), not {seconds}")
    return seconds


def _signature_ok(public_key, signature_hex: str, to_sign: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    if public_key is None:  # an account this stack holds no key for: nothing can match
        return False
    try:
        public_key.verify(binascii.unhexlify(signature_hex), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
