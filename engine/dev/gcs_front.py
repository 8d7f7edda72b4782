"""A verifying front for fake-gcs-server: what GCS enforces on signed uploads, enforced locally.

fake-gcs-server stores whatever is PUT to a signed URL: it checks neither the signature, nor
the expiry, nor the signed headers. The front stands where clients reach the bucket
(``STORAGE_EMULATOR_HOST`` and the host of every signed URL) and, for a request carrying a V4
signature (``X-Goog-Signature``), does what GCS does before it stores anything:

- checks the signature, the expiry and the signed headers (`pique_engine.dev.v4_signature`);
- holds the body to ``x-goog-content-length-range: MIN,MAX`` (``EntityTooSmall`` /
  ``EntityTooLarge``, 400);
- honours ``x-goog-if-generation-match`` (``0``: only if the object does not exist yet;
  otherwise 412 ``PreconditionFailed``), checked and written under one lock per object.

Accepted uploads are forwarded to fake-gcs-server, which stores them and publishes their
``OBJECT_FINALIZE`` notification. Every other request (the JSON API the official clients and
the worker use) is passed through unchanged, so one address serves everything. An unsigned
XML API write is refused (401 ``AccessDenied``), as GCS refuses an anonymous one.

``python -m pique_engine.dev.gcs_front --port P --upstream URL --key KEY_FILE`` runs one.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .gcs_errors import (
    GcsError,
    entity_too_large,
    entity_too_small,
    invalid_argument,
    precondition_failed,
    upstream_unavailable,
)
from .v4_signature import SignedRequest, is_signed, load_public_keys, verify_v4

__all__ = ["GcsFront", "main"]


UPSTREAM_TIMEOUT_SEC = 60.0
_COPY_BLOCK = 256 * 1024
# Read and dropped before an early refusal, so the client sees the answer rather than a reset.
_MAX_DRAIN_BYTES = 64 * 1024 * 1024
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "expect", "content-length"})  # fmt: skip
# The official clients' JSON API lives under these; everything else is the XML API.
_JSON_API_ROOTS = frozenset({"storage", "upload", "download", "batch", "_internal"})


class GcsFront(ThreadingHTTPServer):
    """The verifying front: listens on `address`, forwards to fake-gcs-server at `upstream`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], upstream: str, keys: Mapping[str, object]) -> None:
        super().__init__(address, _Handler)
        parts = urlsplit(upstream)
        self.upstream = upstream
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.keys = dict(keys)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def object_lock(self, path: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(path, threading.Lock())

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=UPSTREAM_TIMEOUT_SEC)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GcsFront
    _continue_pending = False

    def handle_expect_100(self) -> bool:
        # GCS refuses a bad upload before its body is sent (curl -T asks first for files over
        # 1 MB): answer 100 Continue only when the body is about to be read.
        self._continue_pending = True
        return True

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def _handle(self) -> None:
        # One handler serves every request of a kept-alive connection: reset what it tracks.
        self._body_read = self._relaying = False
        path, _, raw_query = self.path.partition("?")
        query = parse_qsl(raw_query, keep_blank_values=True)
        try:
            if is_signed(query):
                self._signed(path, query)
            elif self._is_xml_write(path):
                raise GcsError(401, "AccessDenied", "Access denied.",
                               "Anonymous caller does not have storage.objects.create access; use a signed URL.")  # fmt: skip
            else:
                self._forward(self._read_body())
        except GcsError as exc:
            self._refuse(exc)

    def _is_xml_write(self, path: str) -> bool:
        root = path.lstrip("/").partition("/")[0]
        anonymous = self.headers.get("Authorization") is None
        return anonymous and self.command in ("PUT", "POST", "DELETE") and root not in _JSON_API_ROOTS

    def _signed(self, path: str, query: Sequence[tuple[str, str]]) -> None:
        verify_v4(SignedRequest(self.command, path, query, list(self.headers.items())), self.server.keys)
        if self.command != "PUT":
            self._forward(self._read_body())
            return
        declared = self.headers.get("Content-Length")
        if declared is not None and not declared.strip().isdigit():
            raise invalid_argument(f"Content-Length {declared!r} is not a number of bytes")
        body = None if declared is not None else self._read_body()
        length = int(declared) if declared is not None else len(body or b"")
        if (allowed := self.headers.get("x-goog-content-length-range")) is not None:
            _check_length(allowed, length)
        with self.server.object_lock(unquote(path)):
            self._check_generation(path)
            self._forward(body if body is not None else self._read_body())

    def _check_generation(self, path: str) -> None:
        wanted = self.headers.get("x-goog-if-generation-match")
        if wanted is None:
            return
        bucket, _, name = unquote(path).lstrip("/").partition("/")
        current = self._live_generation(bucket, name)
        if wanted.strip() == "0" and current is not None:
            raise precondition_failed(f"gs://{bucket}/{name} exists (generation {current}); x-goog-if-generation-match: 0 "
                                      "allows only the first upload")  # fmt: skip
        if wanted.strip() != "0" and current != wanted.strip():
            raise precondition_failed(f"gs://{bucket}/{name} is at generation {current}, not {wanted.strip()}")

    def _live_generation(self, bucket: str, name: str) -> str | None:
        conn = self.server.connect()
        try:
            conn.request("GET", f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}?fields=generation")
            response = conn.getresponse()
            body = response.read()
        except OSError as exc:
            raise upstream_unavailable(self.server.upstream, str(exc)) from exc
        finally:
            conn.close()
        if response.status == 404:
            return None
        if response.status != 200:
            raise upstream_unavailable(self.server.upstream, f"metadata lookup answered {response.status}")
        return str(json.loads(body)["generation"])

    def _read_body(self) -> bytes:
        self._body_read = True
        if self._continue_pending:
            self._continue_pending = False
            self.send_response_only(100)
            self.end_headers()
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _forward(self, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        conn = self.server.connect()
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            self._relay(response)
        except (OSError, http.client.HTTPException) as exc:
            if not self._relaying:
                raise upstream_unavailable(self.server.upstream, str(exc)) from exc
            self.close_connection = True  # the answer was cut off half-way: end the connection
        finally:
            conn.close()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        body = None if response.length is not None or self.command == "HEAD" else response.read()
        self._relaying = True
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        if self.command == "HEAD":
            if (length := response.getheader("Content-Length")) is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            return
        self.send_header("Content-Length", str(response.length if body is None else len(body)))
        self.end_headers()
        if body is not None:
            self.wfile.write(body)
            return
        while block := response.read(_COPY_BLOCK):
            self.wfile.write(block)

    def _refuse(self, error: GcsError) -> None:
        self._drain()
        body = error.xml()
        self.send_response(error.status)
        self.send_header("Content-Type", "application/xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.log_message("refused %s %s: %s", self.command, self.path.partition("?")[0], error)

    def _drain(self) -> None:
        """Read what is left of the request body, or close the connection after answering."""
        if self._relaying or self._body_read:
            return
        if self._continue_pending:  # the client waits for our word before sending the body
            self._continue_pending = False
            self.close_connection = True
            return
        length = self.headers.get("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) <= _MAX_DRAIN_BYTES:
            remaining = int(length)
            while remaining > 0 and (block := self.rfile.read(min(remaining, _COPY_BLOCK))):
                remaining -= len(block)
        else:
            self.close_connection = True


def _check_length(allowed: str, length: int) -> None:
    try:
        low, high = (int(part.strip()) for part in allowed.split(","))
    except ValueError:
        raise invalid_argument(f"x-goog-content-length-range must be 'MIN,MAX', not {allowed!r}") from None
    if length > high:
        raise entity_too_large(length, high)
    if length < low:
        raise entity_too_small(length, low)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the front until killed."""
    parser = argparse.ArgumentParser(prog="python -m pique_engine.dev.gcs_front", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="fake-gcs-server's URL, e.g. http://127.0.0.1:4443")
    parser.add_argument("--key", type=Path, action="append", required=True, help="a service-account key file to trust")
    args = parser.parse_args(argv)
    server = GcsFront((args.host, args.port), args.upstream, load_public_keys(args.key))
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
