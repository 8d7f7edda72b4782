from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from pique_engine.errors import WebhookError, WebhookTargetRefused
from pique_engine.webhooks.netguard import (
    refusal_is_permanent,
    refusal_reason,
    resolve_public,
    validate_webhook_url,
)


def fake_dns(*answers: str) -> Callable[..., Sequence[tuple[Any, ...]]]:
    """A getaddrinfo stand-in answering every name with `answers`, recording each lookup."""

    def resolver(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        resolver.calls.append((host, port))  # type: ignore[attr-defined]
        out: list[tuple[Any, ...]] = []
        for ip in answers:
            if ":" in ip:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
        return out

    resolver.calls = []  # type: ignore[attr-defined]
    return resolver


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "RFC 1918"),
        ("172.16.0.1", "RFC 1918"),
        ("172.31.255.255", "RFC 1918"),
        ("192.168.1.1", "RFC 1918"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("0.0.0.0", "this network"),
        ("0.1.2.3", "this network"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "non-public"),  # documentation range
        ("198.18.0.1", "non-public"),  # benchmarking
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("fd00:ec2::254", "metadata"),
        ("::ffff:127.0.0.1", "loopback address inside an IPv6"),
        ("::ffff:10.0.0.1", "RFC 1918) inside an IPv6"),
        ("::ffff:169.254.169.254", "metadata address inside an IPv6"),
        ("64:ff9b::a9fe:a9fe", "metadata address inside an IPv6"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback address inside an IPv6"),  # 6to4 of 127.0.0.1
        ("::7f00:1", "reserved"),  # deprecated IPv4-compatible ::127.0.0.1
        ("2001:db8::1", "non-public"),
    ],
)
def test_refusal_reason_names_each_non_public_range(ip: str, reason: str) -> None:
    why = refusal_reason(ipaddress.ip_address(ip))
    assert why is not None and reason in why


@pytest.mark.parametrize("ip", ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_refusal_reason_is_none_for_public_addresses(ip: str) -> None:
    assert refusal_reason(ipaddress.ip_address(ip)) is None


def test_resolve_public_returns_checked_ip_port_and_pinned_url() -> None:
    dns = fake_dns("93.184.216.34")
    target = resolve_public("https://Hooks.Example.com/pique?x=1", allow_private=False, resolver=dns)
    assert dns.calls == [("hooks.example.com", 443)]  # type: ignore[attr-defined]
    assert (target.scheme, target.host, target.port, target.ip) == ("https", "hooks.example.com", 443, "93.184.216.34")
    assert target.connect_url == httpx.URL("https://93.184.216.34/pique?x=1")
    assert target.host_header == "hooks.example.com"
    assert target.sni_hostname == "hooks.example.com"


def test_resolve_public_keeps_non_default_port_in_host_header_and_brackets_ipv6() -> None:
    target = resolve_public("http://hooks.example.com:8080/h", allow_private=False, resolver=fake_dns("2606:4700::1"))
    assert target.connect_url == httpx.URL("http://[2606:4700::1]:8080/h")
    assert target.host_header == "hooks.example.com:8080"


def test_resolve_public_connects_to_ipv4_mapped_address_as_plain_ipv4() -> None:
    target = resolve_public("http://h.example.com/", allow_private=False, resolver=fake_dns("::ffff:8.8.8.8"))
    assert target.ip == "8.8.8.8"


def test_resolve_public_uses_idna_name_for_lookup_and_tls() -> None:
    dns = fake_dns("8.8.8.8")
    target = resolve_public("https://bücher.example/", allow_private=False, resolver=dns)
    assert dns.calls == [("xn--bcher-kva.example", 443)]  # type: ignore[attr-defined]
    assert target.sni_hostname == "xn--bcher-kva.example"


def test_resolve_public_refuses_name_resolving_to_private_ip_naming_host_ip_reason_and_setting() -> None:
    with pytest.raises(WebhookTargetRefused) as info:
        resolve_public("https://internal.example.com/", allow_private=False, resolver=fake_dns("10.0.0.5"))
    message = str(info.value)
    assert "'internal.example.com' resolves to 10.0.0.5" in message
    assert "RFC 1918" in message
    assert "PIQUE_WEBHOOK_ALLOW_PRIVATE" in message


def test_resolve_public_refuses_when_any_resolved_address_is_private() -> None:
    # A public first answer must not hide a private second one a client could fall back to.
    with pytest.raises(WebhookTargetRefused, match=r"resolves to 169\.254\.169\.254, the cloud metadata"):
        resolve_public(
            "https://mixed.example.com/", allow_private=False, resolver=fake_dns("8.8.8.8", "169.254.169.254")
        )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://localhost/",
        "http://api.localhost/",
    ],
)
def test_resolve_public_refuses_loopback_literals_and_names_with_the_real_resolver(url: str) -> None:
    with pytest.raises(WebhookTargetRefused, match="loopback"):
        resolve_public(url, allow_private=False)


def test_resolve_public_allows_private_addresses_when_allowed_and_still_pins() -> None:
    target = resolve_public(
        "http://db.internal:5000/hook", allow_private=True, resolver=fake_dns("10.0.0.5", "10.0.0.6")
    )
    assert target.ip == "10.0.0.5"
    assert target.addresses == ("10.0.0.5", "10.0.0.6")
    assert target.connect_url == httpx.URL("http://10.0.0.5:5000/hook")


def test_resolve_public_reports_unresolvable_name_as_webhook_error_not_refusal() -> None:
    def failing(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(WebhookError) as info:
        resolve_public("https://nope.example.com/", allow_private=False, resolver=failing)
    assert not isinstance(info.value, WebhookTargetRefused)
    assert str(info.value) == "could not resolve webhook host 'nope.example.com': Name or service not known"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "must use https:// or http://, not 'ftp'"),
        ("file:///etc/passwd", "must use https:// or http://"),
        ("gopher://example.com/", "must use https:// or http://"),
        ("example.com/hook", "must use https:// or http://"),
        ("https:///path-only", "has no host"),
        ("", "webhook URL is empty"),
        ("https://example.com/" + "a" * 3000, "longer than 2048"),
    ],
)
def test_validate_webhook_url_rejects_bad_scheme_missing_host_and_overlong(url: str, message: str) -> None:
    with pytest.raises(WebhookTargetRefused) as info:
        validate_webhook_url(url, allow_private=False)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/pique", "http://hooks.example.com:8080/x", "https://8.8.8.8/"]
)
def test_validate_webhook_url_accepts_public_http_and_https_urls_unchanged(url: str) -> None:
    assert validate_webhook_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://[fe80::1]/", "http://localhost:8000/", "http://169.254.169.254/latest"]
)
def test_validate_webhook_url_rejects_private_literals_without_dns_unless_allowed(url: str) -> None:
    with pytest.raises(WebhookTargetRefused, match="PIQUE_WEBHOOK_ALLOW_PRIVATE"):
        validate_webhook_url(url, allow_private=False)
    assert validate_webhook_url(url, allow_private=True) == url


def test_validate_webhook_url_does_not_resolve_names(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> list[Any]:
        raise AssertionError("validate_webhook_url must not do DNS")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert validate_webhook_url("https://resolves-privately.example.com/", allow_private=False)


@pytest.mark.parametrize(
    ("url", "permanent"),
    [
        ("http://127.0.0.1/", True),
        ("http://localhost/", True),
        ("ftp://example.com/", True),
        ("http://[::1]/", True),
        ("https://internal.example.com/", False),
    ],
)
def test_refusal_is_permanent_only_when_no_dns_change_could_cure_it(url: str, permanent: bool) -> None:
    assert refusal_is_permanent(url) is permanent
