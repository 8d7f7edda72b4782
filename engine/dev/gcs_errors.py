"""Cloud Storage XML API errors, with the status codes and bodies GCS answers them with.

GCS answers a refused XML API request (a signed URL's PUT among them) with an XML body::

    <?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code>
    <Message>Access denied.</Message><Details>...</Details></Error>

Clients and their tests match on the status and ``Code``; ``Message`` and ``Details`` say why.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

__all__ = [
    "GcsError",
    "entity_too_large",
    "entity_too_small",
    "expired_token",
    "invalid_argument",
    "malformed_security_header",
    "precondition_failed",
    "signature_does_not_match",
    "upstream_unavailable",
]


class GcsError(Exception):
    """A refusal as GCS words it: HTTP status, error code, message, details and extra elements."""

    def __init__(self, status: int, code: str, message: str, details: str = "", **extra: str) -> None:
        super().__init__(f"{status} {code}: {details or message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.extra = extra

    def xml(self) -> bytes:
        parts = [f"<Code>{escape(self.code)}</Code>", f"<Message>{escape(self.message)}</Message>"]
        if self.details:
            parts.append(f"<Details>{escape(self.details)}</Details>")
        parts += [f"<{name}>{escape(value)}</{name}>" for name, value in self.extra.items()]
        return ("<?xml version='1.0' encoding='UTF-8'?><Error>" + "".join(parts) + "</Error>").encode()


def signature_does_not_match(details: str, string_to_sign: str = "", canonical_request: str = "") -> GcsError:
    extra = {"StringToSign": string_to_sign, "CanonicalRequest": canonical_request} if string_to_sign else {}
    return GcsError(403, "SignatureDoesNotMatch", "Access denied.", details, **extra)


def expired_token(expires: str) -> GcsError:
    return GcsError(400, "ExpiredToken", "The provided token has expired.", f"Request has expired: {expires}")


def malformed_security_header(details: str) -> GcsError:
    return GcsError(400, "MalformedSecurityHeader", "Your request has a malformed header.", details)


def invalid_argument(details: str) -> GcsError:
    return GcsError(400, "InvalidArgument", "Invalid argument.", details)


def entity_too_large(length: int, high: int) -> GcsError:
    return GcsError(
        400, "EntityTooLarge",
        "Your proposed upload is larger than the maximum object size specified in your Policy Document.",
        f"Content-length exceeds upper bound on range ({length} > {high})",
    )  # fmt: skip


def entity_too_small(length: int, low: int) -> GcsError:
    return GcsError(
        400, "EntityTooSmall",
        "Your proposed upload is smaller than the minimum object size specified in your Policy Document.",
        f"Content-length is smaller than lower bound on range ({length} < {low})",
    )  # fmt: skip


def precondition_failed(details: str) -> GcsError:
    return GcsError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.", details)


def upstream_unavailable(upstream: str, reason: str) -> GcsError:
    # Not a GCS answer: the local fake-gcs-server behind the front is down. 502 is retried by
    # the official clients, as GCS's own 5xx are.
    return GcsError(502, "BadGateway", "fake-gcs-server is not answering.", f"{upstream}: {reason}")
