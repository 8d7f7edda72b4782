"""`pique-engine dev`: the whole flow in one process, with no cloud and nothing to install.

The API of the contract, a local object store behind the same kind of signed, expiring PUT
URL, an in-process queue from "upload finished" to the same `Worker.handle` that consumes
Pub/Sub in production, the same outbox and webhook sender, and a built-in receiver that
verifies and prints the webhooks the demo organisation gets.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..webhooks.dispatcher import OutboxDispatcher
from ..errors import SignatureError
from ..worker.metrics import WorkerMetrics
from ..worker.notifications import finalize_message
from ..settings import Settings
from ..webhooks.signature import verify
from ..store import Store
from ..store.base import utc_now
from ..worker.sweep import folder_locator
from ..worker.handler import Worker

log = logging.getLogger(__name__)

LOCAL_BUCKET = "local"
DEMO_JUDGE = {
    "judge_id": "judge_demo",
    "name": "Demo: vertical video, feed images, podcast audio",
    "criteria": [
        {"criterion_id": "video_specs", "detector": "video_specs",
         "params": {"aspect_ratio": "9:16", "min_fps": 24, "max_duration_sec": 180, "require_audio": True}},
        {"criterion_id": "image_dimensions", "detector": "image_dimensions", "params": {"min_width": 320}},
        {"criterion_id": "audio_sample_rate", "detector": "audio_sample_rate", "params": {"allowed_sample_rates": [44100, 48000]}},
    ],
}  # fmt: skip


@dataclass
class Demo:
    """The demo organisation's credentials, kept in the data folder so restarts can show them."""

    org_id: str
    api_key: str
    webhook_secret: str
    judge_id: str


def _demo(store: Store, data_dir: Path, webhook_url: str) -> Demo:
    path = data_dir / "demo.json"
    if path.exists():
        demo = Demo(**json.loads(path.read_text()))
        org = store.get_org(demo.org_id)
        if org is not None and store.org_for_api_key(demo.api_key) is not None:
            if org.webhook_url != webhook_url:  # the server moved to another port
                store.set_webhook_url(demo.org_id, webhook_url)
            demo.webhook_secret = org.webhook_secret  # follows a rotation made with the admin CLI
            return demo
    new = store.create_org("Demo", webhook_url=webhook_url)
    store.create_judge(new.org.id, DEMO_JUDGE)
    demo = Demo(org_id=new.org.id, api_key=new.api_key, webhook_secret=new.webhook_secret, judge_id=DEMO_JUDGE["judge_id"])
    path.write_text(json.dumps(vars(demo), indent=2))
    os.chmod(path, 0o600)
    return demo


class LocalUploads:
    """The local object store: files under `root`, each finished PUT announced on `events`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.events: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    def path(self, object_name: str) -> Path:
        target = (self.root / object_name).resolve()
        if self.root.resolve() not in target.parents:
            raise ValueError(f"object name {object_name!r} escapes the storage folder")
        return target

    def finalize(self, object_name: str, content_type: str) -> None:
        """Announce a finished upload exactly as GCS does (OBJECT_FINALIZE, JSON_API_V1)."""
        found = folder_locator(self.root)(object_name)
        if found is None:
            raise FileNotFoundError(f"no upload at {object_name!r} to announce")
        generation, size = found  # as the sweep will see it
        self.events.put(finalize_message(LOCAL_BUCKET, object_name, generation, size, content_type))


def storage_router(signer, uploads: LocalUploads):
    """`PUT /storage/{object}`: what a signed upload URL points at in dev mode."""
    from ..errors import UploadRefused
    from ..storage.upload_urls import RefusalReason

    router = APIRouter(include_in_schema=False)
    status_for = {RefusalReason.EXPIRED: 400, RefusalReason.WRONG_LENGTH: 400}

    def refuse(code: int, reason: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": reason, "message": message}}, status_code=code)

    @router.put("/storage/{object_name:path}")
    async def put_object(object_name: str, request: Request):
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return refuse(411, "length_required", "send a Content-Length header with the upload (curl -T does)")
        try:
            signer.verify(
                object_name,
                request.headers.get("content-type"),
                int(length),
                request.query_params.get("expires", ""),
                request.query_params.get("signature", ""),
                length_range=request.headers.get("x-goog-content-length-range"),
                generation_match=request.headers.get("x-goog-if-generation-match"),
            )
            target = uploads.path(object_name)
        except UploadRefused as exc:
            return refuse(status_for.get(exc.reason, 403), str(exc.reason), str(exc))
        except ValueError as exc:
            return refuse(400, "bad_object_name", str(exc))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + f".part-{secrets.token_hex(4)}")
        received = 0
        with open(partial, "wb") as f:
            async for chunk in request.stream():
                received += len(chunk)
                if received > int(length):
                    break
                f.write(chunk)
        if received != int(length):
            partial.unlink(missing_ok=True)
            return refuse(400, "incomplete_body", f"received {received:,} bytes but Content-Length said {int(length):,}")
        partial.replace(target)  # an object appears whole or not at all
        uploads.finalize(object_name, request.headers.get("content-type", ""))
        return Response(status_code=200)

    return router


def webhook_router(store: Store, out):
    """`POST /dev/webhooks`: the demo organisation's receiver; verifies, then prints."""
    router = APIRouter(include_in_schema=False)

    @router.post("/dev/webhooks")
    async def receive(request: Request):
        body = await request.body()
        try:
            event = json.loads(body)
            job = store.get_job(event["job_id"])
            org = store.get_org(job.org_id) if job else None
            if org is None:
                raise SignatureError("the webhook names a job this server does not know")
            verify(body, request.headers.get("x-pique-signature", ""), org.signing_secrets(utc_now()))
        except (SignatureError, ValueError, KeyError, TypeError) as exc:
            out(f"webhook REJECTED: {exc}")
            return PlainTextResponse(f"rejected: {exc}\n", status_code=400)
        out(f"webhook received, signature verified ({request.headers.get('x-pique-event-id')}):\n{json.dumps(event, indent=2)}")
        return PlainTextResponse("ok\n")

    return router


def run_dev(settings: Settings, host: str, port: int, data_dir: Path, out=print) -> None:
    """Serve the API, local storage and the demo receiver on one port until Ctrl-C."""
    import uvicorn

    from ..api.app import create_app
    from ..storage.upload_urls import LocalSigner

    data_dir.mkdir(parents=True, exist_ok=True)
    if "PIQUE_DATABASE_URL" not in os.environ:
        settings = settings.model_copy(update={"database_url": f"sqlite:///{data_dir / 'pique.db'}"})
    # Everything here runs on this machine, webhooks to the built-in receiver included.
    settings = settings.model_copy(update={"bucket": LOCAL_BUCKET, "webhook_allow_private": True})
    base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    store = Store.open(settings.database_url)
    demo = _demo(store, data_dir, f"{base_url}/dev/webhooks")
    secret_file = data_dir / "signing.key"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(32))
        os.chmod(secret_file, 0o600)
    signer = LocalSigner(base_url, secret_file.read_text().strip())
    uploads = LocalUploads(data_dir / "objects")

    metrics = WorkerMetrics()
    dispatcher = OutboxDispatcher.from_settings(store, settings, metrics=metrics)
    worker = Worker(settings, store, dispatcher, metrics=metrics, local_root=str(uploads.root))
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            try:
                attributes, data = uploads.events.get(timeout=0.5)
            except queue.Empty:
                continue
            worker.handle(attributes, data)

    app = create_app(store, signer, settings)
    app.include_router(storage_router(signer, uploads))
    app.include_router(webhook_router(store, out))
    threads = [
        threading.Thread(target=consume, name="pique-dev-worker", daemon=True),
        threading.Thread(target=dispatcher.run, args=(stop,), name="pique-outbox", daemon=True),
        threading.Thread(target=worker.sweeper.run, args=(stop,), name="pique-sweep", daemon=True),
    ]
    for t in threads:
        t.start()
    out(_banner(base_url, demo, settings.database_url, data_dir))
    try:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
    finally:
        stop.set()
        worker.stopping.set()  # ends a sweep, and any wait for the database, at once
        dispatcher.wake.set()
        for t in threads:
            t.join(timeout=10)
        store.close()


def _banner(base_url: str, demo: Demo, database_url: str, data_dir: Path) -> str:
    return f"""pique-engine dev: API, storage and webhook receiver on {base_url}
  database        {database_url}
  objects         {data_dir / 'objects'}
  API docs        {base_url}/docs

Demo organisation {demo.org_id}
  X-API-Key       {demo.api_key}
  judge_id        {demo.judge_id}
  webhook secret  {demo.webhook_secret}
  webhooks go to  {base_url}/dev/webhooks (verified and printed here)

Try it (the contract's two curl commands):
  FILE=fixtures/media/contract_576x1024_30fps.mp4; SIZE=$(wc -c < $FILE)
  curl -s -X POST "{base_url}/v1/evaluations/presigned-upload" \\
    -H "X-API-Key: {demo.api_key}" -H "Content-Type: application/json" \\
    -d '{{"judge_id": "{demo.judge_id}", "content_type": "video", "filename": "contract.mp4", "file_size_bytes": '$SIZE'}}'
  then PUT the file to the returned upload_url with every returned upload_header:
  curl -X PUT "<upload_url>" -H "Content-Type: video/mp4" -H "x-goog-content-length-range: $SIZE,$SIZE" -T $FILE
"""
