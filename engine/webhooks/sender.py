"""Deliver one signed webhook, once, and say how it went.

`WebhookSender.send` makes a single attempt and returns a `DeliveryResult`; it never raises for
a delivery problem. Persistence and retries belong to the outbox, which feeds
`DeliveryResult.retry_after` and `.stop` to a `RetryPolicy`.

What counts:

* only 2xx is success; 3xx is a failure and is never followed (a redirect would bypass the
  address checks); 410 Gone means the receiver is gone: ``stop=True``;
* ``Retry-After`` is parsed on every failure response;
* a refused target (see `netguard`) is ``stop=True`` when no DNS change can cure it (a bad URL,
  a private IP literal, ``localhost``), and retryable when a host *name* resolved to a private
  address: the customer may fix their DNS, and every attempt re-checks, so retrying is safe
  and costs one lookup, never a connection.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import httpx

from . import netguard
from ..errors import WebhookError, WebhookTargetRefused
from .retry import parse_retry_after
from .signature import sign

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["EVENT_ID_HEADER", "SIGNATURE_HEADER", "DeliveryResult", "WebhookSender", "user_agent"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Pique-Signature"
EVENT_ID_HEADER = "X-Pique-Event-Id"
_MAX_REASON = 200


def user_agent() -> str:
    """``pique-engine/<version>``."""
    try:
        return f"pique-engine/{version('pique-engine')}"
    except PackageNotFoundError:
        return "pique-engine/0+unknown"


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one delivery attempt."""

    ok: bool
    status_code: int | None  # None when no response arrived
    error: str | None  # short reason, None when ok
    retry_after: float | None  # seconds the receiver asked us to wait, if it did
    stop: bool  # True: retrying cannot help (410, permanently refused target)
    duration_ms: float


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


_PHASES = {
    "connection.connect_tcp.started": "connecting",
    "connection.start_tls.started": "connecting",
    "http11.send_request_headers.started": "sending the request",
    "http11.send_request_body.started": "sending the request",
    "http11.receive_response_headers.started": "waiting for the response",
}


class _Deadline:
    """Ends a request that is still running `seconds` after it began.

    httpx's timeouts apply to each connect, write and read, so a receiver that trickles its
    response a byte at a time could hold a delivery (and every delivery queued behind it)
    for ever. The trace extension hands us the connection's socket; when time is up, a timer
    shuts it down, which wakes the blocked read with an error.
    """

    def __init__(self, seconds: float) -> None:
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.expired = False
        self.phase = "on the network"  # what the request was doing, for the error message

    def trace(self, event: str, info: dict) -> None:
        self.phase = _PHASES.get(event, self.phase)
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            with self._lock:
                self._socket = sock
                if self.expired:  # time ran out while connecting
                    self._shut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed
                # socket.socket's own shutdown: SSLSocket's would also drop the TLS object that
                # the blocked read in the other thread is using.
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()


def _transport_reason(exc: httpx.TransportError, timeout_sec: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for the response",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "on the network")
        return f"timed out after {timeout_sec:g} s {phase}"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return _short(f"connection failed: {detail}")
    return _short(f"{type(exc).__name__}: {detail}")


class WebhookSender:
    """Sends signed webhooks through an `httpx.Client`, connecting only to checked addresses.

    Pass your own `client` in tests (``httpx.Client(transport=httpx.MockTransport(handler))``).
    An injected client must not use a proxy or HTTP/2: the address pinning relies on the client
    connecting straight to the URL's host (the checked IP) with one request per connection.
    """

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        timeout_sec: float = 10.0,
        resolver: netguard.Resolver | None = None,
    ) -> None:
        if timeout_sec <= 0:
            raise ValueError("timeout_sec must be > 0")
        self._owns_client = client is None
        self._client = client if client is not None else self._default_client()
        self._timeout_sec = timeout_sec
        self._resolver = resolver
        self._user_agent = user_agent()

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.Client | None = None) -> WebhookSender:
        """A sender with the timeout from `settings` (``PIQUE_WEBHOOK_TIMEOUT_SEC``)."""
        return cls(client, timeout_sec=settings.webhook_timeout_sec)

    @staticmethod
    def _default_client() -> httpx.Client:
        # trust_env=False: an environment proxy would do its own DNS and undo the pinning.
        # No keep-alive: the pool is keyed by IP, and a connection verified for one customer's
        # TLS name must never carry another customer's event to the same IP.
        client = httpx.Client(
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        # Webhooks are stateless; a cookie set by one receiver must not reach another.
        client.cookies.jar.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        return client

    def close(self) -> None:
        """Close the HTTP client if this sender created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def timeout_sec(self) -> float:
        """The limit on one attempt as a whole."""
        return self._timeout_sec

    def send(
        self,
        url: str,
        body: bytes,
        secrets: Sequence[str],
        *,
        event_id: str,
        allow_private: bool,
        now: float | None = None,
    ) -> DeliveryResult:
        """POST `body` exactly as given, signed with `secrets` at time `now`, and report the outcome.

        `event_id` goes in ``X-Pique-Event-Id``; keep it the same across retries of one event so
        receivers can deduplicate. Raises only for caller errors (no secrets, body not bytes).
        """
        current = time.time() if now is None else now
        signature = sign(body, secrets, int(current))
        result = _Outcome(time.monotonic())
        try:
            target = netguard.resolve_public(url, allow_private=allow_private, resolver=self._resolver)
        except WebhookTargetRefused as exc:
            permanent = netguard.refusal_is_permanent(url)
            log.warning("webhook %s refused (permanent=%s): %s", event_id, permanent, exc)
            return result(error=_short(str(exc)), stop=permanent)
        except WebhookError as exc:
            return result(error=_short(str(exc)))

        request = self._request(target, body, signature, event_id)
        deadline = _Deadline(self._timeout_sec)
        request.extensions["trace"] = deadline.trace
        try:
            # stream=True: the response body is never read, so a receiver cannot make us
            # download anything; follow_redirects=False even if the injected client says otherwise.
            with deadline:
                response = self._client.send(request, stream=True, follow_redirects=False)
        except httpx.TransportError as exc:
            if deadline.expired:
                return result(error=f"timed out after {self._timeout_sec:g} s {deadline.phase}")
            return result(error=_transport_reason(exc, self._timeout_sec))
        try:
            return _judge_response(response, result, now=current)
        finally:
            response.close()

    def _request(self, target: netguard.ResolvedTarget, body: bytes, signature: str, event_id: str) -> httpx.Request:
        return httpx.Request(
            "POST",
            target.connect_url,
            content=bytes(body),
            headers={
                "Host": target.host_header,
                "Content-Type": "application/json",
                "User-Agent": self._user_agent,
                SIGNATURE_HEADER: signature,
                EVENT_ID_HEADER: event_id,
                # Belt and braces with the default client's no-keep-alive: an injected client
                # must not reuse this connection (verified for this TLS name) for another host.
                "Connection": "close",
            },
            extensions={
                "timeout": httpx.Timeout(self._timeout_sec).as_dict(),
                "sni_hostname": target.sni_hostname,
            },
        )


class _Outcome:
    """Builds the `DeliveryResult` of an attempt that began at `started` (monotonic seconds)."""

    def __init__(self, started: float) -> None:
        self.started = started

    def __call__(
        self,
        *,
        ok: bool = False,
        status: int | None = None,
        error: str | None = None,
        retry_after: float | None = None,
        stop: bool = False,
    ) -> DeliveryResult:
        elapsed = round((time.monotonic() - self.started) * 1000, 1)
        return DeliveryResult(ok, status, error, retry_after, stop, elapsed)


def _judge_response(response: httpx.Response, result: _Outcome, *, now: float) -> DeliveryResult:
    status = response.status_code
    if 200 <= status < 300:
        return result(ok=True, status=status)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
    if 300 <= status < 400:
        location = response.headers.get("Location", "no Location")
        error = f"HTTP {status} redirect to {location} not followed; configure the final URL"
    elif status == 410:
        error = "HTTP 410 Gone: the receiver asked us to stop sending to this URL"
    else:
        error = f"HTTP {status} {response.reason_phrase}".rstrip()
    return result(status=status, error=_short(error), retry_after=retry_after, stop=status == 410)
