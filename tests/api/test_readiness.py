"""`/readyz` and the start-up checks behind it: the database answers and is migrated, and upload URLs can be signed."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from pique_engine.api.app import create_app
from pique_engine.api.readiness import readiness_problem
from pique_engine.settings import Settings
from pique_engine.storage.upload_urls import GcsSigner, LocalSigner, SigningError
from pique_engine.store import Store
from pique_engine.store.migrate import head_revision, upgrade

from ..stack import service_account_info

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette would rather its TestClient used httpx2
    from fastapi.testclient import TestClient

LOCAL = LocalSigner("http://127.0.0.1:8080", "readiness-secret-0123456789")


def readyz(store: Store, signer) -> tuple[int, dict]:
    response = TestClient(create_app(store, signer, Settings())).get("/readyz")
    return response.status_code, response.json()


def test_ready_with_a_migrated_database_and_a_signer(tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'pique.db'}") as store:
        assert readyz(store, LOCAL) == (200, {"status": "ready", "reason": None})


def test_an_unmigrated_database_is_503_until_it_is_migrated(tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'pique.db'}", migrate=False) as store:
        app = TestClient(create_app(store, LOCAL, Settings()))

        before = app.get("/readyz")
        upgrade(store.engine)
        after = app.get("/readyz")

    assert before.status_code == 503
    reason = before.json()["reason"]
    assert "schema revision none (empty)" in reason and head_revision() in reason and "migrate" in reason
    assert (after.status_code, after.json()) == (200, {"status": "ready", "reason": None})


def test_an_unreachable_database_is_503_naming_it_without_its_password():
    url = "postgresql+psycopg://pique:hunter2@127.0.0.1:1/pique"
    with Store.open(url, migrate=False, connect_args={"connect_timeout": 5}) as store:
        status, body = readyz(store, LOCAL)

    assert (status, body["status"]) == (503, "not_ready")
    assert body["reason"].startswith("cannot reach the database postgresql+psycopg://pique:***@127.0.0.1:1/pique")
    assert "hunter2" not in body["reason"] and "PIQUE_DATABASE_URL" in body["reason"]


def test_no_way_to_sign_is_503_until_a_key_file_is_provided(tmp_path, monkeypatch):
    key_file = tmp_path / "key.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    with Store.open(f"sqlite:///{tmp_path / 'pique.db'}") as store:
        app = TestClient(create_app(store, GcsSigner("uploads"), Settings()))

        before = app.get("/readyz")
        key_file.write_text(json.dumps(service_account_info()))
        after = app.get("/readyz")

    assert before.status_code == 503
    assert before.json()["reason"].startswith("no way to sign upload URLs: set GOOGLE_APPLICATION_CREDENTIALS")
    assert str(key_file) in before.json()["reason"]
    assert (after.status_code, after.json()) == (200, {"status": "ready", "reason": None})


class KeylessCredentials:
    """Credentials with a token but no key, as on Compute Engine; `email` None when they name no account."""

    def __init__(self, email: str | None, refresh_error: Exception | None = None) -> None:
        self.service_account_email, self.refresh_error = email, refresh_error
        self.token: str | None = None

    @property
    def valid(self) -> bool:
        return self.token is not None

    def refresh(self, request) -> None:
        if self.refresh_error:
            raise self.refresh_error
        self.token = "ya29.token"


@pytest.mark.parametrize(
    ("credentials", "says"),
    [(KeylessCredentials(None), "name no service account"),
     (KeylessCredentials("api@p.iam.gserviceaccount.com", OSError("metadata server unreachable")),
      "could not be refreshed (OSError: metadata server unreachable)")],
)  # fmt: skip
def test_keyless_credentials_are_ready_only_with_a_service_account_to_sign_as(credentials, says):
    with pytest.raises(SigningError, match="^no way to sign upload URLs: ") as caught:
        GcsSigner("uploads", credentials=credentials).check()
    assert says in str(caught.value)

    GcsSigner("uploads", credentials=KeylessCredentials("api@p.iam.gserviceaccount.com")).check()  # no error


def test_the_problem_is_the_databases_first_then_the_signers(tmp_path: Path):
    class CannotSign:
        def check(self) -> None:
            raise SigningError("no way to sign upload URLs: test")

    with Store.open(f"sqlite:///{tmp_path / 'a.db'}", migrate=False) as empty, Store.open(f"sqlite:///{tmp_path / 'b.db'}") as ready:
        assert readiness_problem(empty, CannotSign()).startswith("the database")
        assert readiness_problem(ready, CannotSign()) == "no way to sign upload URLs: test"
        assert readiness_problem(ready, LOCAL) is None
