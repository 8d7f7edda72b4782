"""Reading one uploaded object generation from Google Cloud Storage without holding it in memory.

`GcsObjectReader` is a seekable, read-only file object for header-only probes: it serves reads
from an LRU cache of aligned blocks fetched with HTTP range requests, so FFmpeg's 16 KiB reads
and a box walker's seeks around `moov` cost a handful of requests, not one each.
`download_to_tempfile` streams a whole generation to disk for detectors that need every sample.
`GcsStorage` puts both behind the `Storage` interface the worker reads uploads through.

Both pin the object *generation*: if the object is overwritten or deleted while we read, GCS
answers 404 for that generation and we raise `ObjectGone` instead of mixing two uploads' bytes.
Every call goes through the official client, which honours ``STORAGE_EMULATOR_HOST`` itself.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections import OrderedDict
from typing import IO

import google.auth.exceptions
import requests
from google.api_core import exceptions as api_exceptions
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.cloud.storage.retry import DEFAULT_RETRY

from ..errors import ObjectGone, StorageError
from .base import StoredObject

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "GcsObjectReader",
    "GcsStorage",
    "ObjectGone",
    "download_to_tempfile",
    "find_object",
    "storage_client",
]

log = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 64 * 1024
DEFAULT_CACHE_BLOCKS = 32  # 2 MiB: a moov box and the head of the file stay cached together
MAX_READAHEAD_BLOCKS = 16  # sequential reads grow requests up to 1 MiB
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # one huge read() becomes several requests of this size

# The client's default retry keeps trying for 120 s; a read inside an evaluation must give up
# well inside the evaluation's time limit and let Pub/Sub redeliver instead.
READ_RETRY = DEFAULT_RETRY.with_timeout(20.0)
READ_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds per request

_TRANSIENT = (
    api_exceptions.GoogleAPIError,
    requests.RequestException,
    google.auth.exceptions.GoogleAuthError,
    DataCorruption,
    InvalidResponse,
    OSError,
)


def storage_client(project: str | None = None) -> storage.Client:
    """A client for `project`: Application Default Credentials, or the emulator when
    ``STORAGE_EMULATOR_HOST`` is set (the official client switches itself)."""
    return storage.Client(project=project)


def find_object(bucket: storage.Bucket, name: str) -> tuple[int, int] | None:
    """The live generation and size of `name`, or None when there is no such object."""
    try:
        blob = bucket.get_blob(name, timeout=READ_TIMEOUT, retry=READ_RETRY)
    except _TRANSIENT as exc:
        raise _storage_error(exc, f"looking up {_where(bucket, name, None)}") from exc
    return None if blob is None else (blob.generation, blob.size)


class GcsStorage:
    """One bucket as a `Storage`; the client is made on first use, in whichever process uses it."""

    def __init__(self, bucket: str, project: str | None = None) -> None:
        self._bucket_name = bucket
        self.project = project
        self._handle: storage.Bucket | None = None

    @property
    def bucket(self) -> str:
        return self._bucket_name

    def __repr__(self) -> str:
        return f"GcsStorage({self._bucket_name!r})"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_handle": None}  # a client does not cross into a sandbox child

    def _bucket(self) -> storage.Bucket:
        if self._handle is None:
            self._handle = storage_client(self.project).bucket(self._bucket_name)
        return self._handle

    def locate(self, object_name: str) -> StoredObject | None:
        found = find_object(self._bucket(), object_name)
        return None if found is None else StoredObject(*found)

    def open_head(self, object_name: str, generation: int, size: int | None = None) -> IO[bytes]:
        return GcsObjectReader(self._bucket(), object_name, generation, size=size)  # type: ignore[return-value]

    def open_content(self, object_name: str, generation: int) -> IO[bytes]:
        return download_to_tempfile(self._bucket(), object_name, generation)


def _where(bucket: storage.Bucket, name: str, generation: int | None) -> str:
    return f"gs://{bucket.name}/{name}" + (f"#{generation}" if generation is not None else "")


def _storage_error(exc: BaseException, what: str) -> StorageError:
    if isinstance(exc, api_exceptions.NotFound):
        return ObjectGone(f"{what}: the object or this generation no longer exists (overwritten or deleted)")
    return StorageError(f"{what} failed: {exc}. This is usually transient; retry later.")


class GcsObjectReader(io.RawIOBase):
    """A seekable, read-only file over one generation of one GCS object.

    Reads are served from an LRU cache of `block_size`-aligned blocks; a miss fetches the run
    of missing blocks it needs in one range request, and consecutive misses (a sequential
    reader) double the read-ahead up to `MAX_READAHEAD_BLOCKS`. `requests` and `bytes_fetched`
    count what it cost.

    Pass `size` (and `generation`) from the notification to avoid a metadata request;
    without them the reader fetches the object's metadata once and pins the generation it finds.

    The reader deliberately has no ``name`` attribute: FFmpeg guesses formats from a file
    name's extension, and an upload's name is chosen by whoever uploaded it.
    Not thread-safe: one reader per thread.
    """

    def __init__(
        self,
        bucket: storage.Bucket,
        object_name: str,
        generation: int | None,
        *,
        size: int | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_blocks: int = DEFAULT_CACHE_BLOCKS,
        timeout: float | tuple[float, float] = READ_TIMEOUT,
        retry=READ_RETRY,
    ) -> None:
        super().__init__()
        if block_size <= 0 or cache_blocks <= 0:
            raise ValueError("block_size and cache_blocks must be positive")
        self.bucket = bucket
        self.object_name = object_name
        self.block_size = block_size
        self.cache_blocks = cache_blocks
        self.requests = 0
        self.bytes_fetched = 0
        self._timeout = timeout
        self._retry = retry
        self._pos = 0
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._readahead = 1
        self._next_block = -1  # the block after the last fetch, to spot sequential reading
        self.generation = generation
        self.size = size
        if size is None or generation is None:
            self._stat()
        self._blob = bucket.blob(object_name, generation=self.generation)

    def _stat(self) -> None:
        blob = self.bucket.blob(self.object_name, generation=self.generation)
        what = f"reading the metadata of {_where(self.bucket, self.object_name, self.generation)}"
        self.requests += 1
        try:
            blob.reload(timeout=self._timeout, retry=self._retry)
        except _TRANSIENT as exc:
            raise _storage_error(exc, what) from exc
        self.generation = blob.generation
        if self.size is None:
            self.size = blob.size

    def __repr__(self) -> str:
        return (
            f"<GcsObjectReader {_where(self.bucket, self.object_name, self.generation)} size={self.size} "
            f"pos={self._pos} requests={self.requests} bytes_fetched={self.bytes_fetched}>"
        )

    # io.RawIOBase

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer) -> int:
        self._checkClosed()
        out = memoryview(buffer).cast("B")
        start = self._pos
        end = min(start + len(out), self.size)
        if start >= end:
            return 0
        bs = self.block_size
        fetched: dict[int, bytes] = {}  # blocks fetched by this call, safe from eviction
        written = 0
        for index in range(start // bs, (end - 1) // bs + 1):
            block = fetched.get(index) or self._cached(index)
            if block is None:
                fetched = self._fetch_run(index, (end - 1) // bs)
                block = fetched[index]
            lo = max(start, index * bs) - index * bs
            hi = min(end, (index + 1) * bs) - index * bs
            out[written : written + hi - lo] = block[lo:hi]
            written += hi - lo
        self._pos = end
        return written

    def readall(self) -> bytes:
        self._checkClosed()
        return self.read(max(self.size - self._pos, 0))

    def close(self) -> None:
        self._cache.clear()
        super().close()

    # the block cache

    def _cached(self, index: int) -> bytes | None:
        block = self._cache.get(index)
        if block is not None:
            self._cache.move_to_end(index)
        return block

    def _fetch_run(self, first: int, needed_last: int) -> dict[int, bytes]:
        """Fetch blocks `first`.. in one request: those this read needs, plus read-ahead."""
        bs = self.block_size
        self._readahead = min(self._readahead * 2, MAX_READAHEAD_BLOCKS) if first == self._next_block else 1
        last_block = (self.size - 1) // bs
        max_blocks = max(MAX_REQUEST_BYTES // bs, 1)
        last = min(max(needed_last, first + self._readahead - 1), last_block, first + max_blocks - 1)
        for index in range(first + 1, last + 1):
            if index in self._cache:  # never re-fetch what we hold; the next hit serves it
                last = index - 1
                break
        start, stop = first * bs, min((last + 1) * bs, self.size)
        what = f"reading {_where(self.bucket, self.object_name, self.generation)} bytes {start}-{stop - 1}"
        self.requests += 1
        log.debug("GET %s", what)
        try:
            data = self._blob.download_as_bytes(
                start=start,
                end=stop - 1,
                raw_download=True,  # stored bytes: ranges and size refer to them
                checksum=None,  # ranged reads carry no checksum
                timeout=self._timeout,
                retry=self._retry,
            )
        except _TRANSIENT as exc:
            raise _storage_error(exc, what) from exc
        self.bytes_fetched += len(data)
        if len(data) != stop - start:
            raise StorageError(f"{what}: got {len(data)} bytes, expected {stop - start}. Retry later.")
        blocks = {first + i: data[i * bs : (i + 1) * bs] for i in range(last - first + 1)}
        for index, block in blocks.items():
            self._cache[index] = block
            self._cache.move_to_end(index)
        while len(self._cache) > self.cache_blocks:
            self._cache.popitem(last=False)
        self._next_block = last + 1
        return blocks


def download_to_tempfile(
    bucket: storage.Bucket,
    name: str,
    generation: int,
    dir: str | None = None,
    *,
    timeout: float | tuple[float, float] = READ_TIMEOUT,
    retry=READ_RETRY,
) -> IO[bytes]:
    """Stream one object generation into a named temporary file, positioned at 0.

    The body is written in chunks as it arrives, never held whole in memory. The file has no
    name (on Linux, `O_TMPFILE`; elsewhere it is unlinked at once), so nothing is left on disk
    in any outcome, a process killed mid-download included: the space is freed when the last
    descriptor closes. Use it as a context manager.
    """
    what = f"downloading {_where(bucket, name, generation)}"
    tmp = tempfile.TemporaryFile(prefix="pique-", dir=dir)
    try:
        bucket.blob(name, generation=generation).download_to_file(
            tmp, raw_download=True, checksum="auto", timeout=timeout, retry=retry
        )
        tmp.flush()
        tmp.seek(0)
    except _TRANSIENT as exc:
        tmp.close()
        raise _storage_error(exc, what) from exc
    except BaseException:
        tmp.close()
        raise
    return tmp
