"""The audio side of the decode pass: resampled float32 blocks and audio filter chains."""

from __future__ import annotations

import numpy as np

from ..errors import ProbeError
from .consumers import Subscriber
from .content import AudioBlock, AudioBlocks, AudioFilter
from .filters import runners
from .timing import seconds

# Float formats may overshoot 1.0 a little; a damaged stream decodes to wild values instead.
_WILD = 4.0


class _Blocks:
    """One AudioBlocks subscriber: its resampler and the samples not yet a whole block."""

    def __init__(self, sub: Subscriber) -> None:
        import av

        self.sub = sub
        r: AudioBlocks = sub.request
        self.request = r
        # Mono is the mean of the channels, so a tone keeps its level; FFmpeg's own downmix
        # lowers each channel by 3 dB and sums them.
        self.mix_down = r.channels == "mono"
        layout = "stereo" if r.channels == "stereo" else None
        self.resampler = av.AudioResampler(format="flt", layout=layout, rate=r.sample_rate)
        self.pending: list[np.ndarray] = []
        self.pending_frames = 0
        self.sent = 0  # samples handed over so far, at the output rate
        self.start: float | None = None
        self.rate: int | None = None

    def push(self, frame, t: float) -> None:
        for out in self.resampler.resample(frame):
            if self.start is None:
                self.start, self.rate = t, out.sample_rate
            samples = out.to_ndarray().reshape(-1, out.layout.nb_channels)
            self.pending.append(samples)
            self.pending_frames += len(samples)
        size = self.request.block_frames
        while self.pending_frames >= size and self.sub.active:
            self._send(size)

    def finish(self) -> None:
        try:
            self.push(None, 0.0)
        except ValueError:
            pass  # nothing was ever resampled
        if self.pending_frames and self.sub.active:
            self._send(self.pending_frames)
        self.sub.finish()

    def _send(self, n: int) -> None:
        joined = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        block, rest = joined[:n], joined[n:]
        self.pending = [rest] if len(rest) else []
        self.pending_frames = len(rest)
        # Checked and mixed a block at a time: per decoded frame, the numpy calls cost more than the work.
        _check(block)
        if self.mix_down and block.shape[1] > 1:
            block = block.mean(axis=1, keepdims=True, dtype=np.float32)
        t = (self.start or 0.0) + self.sent / (self.rate or 1)
        self.sent += n
        self.sub.send(AudioBlock(time=t, samples=np.ascontiguousarray(block, dtype=np.float32), sample_rate=self.rate or 0))


class AudioDecoder:
    """Decodes the first audio stream for its subscribers."""

    def __init__(self, stream, subs: list[Subscriber], *, origin: float) -> None:
        self.stream = stream
        self.origin = origin
        self.blocks = [_Blocks(s) for s in subs if isinstance(s.request, AudioBlocks)]
        self.filters = runners(subs, AudioFilter, stream, audio=True, origin=origin)
        self.decoded = 0

    @property
    def active(self) -> bool:
        return any(b.sub.active for b in self.blocks) or any(s.active for s, _ in self.filters)

    def packet(self, packet) -> None:
        import av

        try:
            frames = self.stream.codec_context.decode(packet)
        except av.FFmpegError:
            return  # a damaged packet: skip it, as players do
        for frame in frames:
            self._deliver(frame)

    def flush(self) -> None:
        self.packet(None)
        for b in self.blocks:
            if b.sub.active:
                b.finish()
        for sub, runner in self.filters:
            if sub.active:
                for event in runner.push(None):
                    sub.send(event)
            sub.finish()

    def _deliver(self, frame) -> None:
        self.decoded += 1
        time_base = frame.time_base or self.stream.time_base  # drained frames carry none of their own
        t = seconds(frame.pts, time_base) - self.origin if frame.pts is not None and time_base else 0.0
        for b in self.blocks:
            if b.sub.active:
                try:
                    b.push(frame, t)
                except ValueError as exc:  # the resampler refuses a frame whose layout or rate changed midway
                    raise ProbeError(f"the audio track is damaged: its format changes midway ({exc})") from None
        for sub, runner in self.filters:
            if sub.active:
                for event in runner.push(frame):
                    sub.send(event)


def _check(samples: np.ndarray) -> None:
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if not peak <= _WILD:  # also catches NaN
        raise ProbeError(f"the audio is damaged: decoded samples reach {peak:.3g}, far outside [-1, 1]")
