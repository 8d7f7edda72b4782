"""Keep webhooks off internal networks (SSRF protection).

A webhook URL is chosen by a customer, so without checks it is a way to make our workers POST to
cloud metadata (169.254.169.254), the database, or anything else on the private network.

The rules:

* only ``http`` and ``https``, with a host;
* the host is resolved once and *every* address it resolves to must be public: loopback,
  RFC 1918, link-local (incl. metadata), CGNAT, 0/8, multicast, reserved, documentation ranges,
  IPv6 ``::1``, ``fc00::/7``, ``fe80::/10``, and IPv4 addresses embedded in IPv6 (mapped, NAT64,
  6to4) are refused. Refusing when any address is bad, not just the first, means a name that
  mixes a public and a private record cannot win on a fallback;
* the sender then connects to the address that was checked (`ResolvedTarget.connect_url`), so
  a second DNS answer cannot differ from the first (DNS rebinding). The original name still
  goes in the ``Host`` header and in TLS SNI/certificate checks.

URLs are parsed with httpx's parser, the same one that sends, so the checked host and the
contacted host cannot disagree. ``PIQUE_WEBHOOK_ALLOW_PRIVATE=true`` lifts the address rules
(local development, private deployments); pinning still applies.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import WebhookError, WebhookTargetRefused

__all__ = [
    "ResolvedTarget",
    "Resolver",
    "refusal_is_permanent",
    "refusal_reason",
    "resolve_public",
    "validate_webhook_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# socket.getaddrinfo's signature; tests inject a fake.
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

_SCHEMES = {"http": 80, "https": 443}
_MAX_URL_LEN = 2048
_ALLOW_HINT = "set PIQUE_WEBHOOK_ALLOW_PRIVATE=true only if webhooks must reach private networks"

# Checked in order, so the metadata address is named before the link-local range holding it.
_REFUSED: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("0.0.0.0/8", "a 'this network' address (0.0.0.0/8)"),
        ("10.0.0.0/8", "a private address (RFC 1918)"),
        ("100.64.0.0/10", "a carrier-grade NAT address (100.64.0.0/10)"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.169.254/32", "the cloud metadata address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address (RFC 1918)"),
        ("192.168.0.0/16", "a private address (RFC 1918)"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("fd00:ec2::254/128", "the cloud metadata address"),
        ("fc00::/7", "a unique local address (fc00::/7)"),
        ("fe80::/10", "a link-local address (fe80::/10)"),
        ("fec0::/10", "a site-local address (fec0::/10)"),
        ("ff00::/8", "a multicast address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class ResolvedTarget:
    """A webhook URL whose host was resolved and checked; send to `connect_url`, nowhere else."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) name or IP literal, no brackets
    port: int
    ip: str  # the checked address the sender must connect to
    addresses: tuple[str, ...]  # everything the host resolved to, all checked

    @property
    def connect_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked IP: no second DNS lookup can happen."""
        return httpx.URL(self.url).copy_with(host=self.ip)

    @property
    def host_header(self) -> str:
        """The ``Host`` header of the original URL (port only when not the scheme's default)."""
        return httpx.URL(self.url).netloc.decode("ascii")

    @property
    def sni_hostname(self) -> str:
        """The name TLS must send and verify the certificate against."""
        return self.host


def _parse(url: str) -> httpx.URL:
    if not isinstance(url, str) or not url.strip():
        raise WebhookTargetRefused("webhook URL is empty")
    if len(url) > _MAX_URL_LEN:
        raise WebhookTargetRefused(f"webhook URL is longer than {_MAX_URL_LEN} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise WebhookTargetRefused(f"webhook URL {url!r} is not a valid URL: {exc}") from None
    if parsed.scheme not in _SCHEMES:
        raise WebhookTargetRefused(
            f"webhook URL {url!r} must use https:// or http://, not {parsed.scheme or 'no scheme'!r}"
        )
    if not parsed.raw_host:
        raise WebhookTargetRefused(f"webhook URL {url!r} has no host")
    return parsed


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # getaddrinfo reads legacy IPv4 forms ("2130706433", "0x7f.1") as numbers, not names.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _is_localhost_name(host: str) -> bool:
    # RFC 6761: "localhost" and every name under it are loopback whatever DNS says.
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def refusal_reason(ip: IPAddress) -> str | None:
    """Why webhooks may not reach `ip` (e.g. ``"a loopback address"``), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address tunnelled in IPv6 reaches the IPv4 host: judge that host.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = refusal_reason(embedded)
            return None if inner is None else f"{inner} inside an IPv6 address"
        if ip.teredo is not None:
            return "a Teredo tunnelling address"
    for network, why in _REFUSED:
        if ip in network:
            return why
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        # Documentation, benchmarking, IETF protocol ranges and the like.
        return "a special-purpose, non-public address"
    return None


def _connectable(ip: IPAddress) -> str:
    # Connect to a v4-mapped address as plain IPv4: it works without a dual-stack socket.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def validate_webhook_url(url: str, *, allow_private: bool) -> str:
    """Check a webhook URL when it is configured (API time); return it unchanged.

    Checks what does not depend on DNS: scheme, host, and hosts that are private by
    themselves (IP literals, ``localhost``). DNS is checked at every send by `resolve_public`,
    because what a name resolves to today says nothing about tomorrow.
    """
    parsed = _parse(url)
    if allow_private:
        return url
    host = parsed.raw_host.decode("ascii")
    if _is_localhost_name(host):
        raise WebhookTargetRefused(f"webhook host {host!r} is a loopback name; {_ALLOW_HINT}")
    ip = _ip_literal(host)
    if ip is not None and (why := refusal_reason(ip)) is not None:
        raise WebhookTargetRefused(f"webhook host {host!r} is {why}; {_ALLOW_HINT}")
    return url


def refusal_is_permanent(url: str) -> bool:
    """True when a refusal of `url` cannot be cured by a DNS change (bad URL, IP literal, localhost)."""
    try:
        host = _parse(url).raw_host.decode("ascii")
    except WebhookTargetRefused:
        return True
    return _ip_literal(host) is not None or _is_localhost_name(host)


def _lookup(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise WebhookError(f"could not resolve webhook host {host!r}: {reason}") from None
    addresses: list[IPAddress] = []
    for family, *_rest, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # IPv6 sockaddrs may carry a "%scope"; the address itself is what is judged.
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise WebhookError(f"could not resolve webhook host {host!r}: no IPv4 or IPv6 address")
    return addresses


def resolve_public(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> ResolvedTarget:
    """Resolve the URL's host once and check every address; raise `WebhookTargetRefused`.

    Raises `WebhookError` (not the `WebhookTargetRefused` subclass) when the name does not
    resolve, which is usually transient. `resolver` defaults to `socket.getaddrinfo`, looked
    up at call time.
    """
    parsed = _parse(url)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or _SCHEMES[parsed.scheme]
    if not allow_private and _is_localhost_name(host):
        raise WebhookTargetRefused(f"webhook host {host!r} is a loopback name; {_ALLOW_HINT}")

    literal = _ip_literal(host)
    # An IP literal is its own answer: no resolver gets a chance to reinterpret it.
    addresses = [literal] if literal is not None else _lookup(host, port, resolver or socket.getaddrinfo)

    if not allow_private:
        for ip in addresses:
            if (why := refusal_reason(ip)) is not None:
                shown = f"{host!r} is" if literal is not None else f"{host!r} resolves to {ip},"
                raise WebhookTargetRefused(
                    f"webhook host {shown} {why}; webhooks may only reach public addresses ({_ALLOW_HINT})"
                )
    return ResolvedTarget(
        url=url,
        scheme=parsed.scheme,
        host=host,
        port=port,
        ip=_connectable(addresses[0]),
        addresses=tuple(str(ip) for ip in addresses),
    )
