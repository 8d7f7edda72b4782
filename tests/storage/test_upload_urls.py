"""Upload URL signing: V4 URLs that fake-gcs-server accepts, keyless signing through signBlob,
and the dev server's HMAC URLs; every one signs the headers that make a URL upload once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from pique_engine.storage.upload_urls import (
    GcsSigner,
    LocalSigner,
    RefusalReason,
    SignedUpload,
    SigningError,
    UploadRefused,
)

from ..stack import BUCKET, local_stack, signing_credentials, stack_env, unique_name  # noqa: F401

DATA = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def in_15_minutes() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=15)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- GcsSigner against fake-gcs-server ----------------------------------------------------


@pytest.fixture
def gcs_bucket(local_stack) -> storage.Bucket:  # noqa: F811
    client = storage.Client(
        project=local_stack.project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": local_stack.gcs_url},
    )
    return client.bucket(local_stack.bucket)


@pytest.mark.integration
@pytest.mark.parametrize("filename", ["safety_test_video.mp4", "my clip – été.mp4"])
def test_a_put_with_exactly_the_returned_headers_uploads_the_object(local_stack, gcs_bucket, filename):  # noqa: F811
    signer = GcsSigner(BUCKET, credentials=signing_credentials(), api_access_endpoint=local_stack.gcs_url)
    name = unique_name(filename)
    signed = signer.sign_put(name, content_type="video/mp4", size=len(DATA), expires=in_15_minutes())

    # The contract's `curl -X PUT "<UPLOAD_URL>" -H ... -T file`, with every returned header.
    response = httpx.put(signed.url, content=DATA, headers=signed.headers, timeout=30)

    assert response.status_code == 200, response.text
    blob = gcs_bucket.get_blob(name)
    assert blob is not None
    assert blob.download_as_bytes() == DATA
    assert blob.content_type == "video/mp4"


@pytest.mark.integration
def test_without_an_endpoint_the_url_points_at_storage_emulator_host(stack_env, gcs_bucket):  # noqa: F811
    signer = GcsSigner(BUCKET, credentials=signing_credentials())
    name = unique_name("clip.webm")
    signed = signer.sign_put(name, content_type="video/webm", size=len(DATA), expires=in_15_minutes())

    assert signed.url.startswith(f"{stack_env.gcs_url}/{BUCKET}/")
    assert httpx.put(signed.url, content=DATA, headers=signed.headers, timeout=30).status_code == 200
    assert gcs_bucket.get_blob(name).size == len(DATA)


def test_the_v4_url_signs_the_content_type_and_the_exact_length(monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    expires = in_15_minutes()
    signed = GcsSigner("judge-content", credentials=signing_credentials()).sign_put(
        "org_1/pending/job_1/safety test.mp4", content_type="video/mp4", size=52428800, expires=expires
    )

    assert signed == SignedUpload(url=signed.url, headers={
        "Content-Type": "video/mp4", "x-goog-content-length-range": "52428800,52428800",
        "x-goog-if-generation-match": "0"}, expires_at=expires)  # fmt: skip
    assert signed.url.startswith("https://storage.googleapis.com/judge-content/org_1/pending/job_1/safety%20test.mp4?")
    params = query(signed.url)
    assert params["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert params["X-Goog-SignedHeaders"] == "content-type;host;x-goog-content-length-range;x-goog-if-generation-match"
    assert params["X-Goog-Credential"].startswith(signing_credentials().service_account_email + "/")
    signed_at = datetime.strptime(params["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    # V4 counts from the signing second; the URL lapses on `expires` (a second later if the
    # clock ticked over between reading it and signing).
    lapses = signed_at + timedelta(seconds=int(params["X-Goog-Expires"]))
    assert timedelta(0) <= lapses - expires <= timedelta(seconds=1)


class KeylessCredentials:
    """What Cloud Run or Compute Engine hands out: a token and an email, no private key."""

    def __init__(self, email: str | None = "api@proj.iam.gserviceaccount.com") -> None:
        self.service_account_email = email
        self.token: str | None = None
        self.refreshes = 0

    @property
    def valid(self) -> bool:
        return self.token is not None

    def refresh(self, request) -> None:
        self.refreshes += 1
        self.token = f"ya29.token-{self.refreshes}"


def test_without_a_key_it_refreshes_the_token_and_signs_through_iam_sign_blob(monkeypatch):
    calls = []

    def sign_blob(message, access_token, service_account_email, universe_domain="googleapis.com"):
        calls.append((access_token, service_account_email))
        return "c2lnbmF0dXJl"  # base64, as the IAM API answers

    monkeypatch.setattr("google.cloud.storage._signing._sign_message", sign_blob)
    credentials = KeylessCredentials()
    signer = GcsSigner("uploads", credentials=credentials)

    first = signer.sign_put("o/pending/j/a.mp4", content_type="video/mp4", size=10, expires=in_15_minutes())
    signer.sign_put("o/pending/j/b.mp4", content_type="video/mp4", size=10, expires=in_15_minutes())

    assert calls == [("ya29.token-1", "api@proj.iam.gserviceaccount.com")] * 2
    assert credentials.refreshes == 1  # a still-valid token is reused
    assert query(first.url)["X-Goog-Credential"].startswith("api@proj.iam.gserviceaccount.com/")


def test_credentials_that_name_no_service_account_say_how_to_get_one():
    signer = GcsSigner("uploads", credentials=KeylessCredentials(email=None))
    with pytest.raises(SigningError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        signer.sign_put("o/pending/j/a.mp4", content_type="video/mp4", size=10, expires=in_15_minutes())


def test_no_credentials_at_all_is_a_signing_error_naming_the_fix(monkeypatch):
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_adc(*args, **kwargs):
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_adc)
    with pytest.raises(SigningError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        GcsSigner("uploads").sign_put("o/p/j/a.mp4", content_type="video/mp4", size=1, expires=in_15_minutes())


def test_an_iam_failure_becomes_a_signing_error(monkeypatch):
    def refused(*args, **kwargs):
        raise RuntimeError("403 Permission 'iam.serviceAccounts.signBlob' denied")

    monkeypatch.setattr("google.cloud.storage._signing._sign_message", refused)
    with pytest.raises(SigningError, match="signBlob' denied"):
        GcsSigner("uploads", credentials=KeylessCredentials()).sign_put(
            "o/p/j/a.mp4", content_type="video/mp4", size=1, expires=in_15_minutes()
        )


@pytest.mark.parametrize(
    ("expires", "message"),
    [(datetime.now(UTC) - timedelta(seconds=1), "not in the future"), (datetime.now(UTC) + timedelta(days=8), "7 days"),
     (datetime(2030, 1, 1), "timezone-aware")],
)  # fmt: skip
def test_expiry_outside_what_v4_allows_is_refused_before_signing(expires, message):
    with pytest.raises(ValueError, match=message):
        GcsSigner("uploads", credentials=signing_credentials()).sign_put(
            "a", content_type="video/mp4", size=1, expires=expires
        )


# --- LocalSigner ----------------------------------------------------------------------------

SECRET = "dev-secret-0123456789abcdef"
OBJECT = "org_1/pending/job_1/clip é.mp4"


@pytest.fixture
def local() -> LocalSigner:
    return LocalSigner("http://127.0.0.1:8080/", SECRET)


def put_params(signed: SignedUpload) -> tuple[str, str, str]:
    params = query(signed.url)
    return unquote(urlsplit(signed.url).path.removeprefix("/storage/")), params["expires"], params["signature"]


def test_local_url_has_the_documented_form_and_verifies(local):
    expires = in_15_minutes()
    signed = local.sign_put(OBJECT, content_type="video/mp4", size=1000, expires=expires)

    assert signed.url.startswith("http://127.0.0.1:8080/storage/org_1/pending/job_1/clip%20%C3%A9.mp4?expires=")
    assert signed.headers == {"Content-Type": "video/mp4", "x-goog-content-length-range": "1000,1000",
                              "x-goog-if-generation-match": "0"}  # fmt: skip
    assert signed.expires_at == expires
    name, exp, sig = put_params(signed)
    assert (name, int(exp)) == (OBJECT, int(expires.timestamp()))
    assert len(sig) == 64
    local.verify(name, "video/mp4", 1000, exp, sig, length_range="1000,1000", generation_match="0")  # no error


def refusal(local: LocalSigner, *args, **kwargs) -> UploadRefused:
    """The refusal of a PUT that sends the precondition header unless told otherwise, as clients must."""
    kwargs.setdefault("generation_match", "0")
    with pytest.raises(UploadRefused) as caught:
        local.verify(*args, **kwargs)
    return caught.value


@pytest.mark.parametrize("sent", [None, "", "5", "1"])
def test_local_verify_refuses_a_put_without_the_signed_if_generation_match_0(local, sent):
    name, exp, sig = put_params(local.sign_put(OBJECT, content_type="video/mp4", size=10, expires=in_15_minutes()))

    error = refusal(local, name, "video/mp4", 10, exp, sig, length_range="10,10", generation_match=sent)

    assert error.reason is RefusalReason.WRONG_PRECONDITION
    assert "x-goog-if-generation-match" in str(error) and "upload_headers" in str(error)


def test_local_verify_refuses_an_expired_url(local):
    signed = local.sign_put(OBJECT, content_type="video/mp4", size=10, expires=in_15_minutes())
    name, exp, sig = put_params(signed)
    later = datetime.now(UTC) + timedelta(minutes=16)

    error = refusal(local, name, "video/mp4", 10, exp, sig, later)

    assert error.reason is RefusalReason.EXPIRED
    assert "expired at" in str(error) and "new job" in str(error)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda n, e, s: (n.replace("job_1", "job_2"), e, s),
        lambda n, e, s: (n, str(int(e) + 3600), s),
        lambda n, e, s: (n, e, s[:-1] + ("0" if s[-1] != "0" else "1")),
        lambda n, e, s: (n, e, "é" * 64),
        lambda n, e, s: (n, "tomorrow", s),
        lambda n, e, s: (n, "-99999999999999999999", s),
        lambda n, e, s: (n, e, ""),
    ],
    ids=["object", "expires", "signature", "non-ascii-signature", "expires-not-a-number", "expires-absurd",
         "no-signature"],
)
def test_local_verify_refuses_a_tampered_url(local, tamper):
    signed = local.sign_put(OBJECT, content_type="video/mp4", size=10, expires=in_15_minutes())

    name, exp, sig = tamper(*put_params(signed))
    error = refusal(local, name, "video/mp4", 10, exp, sig)

    assert error.reason is RefusalReason.BAD_SIGNATURE


def test_local_verify_names_the_wrong_content_type(local):
    name, exp, sig = put_params(local.sign_put(OBJECT, content_type="video/mp4", size=10, expires=in_15_minutes()))

    error = refusal(local, name, "video/quicktime", 10, exp, sig)

    assert error.reason is RefusalReason.WRONG_CONTENT_TYPE
    assert "'video/mp4'" in str(error) and "'video/quicktime'" in str(error)


def test_local_verify_refuses_a_body_of_another_length(local):
    name, exp, sig = put_params(local.sign_put(OBJECT, content_type="video/mp4", size=10, expires=in_15_minutes()))

    with_header = refusal(local, name, "video/mp4", 11, exp, sig, length_range="10,10")
    without_header = refusal(local, name, "video/mp4", 11, exp, sig)

    assert with_header.reason is RefusalReason.WRONG_LENGTH
    assert "11 bytes" in str(with_header) and "exactly 10" in str(with_header)
    assert without_header.reason is RefusalReason.BAD_SIGNATURE  # the signature binds the length anyway


def test_a_lying_length_range_header_does_not_get_past_the_signature(local):
    name, exp, sig = put_params(local.sign_put(OBJECT, content_type="video/mp4", size=10, expires=in_15_minutes()))

    error = refusal(local, name, "video/mp4", 11, exp, sig, length_range="11,11")

    assert error.reason is RefusalReason.BAD_SIGNATURE


def test_another_secret_does_not_verify(local):
    name, exp, sig = put_params(local.sign_put(OBJECT, content_type="video/mp4", size=10, expires=in_15_minutes()))

    error = refusal(LocalSigner("http://127.0.0.1:8080", "another-secret-0123456789"), name, "video/mp4", 10, exp, sig)

    assert error.reason is RefusalReason.BAD_SIGNATURE


def test_local_signer_refuses_weak_secrets_and_non_http_bases():
    with pytest.raises(ValueError, match="16 bytes"):
        LocalSigner("http://127.0.0.1:8080", "short")
    with pytest.raises(ValueError, match="http"):
        LocalSigner("ftp://127.0.0.1", SECRET)
