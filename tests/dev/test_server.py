"""The dev server's pieces in-process: its storage (each URL uploads once, whole or not at all),
its private database files, and the worker loop it runs on an in-process queue.

The whole `pique-engine dev` process is driven through the contract in tests/test_contract_flow.py.
"""

from __future__ import annotations

import asyncio
import logging
import stat
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pique_engine.dev.server import private_sqlite, storage_router
from pique_engine.settings import Settings
from pique_engine.storage.local import LOCAL_BUCKET, LocalStorage
from pique_engine.storage.upload_urls import LocalSigner
from pique_engine.store import JobStatus, Store
from pique_engine.webhooks.dispatcher import OutboxDispatcher
from pique_engine.webhooks.sender import WebhookSender
from pique_engine.worker.handler import Worker
from pique_engine.worker.inprocess import QueueSource
from pique_engine.worker.runner import Runner

from ..conftest import FIXTURES
from ..worker_harness import REELS, wait_until

CLIP = (FIXTURES / "media" / "phone_rotated_90.mp4").read_bytes()
NAME = "org_1/pending/job_1/clip.mp4"


@pytest.fixture
def dev_storage(tmp_path):
    signer = LocalSigner("http://testserver", "k" * 64)
    storage = LocalStorage(tmp_path / "objects")
    announced = []
    app = FastAPI()
    app.include_router(storage_router(signer, storage, announced.append))
    return signer, storage, announced, app


def signed(signer, name: str = NAME, data: bytes = CLIP):
    upload = signer.sign_put(name, content_type="video/mp4", size=len(data), expires=datetime.now(UTC) + timedelta(minutes=5))
    parts = urlsplit(upload.url)
    return f"{parts.path}?{parts.query}", upload.headers


def test_a_put_stores_the_object_and_announces_the_finalize_gcs_would_send(dev_storage):
    signer, storage, announced, app = dev_storage
    path, headers = signed(signer)
    assert TestClient(app).put(path, headers=headers, content=CLIP).status_code == 200
    (n,) = announced
    assert (n.event_type, n.bucket, n.object_name, n.size, n.content_type) == ("OBJECT_FINALIZE", LOCAL_BUCKET, NAME, len(CLIP), "video/mp4")
    assert n.generation == storage.locate(NAME).generation
    assert storage.path(NAME).read_bytes() == CLIP


def test_a_second_put_to_the_same_url_is_refused_as_gcs_refuses_it_and_changes_nothing(dev_storage):
    signer, storage, announced, app = dev_storage
    path, headers = signed(signer)
    client = TestClient(app)
    assert client.put(path, headers=headers, content=CLIP).status_code == 200
    before = storage.locate(NAME)
    other = bytes(reversed(CLIP))  # same size and type, different bytes
    again = client.put(path, headers=headers, content=other)
    assert again.status_code == 412
    assert again.headers["content-type"] == "application/xml"
    assert "<Error><Code>PreconditionFailed</Code><Message>" in again.text
    assert storage.locate(NAME) == before and storage.path(NAME).read_bytes() == CLIP
    assert len(announced) == 1
    assert list(storage.path(NAME).parent.iterdir()) == [storage.path(NAME)]  # no partial file either


def test_a_client_that_disconnects_mid_put_leaves_no_partial_file_and_one_log_line(dev_storage, caplog):
    signer, storage, announced, app = dev_storage
    path, headers = signed(signer)
    query = path.split("?", 1)[1]
    messages = [{"type": "http.request", "body": CLIP[:1000], "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "scheme": "http",
             "path": path.split("?", 1)[0], "raw_path": path.split("?", 1)[0].encode(), "query_string": query.encode(),
             "headers": [(k.lower().encode(), v.encode()) for k, v in {**headers, "content-length": str(len(CLIP))}.items()],
             "server": ("testserver", 80), "client": ("127.0.0.1", 1234), "root_path": ""}  # fmt: skip
    with caplog.at_level(logging.WARNING):
        asyncio.run(app(scope, receive, send))
    assert not storage.path(NAME).parent.exists() or list(storage.path(NAME).parent.iterdir()) == []
    assert announced == []
    lines = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert [r for r in caplog.records if r.exc_info] == []


def test_the_dev_database_and_its_wal_files_are_readable_by_their_owner_only(tmp_path):
    url = f"sqlite:///{tmp_path / 'dev' / 'pique.db'}"
    private_sqlite(url)
    store = Store.open(url)
    try:
        store.create_org("Acme", webhook_url="https://hooks.example.com/x")  # writes: the -wal and -shm files exist now
        files = [tmp_path / "dev" / name for name in ("pique.db", "pique.db-wal", "pique.db-shm")]
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
    finally:
        store.close()


def test_a_database_left_world_readable_by_an_earlier_version_is_made_private(tmp_path):
    db = tmp_path / "pique.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    private_sqlite(f"sqlite:///{db}")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


@pytest.mark.integration  # the worker evaluates in the sandbox's child processes
def test_the_same_worker_loop_evaluates_what_the_in_process_queue_delivers(dev_storage, tmp_path):
    signer, storage, _, app = dev_storage
    store = Store.open(f"sqlite:///{tmp_path / 'pique.db'}")
    try:
        org = store.create_org("Acme", webhook_url="http://127.0.0.1:9/hooks")
        store.create_judge(org.org.id, REELS)
        settings = Settings(bucket=LOCAL_BUCKET, load_plugins="", webhook_retry_delays="3600")
        source = QueueSource()
        worker = Worker(settings, store, storage)
        app.router.routes.clear()
        app.include_router(storage_router(signer, storage, source.put))
        loop = threading.Thread(target=Runner(worker, source, OutboxDispatcher(store, WebhookSender())).run, daemon=True)
        loop.start()
        job = store.create_job(org.org.id, judge_id="judge_reels", content_type="video", filename="clip.mp4", file_size_bytes=len(CLIP))
        path, headers = signed(signer, job.object_name)
        assert TestClient(app).put(path, headers=headers, content=CLIP).status_code == 200
        wait_until(lambda: store.get_job(job.job_id).status is JobStatus.COMPLETED, 60, "the job completed")
        worker.stop()
        loop.join(30)
        assert not loop.is_alive()
        assert worker.counts["completed"] == 1 and worker.counts["messages"] == 1
    finally:
        store.close()
