"""`pique-engine dev`: the whole flow in one process, with no cloud and nothing to install.

The API of the contract, a local object store behind the same kind of signed, expiring PUT
URL (each URL uploads once), the same worker loop production runs (`Runner`) fed from an
in-process queue instead of Pub/Sub, the same outbox and webhook sender, and a built-in
receiver that verifies and prints the webhooks the demo organisation gets.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.engine import make_url
from starlette.requests import ClientDisconnect

from ..errors import SignatureError
from ..settings import Settings
from ..storage.local import LOCAL_BUCKET, IncompleteUpload, LocalStorage, ObjectExists
from ..store import Store
from ..store.base import utc_now
from ..webhooks.dispatcher import OutboxDispatcher
from ..webhooks.signature import verify
from ..worker.handler import Worker
from ..worker.inprocess import QueueSource
from ..worker.metrics import WorkerMetrics
from ..worker.notifications import Notification
from ..worker.runner import Runner

log = logging.getLogger(__name__)

__all__ = ["LOCAL_BUCKET", "DEMO_JUDGE", "Demo", "private_sqlite", "run_dev", "storage_router", "webhook_router"]

# GCS's answer to a PUT whose x-goog-if-generation-match: 0 did not hold (the object exists).
PRECONDITION_FAILED = (
    "<?xml version='1.0' encoding='UTF-8'?><Error><Code>PreconditionFailed</Code>"
    "<Message>At least one of the pre-conditions you specified did not hold.</Message>"
    "<Details>The object {name} already exists; an upload URL uploads once. Create a new job to upload again.</Details></Error>"
)
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


def storage_router(signer, storage: LocalStorage, announce):
    """`PUT /storage/{object}`: what a signed upload URL points at in dev mode.

    A finished upload is passed to `announce` as the ``OBJECT_FINALIZE`` GCS would publish.
    """
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
        content_type = request.headers.get("content-type")
        try:
            signer.verify(object_name, content_type, int(length), request.query_params.get("expires", ""),
                          request.query_params.get("signature", ""), length_range=request.headers.get("x-goog-content-length-range"),
                          generation_match=request.headers.get("x-goog-if-generation-match"))  # fmt: skip
            created = await storage.create(object_name, request.stream(), int(length))
        except UploadRefused as exc:
            return refuse(status_for.get(exc.reason, 403), str(exc.reason), str(exc))
        except ValueError as exc:
            return refuse(400, "bad_object_name", str(exc))
        except ObjectExists:
            return Response(PRECONDITION_FAILED.format(name=object_name), status_code=412, media_type="application/xml")
        except IncompleteUpload as exc:
            return refuse(400, "incomplete_body", str(exc))
        except ClientDisconnect:
            log.warning("upload of %s abandoned: the client disconnected mid-PUT; nothing was stored", object_name)
            return Response(status_code=400)
        announce(Notification.finalize(LOCAL_BUCKET, object_name, created.generation, created.size, content_type))
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


def private_sqlite(database_url: str) -> None:
    """Make a SQLite database and its -wal/-shm files readable by their owner only: it holds webhook secrets.

    SQLite creates the -wal and -shm files with the database file's permissions, so creating
    that file 0600 first covers all three; files an earlier version left 0644 are corrected.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    path = Path(url.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if p.exists():
            os.chmod(p, 0o600)


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
    private_sqlite(settings.database_url)
    store = Store.open(settings.database_url)
    demo = _demo(store, data_dir, f"{base_url}/dev/webhooks")
    signer = LocalSigner(base_url, _signing_key(data_dir))
    storage = LocalStorage(data_dir / "objects")
    metrics = WorkerMetrics()
    dispatcher = OutboxDispatcher.from_settings(store, settings, metrics=metrics)
    worker = Worker(settings, store, storage, metrics=metrics, results=dispatcher.wake)
    source = QueueSource(settings.concurrency)
    app = create_app(store, signer, settings)
    app.include_router(storage_router(signer, storage, source.put))
    app.include_router(webhook_router(store, out))
    loop = threading.Thread(target=Runner(worker, source, dispatcher).run, name="pique-dev-worker", daemon=True)
    loop.start()
    out(_banner(base_url, demo, settings.database_url, data_dir))
    try:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
    finally:
        worker.stop()  # in-flight evaluations finish, then the loop sends what is due and returns
        loop.join(timeout=settings.evaluation_timeout_sec + 60)
        store.close()


def _signing_key(data_dir: Path) -> str:
    secret_file = data_dir / "signing.key"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(32))
        os.chmod(secret_file, 0o600)
    return secret_file.read_text().strip()


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
