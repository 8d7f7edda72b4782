"""The video side of the decode pass: which packets to decode, and each consumer's pictures.

Decoding is the cost (~87% of a content detector's time), so the pass decodes only what some
request needs:

- any request for every frame, or any filter chain: every packet is decoded;
- only keyframe requests: only keyframe packets reach the decoder;
- sampled requests (N per second): packets are demuxed (cheap) and held back from the decoder
  until one is presented at or after the next sample time; the held packets of a GOP that ends
  before that are dropped unread, since a keyframe restarts decoding. Among held packets, the
  ones presented before the sample time are decoded with `skip_frame="NONREF"`: nothing
  depends on non-reference frames, so FFmpeg skips them.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import MediaLimitError
from .box_scale import box_mean, factors
from .consumers import Subscriber
from .content import Frame, VideoFilter, VideoFrames
from .filters import runners
from .timing import seconds

# A GOP held back from the decoder is bounded: past this, decode it rather than keep it.
_MAX_HELD_BYTES = 32 << 20
_MAX_HELD_PACKETS = 1200
# The key scdet attaches to the first frame of a new shot (libavfilter/vf_scdet.c).
_CUT_KEY = "lavfi.scd.time"


class _Sampler:
    """One VideoFrames subscriber: which frames it wants, in what shape."""

    def __init__(self, sub: Subscriber) -> None:
        self.sub = sub
        self.request: VideoFrames = sub.request
        self.next_time = 0.0  # for fps requests: the next sample mark

    def wants(self, t: float, keyframe: bool, shot_start: bool = False) -> bool:
        r = self.request
        if r.keyframes_only:
            return keyframe
        if r.fps is None:
            return True
        if t + 1e-6 < self.next_time:
            return shot_start and r.shot_starts  # off the grid: the mark stays where it is
        self.next_time = (math.floor(t * r.fps + 1e-6) + 1) / r.fps
        return True


class VideoDecoder:
    """Decodes the video stream for its subscribers, feeding each its own frames."""

    def __init__(self, stream, subs: list[Subscriber], *, origin: float, max_pixels: int) -> None:
        self.stream = stream
        self.origin = origin
        self.max_pixels = max_pixels
        self.samplers = [_Sampler(s) for s in subs if isinstance(s.request, VideoFrames)]
        self.filters = runners(subs, VideoFilter, stream, audio=False, origin=origin)
        self.held: list = []
        self.held_bytes = 0
        self.latest = -math.inf  # latest presentation time among the packets seen
        self.sent: list[float] = []  # times of the packets sent to the decoder that samplers may still want
        self.decoded = 0
        self.skipped_packets = 0
        self.scalers: dict[tuple, object] = {}
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        self._skip = ctx.skip_frame

    @property
    def active(self) -> bool:
        return any(s.sub.active for s in self.samplers) or any(s.active for s, _ in self.filters)

    @property
    def every_packet(self) -> bool:
        return any(s.active for s, _ in self.filters) or any(s.sub.active and s.request.every_frame for s in self.samplers)

    def packet(self, packet) -> None:
        """Take the next video packet in decode order."""
        t = self._time(packet)
        if t is not None:
            self.latest = max(self.latest, t)
        if self.every_packet:
            self._decode(packet, "DEFAULT")
            return
        wanted_key = packet.is_keyframe and any(s.sub.active and s.request.keyframes_only for s in self.samplers)
        if packet.is_keyframe:
            self.skipped_packets += len(self.held)  # a GOP no one needed: never decoded
            self.held, self.held_bytes = [], 0
        self.held.append(packet)
        self.held_bytes += packet.size
        if wanted_key or self._useful(t) or self.held_bytes > _MAX_HELD_BYTES or len(self.held) > _MAX_HELD_PACKETS:
            self._release()

    def flush(self) -> None:
        """The stream ended: drop held packets no sample needs and drain the decoder."""
        self.skipped_packets += len(self.held)
        self.held = []
        self._decode(None, "DEFAULT")
        for sub, runner in self.filters:
            if sub.active:
                for event in runner.push(None):
                    sub.send(event)
        for s in self.samplers:
            s.sub.finish()
        for sub, _ in self.filters:
            sub.finish()

    def _useful(self, t: float | None) -> bool:
        """Whether a frame presented at `t` may be some sampler's next sample (or the one after).

        A sampler's mark moves on only when the decoder hands out its sample, some packets
        later (frame threads, B-frame reordering). Meanwhile a frame sent at or after the mark
        (`first`) serves it unless one between the two comes; the next mark is the grid mark
        after `first`.
        """
        if t is None:
            return True
        for s in self.samplers:
            fps = s.request.fps
            if not s.sub.active or fps is None:
                continue
            mark = s.next_time
            for _ in range(len(self.sent) + 1):  # each round passes one sent frame
                first = min((x for x in self.sent if x >= mark - 1e-6), default=math.inf)
                if mark - 1e-6 <= t < first:
                    return True
                if first == math.inf:
                    break
                mark = (math.floor(first * fps + 1e-6) + 1) / fps
        return False

    def _release(self) -> None:
        oldest = min((s.next_time for s in self.samplers if s.sub.active), default=math.inf)
        self.sent = [x for x in self.sent if x >= oldest - 1e-6]
        held, self.held, self.held_bytes = self.held, [], 0
        for packet in held:
            t = self._time(packet)
            # Nothing depends on a non-reference frame, so one no sampler needs is not decoded.
            if packet.is_keyframe or self._useful(t):
                if t is not None:
                    self.sent.append(t)
                self._decode(packet, "DEFAULT")
            else:
                self._decode(packet, "NONREF")

    def _decode(self, packet, skip: str) -> None:
        import av

        ctx = self.stream.codec_context
        if skip != self._skip:
            ctx.skip_frame = skip
            self._skip = skip
        try:
            frames = ctx.decode(packet)
        except av.FFmpegError:
            return  # a damaged packet: FFmpeg conceals it; the frames after it still decode
        for frame in frames:
            self._deliver(frame)

    def _deliver(self, frame) -> None:
        if frame.width * frame.height > self.max_pixels:
            raise MediaLimitError(
                f"a decoded video frame is {frame.width}x{frame.height}, above the {self.max_pixels:,}-pixel limit "
                "(PIQUE_MAX_VIDEO_PIXELS)"
            )
        self.decoded += 1
        t = self._frame_time(frame)
        shot_start = False
        for sub, runner in self.filters:
            if sub.active:
                events = runner.push(frame)
                shot_start = shot_start or _starts_shot(events, t)
                for event in events:
                    sub.send(event)
        pictures = _Pictures(frame, self.scalers)
        for s in self.samplers:
            if s.sub.active and s.wants(t, frame.key_frame, shot_start):
                s.sub.send(Frame(time=t, image=pictures.get(s.request), keyframe=bool(frame.key_frame), shot_start=shot_start))

    def _time(self, packet) -> float | None:
        if packet.pts is None or packet.time_base is None:
            return None
        return seconds(packet.pts, packet.time_base) - self.origin

    def _frame_time(self, frame) -> float:
        # Frames drained at the end of the stream carry no time base of their own.
        time_base = frame.time_base or self.stream.time_base
        if frame.pts is None or time_base is None:
            return max(self.latest, 0.0)
        return seconds(frame.pts, time_base) - self.origin


def _starts_shot(events: list, t: float) -> bool:
    """Whether scdet marked the frame presented at `t` as the first of a new shot."""
    # A chain that holds frames back may release an earlier frame's event with this one.
    return any(_CUT_KEY in e.metadata and abs(e.time - t) < 1e-3 for e in events)


_FORMATS = {"luma": "yuv420p", "gray": "gray", "rgb": "rgb24"}
# Pictures are only ever scaled down; area averaging does that without aliasing and, measured
# on a 1080p frame to 320x180 grey, in 0.36 ms against 0.83 ms for swscale's bicubic default.
_SCALER = "AREA"
# Formats whose first plane is luma (any depth): scaled as grey, they keep the stored values.
_YUV_PREFIXES = ("yuv", "nv", "gray")
# 8-bit formats whose first plane is the luma as stored: read it without converting.
_LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
_RANGE_FULL = 2  # AVCOL_RANGE_JPEG


class _Pictures:
    """One decoded frame's pictures, converted once per distinct (size, format) asked for."""

    def __init__(self, frame, scalers: dict) -> None:
        self.frame = frame
        # One swscale context per output shape, kept across frames: building one per frame
        # cost 1.26 ms against 0.43 ms per 1080p frame scaled to 320x180 grey.
        self.scalers = scalers
        self.turns = (-int(frame.rotation or 0) // 90) % 4  # clockwise quarter turns to show it upright
        self.cache: dict[tuple[int, int, str], np.ndarray] = {}

    def get(self, request: VideoFrames) -> np.ndarray:
        w, h = self.frame.width, self.frame.height
        shown_w, shown_h = (h, w) if self.turns % 2 else (w, h)
        out_w, out_h = bounded(shown_w, shown_h, request.max_width, request.max_height)
        stored_w, stored_h = (out_h, out_w) if self.turns % 2 else (out_w, out_h)
        key = (stored_w, stored_h, request.format)
        if key not in self.cache:
            self.cache[key] = self._convert(stored_w, stored_h, request.format)
        return self.cache[key]

    def _convert(self, w: int, h: int, fmt: str) -> np.ndarray:
        frame = self.frame
        name = frame.format.name
        blocks = factors(frame.width, frame.height, w, h) if name in _LUMA_FIRST and fmt != "rgb" else None
        if fmt == "luma" and (w, h) == (frame.width, frame.height) and name in _LUMA_FIRST:
            image = _plane(frame.planes[0], w, h)
        elif blocks and (fmt == "luma" or name != "gray"):
            full_range = fmt == "gray" and not _full_range(frame)  # grey of limited-range video: stretch it
            image = box_mean(_plane(frame.planes[0], frame.width, frame.height), *blocks, full_range=full_range)
        elif fmt == "luma" and name.startswith(_YUV_PREFIXES):
            # Scaling the Y plane alone as grey, with no range conversion, keeps the stored values
            # and skips the chroma planes: 0.40 ms a 1080p frame to 320x180, against 0.80 ms as yuv420p.
            image = self._scaled(w, h, "gray", stored_range=True).to_ndarray()
        elif fmt == "luma":
            image = _plane(self._scaled(w, h, "yuv420p").planes[0], w, h)  # an RGB source: its limited-range Y
        else:
            image = self._scaled(w, h, _FORMATS[fmt]).to_ndarray()
        if self.turns:
            image = np.ascontiguousarray(np.rot90(image, -self.turns))
        image.flags.writeable = False  # shared between consumers that asked for the same picture
        return image

    def _scaled(self, w: int, h: int, fmt: str, *, stored_range: bool = False):
        from av.video.reformatter import ColorRange, VideoReformatter

        scaler = self.scalers.get((w, h, fmt, stored_range))
        if scaler is None:
            scaler = self.scalers[(w, h, fmt, stored_range)] = VideoReformatter()
        ranges = {"src_color_range": ColorRange.JPEG, "dst_color_range": ColorRange.JPEG} if stored_range else {}
        # One thread: swscale's slice threads cost more to wake per picture than they save.
        return scaler.reformat(self.frame, width=w, height=h, format=fmt, interpolation=_SCALER, threads=1, **ranges)


def _full_range(frame) -> bool:
    return frame.format.name.startswith("yuvj") or int(frame.color_range) == _RANGE_FULL


def _plane(plane, w: int, h: int) -> np.ndarray:
    # A view, not a copy (0.1 ms a 1080p frame): it holds a reference to the decoded frame, whose
    # buffer FFmpeg does not reuse while it is referenced. Rows keep the plane's padding as stride.
    return np.frombuffer(plane, np.uint8).reshape(h, plane.line_size)[:, :w]


def bounded(w: int, h: int, max_w: int | None, max_h: int | None) -> tuple[int, int]:
    """(w, h) scaled down to fit max_w x max_h, aspect kept; never scaled up."""
    scale = min(1.0, (max_w or w) / w, (max_h or h) / h)
    if scale >= 1.0:
        return w, h
    return max(1, round(w * scale)), max(1, round(h * scale))
