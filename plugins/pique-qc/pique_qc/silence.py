"""`silence`: FFmpeg's silencedetect, run in the decode pass on the audio or the soundtrack.

`noise_db` is silencedetect's `noise` (FFmpeg default -60 dB) and `min_duration_sec` its `d`
(FFmpeg default 2 s; 0.5 s here, dead air a short video cannot afford).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pique_engine import Checks, DetectorError, DetectorResult
from pique_engine.media.content import AudioFilter

from .ranges import duration, leading, ms, ranges_from_events, total, trailing

NAME = "silence"


class SilenceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    noise_db: float = Field(default=-60.0, ge=-140, le=0, description="silencedetect `noise` in dB.")
    min_duration_sec: float = Field(default=0.5, gt=0, le=3600, description="silencedetect `d` (FFmpeg default 2).")
    max_leading_silence_sec: float | None = Field(default=None, ge=0)
    max_trailing_silence_sec: float | None = Field(default=None, ge=0)
    max_longest_silence_sec: float | None = Field(default=None, ge=0)
    max_silent_sec: float | None = Field(default=None, ge=0)


def chain(p: SilenceParams) -> str:
    return f"silencedetect=n={p.noise_db:g}dB:d={p.min_duration_sec:g}"


def requests(params: SilenceParams, info) -> dict:
    return {"silence": AudioFilter(chain=chain(params))}


def evaluate(media, params: SilenceParams) -> DetectorResult:
    if media.info.audio is None:
        raise DetectorError(f"{media.info.describe()} has no audio track; drop the {NAME} criterion for silent videos")
    marks = []
    for event in media.stream("silence"):
        md = event.metadata
        if "lavfi.silence_start" in md:
            marks.append((max(0.0, float(md["lavfi.silence_start"])), "start"))
        if "lavfi.silence_end" in md:
            marks.append((float(md["lavfi.silence_end"]), "end"))
    end = duration(media.info, "audio")
    segments = ranges_from_events(marks, end)
    longest = ms(max((b - a for a, b in segments), default=0.0))
    metrics = {
        "segments": segments,
        "silent_sec": total(segments),
        "leading_silence_sec": ms(leading(segments)),
        "trailing_silence_sec": trailing(segments, end),
        "longest_silence_sec": longest,
    }
    c = Checks()
    c.within("leading silence", metrics["leading_silence_sec"], high=params.max_leading_silence_sec, unit="s")
    c.within("trailing silence", metrics["trailing_silence_sec"], high=params.max_trailing_silence_sec, unit="s")
    c.within("longest silence", longest, high=params.max_longest_silence_sec, unit="s")
    c.within("silence in all", metrics["silent_sec"], high=params.max_silent_sec, unit="s")
    return c.result(name=NAME, metrics=metrics, summary=f"{len(segments)} silent stretch(es), {metrics['silent_sec']:.3f}s in all")
