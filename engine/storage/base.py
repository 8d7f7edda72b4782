"""`Storage`: where the worker finds an uploaded object and reads it.

Two implementations: `GcsStorage` (a bucket, through the official client) and `LocalStorage`
(a folder, the uploads of `pique-engine dev`). Both are plain data until first used, so an
evaluation request carrying one pickles into the sandbox child.
"""

from __future__ import annotations

from typing import IO, NamedTuple, Protocol, runtime_checkable


class StoredObject(NamedTuple):
    """One live object generation and its size in bytes."""

    generation: int
    size: int


@runtime_checkable
class Storage(Protocol):
    """Locate an object, open its head for ranged reads, open its whole content."""

    @property
    def bucket(self) -> str:
        """The bucket name notifications carry for this storage."""
        ...

    def locate(self, object_name: str) -> StoredObject | None:
        """The live generation and size of `object_name`, or None when there is no such object.

        Raises `StorageError` when the storage cannot be asked (usually transient)."""
        ...

    def open_head(self, object_name: str, generation: int, size: int | None = None) -> IO[bytes]:
        """A seekable, read-only file over this generation, for header-only probes.

        Raises `ObjectGone` when the generation was overwritten or deleted."""
        ...

    def open_content(self, object_name: str, generation: int) -> IO[bytes]:
        """A named, seekable file holding the whole generation (the caller closes it).

        The file's ``name`` can be opened again to read it once more without fetching it."""
        ...
