"""Samples for detectors that read content without declaring `requests` (``reads="content"``).

`audio_blocks` is the decode pass with a single `AudioBlocks` request, turned into a plain
iterator: the pass runs on a thread of its own behind a small bounded queue, so memory stays
flat and there is one audio decoder in the engine, not two.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np

from ..errors import ProbeError
from .content import AudioBlock, AudioBlocks
from .info import Media

_POLL_SEC = 0.05


class _Ended:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _Handoff:
    """The pass's consumer: hands each block to the iterating thread, until it stops asking."""

    def __init__(self) -> None:
        self.queue: queue.Queue[AudioBlock | _Ended] = queue.Queue(maxsize=4)
        self.stopped = threading.Event()

    def put(self, entry: AudioBlock | _Ended) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(entry, timeout=_POLL_SEC)
                return True
            except queue.Full:
                continue
        return False

    def feed(self, item: AudioBlock) -> bool:
        return not self.put(item)

    def close(self) -> None:
        pass


def audio_blocks(media: Media, *, block_frames: int = 65536) -> Iterator[np.ndarray]:
    """Yield the first audio stream as float32 arrays of shape (frames, channels) in [-1, 1].

    Works on audio files and on the audio track of videos; the sample rate and channel count
    are `media.info.audio.sample_rate` and `.channels`. Raises `ProbeError` when there is no
    audio or it cannot be decoded.
    """
    if media.info.audio is None:
        raise ProbeError(f"{media.info.describe()} has no audio track")
    from .decode_pass import run_pass

    handoff = _Handoff()
    request = AudioBlocks(channels="original", block_frames=block_frames)

    def decode() -> None:
        error: BaseException | None = None
        try:
            with media.open() as f:
                error = run_pass(f, [(request, handoff)], info=media.info).failures.get(0)
        except BaseException as exc:  # handed to the iterating thread
            error = exc
        handoff.put(_Ended(error))

    thread = threading.Thread(target=decode, name="audio-blocks", daemon=True)
    thread.start()
    try:
        while not isinstance(entry := handoff.queue.get(), _Ended):
            yield entry.samples
        if entry.error is not None:
            raise entry.error
    finally:
        handoff.stopped.set()  # the caller stopped early, or the pass ended: let the thread go
        thread.join()
