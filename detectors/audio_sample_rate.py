"""Built-in detector `audio_sample_rate`: sample rate, channels and duration of audio."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pique_engine import Checks, Detector, DetectorError, DetectorResult, Media, check_ranges, hookimpl

NAME = "audio_sample_rate"


class AudioSampleRateParams(BaseModel):
    """Every requirement is optional; only the ones given are checked."""

    model_config = ConfigDict(extra="forbid")

    allowed_sample_rates: list[int] | None = Field(default=None, min_length=1, description="Allowed rates in Hz.")
    min_sample_rate: int | None = Field(default=None, ge=1)
    min_channels: int | None = Field(default=None, ge=1)
    max_channels: int | None = Field(default=None, ge=1)
    min_duration_sec: float | None = Field(default=None, ge=0)
    max_duration_sec: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> AudioSampleRateParams:
        check_ranges(self, "channels", "duration_sec")
        return self


def evaluate(media: Media, params: AudioSampleRateParams) -> DetectorResult:
    a = media.info.audio
    if a is None:
        raise DetectorError(f"{media.info.describe()} has no audio stream")
    duration = media.info.duration_sec or a.duration_sec
    metrics = {"sample_rate": a.sample_rate, "channels": a.channels, "duration_sec": duration, "codec": a.codec}
    c = Checks()
    p = params
    if p.allowed_sample_rates is not None:
        allowed = "one of " + ", ".join(f"{r} Hz" for r in p.allowed_sample_rates)
        c.check("sample rate", f"{a.sample_rate} Hz", allowed, ok=a.sample_rate in p.allowed_sample_rates)
    c.within("sample rate", a.sample_rate, p.min_sample_rate, unit=" Hz", shown=f"{a.sample_rate} Hz")
    c.within("channels", a.channels, p.min_channels, p.max_channels)
    shown = f"{duration:.1f}s" if duration is not None else "unknown"
    c.within("duration", duration, p.min_duration_sec, p.max_duration_sec, unit="s", shown=shown)
    summary = f"Audio meets requirements: {a.sample_rate} Hz, {a.channels} ch, {shown}, {a.codec}"
    return c.result(name=NAME, metrics=metrics, summary=summary)


@hookimpl
def register_detectors(register):
    register(
        Detector(
            name=NAME,
            content_types={"audio"},
            evaluate=evaluate,
            params=AudioSampleRateParams,
            description="Audio sample rate, channel count and duration, from headers.",
        )
    )
