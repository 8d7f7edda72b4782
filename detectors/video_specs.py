"""Built-in detector `video_specs`: size, aspect ratio, frame rate, duration and audio of a video."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pique_engine import (
    AspectRatio,
    Checks,
    Detector,
    DetectorError,
    DetectorResult,
    Media,
    aspect_ratio_label,
    check_ranges,
    hookimpl,
    ratio_matches,
)

NAME = "video_specs"


class VideoSpecsParams(BaseModel):
    """Every requirement is optional; only the ones given are checked."""

    model_config = ConfigDict(extra="forbid")

    aspect_ratio: AspectRatio | None = Field(default=None, description="Required 'W:H', e.g. '9:16'.")
    aspect_ratio_tolerance: float = Field(default=0.01, ge=0, le=1, description="Relative: 0.01 allows 1%.")
    min_width: int | None = Field(default=None, ge=1)
    max_width: int | None = Field(default=None, ge=1)
    min_height: int | None = Field(default=None, ge=1)
    max_height: int | None = Field(default=None, ge=1)
    min_fps: float | None = Field(default=None, gt=0)
    max_fps: float | None = Field(default=None, gt=0)
    min_duration_sec: float | None = Field(default=None, ge=0)
    max_duration_sec: float | None = Field(default=None, gt=0)
    require_audio: bool = False
    audio_sample_rates: list[int] | None = Field(default=None, min_length=1, description="Allowed audio sample rates in Hz.")

    @model_validator(mode="after")
    def _bounds(self) -> VideoSpecsParams:
        check_ranges(self, "width", "height", "fps", "duration_sec")
        return self


def _number(x: float | None) -> float | int | None:
    if x is None:
        return None
    return int(x) if float(x).is_integer() else x


def evaluate(media: Media, params: VideoSpecsParams) -> DetectorResult:
    v = media.info.video
    if v is None:
        raise DetectorError(f"{media.info.describe()} has no video stream")
    audio = media.info.audio
    duration = media.info.duration_sec or v.duration_sec
    ratio = aspect_ratio_label(v.width, v.height)
    metrics = {
        "width": v.width,
        "height": v.height,
        "aspect_ratio": ratio,
        "fps": _number(v.fps),
        "duration_sec": duration,
        "audio_sample_rate": audio.sample_rate if audio else None,
        "codec": v.codec,
        "rotation": v.rotation,
        "bit_rate": media.info.bit_rate,
        "frames": v.frames,
        "audio_codec": audio.codec if audio else None,
        "audio_channels": audio.channels if audio else None,
    }
    c = Checks()
    p = params
    if p.aspect_ratio is not None:
        ok = ratio_matches(v.width, v.height, p.aspect_ratio, p.aspect_ratio_tolerance)
        c.check("aspect ratio", ratio, f"{p.aspect_ratio} ±{p.aspect_ratio_tolerance:.0%}", ok=ok)
    c.within("width", v.width, p.min_width, p.max_width)
    c.within("height", v.height, p.min_height, p.max_height)
    c.within("fps", v.fps, p.min_fps, p.max_fps)
    c.within("duration", duration, p.min_duration_sec, p.max_duration_sec, unit="s", shown=_seconds(duration))
    if p.require_audio:
        c.check("audio track", "absent" if audio is None else "present", "present", ok=audio is not None)
    if p.audio_sample_rates is not None:
        rate = audio.sample_rate if audio else None
        c.check("audio sample rate", rate, "one of " + ", ".join(f"{r} Hz" for r in p.audio_sample_rates), ok=rate in p.audio_sample_rates)
    fps = f"{v.fps:.1f}fps" if v.fps is not None else "unknown fps"
    summary = f"Video specs meet requirements: {v.width}x{v.height} ({ratio}), {fps}, {_seconds(duration)}"
    return c.result(name=NAME, metrics=metrics, summary=summary)


def _seconds(duration: float | None) -> str:
    return f"{duration:.1f}s" if duration is not None else "unknown duration"


@hookimpl
def register_detectors(register):
    register(
        Detector(
            name=NAME,
            content_types={"video"},
            evaluate=evaluate,
            params=VideoSpecsParams,
            description="Video size, aspect ratio, frame rate, duration and audio track, from headers.",
        )
    )
