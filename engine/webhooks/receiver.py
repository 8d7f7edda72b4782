"""`pique-engine webhooks listen`: a receiver that verifies each webhook and prints it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..errors import SignatureError
from .signature import verify

SIGNATURE_HEADER = "X-Pique-Signature"


def make_listener(host: str, port: int, secrets: Sequence[str], out: Callable[[str], None], *, tolerance_sec: int = 300) -> ThreadingHTTPServer:
    """An HTTP server answering 200 to correctly signed webhooks and 400 to anything else."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                verify(body, self.headers.get(SIGNATURE_HEADER, ""), secrets, tolerance_sec=tolerance_sec)
            except SignatureError as exc:
                out(f"REJECTED {self.path}: {exc}")
                self._answer(400, f"signature rejected: {exc}\n")
                return
            try:
                event = json.loads(body)
            except ValueError:
                event = None
            out(_describe(event, self.headers.get("X-Pique-Event-Id")))
            out(json.dumps(event, indent=2) if event is not None else body.decode(errors="replace"))
            self._answer(200, "ok\n")

        def _answer(self, code: int, text: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def _describe(event, event_id: str | None) -> str:
    if not isinstance(event, dict):
        return f"VERIFIED webhook {event_id or ''} (body is not JSON)"
    status = event.get("status")
    score = f" overall_score={event['overall_score']}" if "overall_score" in event else ""
    error = f" error={event['error']!r}" if "error" in event else ""
    return f"VERIFIED {event_id or ''} job={event.get('job_id')} status={status}{score}{error}"
