"""Samples for detectors that need them (declared with ``reads="content"``).

Header-only detectors never come here. Decoding goes through the same sniffed reader as the
probe: libsndfile where it reads the format, otherwise FFmpeg with the demuxer pinned.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import numpy as np

from ..errors import ProbeError
from .info import Media
from .sniff import HEAD_BYTES, sniff


def audio_blocks(media: Media, *, block_frames: int = 65536) -> Iterator[np.ndarray]:
    """Yield the first audio stream as float32 arrays of shape (frames, channels) in [-1, 1].

    Works on audio files and on the audio track of videos; the sample rate and channel count
    are `media.info.audio.sample_rate` and `.channels`. Raises `ProbeError` when there is no
    audio or it cannot be decoded.
    """
    if media.info.audio is None:
        raise ProbeError(f"{media.info.describe()} has no audio track")
    with media.open() as f:
        head = f.read(HEAD_BYTES)
        f.seek(0)
        fmt = sniff(head)
        if fmt.reader == "soundfile":
            import soundfile

            try:
                with soundfile.SoundFile(f) as sf:
                    while True:
                        block = sf.read(block_frames, dtype="float32", always_2d=True)
                        if not len(block):
                            return
                        yield _checked(block)
            except (RuntimeError, soundfile.LibsndfileError) as exc:
                raise ProbeError(f"cannot decode the {fmt.container} audio: {exc}") from None
            return
        yield from _pyav_audio(f, fmt.demuxer, media.info.audio.channels)


def _pyav_audio(f: IO[bytes], demuxer: str | None, channels: int) -> Iterator[np.ndarray]:
    import av

    try:
        container = av.open(f, format=demuxer, container_options={"format_whitelist": demuxer or ""})
    except av.FFmpegError as exc:
        raise ProbeError(f"cannot decode the audio: {exc}") from None
    with container:
        stream = container.streams.audio[0]
        layout = "mono" if channels == 1 else "stereo" if channels == 2 else None
        resampler = av.AudioResampler(format="flt", layout=layout)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield _checked(_packed(out))
            for out in resampler.resample(None):
                yield _checked(_packed(out))
        except av.FFmpegError as exc:
            raise ProbeError(f"the audio track is damaged: {exc}") from None
        except ValueError as exc:  # the resampler refuses a frame whose layout or rate changed midway
            raise ProbeError(f"the audio track is damaged: its format changes midway ({exc})") from None


# Float formats may overshoot 1.0 a little; a damaged stream decodes to wild values instead.
_WILD = 4.0


def _checked(block: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(block))) if block.size else 0.0
    if not peak <= _WILD:  # also catches NaN
        raise ProbeError(f"the audio is damaged: decoded samples reach {peak:.3g}, far outside [-1, 1]")
    return block


def _packed(frame) -> np.ndarray:
    data = frame.to_ndarray()  # packed float: shape (1, samples * channels)
    return data.reshape(-1, frame.layout.nb_channels).astype(np.float32, copy=False)
