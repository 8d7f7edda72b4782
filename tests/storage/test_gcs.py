"""Ranged, cached, generation-pinned reads of an upload, and streamed downloads, against fake-gcs-server."""

from __future__ import annotations

import io
import os
import random
import signal
import socket
import subprocess
import sys
import tracemalloc

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from pique_engine.errors import StorageError
from pique_engine.errors import ObjectGone
from pique_engine.storage.gcs import DEFAULT_BLOCK_SIZE, GcsObjectReader, download_to_tempfile, storage_client

from ..conftest import FIXTURES
from ..stack import local_stack, stack_env, unique_name, upload_signed  # noqa: F401

SIZE = 5_000_000
DATA = random.Random(1234).randbytes(SIZE)


@pytest.fixture
def bucket(stack_env) -> storage.Bucket:
    # Through STORAGE_EMULATOR_HOST alone, as the worker will run.
    return storage_client(stack_env.project).bucket(stack_env.bucket)


@pytest.fixture
def uploaded(bucket) -> storage.Blob:
    blob = bucket.blob(unique_name("big.bin"))
    blob.upload_from_string(DATA, content_type="application/octet-stream", if_generation_match=0)
    return blob


@pytest.mark.integration
def test_reading_a_16_byte_header_of_5_mb_costs_one_request_of_at_most_one_block(bucket, uploaded):
    with GcsObjectReader(bucket, uploaded.name, uploaded.generation, size=SIZE) as reader:
        assert reader.read(16) == DATA[:16]
        assert reader.requests == 1
        assert reader.bytes_fetched <= DEFAULT_BLOCK_SIZE
        assert reader.tell() == 16


@pytest.mark.integration
def test_small_reads_within_a_block_are_served_from_the_cache(bucket, uploaded):
    reader = GcsObjectReader(bucket, uploaded.name, uploaded.generation, size=SIZE)
    chunks = [reader.read(16 * 1024) for _ in range(4)]  # FFmpeg's buffer size
    reader.seek(100)
    again = reader.read(1000)
    assert b"".join(chunks) == DATA[: 64 * 1024]
    assert again == DATA[100:1100]
    assert (reader.requests, reader.bytes_fetched) == (1, DEFAULT_BLOCK_SIZE)


@pytest.mark.integration
def test_without_size_the_reader_fetches_metadata_once_and_pins_the_current_generation(bucket, uploaded):
    reader = GcsObjectReader(bucket, uploaded.name, None)
    assert (reader.size, reader.generation) == (SIZE, uploaded.generation)
    assert reader.requests == 1
    reader.seek(-10, io.SEEK_END)
    assert reader.read() == DATA[-10:]
    assert reader.requests == 2


@pytest.mark.integration
def test_random_seeks_and_reads_return_the_same_bytes_as_a_local_copy(bucket, uploaded):
    rng = random.Random(99)
    model = io.BytesIO(DATA)
    reader = GcsObjectReader(bucket, uploaded.name, uploaded.generation, size=SIZE, cache_blocks=4)
    for _ in range(300):
        whence = rng.choice((io.SEEK_SET, io.SEEK_CUR, io.SEEK_END))
        if whence == io.SEEK_SET:
            offset = rng.randrange(SIZE + 100)  # sometimes past the end
        elif whence == io.SEEK_CUR:
            offset = max(rng.randrange(-1000, 200_000), -model.tell())
        else:
            offset = -rng.randrange(1, 300_000)
        assert reader.seek(offset, whence) == model.seek(offset, whence)
        n = rng.choice((1, 16, 4096, 16 * 1024, 70_000, 300_000))
        assert reader.read(n) == model.read(n)
        assert reader.tell() == model.tell()
    assert reader.requests < 300


@pytest.mark.integration
def test_reading_past_the_end_returns_empty_without_a_request(bucket, uploaded):
    reader = GcsObjectReader(bucket, uploaded.name, uploaded.generation, size=SIZE)
    reader.seek(SIZE + 10)
    assert reader.read(100) == b""
    assert reader.requests == 0
    with pytest.raises(ValueError, match="negative seek"):
        reader.seek(-1)


@pytest.mark.integration
def test_sequential_16k_reads_grow_read_ahead_and_fetch_each_byte_once(bucket, uploaded):
    reader = GcsObjectReader(bucket, uploaded.name, uploaded.generation, size=SIZE)
    chunks = iter(lambda: reader.read(16 * 1024), b"")
    assert b"".join(chunks) == DATA
    assert reader.bytes_fetched == SIZE
    # 1, 2, 4, 8 blocks, then 1 MiB requests: 8 requests instead of 77 one-block requests.
    assert reader.requests <= 8


@pytest.mark.integration
def test_one_large_read_is_split_into_bounded_requests(bucket, uploaded):
    reader = GcsObjectReader(bucket, uploaded.name, uploaded.generation, size=SIZE)
    assert reader.read() == DATA
    assert reader.requests == 1  # 5 MB fits in one 8 MiB request
    big = GcsObjectReader(bucket, uploaded.name, uploaded.generation, size=SIZE, block_size=4096)
    assert big.readall() == DATA
    assert big.requests == 1


@pytest.mark.integration
def test_overwrite_during_a_read_raises_object_gone_instead_of_mixing_uploads(bucket, uploaded):
    reader = GcsObjectReader(bucket, uploaded.name, uploaded.generation, size=SIZE)
    assert reader.read(16) == DATA[:16]
    bucket.blob(uploaded.name).upload_from_string(b"x" * SIZE)  # a second upload to the same name
    reader.seek(SIZE // 2)
    with pytest.raises(ObjectGone, match=f"#{uploaded.generation}.*no longer exists"):
        reader.read(16)
    reader.seek(0)
    assert reader.read(16) == DATA[:16]  # what was read before the overwrite stays consistent


@pytest.mark.integration
def test_opening_a_generation_that_does_not_exist_raises_object_gone(bucket, uploaded):
    with pytest.raises(ObjectGone):
        GcsObjectReader(bucket, uploaded.name, uploaded.generation + 1)


@pytest.mark.integration
def test_probe_reads_a_small_fraction_of_a_faststart_mp4(bucket):
    from pique_engine.media.probe import probe

    path = FIXTURES / "media" / "contract_576x1024_30fps.mp4"
    blob = bucket.blob(unique_name(path.name))
    blob.upload_from_filename(path, content_type="video/mp4")
    reader = GcsObjectReader(bucket, blob.name, blob.generation, size=blob.size)
    info = probe(reader)
    assert (info.video.width, info.video.height) == (576, 1024)
    assert reader.requests == 1  # moov is in the first block of this faststart file
    assert reader.bytes_fetched == DEFAULT_BLOCK_SIZE < blob.size / 5


@pytest.mark.integration
def test_download_to_tempfile_streams_the_exact_generation_to_disk(bucket, uploaded, tmp_path):
    tracemalloc.start()
    try:
        tmp = download_to_tempfile(bucket, uploaded.name, uploaded.generation, dir=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with tmp:
        assert list(tmp_path.iterdir()) == []  # no name on disk, even while open
        assert tmp.tell() == 0
        assert tmp.read() == DATA
    assert peak < SIZE / 4  # never the whole object in memory


@pytest.mark.integration
def test_a_process_killed_after_downloading_leaves_no_file(stack_env, uploaded, tmp_path):
    # The worker's evaluation child may be SIGKILLed (memory limit, time limit) holding the
    # download: nothing may outlive it.
    script = (
        "import os, signal, sys\n"
        "from pique_engine.storage.gcs import download_to_tempfile, storage_client\n"
        "bucket = storage_client(sys.argv[6]).bucket(sys.argv[1])\n"
        "tmp = download_to_tempfile(bucket, sys.argv[2], int(sys.argv[3]), dir=sys.argv[4])\n"
        "assert len(tmp.read()) == int(sys.argv[5])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    args = [uploaded.bucket.name, uploaded.name, str(uploaded.generation), str(tmp_path), str(SIZE), stack_env.project]
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_download_of_a_replaced_generation_raises_object_gone_and_leaves_no_file(bucket, uploaded, tmp_path):
    bucket.blob(uploaded.name).upload_from_string(b"replacement")
    with pytest.raises(ObjectGone):
        download_to_tempfile(bucket, uploaded.name, uploaded.generation, dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_signed_upload_is_readable_through_the_reader(stack_env, bucket):
    name = unique_name("signed.bin")
    data = os.urandom(200_000)
    generation = int(upload_signed(stack_env, name, data, "application/octet-stream").json()["generation"])
    reader = GcsObjectReader(bucket, name, generation, size=len(data))
    reader.seek(150_000)
    assert reader.read(100) == data[150_000:150_100]


def test_unreachable_storage_raises_storage_error_that_says_what_failed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # bound, never listening: connections are refused
        client = storage.Client(
            project="p", credentials=AnonymousCredentials(), client_options={"api_endpoint": f"http://127.0.0.1:{dead}"}
        )
        reader = GcsObjectReader(client.bucket("b"), "org/pending/job/f.mp4", 7, size=100, retry=None)
        expected = r"reading gs://b/org/pending/job/f.mp4#7 bytes 0-99 failed: .*retry later"
        with pytest.raises(StorageError, match=expected) as caught:
            reader.read(10)
    assert not isinstance(caught.value, ObjectGone)
    assert reader.requests == 1
    assert reader.bytes_fetched == 0
