"""API keys: every ``/v1/`` request names its organisation with the ``X-API-Key`` header."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from ..store import Org, Store
from .errors import ApiError

__all__ = ["Authenticated", "api_key_header", "authenticate", "org_for_key", "request_org"]

# Printable ASCII, as every key we issue is; anything else cannot match, so it is not looked up.
_API_KEY_CHARS = re.compile(r"[\x21-\x7e]{1,256}")

api_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKeyAuth",
    description="Your organisation's API key (`pk_...`).",
    auto_error=False,
)


def org_for_key(store: Store, key: str | None) -> Org:
    """The organisation whose active key `key` is; `ApiError` 401 otherwise."""
    if not key:
        raise ApiError(401, "missing_api_key", "the X-API-Key header is missing; send your organisation's API key")
    org = store.org_for_api_key(key) if _API_KEY_CHARS.fullmatch(key) else None
    if org is None:
        raise ApiError(401, "invalid_api_key", "the API key in X-API-Key is unknown or has been revoked; "
                       "check it, or ask for a new key")  # fmt: skip
    return org


def request_org(request: Request) -> Org:
    """The organisation of the key `request` carries; for the error handlers, which see no dependencies."""
    return org_for_key(request.app.state.store, request.headers.get("x-api-key"))


def authenticate(request: Request, key: Annotated[str | None, Security(api_key_header)]) -> Org:
    """The organisation whose active API key the request carries; 401 otherwise."""
    return org_for_key(request.app.state.store, key)


Authenticated = Annotated[Org, Depends(authenticate)]
