"""A throwaway service-account key for the local stack, in Google's key-file format.

`pique-engine api` signs V4 upload URLs offline with any service-account key, and the local
stack's verifying front (`pique_engine.dev.gcs_front`) checks those signatures against the
key's public half, as GCS checks them against the account's keys. The key grants nothing
anywhere else: its account does not exist.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

__all__ = ["KEY_FILE_NAME", "new_service_account_info", "write_key_file"]

KEY_FILE_NAME = "service-account.json"


def new_service_account_info(project: str, account: str = "pique-local") -> dict[str, str]:
    """A fresh 2048-bit RSA key as the JSON a service-account key file holds."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = f"{account}@{project}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": email,
        "client_id": str(uuid.uuid4().int)[:21],
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}",
        "universe_domain": "googleapis.com",
    }


def write_key_file(path: Path, info: dict[str, Any]) -> Path:
    """Write `info` to `path`, readable by its owner only (0600), as gcloud writes key files."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)
    return path

