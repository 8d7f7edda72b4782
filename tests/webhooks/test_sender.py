from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError
from importlib.metadata import version
from typing import Any

import httpx
import pytest

from pique_engine.settings import Settings
from pique_engine.webhooks.signature import verify
from pique_engine.webhooks.sender import DeliveryResult, WebhookSender

BODY = json.dumps(
    {"job_id": "job_AbC123", "status": "completed", "overall_score": 0.85}, separators=(",", ":")
).encode()
SECRETS = ["whsec_test"]
NOW = 1_732_654_321.0
PUBLIC_IP = "93.184.216.34"
UA = f"pique-engine/{version('pique-engine')}"


def dns(*answers: str) -> Callable[..., list[tuple[Any, ...]]]:
    """A getaddrinfo stand-in that answers every name with `answers`."""

    def resolver(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in answers
        ]

    return resolver


def mock_sender(
    handler: Callable[[httpx.Request], httpx.Response], *, timeout_sec: float = 10.0, **client_kwargs: Any
) -> tuple[WebhookSender, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    client = httpx.Client(transport=httpx.MockTransport(record), **client_kwargs)
    return WebhookSender(client, timeout_sec=timeout_sec, resolver=dns(PUBLIC_IP)), seen


def ok_client() -> tuple[httpx.Client, list[httpx.Request]]:
    """A MockTransport client answering 200 and recording requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def send(sender: WebhookSender, url: str = "https://hooks.example.com/pique", **kwargs: Any) -> DeliveryResult:
    kwargs.setdefault("event_id", "evt_1")
    kwargs.setdefault("allow_private", False)
    kwargs.setdefault("now", NOW)
    return sender.send(url, BODY, SECRETS, **kwargs)


# ---------------------------------------------------------------- unit tests (MockTransport)


def test_send_posts_exact_body_with_contract_headers_to_the_checked_ip() -> None:
    sender, seen = mock_sender(lambda r: httpx.Response(200))
    result = send(sender, event_id="evt_42")

    assert result.ok and result.status_code == 200 and result.error is None and not result.stop
    [request] = seen
    assert request.method == "POST"
    assert request.content == BODY
    assert request.url == httpx.URL(f"https://{PUBLIC_IP}/pique")
    assert request.headers["Host"] == "hooks.example.com"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Pique-Event-Id"] == "evt_42"
    assert request.headers["User-Agent"] == UA
    assert request.headers["Connection"] == "close"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert verify(request.content, request.headers["X-Pique-Signature"], SECRETS, now=NOW) == int(NOW)
    assert request.headers["X-Pique-Signature"].startswith(f"t={int(NOW)},v1=")


def test_send_applies_the_configured_timeout_to_every_phase() -> None:
    sender, seen = mock_sender(lambda r: httpx.Response(204), timeout_sec=7.5)
    assert send(sender).ok
    assert seen[0].extensions["timeout"] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}


def test_from_settings_takes_webhook_timeout_sec() -> None:
    client, seen = ok_client()
    sender = WebhookSender.from_settings(Settings(webhook_timeout_sec=3.0), client)
    assert sender.send("http://8.8.8.8/h", BODY, SECRETS, event_id="e", allow_private=False).ok
    assert seen[0].extensions["timeout"]["read"] == 3.0


def test_event_id_is_stable_and_signature_timestamp_follows_now_across_retries() -> None:
    sender, seen = mock_sender(lambda r: httpx.Response(500))
    send(sender, event_id="evt_7", now=NOW)
    send(sender, event_id="evt_7", now=NOW + 5)
    assert [r.headers["X-Pique-Event-Id"] for r in seen] == ["evt_7", "evt_7"]
    assert [verify(r.content, r.headers["X-Pique-Signature"], SECRETS, now=NOW) for r in seen] == [
        int(NOW),
        int(NOW) + 5,
    ]


def test_rotating_secrets_sign_with_each_so_either_verifies() -> None:
    sender, seen = mock_sender(lambda r: httpx.Response(200))
    sender.send("https://hooks.example.com/", BODY, ["old", "new"], event_id="e", allow_private=False, now=NOW)
    header = seen[0].headers["X-Pique-Signature"]
    assert header.count("v1=") == 2
    assert verify(BODY, header, ["old"], now=NOW) == verify(BODY, header, ["new"], now=NOW) == int(NOW)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_success(status: int) -> None:
    sender, _ = mock_sender(lambda r: httpx.Response(status))
    result = send(sender)
    assert (result.ok, result.status_code, result.error, result.retry_after, result.stop) == (
        True,
        status,
        None,
        None,
        False,
    )
    assert result.duration_ms >= 0


@pytest.mark.parametrize("status", [304, 400, 401, 404, 429, 500, 502, 503])
def test_non_2xx_is_a_retryable_failure_naming_the_status(status: int) -> None:
    sender, _ = mock_sender(lambda r: httpx.Response(status))
    result = send(sender)
    assert (result.ok, result.status_code, result.stop) == (False, status, False)
    assert result.error is not None and result.error.startswith(f"HTTP {status}")


def test_410_gone_tells_the_outbox_to_stop() -> None:
    sender, _ = mock_sender(lambda r: httpx.Response(410))
    result = send(sender)
    assert (result.ok, result.status_code, result.stop) == (False, 410, True)
    assert result.error == "HTTP 410 Gone: the receiver asked us to stop sending to this URL"


def test_redirect_is_a_failure_and_not_followed_even_by_a_following_client() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/pique":
            return httpx.Response(307, headers={"Location": "http://169.254.169.254/latest/meta-data"})
        return httpx.Response(200)

    sender, seen = mock_sender(handler, follow_redirects=True)
    result = send(sender)
    assert [r.url.path for r in seen] == ["/pique"]
    assert (result.ok, result.status_code, result.stop) == (False, 307, False)
    assert (
        result.error
        == "HTTP 307 redirect to http://169.254.169.254/latest/meta-data not followed; configure the final URL"
    )


def test_retry_after_seconds_and_http_date_are_parsed() -> None:
    sender, _ = mock_sender(lambda r: httpx.Response(429, headers={"Retry-After": "120"}))
    assert send(sender).retry_after == 120.0
    date = "Tue, 26 Nov 2024 21:02:01 GMT"
    assert dt.datetime(2024, 11, 26, 21, 2, 1, tzinfo=dt.UTC).timestamp() == NOW + 600
    sender, _ = mock_sender(lambda r: httpx.Response(503, headers={"Retry-After": date}))
    assert send(sender).retry_after == 600.0
    sender, _ = mock_sender(lambda r: httpx.Response(503, headers={"Retry-After": "later"}))
    assert send(sender).retry_after is None


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection failed: [Errno 111] Connection refused"),
        (httpx.ConnectTimeout("t"), "timed out after 10 s connecting"),
        (httpx.ReadTimeout("t"), "timed out after 10 s waiting for the response"),
        (httpx.WriteTimeout("t"), "timed out after 10 s sending the request"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "RemoteProtocolError: Server disconnected without sending a response.",
        ),
    ],
)
def test_transport_errors_become_short_retryable_failures(exc: Exception, reason: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    sender, _ = mock_sender(handler)
    result = send(sender)
    assert (result.ok, result.status_code, result.error, result.stop) == (False, None, reason, False)


def test_long_error_reasons_are_truncated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("x" * 5000)

    sender, _ = mock_sender(handler)
    assert len(send(sender).error or "") == 200


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/h", "http://localhost/h", "http://[::1]/h", "ftp://hooks.example.com/"]
)
def test_target_refused_by_its_url_alone_stops_without_connecting(url: str) -> None:
    sender, seen = mock_sender(lambda r: httpx.Response(200))
    result = send(sender, url=url)
    assert seen == []
    assert (result.ok, result.status_code, result.stop) == (False, None, True)


def test_name_resolving_to_private_address_is_refused_but_retryable() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: pytest.fail("must not connect")))
    sender = WebhookSender(client, resolver=dns("10.1.2.3"))
    result = send(sender, url="https://hooks.example.com/")
    assert (result.ok, result.stop) == (False, False)
    assert "'hooks.example.com' resolves to 10.1.2.3, a private address (RFC 1918)" in (result.error or "")
    assert "PIQUE_WEBHOOK_ALLOW_PRIVATE" in (result.error or "")


def test_unresolvable_name_is_a_retryable_failure() -> None:
    def nxdomain(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    client = httpx.Client(transport=httpx.MockTransport(lambda r: pytest.fail("must not connect")))
    result = send(WebhookSender(client, resolver=nxdomain))
    assert (result.ok, result.stop) == (False, False)
    assert result.error == "could not resolve webhook host 'hooks.example.com': Name or service not known"


def test_dns_rebinding_is_defeated_the_request_goes_to_the_first_checked_ip() -> None:
    answers = iter([PUBLIC_IP, "127.0.0.1"])
    lookups: list[str] = []

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        lookups.append(host)
        return dns(next(answers))(host, port)

    client, seen = ok_client()
    assert send(WebhookSender(client, resolver=rebinding), url="https://rebind.example.com/h").ok
    assert lookups == ["rebind.example.com"]
    assert seen[0].url.host == PUBLIC_IP


def test_client_cookies_are_not_sent_to_receivers() -> None:
    sender, seen = mock_sender(lambda r: httpx.Response(200), cookies={"session": "tenant-a"})
    send(sender)
    assert "cookie" not in seen[0].headers


def test_delivery_result_is_frozen() -> None:
    result = DeliveryResult(True, 200, None, None, False, 1.0)
    with pytest.raises(FrozenInstanceError):
        result.ok = False  # type: ignore[misc]


def test_send_refuses_missing_secrets_as_a_caller_error() -> None:
    sender, seen = mock_sender(lambda r: httpx.Response(200))
    with pytest.raises(ValueError, match="secret"):
        sender.send("https://hooks.example.com/", BODY, [], event_id="e", allow_private=False)
    assert seen == []


# ---------------------------------------------------------------- real receivers on loopback

from ..receiver import Receiver  # noqa: E402  (shared with the worker tests)


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        started.append(Receiver(**kwargs))
        return started[-1]

    yield start
    for r in started:
        r.stop()


@pytest.fixture
def sender() -> Iterator[WebhookSender]:
    with WebhookSender(timeout_sec=5.0) as s:
        yield s


integration = pytest.mark.integration


@integration
def test_real_receiver_gets_exact_bytes_and_verifies_signature(
    receiver: Callable[..., Receiver], sender: WebhookSender
) -> None:
    rx = receiver()
    result = sender.send(rx.url("/pique?tenant=1"), BODY, SECRETS, event_id="evt_real", allow_private=True)
    assert (result.ok, result.status_code, result.error) == (True, 200, None)
    assert result.duration_ms > 0
    [got] = rx.received
    assert got.path == "/pique?tenant=1"
    assert got.body == BODY
    assert got.headers["host"] == f"127.0.0.1:{rx.port}"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-pique-event-id"] == "evt_real"
    assert got.headers["user-agent"] == UA
    assert abs(verify(got.body, got.headers["x-pique-signature"], SECRETS) - time.time()) < 5


@integration
def test_real_redirect_is_not_followed_to_the_other_server(
    receiver: Callable[..., Receiver], sender: WebhookSender
) -> None:
    target = receiver()
    redirector = receiver(status=302, headers={"Location": target.url("/stolen")})
    result = sender.send(redirector.url(), BODY, SECRETS, event_id="e", allow_private=True)
    assert (result.ok, result.status_code, result.stop) == (False, 302, False)
    assert len(redirector.received) == 1
    assert target.received == []


@integration
def test_real_410_means_stop(receiver: Callable[..., Receiver], sender: WebhookSender) -> None:
    rx = receiver(status=410)
    result = sender.send(rx.url(), BODY, SECRETS, event_id="e", allow_private=True)
    assert (result.ok, result.status_code, result.stop) == (False, 410, True)


@integration
def test_real_retry_after_is_parsed_from_a_503(receiver: Callable[..., Receiver], sender: WebhookSender) -> None:
    rx = receiver(status=503, headers={"Retry-After": "120"})
    result = sender.send(rx.url(), BODY, SECRETS, event_id="e", allow_private=True)
    assert (result.ok, result.status_code, result.retry_after, result.stop) == (False, 503, 120.0, False)
    assert result.error == "HTTP 503 Service Unavailable"


@integration
def test_real_slow_receiver_fails_with_a_timeout_reason(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(delay=2.0)
    with WebhookSender(timeout_sec=0.3) as sender:
        started = time.monotonic()
        result = sender.send(rx.url(), BODY, SECRETS, event_id="e", allow_private=True)
    assert time.monotonic() - started < 1.5
    assert (result.ok, result.status_code, result.stop) == (False, None, False)
    assert result.error == "timed out after 0.3 s waiting for the response"
    assert 250 <= result.duration_ms < 1500


@integration
def test_real_loopback_target_is_refused_by_default_and_allowed_when_configured(
    receiver: Callable[..., Receiver], sender: WebhookSender
) -> None:
    rx = receiver()
    refused = sender.send(rx.url(), BODY, SECRETS, event_id="e", allow_private=False)
    assert (refused.ok, refused.stop) == (False, True)
    assert refused.error is not None
    assert "'127.0.0.1' is a loopback address" in refused.error and "PIQUE_WEBHOOK_ALLOW_PRIVATE" in refused.error
    assert rx.received == []

    allowed = sender.send(rx.url(), BODY, SECRETS, event_id="e", allow_private=True)
    assert allowed.ok and len(rx.received) == 1


@integration
def test_real_connection_refused_is_a_short_retryable_failure(sender: WebhookSender) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the send: nothing listens
    result = sender.send(f"http://127.0.0.1:{port}/", BODY, SECRETS, event_id="e", allow_private=True)
    assert (result.ok, result.status_code, result.stop) == (False, None, False)
    assert result.error is not None and result.error.startswith("connection failed:")


@integration
def test_cookie_set_by_one_receiver_never_reaches_another_on_the_same_ip(receiver: Callable[..., Receiver]) -> None:
    setter = receiver(headers={"Set-Cookie": "session=tenant-a; Path=/"})
    other = receiver()
    plain, injected = httpx.Client(trust_env=False), httpx.Client(trust_env=False)
    try:
        # Control: an ordinary client would carry tenant A's cookie to tenant B (same IP).
        plain.post(setter.url(), content=b"{}")
        plain.post(other.url(), content=b"{}")
        assert other.received[-1].headers.get("cookie") == "session=tenant-a"
        for sender in (WebhookSender(), WebhookSender(injected)):
            with sender:
                assert sender.send(setter.url(), BODY, SECRETS, event_id="e", allow_private=True).ok
                assert sender.send(other.url(), BODY, SECRETS, event_id="e", allow_private=True).ok
            assert "cookie" not in other.received[-1].headers
    finally:
        plain.close()
        injected.close()


REAL_GETADDRINFO = socket.getaddrinfo


def rebinding_dns(name: str, first: str, then: str, lookups: list[str]) -> Callable[..., Any]:
    """Answers `name` with `first` once and `then` ever after; real answers for everything else."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)  # IP literals resolve to themselves
        lookups.append(host)
        ip = first if len(lookups) == 1 else then
        return REAL_GETADDRINFO(ip, port, *args, **kwargs)

    return getaddrinfo


@integration
def test_dns_rebinding_real_stack_connects_to_the_checked_public_ip_not_the_rebound_loopback(
    receiver: Callable[..., Receiver], sender: WebhookSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    rx = receiver()
    lookups: list[str] = []
    connects: list[tuple[str, int]] = []
    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns("rebind.pique.test", PUBLIC_IP, "127.0.0.1", lookups))
    real_create_connection = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        connects.append(address)
        host, port = address
        if host != PUBLIC_IP:
            pytest.fail(f"connected to {address}, not the checked address")
        # Stand in for the public host with the loopback receiver: no traffic leaves the machine.
        return real_create_connection(("127.0.0.1", port), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)

    result = sender.send(f"http://rebind.pique.test:{rx.port}/h", BODY, SECRETS, event_id="e", allow_private=False)

    assert result.ok, result.error
    assert lookups == ["rebind.pique.test"]  # resolved once, by the guard
    assert connects == [(PUBLIC_IP, rx.port)]
    assert rx.received[0].headers["host"] == f"rebind.pique.test:{rx.port}"


@integration
def test_dns_rebinding_real_sockets_reach_the_first_answer_server_never_the_second(
    receiver: Callable[..., Receiver], sender: WebhookSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = receiver(host="127.0.0.1")
    try:
        rebound = receiver(host="127.0.0.2", port=checked.port)
    except OSError as exc:
        pytest.skip(f"cannot bind 127.0.0.2:{checked.port}: {exc}")
    lookups: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns("rebind.pique.test", "127.0.0.1", "127.0.0.2", lookups))

    for _ in range(2):  # each send resolves once and connects to what it checked
        result = sender.send(
            f"http://rebind.pique.test:{checked.port}/h", BODY, SECRETS, event_id="e", allow_private=True
        )
        assert result.ok, result.error

    assert lookups == ["rebind.pique.test", "rebind.pique.test"]
    assert len(checked.received) == 1 and len(rebound.received) == 1  # 2nd send: 2nd answer, checked again
    assert rebound.received[0].headers["host"] == f"rebind.pique.test:{checked.port}"


def self_signed(name: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def tls_pair(tmp_path: Any) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str]]:
    """A server context for hooks.pique.test recording SNI, and a client context trusting it."""
    pytest.importorskip("cryptography")
    cert_pem, key_pem = self_signed("hooks.pique.test")
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sni_seen: list[str] = []
    server_ctx.sni_callback = lambda sock, name, ctx: sni_seen.append(name)  # type: ignore[assignment,misc]
    client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
    return server_ctx, client_ctx, sni_seen


@integration
def test_https_to_pinned_ip_sends_sni_and_verifies_certificate_for_the_original_name(
    receiver: Callable[..., Receiver], tls_pair: tuple[ssl.SSLContext, ssl.SSLContext, list[str]]
) -> None:
    server_ctx, client_ctx, sni_seen = tls_pair
    rx = receiver(tls=server_ctx)
    client = httpx.Client(verify=client_ctx, trust_env=False)
    with WebhookSender(client, timeout_sec=5.0, resolver=dns("127.0.0.1")) as sender:
        ok = sender.send(rx.url(host="hooks.pique.test"), BODY, SECRETS, event_id="e", allow_private=True)
        # Same IP, another name: the certificate does not cover it, so TLS must fail.
        wrong = sender.send(rx.url(host="other.pique.test"), BODY, SECRETS, event_id="e", allow_private=True)
    client.close()

    assert ok.ok, ok.error
    assert sni_seen[0] == "hooks.pique.test"
    assert rx.received[0].body == BODY
    assert rx.received[0].headers["host"] == f"hooks.pique.test:{rx.port}"
    assert not wrong.ok and wrong.error is not None and "CERTIFICATE_VERIFY_FAILED" in wrong.error
    assert len(rx.received) == 1


@integration
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_receiver_trickling_its_response_is_cut_off_when_the_whole_timeout_is_spent(
    scheme: str, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext, list[str]]
) -> None:
    # Each byte arrives well within the per-read timeout; only a limit on the whole request ends it.
    server_ctx, client_ctx, _ = tls_pair
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        raw, _ = server.accept()
        with server_ctx.wrap_socket(raw, server_side=True) if scheme == "https" else raw as conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"." * 100:
                if stop.wait(0.1):
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([byte]))

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    client = httpx.Client(verify=client_ctx, trust_env=False)
    url = f"{scheme}://hooks.pique.test:{server.getsockname()[1]}/h"
    try:
        with WebhookSender(client, timeout_sec=1.0, resolver=dns("127.0.0.1")) as sender:
            started = time.monotonic()
            result = sender.send(url, BODY, SECRETS, event_id="e", allow_private=True)
            elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(5)
        server.close()
        client.close()
    assert (result.ok, result.status_code, result.stop) == (False, None, False)
    assert result.error == "timed out after 1 s waiting for the response"
    assert 0.9 <= elapsed < 2.0


def test_public_ip_constant_is_really_public() -> None:
    # The rebinding tests are only meaningful if the first answer would pass the guard.
    assert ipaddress.ip_address(PUBLIC_IP).is_global
