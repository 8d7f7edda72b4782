"""One demux and decode of a file, serving every content request of an evaluation.

    from pique_engine.media.content import AudioBlocks, VideoFrames
    from pique_engine.media.consumers import Collect
    from pique_engine.media.decode_pass import run_pass

    frames, audio = Collect(), Collect()
    stats = run_pass(path, [(VideoFrames(fps=1, max_width=320), frames), (AudioBlocks(), audio)])

The file is recognised from its bytes and opened through the demuxer `sniff` names and no
other, after the probe has checked its safety limits; decoded frames are checked against the
pixel limit again (a stream may change size midway) and decoding stops at the duration
limit. Consumers are fed as frames are decoded, so memory stays flat however long the file.
A consumer that raises fails alone: it is recorded in `PassStats.failures` and never fed
again, and the others carry on.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import MediaLimitError, ProbeError
from .audio_blocks import AudioDecoder
from .consumers import Consumer, Subscriber
from .content import AudioBlocks, AudioFilter, Frame, ImagePixels, Request, VideoFilter, VideoFrames
from .image_filters import filter_image, stored_yuv
from .info import MediaInfo
from .limits import ProbeLimits
from .probe import probe_file
from .sniff import HEAD_BYTES, Format, sniff
from .timing import seconds
from .video_frames import VideoDecoder, bounded

Progress = Callable[[float], None]
"""Called with the fraction of the duration decoded so far, 0..1, at most about 100 times."""


@dataclass
class PassStats:
    """What one pass did: frames decoded, video packets never decoded, consumers that failed."""

    video_frames_decoded: int = 0
    video_packets: int = 0
    video_packets_skipped: int = 0
    audio_frames_decoded: int = 0
    failures: dict[int, BaseException] = field(default_factory=dict)  # subscription index -> error


def run_pass(
    source: str | os.PathLike[str] | IO[bytes],
    subscriptions: Sequence[tuple[Request, Consumer]],
    *,
    info: MediaInfo | None = None,
    limits: ProbeLimits | None = None,
    progress: Progress | None = None,
) -> PassStats:
    """Decode `source` once, feeding each consumer what its request asks for.

    `source` is a path or a seekable binary file object; `info` is its probe, done here when
    not given. Raises `ProbeError` when the file cannot be decoded and `MediaLimitError` past a
    safety limit; a consumer's own errors are in the returned `PassStats.failures`.
    """
    limits = limits or ProbeLimits()
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                return _run(f, subscriptions, info, limits, progress)
        except OSError as exc:
            raise ProbeError(f"cannot open {str(Path(source))!r}: {exc.strerror}") from None
    return _run(source, subscriptions, info, limits, progress)


def _run(f: IO[bytes], subscriptions, info: MediaInfo | None, limits: ProbeLimits, progress: Progress | None) -> PassStats:
    subs = [Subscriber(i, request, consumer) for i, (request, consumer) in enumerate(subscriptions)]
    f.seek(0)
    fmt = sniff(f.read(HEAD_BYTES))
    f.seek(0)
    if info is None:
        info = probe_file(f, limits)  # checks the safety limits before anything is decoded
        f.seek(0)
    stats = PassStats()
    try:
        if fmt.reader == "pillow":
            _image(f, fmt, subs)
        else:
            _media(f, fmt, info, subs, limits, progress, stats)
    finally:
        for sub in subs:
            sub.finish()  # requests the file cannot serve (audio of a silent video) end empty
    stats.failures = {s.index: s.error for s in subs if s.error is not None}
    if progress:
        progress(1.0)
    return stats


def open_pinned(f: IO[bytes], fmt: Format):
    """Open `f` with PyAV through the sniffed demuxer only, as the probe does."""
    import av

    try:
        # No playlist, concat or image2 demuxer may open the file and follow references in it.
        return av.open(f, format=fmt.demuxer, container_options={"format_whitelist": fmt.demuxer or ""}, buffer_size=1 << 16)
    except av.FFmpegError as exc:
        raise ProbeError(f"FFmpeg cannot read this {fmt.container} file: {getattr(exc, 'strerror', None) or exc}") from None


def _media(f, fmt: Format, info: MediaInfo, subs: list[Subscriber], limits: ProbeLimits, progress, stats: PassStats) -> None:
    import av

    video_subs = [s for s in subs if isinstance(s.request, (VideoFrames, VideoFilter))]
    audio_subs = [s for s in subs if isinstance(s.request, (AudioBlocks, AudioFilter))]
    with open_pinned(f, fmt) as container:
        vstream = next((s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)
        astream = next(iter(container.streams.audio), None)
        origin = container.start_time / 1_000_000 if container.start_time and container.start_time > 0 else 0.0
        video = VideoDecoder(vstream, video_subs, origin=origin, max_pixels=limits.max_video_pixels) if vstream and video_subs else None
        audio = AudioDecoder(astream, audio_subs, origin=origin) if astream and audio_subs else None
        streams = [s for s, d in ((vstream, video), (astream, audio)) if d is not None]
        if streams:
            _demux(container, streams, video, audio, info, limits, progress, origin, stats)
        stats.video_frames_decoded = video.decoded if video else 0
        stats.video_packets_skipped = video.skipped_packets if video else 0
        stats.audio_frames_decoded = audio.decoded if audio else 0


def _demux(container, streams, video, audio, info, limits: ProbeLimits, progress, origin: float, stats: PassStats) -> None:
    import av

    reporter = _Reporter(progress, info.duration_sec)
    try:
        for packet in container.demux(streams):
            if packet.size == 0 and packet.pts is None:
                continue  # the demuxer's end-of-stream marker; flushing comes after the loop
            t = seconds(packet.pts, packet.time_base) - origin if packet.pts is not None and packet.time_base else None
            if t is not None and t > limits.max_duration_sec:
                raise MediaLimitError(
                    f"the file plays for more than {limits.max_duration_sec:,.0f} s, the limit (PIQUE_MAX_DURATION_SEC)"
                )
            if video is not None and packet.stream is video.stream:
                stats.video_packets += 1
                if video.active:
                    video.packet(packet)
            elif audio is not None and audio.active:
                audio.packet(packet)
            reporter.at(t)
            if not (video and video.active) and not (audio and audio.active):
                break  # every consumer has what it wanted
    except av.FFmpegError as exc:
        raise ProbeError(f"the file is damaged past its header: {getattr(exc, 'strerror', None) or exc}") from None
    if video is not None:
        video.flush()
    if audio is not None:
        audio.flush()


class _Reporter:
    """Turns packet times into progress calls, one per percent at most."""

    def __init__(self, progress: Progress | None, duration: float | None) -> None:
        self.progress = progress
        self.duration = duration if duration and duration > 0 else None
        self.reported = 0.0

    def at(self, t: float | None) -> None:
        if self.progress is None or self.duration is None or t is None:
            return
        fraction = min(1.0, max(0.0, t / self.duration))
        if fraction >= self.reported + 0.01:
            self.reported = fraction
            self.progress(fraction)


def _image(f: IO[bytes], fmt: Format, subs: list[Subscriber]) -> None:
    pixels = [s for s in subs if isinstance(s.request, ImagePixels)]
    chains = [s for s in subs if isinstance(s.request, VideoFilter)]
    if not pixels and not chains:
        return
    upright = _upright(f, fmt)
    for sub in pixels:
        sub.send(Frame(time=0.0, image=_pixels(upright, sub.request), keyframe=True))
    if chains:
        filter_image(upright, stored_yuv(f, fmt), chains)


def _upright(f: IO[bytes], fmt: Format):
    """The decoded image (its first frame) with its EXIF orientation applied."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the probe enforced the pixel limit
            with Image.open(f, formats=[fmt.pillow_format]) as img:
                upright = ImageOps.exif_transpose(img)
                upright.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ProbeError(f"the {fmt.container} image cannot be decoded: {exc}") from None
    return upright


def _pixels(upright, request: ImagePixels) -> np.ndarray:
    from PIL import Image

    image = upright.convert("L" if request.format == "gray" else "RGB")
    size = bounded(image.width, image.height, request.max_width, request.max_height)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image)
