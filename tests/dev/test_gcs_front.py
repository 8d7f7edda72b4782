"""The local stack refuses signed uploads as GCS does, with GCS's status codes and XML errors."""

from __future__ import annotations

import datetime
import os
import re
import socket
import stat
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from ..stack import (
    local_stack,  # noqa: F401
    signed_put,
    stack_env,  # noqa: F401
    unique_name,
)

pytestmark = pytest.mark.integration

XML_ERROR = re.compile(r"^<\?xml version='1\.0' encoding='UTF-8'\?><Error><Code>(\w+)</Code><Message>[^<]+</Message>")


def error_code(response: httpx.Response) -> str:
    match = XML_ERROR.match(response.text)
    assert match, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return match.group(1)


def outcome(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, error_code(response)


def stored(stack, name: str) -> bytes | None:
    client = storage.Client(project=stack.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": stack.gcs_url})
    blob = client.bucket(stack.bucket).get_blob(name)
    return None if blob is None else blob.download_as_bytes()


def put(url: str, headers: dict[str, str], data: bytes) -> httpx.Response:
    return httpx.put(url, headers=headers, content=data, timeout=30)


def test_a_put_with_exactly_the_signed_headers_is_stored(local_stack):
    name, data = unique_name(), os.urandom(2048)
    url, headers = signed_put(local_stack, name, "video/mp4", len(data), min_bytes=len(data))
    response = put(url, headers, data)
    assert response.status_code == 200, response.text
    assert stored(local_stack, name) == data


def test_a_wrong_signature_is_refused_403_signature_does_not_match(local_stack):
    name, data = unique_name(), b"x" * 100
    url, headers = signed_put(local_stack, name, "video/mp4", 100)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Goog-Signature"]
    forged = url.replace(signature, signature[:-1] + ("0" if signature[-1] != "0" else "1"))
    response = put(forged, headers, data)
    assert outcome(response) == (403, "SignatureDoesNotMatch")
    assert "<StringToSign>GOOG4-RSA-SHA256\n" in response.text
    assert stored(local_stack, name) is None


def test_a_url_signed_by_another_key_is_refused_403(local_stack, tmp_path):
    from pique_engine.dev.service_account import new_service_account_info

    other = service_account.Credentials.from_service_account_info(new_service_account_info(local_stack.project))
    client = storage.Client(project=local_stack.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": local_stack.gcs_url})
    name = unique_name()
    headers = {"Content-Type": "video/mp4"}
    url = client.bucket(local_stack.bucket).blob(name).generate_signed_url(
        version="v4", method="PUT", expiration=datetime.timedelta(minutes=5), credentials=other,
        api_access_endpoint=local_stack.gcs_url, headers=dict(headers))  # fmt: skip
    response = put(url, headers, b"data")
    assert outcome(response) == (403, "SignatureDoesNotMatch")


def test_an_expired_url_is_refused_400_expired_token(local_stack):
    name, data = unique_name(), b"late"
    url, headers = signed_put(local_stack, name, "video/mp4", len(data), expiration=datetime.timedelta(seconds=1))
    time.sleep(2.5)  # past the one-second lifetime whatever the machine's load
    response = put(url, headers, data)
    assert outcome(response) == (400, "ExpiredToken")
    assert "<Details>Request has expired: 1</Details>" in response.text
    assert stored(local_stack, name) is None


def test_an_altered_expiry_is_refused(local_stack):
    url, headers = signed_put(local_stack, unique_name(), "video/mp4", 10)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    longer = url.replace(parts.query, urlencode({**query, "X-Goog-Expires": "3600"}))
    too_long = url.replace(parts.query, urlencode({**query, "X-Goog-Expires": "604801"}))
    assert outcome(put(longer, headers, b"0123456789")) == (403, "SignatureDoesNotMatch")
    assert outcome(put(too_long, headers, b"0123456789")) == (400, "InvalidArgument")


@pytest.mark.parametrize("sent", ["video/quicktime", None])
def test_another_or_no_content_type_is_refused_403(local_stack, sent):
    name, data = unique_name(), b"y" * 64
    url, headers = signed_put(local_stack, name, "video/mp4", len(data))
    headers = {k: v for k, v in headers.items() if k != "Content-Type"} | ({"Content-Type": sent} if sent else {})
    response = put(url, headers, data)
    assert outcome(response) == (403, "SignatureDoesNotMatch")
    assert stored(local_stack, name) is None


def test_another_length_range_header_than_signed_is_refused_403(local_stack):
    name, data = unique_name(), b"z" * 64
    url, headers = signed_put(local_stack, name, "video/mp4", len(data), min_bytes=len(data))
    response = put(url, {**headers, "x-goog-content-length-range": "0,1000000"}, data)
    assert outcome(response) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize(("size", "code"), [(101, "EntityTooLarge"), (5_000, "EntityTooLarge"), (99, "EntityTooSmall"), (0, "EntityTooSmall")])
def test_a_body_outside_the_length_range_is_refused_400(local_stack, size, code):
    name = unique_name()
    url, headers = signed_put(local_stack, name, "video/mp4", 100, min_bytes=100)
    response = put(url, headers, b"b" * size)
    assert outcome(response) == (400, code)
    assert stored(local_stack, name) is None


def test_a_second_put_with_if_generation_match_0_is_refused_412(local_stack):
    name = unique_name()
    first, second = b"first upload", b"second one!!"
    url, headers = signed_put(local_stack, name, "video/mp4", 12, min_bytes=12, extra_headers={"x-goog-if-generation-match": "0"})
    assert put(url, headers, first).status_code == 200
    response = put(url, headers, second)
    assert outcome(response) == (412, "PreconditionFailed")
    assert stored(local_stack, name) == first


def test_an_unsigned_xml_api_put_is_refused_401(local_stack):
    name = unique_name()
    response = put(f"{local_stack.gcs_url}/{local_stack.bucket}/{name}", {"Content-Type": "video/mp4"}, b"anonymous")
    assert outcome(response) == (401, "AccessDenied")
    assert stored(local_stack, name) is None


def test_the_stack_env_names_a_0600_service_account_key_the_official_library_loads(stack_env):
    key_file = stack_env.env["GOOGLE_APPLICATION_CREDENTIALS"]
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    credentials = service_account.Credentials.from_service_account_file(key_file)
    assert credentials.service_account_email.endswith(f"@{stack_env.project}.iam.gserviceaccount.com")


def test_a_refused_upload_is_answered_before_the_client_sends_its_body(local_stack):
    """curl -T asks `Expect: 100-continue` first; GCS refuses then, without taking the body."""
    url, headers = signed_put(local_stack, unique_name(), "video/mp4", 100, min_bytes=100)
    parts = urlsplit(url)
    head = [f"PUT {parts.path}?{parts.query} HTTP/1.1", f"Host: {parts.netloc}", "Content-Length: 5000",
            "Expect: 100-continue", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as conn:
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())  # headers only, no body
        answer = b""
        while b"</Error>" not in answer and (chunk := conn.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"<Code>EntityTooLarge</Code>" in answer
