"""`frozen_frames`: FFmpeg's freezedetect, run in the decode pass.

`noise_db` is freezedetect's `n` in dB (FFmpeg default -60) and `min_duration_sec` its `d`
(FFmpeg default 2 s; 0.5 s here, a short video's still stretch).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pique_engine import Checks, DetectorResult
from pique_engine.media.content import VideoFilter

from .ranges import duration, ranges_from_events, total

NAME = "frozen_frames"
_KEY = "lavfi.freezedetect."


class FrozenParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    noise_db: float = Field(default=-60.0, ge=-140, le=0, description="freezedetect `n` in dB.")
    min_duration_sec: float = Field(default=0.5, gt=0, le=3600, description="freezedetect `d` (FFmpeg default 2).")
    max_frozen_sec: float | None = Field(default=None, ge=0, description="Longest frozen stretch allowed.")
    max_frozen_ratio: float | None = Field(default=None, ge=0, le=1)


def chain(p: FrozenParams) -> str:
    return f"freezedetect=n={p.noise_db:g}dB:d={p.min_duration_sec:g}"


def requests(params: FrozenParams, info) -> dict:
    return {"freeze": VideoFilter(chain=chain(params))}


def evaluate(media, params: FrozenParams) -> DetectorResult:
    marks = []
    for event in media.stream("freeze"):
        md = event.metadata
        if _KEY + "freeze_start" in md:
            marks.append((float(md[_KEY + "freeze_start"]), "start"))
        if _KEY + "freeze_end" in md:
            marks.append((float(md[_KEY + "freeze_end"]), "end"))
    end = duration(media.info)
    # freezedetect marks a stretch only once it has lasted `d`; one still at the end is never
    # closed by FFmpeg, so it runs to the end of the video here.
    segments = ranges_from_events(marks, end)
    frozen = total(segments)
    metrics = {"segments": segments, "frozen_sec": frozen, "frozen_ratio": round(frozen / end, 4) if end else 0.0}
    c = Checks()
    longest = max((b - a for a, b in segments), default=0.0)
    if params.max_frozen_sec is not None:
        c.check("longest frozen stretch", f"{longest:.3f}s", f"<= {params.max_frozen_sec:g}s", ok=longest <= params.max_frozen_sec)
    c.within("frozen ratio", metrics["frozen_ratio"], high=params.max_frozen_ratio)
    return c.result(name=NAME, metrics=metrics, summary=f"{len(segments)} frozen stretch(es), {frozen:.3f}s in all")
