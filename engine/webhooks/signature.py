"""Sign webhook bodies, and verify them on the receiving side.

The header is Stripe's shape, which Mux also uses::

    X-Pique-Signature: t=1732654321,v1=<hex>,alg=sha256

Each ``v1`` is ``HMAC-SHA256(secret, f"{t}.".encode() + body)`` in lowercase hex, keyed with the
UTF-8 bytes of the secret exactly as configured (no prefix stripping, no base64 decoding). While
a secret is being rotated the header carries one ``v1`` per secret, so receivers holding either
the old or the new secret accept it.

Receivers: verify the raw request bytes, before any JSON parsing::

    from pique_engine.webhooks.signature import verify
    from pique_engine.errors import SignatureError

    try:
        verify(request_body_bytes, headers["X-Pique-Signature"], [WEBHOOK_SECRET])
    except SignatureError as exc:
        return 400, str(exc)
    event = json.loads(request_body_bytes)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from ..errors import SignatureError

__all__ = ["ALGORITHM", "DEFAULT_TOLERANCE_SEC", "sign", "verify"]

ALGORITHM = "sha256"
DEFAULT_TOLERANCE_SEC = 300
_HEX_LEN = hashlib.sha256().digest_size * 2
_HEX_DIGITS = frozenset("0123456789abcdef")


def _check_secrets(secrets: Sequence[str]) -> None:
    # A bare str is a Sequence[str] too: iterating it would sign with each character.
    if isinstance(secrets, str) or not secrets:
        raise ValueError("secrets must be a non-empty sequence of strings, e.g. [secret]")
    if any(not isinstance(s, str) or not s for s in secrets):
        raise ValueError("every webhook secret must be a non-empty string")


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """Return the ``X-Pique-Signature`` value for `body`: one ``v1`` per secret, in order.

    >>> sign(b'{"job_id":"job_1"}', ["old-secret", "new-secret"], 1732654321)  # doctest: +ELLIPSIS
    't=1732654321,v1=...,v1=...,alg=sha256'

    Send exactly the bytes you signed: re-serialising JSON after signing breaks verification.
    """
    _check_secrets(secrets)
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    timestamp = int(timestamp)
    v1 = ",".join(f"v1={_digest(s, timestamp, bytes(body))}" for s in secrets)
    return f"t={timestamp},{v1},alg={ALGORITHM}"


def _parse(header: str) -> tuple[int, list[str]]:
    """Split a header into its timestamp and its v1 signatures; unknown keys are ignored."""
    if not isinstance(header, str) or not header.strip():
        raise SignatureError("malformed signature header: it is empty")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise SignatureError(f"malformed signature header: element {item.strip()!r} is not key=value")
        if key == "t":
            # Two timestamps would let a forger choose which one a lenient parser reads.
            if timestamp is not None:
                raise SignatureError("malformed signature header: more than one t=")
            if not value.isascii() or not value.isdigit():
                raise SignatureError(f"malformed signature header: t={value!r} is not a Unix time in seconds")
            timestamp = int(value)
        elif key == "v1":
            sig = value.lower()
            if len(sig) != _HEX_LEN or not set(sig) <= _HEX_DIGITS:
                raise SignatureError(f"malformed signature header: v1 must be {_HEX_LEN} hex characters")
            signatures.append(sig)
        elif key == "alg" and value.lower() != ALGORITHM:
            raise SignatureError(f"unsupported signature algorithm alg={value!r}; only {ALGORITHM} is used")
        # Any other key (v0, a future v2...) is ignored so the header can grow.
    if timestamp is None:
        raise SignatureError("malformed signature header: no t= timestamp")
    if not signatures:
        raise SignatureError("signature header has no v1= signature")
    return timestamp, signatures


def verify(
    body: bytes,
    header: str,
    secrets: Sequence[str],
    *,
    tolerance_sec: int = DEFAULT_TOLERANCE_SEC,
    now: float | None = None,
) -> int:
    """Check `header` against the raw `body` and return its timestamp; raise `SignatureError`.

    `secrets` are every secret you currently accept (old and new during a rotation). The
    request passes when any ``v1`` matches any secret and its timestamp is within
    `tolerance_sec` of `now` in either direction (replayed requests are refused)::

        timestamp = verify(raw_body, request.headers["X-Pique-Signature"], ["whsec-old", "whsec-new"])

    Comparisons are constant-time. Use the event id header (``X-Pique-Event-Id``) or the
    payload's ``job_id`` to ignore redeliveries that arrive within the tolerance window.
    """
    _check_secrets(secrets)
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(
            f"body must be the raw request bytes, not {type(body).__name__}; parsed or re-encoded "
            "JSON does not have the bytes that were signed"
        )
    if tolerance_sec < 0:
        raise ValueError("tolerance_sec must be >= 0")
    timestamp, signatures = _parse(header)

    expected = [_digest(secret, timestamp, bytes(body)) for secret in secrets]
    # No early exit: time taken must not reveal which candidate came closest.
    matched = False
    for sig in signatures:
        for exp in expected:
            matched |= hmac.compare_digest(sig, exp)
    if not matched:
        raise SignatureError(
            f"no signature matches: {len(signatures)} v1 signature(s) checked against "
            f"{len(secrets)} secret(s); check the secret and that the body is the raw bytes received"
        )

    current = time.time() if now is None else now
    age = current - timestamp
    if age > tolerance_sec:
        raise SignatureError(
            f"signature is stale by {age - tolerance_sec:.0f} s: timestamp is {age:.0f} s old, "
            f"tolerance {tolerance_sec} s (a replay, or a clock out of sync)"
        )
    if -age > tolerance_sec:
        raise SignatureError(
            f"signature timestamp is {-age:.0f} s in the future, tolerance {tolerance_sec} s; check clocks"
        )
    return timestamp
