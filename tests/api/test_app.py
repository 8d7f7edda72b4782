"""The upload API against the contract (../shared/spec/presigned-upload-api.txt), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from fastapi import APIRouter

from pique_engine.api.app import create_app
from pique_engine.api.errors import ApiError
from pique_engine.api.schemas import MAX_FILE_SIZE_BYTES
from pique_engine.errors import StoreError
from pique_engine.settings import Settings
from pique_engine.storage.filenames import safe_object_filename
from pique_engine.storage.upload_urls import LocalSigner, SignedUpload, SigningError, upload_headers
from pique_engine.store import JobStatus, NewOrg, Store

from ..databases import migrated_database_url, pg_url  # noqa: F401 - fixtures

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette would rather its TestClient used httpx2
    from fastapi.testclient import TestClient

URL = "/v1/evaluations/presigned-upload"
JUDGE = {"judge_id": "judge_abc123", "name": "Reels", "criteria": [{"criterion_id": "specs", "detector": "video_specs"}]}
# The contract's request example, word for word.
CONTRACT_BODY = {
    "judge_id": "judge_abc123",
    "content_type": "video",
    "filename": "safety_test_video.mp4",
    "file_size_bytes": 52428800,
    "title": "Product Demo Video",
    "description": "Marketing video for new product launch",
}
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class RecordingSigner:
    """Signs like the real thing would, and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def sign_put(self, object_name: str, *, content_type: str, size: int, expires: datetime) -> SignedUpload:
        self.calls.append({"object_name": object_name, "content_type": content_type, "size": size, "expires": expires})
        return SignedUpload(f"https://storage.example/{object_name}?sig=1", upload_headers(content_type, size), expires)

    def check(self) -> None:
        pass


class BrokenSigner:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def sign_put(self, object_name: str, **kwargs) -> SignedUpload:
        raise self.error

    def check(self) -> None:
        pass  # it finds credentials, but signing fails (as when IAM refuses signBlob)


@pytest.fixture
def store(migrated_database_url: str) -> Iterator[Store]:  # noqa: F811
    with Store.open(migrated_database_url) as s:
        yield s


@pytest.fixture
def org(store: Store) -> NewOrg:
    new = store.create_org("Acme", webhook_url="https://hooks.example.com/pique")
    store.create_judge(new.org.id, JUDGE)
    return new


@pytest.fixture
def other_org(store: Store) -> NewOrg:
    new = store.create_org("Globex", webhook_url="https://hooks.example.org/pique")
    store.create_judge(new.org.id, {**JUDGE, "judge_id": "judge_globex"})
    return new


@pytest.fixture
def signer() -> RecordingSigner:
    return RecordingSigner()


def client_for(store: Store, signer, **settings) -> TestClient:
    return TestClient(create_app(store, signer, Settings(**settings)), raise_server_exceptions=False)


@pytest.fixture
def client(store: Store, signer: RecordingSigner) -> TestClient:
    return client_for(store, signer)


def post(client: TestClient, org: NewOrg, body=CONTRACT_BODY, **kw):
    return client.post(URL, json=body, headers={"X-API-Key": org.api_key, **kw.pop("headers", {})}, **kw)


def assert_error(response, status: int, code: str, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert (body["error"]["code"], body["error"]["field"]) == (code, field), body
    assert body["error"]["message"]
    return body["error"]["message"]


# --- 200: the contract's example ----------------------------------------------------------


def test_the_contract_example_creates_a_job_awaiting_upload(client, store, org, signer):
    response = post(client, org)

    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["job_id", "upload_url", "upload_headers", "expires_at"]
    assert re.fullmatch(r"job_[A-Za-z0-9]{16}", body["job_id"])
    job = store.get_job(body["job_id"], org_id=org.org.id)
    assert job is not None and job.status is JobStatus.AWAITING_UPLOAD
    assert (job.judge_id, job.content_type, job.filename, job.file_size_bytes, job.title, job.description) == (
        "judge_abc123", "video", "safety_test_video.mp4", 52428800, "Product Demo Video",
        "Marketing video for new product launch",
    )  # fmt: skip
    assert job.object_name == f"{org.org.id}/pending/{job.job_id}/safety_test_video.mp4"
    assert signer.calls == [{"object_name": job.object_name, "content_type": "video/mp4", "size": 52428800,
                             "expires": job.expires_at}]  # fmt: skip
    assert body["upload_url"] == f"https://storage.example/{job.object_name}?sig=1"
    assert response.headers["cache-control"] == "no-store"


def test_upload_headers_carry_the_content_type_bind_the_declared_size_and_refuse_an_overwrite(client, org):
    body = post(client, org).json()

    assert body["upload_headers"] == {"Content-Type": "video/mp4", "x-goog-content-length-range": "52428800,52428800",
                                      "x-goog-if-generation-match": "0"}  # fmt: skip


def test_expires_at_is_iso_utc_15_minutes_after_creation_and_what_the_job_stores(client, store, org):
    before = datetime.now(UTC).replace(microsecond=0)
    body = post(client, org).json()
    after = datetime.now(UTC)

    assert ISO_Z.fullmatch(body["expires_at"])
    expires = datetime.fromisoformat(body["expires_at"])
    job = store.get_job(body["job_id"])
    assert expires == job.expires_at == job.created_at + timedelta(minutes=15)
    assert before + timedelta(minutes=15) <= expires <= after + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("kind", "filename", "mime"),
    [("image", "photo.PNG", "image/png"), ("audio", "voice.m4a", "audio/mp4"), ("audio", "song.mp3", "audio/mpeg"),
     ("video", "clip.mov", "video/quicktime"), ("video", "no_extension", "application/octet-stream")],
)  # fmt: skip
def test_the_upload_content_type_follows_the_extension_within_the_declared_kind(client, org, kind, filename, mime):
    body = post(client, org, {**CONTRACT_BODY, "content_type": kind, "filename": filename}).json()

    assert body["upload_headers"]["Content-Type"] == mime


def test_the_local_signer_url_accepts_the_contract_put_with_the_returned_headers(store, org):
    signer = LocalSigner("http://127.0.0.1:8080", "dev-secret-0123456789")
    body = post(client_for(store, signer), org, {**CONTRACT_BODY, "filename": "my clip.mp4"}).json()

    url = urlsplit(body["upload_url"])
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    object_name = unquote(url.path.removeprefix("/storage/"))
    assert object_name == f"{org.org.id}/pending/{body['job_id']}/my clip.mp4"
    headers = body["upload_headers"]
    signer.verify(object_name, headers["Content-Type"], 52428800, params["expires"], params["signature"],
                  length_range=headers["x-goog-content-length-range"],
                  generation_match=headers["x-goog-if-generation-match"])  # fmt: skip


def test_optional_fields_may_be_omitted_or_null(client, store, org):
    minimal = {k: CONTRACT_BODY[k] for k in ("judge_id", "content_type", "filename", "file_size_bytes")}

    first = post(client, org, minimal)
    second = post(client, org, {**minimal, "title": None, "description": None, "webhook_url": None})

    for response in (first, second):
        assert response.status_code == 200, response.text
        job = store.get_job(response.json()["job_id"])
        assert (job.title, job.description, job.webhook_url) == (None, None, None)


@pytest.mark.parametrize("size", [1, MAX_FILE_SIZE_BYTES])
def test_file_sizes_from_one_byte_to_the_maximum_are_accepted(client, org, size):
    assert post(client, org, {**CONTRACT_BODY, "file_size_bytes": size}).status_code == 200


@pytest.mark.parametrize("filename", ["a", "x" * 251 + ".mp4"])
def test_filenames_of_1_and_255_characters_are_accepted(client, org, filename):
    assert post(client, org, {**CONTRACT_BODY, "filename": filename}).status_code == 200


# --- filenames end up inside {org_id}/pending/{job_id}/ -------------------------------------


@pytest.mark.parametrize(
    "filename",
    [
        "../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/shadow", "../../../other_org/pending/job_x/a.mp4",
        "..", ".", "clip\u202egnp.mp4", "zero\u200bwidth\u200d.mp4", "nul\x00byte.mp4", "tab\tand\nnewline.mp4",
        "e\u0301te\u0301.mov", "%2e%2e%2fescape.mp4", "é" * 255, "a" * 254 + "\u202e",
    ],
)  # fmt: skip
def test_hostile_filenames_stay_inside_the_jobs_pending_folder(client, store, org, filename):
    response = post(client, org, {**CONTRACT_BODY, "filename": filename})

    assert response.status_code == 200, response.text
    job = store.get_job(response.json()["job_id"])
    prefix = f"{org.org.id}/pending/{job.job_id}/"
    assert job.object_name.startswith(prefix)
    stored = job.object_name.removeprefix(prefix)
    assert stored == job.filename == safe_object_filename(filename)
    assert "/" not in stored and stored not in (".", "..") and 0 < len(stored.encode()) <= 255


# --- 401 ------------------------------------------------------------------------------------


def test_a_missing_api_key_is_401_saying_it_is_missing(client, org):
    message = assert_error(client.post(URL, json=CONTRACT_BODY), 401, "missing_api_key")
    assert "X-API-Key" in message


@pytest.mark.parametrize("key", ["pk_not_a_real_key_0123456789abcdef", "nonsense", "pk_" + "x" * 500, "pk_ spaces in key"])
def test_an_unknown_api_key_is_401_invalid(client, org, key):
    assert_error(client.post(URL, json=CONTRACT_BODY, headers={"X-API-Key": key}), 401, "invalid_api_key")


def test_a_revoked_key_is_refused_on_the_very_next_request(client, store, org):
    new = store.create_api_key(org.org.id)
    headers = {"X-API-Key": new.plaintext}
    assert client.post(URL, json=CONTRACT_BODY, headers=headers).status_code == 200

    assert store.revoke_api_key(new.key.id)

    assert_error(client.post(URL, json=CONTRACT_BODY, headers=headers), 401, "invalid_api_key")
    assert post(client, org).status_code == 200  # the organisation's other key still works


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"judge_id": 1}', b""])
def test_authentication_is_checked_before_the_body(client, org, body):
    response = client.post(URL, content=body, headers={"Content-Type": "application/json", "X-API-Key": "pk_wrong"})
    assert_error(response, 401, "invalid_api_key")
    response = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 401, "missing_api_key")


def test_the_status_endpoint_needs_a_key_too(client, org):
    job_id = post(client, org).json()["job_id"]
    assert_error(client.get(f"/v1/evaluations/{job_id}"), 401, "missing_api_key")


# --- 400 ------------------------------------------------------------------------------------


def without(field: str) -> dict:
    return {k: v for k, v in CONTRACT_BODY.items() if k != field}


INVALID = [
    # (case, body, field at fault)
    ("judge_id missing", without("judge_id"), "judge_id"),
    ("content_type missing", without("content_type"), "content_type"),
    ("filename missing", without("filename"), "filename"),
    ("file_size_bytes missing", without("file_size_bytes"), "file_size_bytes"),
    ("content_type not allowed", {**CONTRACT_BODY, "content_type": "document"}, "content_type"),
    ("content_type wrong case", {**CONTRACT_BODY, "content_type": "Video"}, "content_type"),
    ("content_type a MIME type", {**CONTRACT_BODY, "content_type": "video/mp4"}, "content_type"),
    ("content_type null", {**CONTRACT_BODY, "content_type": None}, "content_type"),
    ("filename empty", {**CONTRACT_BODY, "filename": ""}, "filename"),
    ("filename 256 characters", {**CONTRACT_BODY, "filename": "x" * 252 + ".mp4"}, "filename"),
    ("filename a number", {**CONTRACT_BODY, "filename": 42}, "filename"),
    ("file_size_bytes zero", {**CONTRACT_BODY, "file_size_bytes": 0}, "file_size_bytes"),
    ("file_size_bytes negative", {**CONTRACT_BODY, "file_size_bytes": -1}, "file_size_bytes"),
    ("file_size_bytes over the maximum", {**CONTRACT_BODY, "file_size_bytes": MAX_FILE_SIZE_BYTES + 1}, "file_size_bytes"),
    ("file_size_bytes a string", {**CONTRACT_BODY, "file_size_bytes": "52428800"}, "file_size_bytes"),
    ("file_size_bytes fractional", {**CONTRACT_BODY, "file_size_bytes": 1.5}, "file_size_bytes"),
    ("file_size_bytes a boolean", {**CONTRACT_BODY, "file_size_bytes": True}, "file_size_bytes"),
    ("judge_id empty", {**CONTRACT_BODY, "judge_id": ""}, "judge_id"),
    ("judge_id too long", {**CONTRACT_BODY, "judge_id": "j" * 201}, "judge_id"),
    ("judge_id with NUL", {**CONTRACT_BODY, "judge_id": "judge\x00abc123"}, "judge_id"),
    ("title not a string", {**CONTRACT_BODY, "title": ["a"]}, "title"),
    ("title too long", {**CONTRACT_BODY, "title": "t" * 1001}, "title"),
    ("title with NUL", {**CONTRACT_BODY, "title": "a\x00b"}, "title"),
    ("description too long", {**CONTRACT_BODY, "description": "d" * 10_001}, "description"),
    ("webhook_url not a string", {**CONTRACT_BODY, "webhook_url": 1}, "webhook_url"),
    ("webhook_url too long", {**CONTRACT_BODY, "webhook_url": "https://hooks.example.com/" + "a" * 2023}, "webhook_url"),
    ("unknown field", {**CONTRACT_BODY, "callback": "https://x.example"}, "callback"),
]


@pytest.mark.parametrize(("body", "field"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_bodies_are_400_naming_the_field(client, store, org, body, field):
    message = assert_error(post(client, org, body), 400, "invalid_request", field)
    assert field in message


@pytest.mark.parametrize(
    ("content", "content_type", "says"),
    [
        (b'{"judge_id": ', "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b"null", "application/json", "JSON object"),
        (b"", "application/json", "missing"),
        (json.dumps(CONTRACT_BODY).encode(), "text/plain", "Content-Type: application/json"),
        (json.dumps(CONTRACT_BODY).encode(), None, "Content-Type: application/json"),
        (b"[" * 100_000, "application/json", "JSON"),
        (b'{"title": "' + b"x" * 300_000 + b'"}', "application/json", "larger than 256 KiB"),
        (b'{"judge_id": "judge_abc123", "content_type": "video", "filename": "a.mp4", "file_size_bytes": 1, "description": "\\ud800"}',
         "application/json", "unicode string"),
    ],
    ids=["truncated", "array", "null", "empty", "text-plain", "no-content-type", "nested-too-deep", "too-large",
         "lone-surrogate"],
)  # fmt: skip
def test_bodies_that_are_not_a_json_object_are_400(client, org, content, content_type, says):
    headers = {"X-API-Key": org.api_key} | ({"Content-Type": content_type} if content_type else {})
    message = assert_error(client.post(URL, content=content, headers=headers), 400, "invalid_request",
                           "description" if "unicode" in says else None)  # fmt: skip
    assert says in message


def test_nothing_is_stored_for_an_invalid_request(client, store, org, signer):
    post(client, org, {**CONTRACT_BODY, "file_size_bytes": 0})
    assert signer.calls == []


# --- webhook_url ----------------------------------------------------------------------------


def test_a_public_https_webhook_url_is_stored_on_the_job(client, store, org):
    response = post(client, org, {**CONTRACT_BODY, "webhook_url": "https://sandbox.example.com/hooks/pique"})

    assert response.status_code == 200, response.text
    assert store.get_job(response.json()["job_id"]).webhook_url == "https://sandbox.example.com/hooks/pique"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:9000/hook", "loopback"), ("http://localhost/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"), ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[::1]/hook", "loopback"), ("ftp://hooks.example.com/x", "https://"), ("not a url", "https://"),
        ("", "empty"),
    ],
)  # fmt: skip
def test_a_webhook_url_to_a_private_host_or_another_scheme_is_400(client, store, org, url, says):
    message = assert_error(post(client, org, {**CONTRACT_BODY, "webhook_url": url}), 400, "invalid_request",
                           "webhook_url")  # fmt: skip
    assert says in message


def test_private_webhook_urls_are_accepted_when_the_server_allows_them(store, org, signer):
    client = client_for(store, signer, webhook_allow_private=True)

    response = post(client, org, {**CONTRACT_BODY, "webhook_url": "http://127.0.0.1:9000/hook"})

    assert response.status_code == 200, response.text
    assert store.get_job(response.json()["job_id"]).webhook_url == "http://127.0.0.1:9000/hook"


# --- 404 ------------------------------------------------------------------------------------


def test_an_unknown_judge_is_404(client, org, signer):
    message = assert_error(post(client, org, {**CONTRACT_BODY, "judge_id": "judge_nope"}), 404, "judge_not_found",
                           "judge_id")  # fmt: skip
    assert "judge_nope" in message
    assert signer.calls == []


def test_another_organisations_judge_is_404(client, org, other_org):
    assert_error(post(client, org, {**CONTRACT_BODY, "judge_id": "judge_globex"}), 404, "judge_not_found", "judge_id")
    assert post(client, other_org, {**CONTRACT_BODY, "judge_id": "judge_globex"}).status_code == 200


# --- 500 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [SigningError("no credentials"), RuntimeError("boom")])
def test_a_signing_failure_is_500_with_the_error_shape(store, org, error, caplog):
    client = client_for(store, BrokenSigner(error))

    message = assert_error(post(client, org), 500, "upload_url_failed")

    assert "upload URL" in message
    assert str(error) not in message  # the cause is logged for operators, not shown to clients
    assert str(error) in caplog.text


def test_a_database_failure_is_500_with_the_error_shape(client, store, org, monkeypatch):
    def down(*args, **kwargs):
        raise StoreError("database operation failed (OperationalError: connection refused)")

    monkeypatch.setattr(store, "create_job", down)
    assert_error(post(client, org), 500, "internal_error")


# --- GET /v1/evaluations/{job_id} -------------------------------------------------------------


def test_the_owner_sees_a_new_job_awaiting_upload(client, org):
    created = post(client, org).json()

    response = client.get(f"/v1/evaluations/{created['job_id']}", headers={"X-API-Key": org.api_key})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "awaiting_upload" and body["result"] is None
    assert body["expires_at"] == created["expires_at"]
    assert (body["job_id"], body["judge_id"], body["filename"], body["file_size_bytes"]) == (
        created["job_id"], "judge_abc123", "safety_test_video.mp4", 52428800)  # fmt: skip
    assert ISO_Z.fullmatch(body["created_at"])


def test_a_finished_job_shows_the_webhook_payload(client, store, org):
    job_id = post(client, org).json()["job_id"]
    job = store.get_job(job_id)
    claim = store.claim_job(job_id, "uploads", job.object_name, 1)
    payload = {"evaluation_id": "ev1", "job_id": job_id, "status": "completed", "overall_score": 0.85, "results": []}
    store.complete_job(job_id, json.dumps(payload).encode(), evaluation_id="ev1", content_id="c1",
                       lease_token=claim.lease_token)  # fmt: skip

    body = client.get(f"/v1/evaluations/{job_id}", headers={"X-API-Key": org.api_key}).json()

    assert body["status"] == "completed"
    assert body["result"] == payload


def test_a_failed_job_shows_the_failure_payload(client, store, org):
    job_id = post(client, org).json()["job_id"]
    payload = {"event": "evaluation.failed", "job_id": job_id, "status": "failed", "error": "Failed to process video"}
    store.fail_job(job_id, json.dumps(payload).encode(), "Failed to process video")

    body = client.get(f"/v1/evaluations/{job_id}", headers={"X-API-Key": org.api_key}).json()

    assert (body["status"], body["result"]) == ("failed", payload)


def test_another_organisations_job_is_404(client, org, other_org):
    job_id = post(client, org).json()["job_id"]

    assert_error(client.get(f"/v1/evaluations/{job_id}", headers={"X-API-Key": other_org.api_key}), 404, "job_not_found")


@pytest.mark.parametrize("job_id", ["job_doesNotExist00", "%00", "job_%F0%9F%92%A5", "x" * 300, "..%2F..%2Fhealthz"])
def test_unknown_or_impossible_job_ids_are_404(client, org, job_id):
    response = client.get(f"/v1/evaluations/{job_id}", headers={"X-API-Key": org.api_key})
    assert response.status_code == 404 and response.json()["error"]["code"] in ("job_not_found", "not_found")


# --- what errors echo back ------------------------------------------------------------------


def test_a_10_kb_job_id_is_echoed_in_the_404_as_its_first_64_characters(client, org):
    job_id = "j" * 10_240

    message = assert_error(client.get(f"/v1/evaluations/{job_id}", headers={"X-API-Key": org.api_key}), 404,
                           "job_not_found")  # fmt: skip

    assert f"job '{'j' * 64}…' not found" in message and len(message) < 200


def test_a_long_judge_id_is_echoed_cut(client, org):
    message = assert_error(post(client, org, {**CONTRACT_BODY, "judge_id": "k" * 200}), 404, "judge_not_found",
                           "judge_id")  # fmt: skip

    assert f"judge '{'k' * 64}…' not found" in message


def test_a_10_kb_unknown_field_name_is_echoed_cut(client, org):
    response = post(client, org, {**CONTRACT_BODY, "f" * 10_240: 1})

    message = assert_error(response, 400, "invalid_request", "f" * 64 + "…")
    assert message.startswith("f" * 64 + "… is not a field of this request") and len(message) < 200


def test_a_10_kb_unknown_path_is_echoed_cut(client):
    message = assert_error(client.get("/v1/" + "p" * 10_240), 404, "not_found")

    assert message == f"no such endpoint: GET /v1/{'p' * 60}…"


def test_short_ids_are_echoed_whole(client, org):
    message = assert_error(client.get("/v1/evaluations/job_doesNotExist00", headers={"X-API-Key": org.api_key}), 404,
                           "job_not_found")  # fmt: skip

    assert message == f"job 'job_doesNotExist00' not found for organisation {org.org.id!r}"


# --- the rest of the surface -------------------------------------------------------------------


def test_extra_routes_are_served_with_the_same_error_shape(store, signer):
    router = APIRouter()

    @router.put("/storage/{name:path}")
    def refuse(name: str):
        raise ApiError(403, "bad_signature", f"no upload for {name}")

    client = TestClient(create_app(store, signer, Settings(), extra_routes=[router]))

    assert_error(client.put("/storage/a/b.mp4"), 403, "bad_signature")
    assert client.get("/healthz").status_code == 200


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_unknown_routes_and_methods_keep_the_error_shape(client):
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    response = client.post("/healthz")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_openapi_documents_every_status_with_the_error_shape_and_the_api_key(client):
    schema = client.get("/openapi.json").json()

    post_op = schema["paths"][URL]["post"]
    get_op = schema["paths"]["/v1/evaluations/{job_id}"]["get"]
    assert sorted(post_op["responses"]) == ["200", "400", "401", "404", "500"]
    assert sorted(get_op["responses"]) == ["200", "401", "404", "500"]
    for op in (post_op, get_op):
        assert op["security"] == [{"ApiKeyAuth": []}]
        for status in op["responses"]:
            if status != "200":
                assert op["responses"][status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"}  # fmt: skip
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key", "description": "Your organisation's API key (`pk_...`)."}  # fmt: skip
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "422" not in json.dumps(schema["paths"])

    request = schema["components"]["schemas"]["PresignedUploadRequest"]
    assert request["required"] == ["judge_id", "content_type", "filename", "file_size_bytes"]
    assert request["additionalProperties"] is False
    props = request["properties"]
    assert props["content_type"]["enum"] == ["video", "image", "audio"]
    assert (props["filename"]["minLength"], props["filename"]["maxLength"]) == (1, 255)
    assert (props["file_size_bytes"]["exclusiveMinimum"], props["file_size_bytes"]["maximum"]) == (0, MAX_FILE_SIZE_BYTES)
    assert {"type": "string", "format": "uri", "maxLength": 2048} in props["webhook_url"]["anyOf"]
    assert list(schema["components"]["schemas"]["PresignedUploadResponse"]["properties"]) == [
        "job_id", "upload_url", "upload_headers", "expires_at"]  # fmt: skip


def test_the_interactive_docs_are_served(client):
    response = client.get("/docs")
    assert response.status_code == 200 and "/openapi.json" in response.text
