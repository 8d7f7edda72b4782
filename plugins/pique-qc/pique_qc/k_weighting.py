"""The ITU-R BS.1770-4 K-weighting filter: its coefficients, and a streaming filter that applies them.

The filter runs in FFmpeg's `biquad` (libavfilter, through the PyAV the engine decodes with), in
double precision, rather than in scipy's `sosfilt`: importing scipy.signal alone costs about a
second of CPU and 70 MB in every process that loads the plugins. Both compute the same recursion,
y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2] with the coefficients divided by a0,
so the outputs agree to rounding (asserted in the tests).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from pique_engine import DetectorError


def k_weighting_sos(rate: int) -> np.ndarray:
    """The BS.1770-4 K-weighting filter (head shelf, then RLB high pass) for `rate`, as SOS.

    Coefficients are derived from the analogue prototypes behind the standard's 48 kHz table
    (as libebur128 does), so they reproduce that table at 48 kHz and the same response at
    any other rate.
    """
    if rate <= 2 * 1682:
        raise DetectorError(f"a sample rate of {rate} Hz is too low for K-weighting (it needs more than 3364 Hz)")
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    high_pass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, high_pass])


class KWeighting:
    """K-weights consecutive (channels, frames) float64 blocks of one stream at `rate`, as one signal."""

    def __init__(self, rate: int) -> None:
        self._sos = k_weighting_sos(rate)
        self.rate = rate
        self._frames = 0  # pts of the next block, in samples
        # One mono graph per channel, made on the first block, so any channel count works: one
        # multichannel graph would need an FFmpeg layout for the count, and biquad passes through
        # unfiltered every channel its layout does not name.
        self._channels: list[_ChannelFilter] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The filtered block, continuing from where the previous block left the filter."""
        x = np.ascontiguousarray(x, dtype=np.float64)  # each row becomes one frame's plane as it is
        if not self._channels:
            self._channels = [_ChannelFilter(self._sos, self.rate) for _ in range(len(x))]
        y = np.empty_like(x)
        for channel, row, out in zip(self._channels, x, y, strict=True):
            channel.filter(row, self._frames, out)
        self._frames += x.shape[1]
        return y


_SOS_OPTIONS = ("b0", "b1", "b2", "a0", "a1", "a2")  # biquad's names for one SOS row, in order


class _ChannelFilter:
    """abuffer -> biquad -> biquad -> abuffersink for one channel; the biquads keep their state."""

    def __init__(self, sos: np.ndarray, rate: int) -> None:
        import av  # the engine imports PyAV when it decodes; loading the plugin must not

        self._frame_from = av.AudioFrame.from_ndarray
        self.rate = rate
        self.time_base = Fraction(1, rate)
        self._graph = av.filter.Graph()  # held here: the filter contexts only keep a weak reference to it
        self._source = self._graph.add_abuffer(format="dblp", sample_rate=rate, layout="mono", time_base=self.time_base)
        last = self._source
        for section in sos.tolist():
            # repr round-trips a double exactly through FFmpeg's strtod.
            coefficients = ":".join(f"{name}={value!r}" for name, value in zip(_SOS_OPTIONS, section))
            biquad = self._graph.add("biquad", f"{coefficients}:precision=f64")
            last.link_to(biquad)
            last = biquad
        self._sink = self._graph.add("abuffersink")
        last.link_to(self._sink)
        try:
            self._graph.configure()
        except av.FFmpegError as exc:
            raise DetectorError(
                f"FFmpeg's biquad filter, which K-weights the audio, could not be set up at {rate} Hz ({exc}); "
                "reinstall PyAV (the `av` package), whose bundled FFmpeg includes it"
            ) from None

    def filter(self, samples: np.ndarray, pts: int, out: np.ndarray) -> None:
        """Filter `samples` (float64) into `out`, of the same length."""
        if not len(samples):
            return  # FFmpeg refuses an empty frame
        frame = self._frame_from(samples[None, :], format="dblp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = self.rate, pts, self.time_base
        self._source.push(frame)
        done = 0
        while True:
            try:
                filtered = self._sink.pull()
            except (BlockingIOError, EOFError):  # all of this block is out
                return
            n = filtered.samples
            out[done : done + n] = np.frombuffer(filtered.planes[0], np.float64, n)
            done += n
