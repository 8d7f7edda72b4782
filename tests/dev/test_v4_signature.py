"""V4 signatures made by Google's own client library verify; anything altered does not."""

from __future__ import annotations

import datetime
from datetime import UTC
from urllib.parse import parse_qsl, urlsplit

import pytest
from google.cloud import storage
from google.oauth2 import service_account

from pique_engine.dev.gcs_errors import GcsError
from pique_engine.dev.service_account import KEY_FILE_NAME, new_service_account_info, write_key_file
from pique_engine.dev.v4_signature import SignedRequest, load_public_keys, verify_v4

ENDPOINT = "http://127.0.0.1:4443"
HEADERS = {"Content-Type": "video/mp4", "x-goog-content-length-range": "10,10", "x-goog-if-generation-match": "0"}


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    info = new_service_account_info("pique-unit")
    path = write_key_file(tmp_path_factory.mktemp("key") / KEY_FILE_NAME, info)
    return info, load_public_keys([path])


def sign(info, name="org_1/pending/job_1/my clip – été.mp4", minutes=15) -> str:
    credentials = service_account.Credentials.from_service_account_info(info)
    blob = storage.Client.create_anonymous_client().bucket("uploads").blob(name)
    return blob.generate_signed_url(version="v4", method="PUT", expiration=datetime.timedelta(minutes=minutes),
                                    credentials=credentials, api_access_endpoint=ENDPOINT, headers=dict(HEADERS))  # fmt: skip


def request(url: str, headers: dict[str, str], method: str = "PUT") -> SignedRequest:
    parts = urlsplit(url)
    sent = [("Host", parts.netloc), *headers.items()]
    return SignedRequest(method, parts.path, parse_qsl(parts.query, keep_blank_values=True), sent)


def refusal(url: str, keys, headers=HEADERS, method="PUT", now=None) -> tuple[int, str]:
    with pytest.raises(GcsError) as caught:
        verify_v4(request(url, headers, method), keys, now)
    return caught.value.status, caught.value.code


def test_a_url_signed_by_the_google_client_verifies_with_the_headers_it_signed(key):
    info, keys = key
    url = sign(info)
    verify_v4(request(url, HEADERS), keys)
    verify_v4(request(url, {k.upper(): f"  {v} " for k, v in HEADERS.items()}), keys)  # names and spacing are canonicalised


def test_it_lapses_exactly_at_signing_time_plus_x_goog_expires(key):
    info, keys = key
    url = sign(info, minutes=15)
    query = dict(parse_qsl(urlsplit(url).query))
    lapses = datetime.datetime.strptime(query["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) + datetime.timedelta(minutes=15)
    verify_v4(request(url, HEADERS), keys, now=lapses - datetime.timedelta(seconds=1))
    assert refusal(url, keys, now=lapses) == (400, "ExpiredToken")


@pytest.mark.parametrize(
    "change",
    [
        {"Content-Type": "video/webm"},
        {"x-goog-content-length-range": "0,10"},
        {"x-goog-if-generation-match": "1"},
    ],
)
def test_any_signed_header_sent_differently_fails_the_signature(key, change):
    info, keys = key
    url = sign(info)
    assert refusal(url, keys, headers={**HEADERS, **change}) == (403, "SignatureDoesNotMatch")


def test_another_verb_path_or_key_fails_the_signature(key):
    info, keys = key
    url = sign(info)
    assert refusal(url, keys, method="GET") == (403, "SignatureDoesNotMatch")
    assert refusal(url.replace("job_1", "job_2"), keys) == (403, "SignatureDoesNotMatch")
    other_url = sign(new_service_account_info("pique-unit"))
    assert refusal(other_url, keys) == (403, "SignatureDoesNotMatch")


def test_malformed_signing_parameters_are_400(key):
    info, keys = key
    url = sign(info)
    query = dict(parse_qsl(urlsplit(url).query))
    assert refusal(url.replace(query["X-Goog-Date"], "yesterday"), keys) == (400, "MalformedSecurityHeader")
    assert refusal(url.replace("GOOG4-RSA-SHA256", "GOOG4-HMAC-SHA256"), keys) == (400, "InvalidArgument")
    assert refusal(url.replace("&X-Goog-Signature=", "&X-Goog-Nothing="), keys) == (400, "InvalidArgument")


def test_refusals_are_gcs_xml_error_documents():
    body = GcsError(403, "SignatureDoesNotMatch", "Access denied.", "a <b> & c", StringToSign="x\ny").xml().decode()
    assert body == (
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code><Message>Access denied.</Message>"
        "<Details>a &lt;b&gt; &amp; c</Details><StringToSign>x\ny</StringToSign></Error>"
    )
