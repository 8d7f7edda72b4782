"""`LocalStorage`: objects as files under one folder, the uploads of `pique-engine dev`.

A file's generation is its modification time in microseconds, as a GCS generation is the
object's write time. Objects are created once and never replaced (`create`), as upload URLs
signed with ``x-goog-if-generation-match: 0`` behave on GCS.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from ..errors import ObjectGone, StorageError
from .base import StoredObject

LOCAL_BUCKET = "local"


class ObjectExists(StorageError):
    """The object already exists; an upload URL uploads once."""


class IncompleteUpload(StorageError):
    """The body ended before (or ran past) the length the upload declared."""

    def __init__(self, received: int, expected: int) -> None:
        super().__init__(f"received {received:,} bytes but Content-Length said {expected:,}")
        self.received, self.expected = received, expected


class LocalStorage:
    """Files under `root`; see the module docstring."""

    def __init__(self, root: str | Path, bucket: str = LOCAL_BUCKET) -> None:
        self.root = Path(root)
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, object_name: str) -> Path:
        """The file holding `object_name`; ValueError when the name leads out of the folder."""
        target = (self.root / object_name).resolve()
        if self.root.resolve() not in target.parents:
            raise ValueError(f"object name {object_name!r} escapes the storage folder")
        return target

    def locate(self, object_name: str) -> StoredObject | None:
        try:
            st = self.path(object_name).stat()
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        return StoredObject(st.st_mtime_ns // 1000, st.st_size)

    def open_head(self, object_name: str, generation: int, size: int | None = None) -> IO[bytes]:
        where = f"{self.root}/{object_name}#{generation}"
        try:
            f = open(self.path(object_name), "rb")
        except (OSError, ValueError):
            raise ObjectGone(f"reading {where}: the object or this generation no longer exists (overwritten or deleted)") from None
        if os.fstat(f.fileno()).st_mtime_ns // 1000 != generation:
            f.close()
            raise ObjectGone(f"reading {where}: the object or this generation no longer exists (overwritten or deleted)")
        return f

    def open_content(self, object_name: str, generation: int) -> IO[bytes]:
        return self.open_head(object_name, generation)

    async def create(self, object_name: str, body: AsyncIterator[bytes], length: int) -> StoredObject:
        """Write a new object from `body`, exactly `length` bytes, whole or not at all.

        Raises `ObjectExists` when the object is already there (before or after the body
        was read) and `IncompleteUpload` on a short or long body; either way, and when the
        body's sender goes away, no partial file is left behind.
        """
        target = self.path(object_name)
        if target.exists():
            raise ObjectExists(object_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + f".part-{secrets.token_hex(4)}")
        try:
            received = 0
            with open(partial, "wb") as f:
                async for chunk in body:
                    received += len(chunk)
                    if received > length:
                        break
                    f.write(chunk)
            if received != length:
                raise IncompleteUpload(received, length)
            try:
                os.link(partial, target)  # fails if the object appeared meanwhile: never replaced
            except FileExistsError:
                raise ObjectExists(object_name) from None
        finally:
            partial.unlink(missing_ok=True)
        found = self.locate(object_name)
        assert found is not None
        return found
