"""`audio_loudness`: integrated loudness, loudness range, true and sample peak, clipping, silence.

The measurement is `loudness_meter` (ITU-R BS.1770-4 and EBU Tech 3342), fed 32k-frame blocks of
the stored channels by the decode pass; it agrees with FFmpeg's `ebur128=peak=true` (measured in
the tests). Presets name the common delivery targets.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pique_engine import Checks, DetectorError, DetectorResult
from pique_engine.media.content import AudioBlocks

from .loudness_meter import LoudnessMeter

NAME = "audio_loudness"
# (integrated target LUFS, maximum true peak dBTP)
PRESETS = {"ebu_r128": (-23.0, -1.0), "streaming": (-14.0, -1.0), "atsc_a85": (-24.0, -2.0)}


class LoudnessParams(BaseModel):
    """Every requirement is optional; only the ones given are checked."""

    model_config = ConfigDict(extra="forbid")

    target_lufs: float | None = Field(default=None, ge=-70, le=0, allow_inf_nan=False,
                                      description="Integrated loudness to hit, e.g. -14 (streaming) or -23 (EBU R128).")
    tolerance_lu: float = Field(default=1.0, gt=0, le=20, allow_inf_nan=False, description="Allowed distance from target_lufs.")
    min_lufs: float | None = Field(default=None, ge=-70, le=0, allow_inf_nan=False)
    max_lufs: float | None = Field(default=None, ge=-70, le=0, allow_inf_nan=False)
    max_true_peak_dbtp: float | None = Field(default=None, ge=-60, le=12, allow_inf_nan=False, description="e.g. -1 or -2.")
    max_sample_peak_dbfs: float | None = Field(default=None, ge=-60, le=0, allow_inf_nan=False)
    max_leading_silence_sec: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_trailing_silence_sec: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_clipped_samples: int | None = Field(default=None, ge=0, description="Samples at full scale allowed, e.g. 0.")
    preset: Literal["ebu_r128", "streaming", "atsc_a85"] | None = Field(
        default=None, description="Sets target_lufs and max_true_peak_dbtp where they are not given.")
    silence_threshold_dbfs: float = Field(default=-60.0, ge=-140, lt=0, allow_inf_nan=False,
                                          description="Samples quieter than this on every channel count as silence.")

    @model_validator(mode="after")
    def _consistent(self) -> LoudnessParams:
        if self.preset is not None:
            target, peak = PRESETS[self.preset]
            if self.target_lufs is None:
                self.target_lufs = target
            if self.max_true_peak_dbtp is None:
                self.max_true_peak_dbtp = peak
        if self.min_lufs is not None and self.max_lufs is not None and self.min_lufs > self.max_lufs:
            raise ValueError(f"min_lufs ({self.min_lufs}) is greater than max_lufs ({self.max_lufs})")
        if "tolerance_lu" in self.model_fields_set and self.target_lufs is None:
            raise ValueError("tolerance_lu applies to target_lufs; set target_lufs too, or use min_lufs/max_lufs")
        return self


def requests(params: LoudnessParams, info) -> dict:
    return {"audio": AudioBlocks(channels="original", block_frames=1 << 15)}


def evaluate(media, params: LoudnessParams) -> DetectorResult:
    audio = media.info.audio
    if audio is None:
        raise DetectorError(
            f"{media.info.describe()} has no audio track, so its loudness cannot be measured; "
            f"upload it with sound or drop the {NAME} criterion for silent videos"
        )
    meter = None
    for block in media.stream("audio"):
        meter = meter or LoudnessMeter(block.sample_rate, silence_threshold_dbfs=params.silence_threshold_dbfs)
        meter.add(block.samples)
    m = (meter or LoudnessMeter(audio.sample_rate, silence_threshold_dbfs=params.silence_threshold_dbfs)).result()
    c = _checks(m, params)
    lufs, tp = m.integrated_lufs, m.true_peak_dbtp
    loudness = f"{lufs:.1f} LUFS" if lufs is not None else "silent"
    peak = f"{tp:.1f} dBTP" if tp is not None else "no peak"
    return c.result(name=NAME, metrics=asdict(m), summary=f"Loudness meets requirements: {loudness}, {peak}")


def _checks(m, p: LoudnessParams) -> Checks:
    lufs, tp, sp = m.integrated_lufs, m.true_peak_dbtp, m.sample_peak_dbfs
    if lufs is not None:
        shown = f"{lufs:.2f} LUFS"
    elif m.duration_sec < 0.4:
        shown = "none (shorter than one 400 ms block)"
    else:
        shown = "none (silent: every block is below -70 LUFS)"
    c = Checks()
    if p.target_lufs is not None:
        ok = lufs is not None and abs(lufs - p.target_lufs) <= p.tolerance_lu
        c.check("integrated loudness", shown, f"{p.target_lufs:g} LUFS ±{p.tolerance_lu:g} LU", ok=ok)
    if p.min_lufs is not None:
        c.check("integrated loudness", shown, f">= {p.min_lufs:g} LUFS", ok=lufs is not None and lufs >= p.min_lufs)
    if p.max_lufs is not None:
        c.check("integrated loudness", shown, f"<= {p.max_lufs:g} LUFS", ok=lufs is None or lufs <= p.max_lufs)
    if p.max_true_peak_dbtp is not None:
        c.check("true peak", _level(tp, "dBTP"), f"<= {p.max_true_peak_dbtp:g} dBTP", ok=tp is None or tp <= p.max_true_peak_dbtp)
    if p.max_sample_peak_dbfs is not None:
        c.check("sample peak", _level(sp, "dBFS"), f"<= {p.max_sample_peak_dbfs:g} dBFS", ok=sp is None or sp <= p.max_sample_peak_dbfs)
    if p.max_clipped_samples is not None:
        c.check("clipped samples", m.clipped_samples, f"<= {p.max_clipped_samples}", ok=m.clipped_samples <= p.max_clipped_samples)
    if p.max_leading_silence_sec is not None:
        c.check("leading silence", f"{m.leading_silence_sec:.2f}s", f"<= {p.max_leading_silence_sec:g}s",
                ok=m.leading_silence_sec <= p.max_leading_silence_sec)
    if p.max_trailing_silence_sec is not None:
        c.check("trailing silence", f"{m.trailing_silence_sec:.2f}s", f"<= {p.max_trailing_silence_sec:g}s",
                ok=m.trailing_silence_sec <= p.max_trailing_silence_sec)
    return c


def _level(value: float | None, unit: str) -> str:
    return f"{value:.2f} {unit}" if value is not None else "none (silent)"
