"""What the API needs before it can serve the contract, checked at start-up and by ``/readyz``."""

from __future__ import annotations

from ..errors import PiqueError
from ..storage.upload_urls import UploadSigner
from ..store import Store

__all__ = ["readiness_problem"]

def readiness_problem(store: Store, signer: UploadSigner) -> str | None:
    """What is missing and how to provide it, or None when the database and the signer are ready.

    The database must answer and be at this version's schema; the signer must hold a way to
    sign upload URLs. Each says for itself what is wrong.
    """
    for check in (store.check, signer.check):
        try:
            check()
        except PiqueError as exc:
            return str(exc)
    return None
