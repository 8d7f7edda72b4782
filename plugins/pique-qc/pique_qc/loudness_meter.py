"""The loudness meter behind `audio_loudness`.

Measures what a delivery spec asks of a soundtrack, in one streaming pass over the samples:
integrated loudness (ITU-R BS.1770-4, LUFS), loudness range (EBU Tech 3342, LU), maximum
momentary and short-term loudness, sample peak (dBFS), true peak (dBTP, 4x oversampled) and
leading/trailing silence. Memory stays flat with duration: the detector keeps one K-weighted
energy per 100 ms of audio, the filter states and a few running maxima, never the samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pique_engine import DetectorError

from .k_weighting import KWeighting

_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0  # integrated loudness (BS.1770-4)
_LRA_RELATIVE_GATE_LU = -20.0  # loudness range (EBU Tech 3342)
_OFFSET_DB = -0.691  # cancels the K-filter's gain at 997 Hz
_OVERSAMPLE = 4
# Full scale of 16-bit audio: a sample at or past it has been clipped (or sits exactly at the rail).
CLIP_LEVEL = 32767 / 32768
# The low-pass resample_poly(x, 4, 1) uses, scipy's firwin(81, 1/4, window=("kaiser", 5.0)) times 4:
# a windowed sinc scaled to unit gain at DC, then by the 4 the zero-stuffing takes away. It is a
# Nyquist filter: its phase 0 is the samples themselves (times 1.0006; the sample peak covers
# those), so only phases 1-3 are computed, each as a 20-tap FIR: (frames, 20) sliding windows
# times a (20, 3) matrix, in float32 BLAS.
_TRUE_PEAK_SINC = (np.sinc(np.arange(-10 * _OVERSAMPLE, 10 * _OVERSAMPLE + 1) / _OVERSAMPLE)
                   * np.kaiser(20 * _OVERSAMPLE + 1, 5.0))
_TRUE_PEAK_FIR = _TRUE_PEAK_SINC / _TRUE_PEAK_SINC.sum() * _OVERSAMPLE
_TRUE_PEAK_TAPS = len(_TRUE_PEAK_FIR) // _OVERSAMPLE
_TRUE_PEAK_PHASES = np.stack([_TRUE_PEAK_FIR[p::_OVERSAMPLE][:_TRUE_PEAK_TAPS][::-1] for p in range(1, _OVERSAMPLE)],
                             axis=1).astype(np.float32)
_TRUE_PEAK_HISTORY = _TRUE_PEAK_TAPS - 1  # earlier frames each interpolated value depends on


@dataclass(frozen=True)
class Loudness:
    """What `measure` found. Levels are None where the audio is silent (no -inf)."""

    integrated_lufs: float | None
    loudness_range_lu: float | None
    max_momentary_lufs: float | None
    max_short_term_lufs: float | None
    sample_peak_dbfs: float | None
    true_peak_dbtp: float | None
    leading_silence_sec: float
    trailing_silence_sec: float
    duration_sec: float
    sample_rate: int
    channels: int
    clipped_samples: int


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770-4 weights in the usual file order (WAV/FFmpeg): surrounds 1.41, LFE 0, the rest 1.0.

    4 ch is L R Ls Rs, 5 ch L R C Ls Rs, 6 ch (5.1) L R C LFE Ls Rs, 8 ch (7.1)
    L R C LFE Lb Rb Ls Rs; any other count weighs every channel 1.0.
    """
    table = {
        4: [1.0, 1.0, 1.41, 1.41],
        5: [1.0, 1.0, 1.0, 1.41, 1.41],
        6: [1.0, 1.0, 1.0, 0.0, 1.41, 1.41],
        8: [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.41, 1.41],
    }
    return np.array(table.get(channels, [1.0] * channels))


class LoudnessMeter:
    """Feed (frames, channels) blocks of any size with `add`, then read `result()`."""

    def __init__(self, rate: int, *, silence_threshold_dbfs: float = -60.0) -> None:
        self.rate = rate
        self._k_weighting = KWeighting(rate)
        self._silence = 10 ** (silence_threshold_dbfs / 20)
        self._channels = 0
        self._frames = 0
        self._quarters: list[float] = []  # summed weighted K-energy of each 100 ms
        self._acc = 0.0
        self._peak = 0.0
        self._true_peak = 0.0
        self._clipped = 0
        self._first_sound: int | None = None
        self._last_sound: int | None = None

    def _start(self, channels: int) -> None:
        self._channels = channels
        self._weights = channel_weights(channels)
        self._history = np.zeros((channels, _TRUE_PEAK_HISTORY), np.float32)

    def _boundary(self, quarter: int) -> int:
        """First frame after 100 ms quarter number `quarter` (rates need not divide by 10)."""
        return (quarter + 1) * self.rate // 10

    def add(self, block: np.ndarray) -> None:
        if block.ndim == 1:
            block = block[:, None]
        if not self._channels:
            self._start(block.shape[1])
        elif block.shape[1] != self._channels:
            raise DetectorError(f"the audio changes from {self._channels} to {block.shape[1]} channels mid-stream")
        n = len(block)
        if not n:
            return
        x = np.ascontiguousarray(block.T, dtype=np.float32)  # (channels, frames): rows are fast
        mags = np.abs(x).max(axis=0)
        self._peak = max(self._peak, float(mags.max()))
        self._clipped += int(np.count_nonzero(np.abs(x) >= CLIP_LEVEL))
        sound = np.flatnonzero(mags >= self._silence)
        if sound.size:
            if self._first_sound is None:
                self._first_sound = self._frames + int(sound[0])
            self._last_sound = self._frames + int(sound[-1])
        self._true_peak = max(self._true_peak, self._interpolated_peak(x))

        # float64: the 38 Hz high pass has poles too close to the unit circle for float32.
        y = self._k_weighting(x.astype(np.float64))
        energy = self._weights @ np.square(y)
        start, pos = self._frames, 0
        while (end := self._boundary(len(self._quarters)) - start) <= n:
            self._quarters.append(self._acc + float(energy[pos:end].sum()))
            self._acc, pos = 0.0, end
        self._acc += float(energy[pos:].sum())
        self._frames += n

    def _interpolated_peak(self, x: np.ndarray) -> float:
        """Largest |value| of the 3 points the 4x oversampler puts after each frame of `x`."""
        # Prepending the frames the filter still reaches back to makes block edges invisible.
        ext = np.concatenate([self._history, x], axis=1)
        self._history = ext[:, -_TRUE_PEAK_HISTORY:]
        peak = 0.0
        for row in ext:
            windows = np.lib.stride_tricks.sliding_window_view(row, _TRUE_PEAK_TAPS)
            peak = max(peak, float(np.abs(windows @ _TRUE_PEAK_PHASES).max()))
        return peak

    def result(self) -> Loudness:
        if self._channels:
            # Let the oversampling filter ring out past the last frame.
            self._true_peak = max(self._true_peak, self._interpolated_peak(np.zeros((self._channels, _TRUE_PEAK_HISTORY), np.float32)))
        quarters = np.array(self._quarters)
        bounds = np.array([0] + [self._boundary(q) for q in range(len(quarters))])
        momentary = _window_energies(quarters, bounds, 4)  # 400 ms blocks, 75% overlap
        short_term = _window_energies(quarters, bounds, 30)  # 3 s windows at 10 Hz
        duration = self._frames / self.rate
        first, last = self._first_sound, self._last_sound
        return Loudness(
            integrated_lufs=_round(_gated_lufs(momentary, _RELATIVE_GATE_LU)),
            loudness_range_lu=_round(_loudness_range(short_term)),
            max_momentary_lufs=_round(_lufs(momentary.max()) if momentary.size else None),
            max_short_term_lufs=_round(_lufs(short_term.max()) if short_term.size else None),
            sample_peak_dbfs=_round(_db(self._peak)),
            true_peak_dbtp=_round(_db(max(self._true_peak, self._peak))),
            leading_silence_sec=round(duration if first is None else first / self.rate, 3),
            trailing_silence_sec=round(duration if last is None else (self._frames - last - 1) / self.rate, 3),
            duration_sec=round(duration, 3),
            sample_rate=self.rate,
            channels=self._channels,
            clipped_samples=self._clipped,
        )


def measure(blocks: Iterable[np.ndarray], rate: int, *, silence_threshold_dbfs: float = -60.0) -> Loudness:
    """Measure float (frames, channels) blocks at `rate` Hz in one pass."""
    meter = LoudnessMeter(rate, silence_threshold_dbfs=silence_threshold_dbfs)
    for block in blocks:
        meter.add(block)
    return meter.result()


def _window_energies(quarters: np.ndarray, bounds: np.ndarray, width: int) -> np.ndarray:
    """Mean weighted energy of every complete window of `width` consecutive 100 ms quarters."""
    if len(quarters) < width:
        return np.empty(0)
    total = np.concatenate([[0.0], np.cumsum(quarters)])
    return (total[width:] - total[:-width]) / (bounds[width:] - bounds[:-width])


def _lufs(energy: float) -> float | None:
    return _OFFSET_DB + 10 * math.log10(energy) if energy > 0 else None


def _energy(lufs: float) -> float:
    return 10 ** ((lufs - _OFFSET_DB) / 10)


def _gated_lufs(blocks: np.ndarray, relative_lu: float) -> float | None:
    """BS.1770-4 gating: drop blocks at or below -70 LUFS, then those 10 LU below what is left."""
    loud = blocks[blocks > _energy(_ABSOLUTE_GATE_LUFS)]
    if not loud.size:
        return None
    gated = loud[loud > loud.mean() * 10 ** (relative_lu / 10)]
    return _lufs(float(gated.mean()))


def _loudness_range(short_term: np.ndarray) -> float | None:
    """EBU Tech 3342: spread (10th to 95th percentile) of gated short-term loudness."""
    loud = short_term[short_term > _energy(_ABSOLUTE_GATE_LUFS)]
    if not loud.size:
        return None
    gated = loud[loud > loud.mean() * 10 ** (_LRA_RELATIVE_GATE_LU / 10)]
    levels = _OFFSET_DB + 10 * np.log10(gated)
    low, high = np.percentile(levels, [10, 95])
    return float(high - low)


def _db(amplitude: float) -> float | None:
    return 20 * math.log10(amplitude) if amplitude > 0 else None


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)
