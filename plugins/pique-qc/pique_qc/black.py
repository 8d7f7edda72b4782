"""`black_frames`: FFmpeg's blackdetect, run in the decode pass, with short-video defaults.

blackdetect's own default minimum (`d=2`) misses the 0.1-0.5 s black flashes that spoil a short
video, so `min_duration_sec` defaults to 0.1 s; `pixel_threshold` and `picture_threshold` keep
FFmpeg's defaults (`pix_th=0.10`, `pic_th=0.98`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pique_engine import Checks, DetectorResult
from pique_engine.media.content import VideoFilter

from .ranges import duration, leading, ms, ranges_from_events, total, trailing

NAME = "black_frames"


class BlackParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_duration_sec: float = Field(default=0.1, ge=0, le=3600, description="blackdetect `d` (FFmpeg default 2).")
    pixel_threshold: float = Field(default=0.10, ge=0, le=1, description="blackdetect `pix_th`.")
    picture_threshold: float = Field(default=0.98, ge=0, le=1, description="blackdetect `pic_th`.")
    max_black_sec: float | None = Field(default=None, ge=0, description="Longest black stretch allowed.")
    max_black_ratio: float | None = Field(default=None, ge=0, le=1)
    max_leading_black_sec: float | None = Field(default=None, ge=0)
    max_trailing_black_sec: float | None = Field(default=None, ge=0)


def chain(p: BlackParams) -> str:
    return f"blackdetect=d={p.min_duration_sec:g}:pix_th={p.pixel_threshold:g}:pic_th={p.picture_threshold:g}"


def requests(params: BlackParams, info) -> dict:
    return {"black": VideoFilter(chain=chain(params))}


def evaluate(media, params: BlackParams) -> DetectorResult:
    marks = []
    for event in media.stream("black"):
        md = event.metadata
        if "lavfi.black_start" in md:
            marks.append((float(md["lavfi.black_start"]), "start"))
        if "lavfi.black_end" in md:
            marks.append((float(md["lavfi.black_end"]), "end"))
    end = duration(media.info)
    segments = ranges_from_events(marks, end, params.min_duration_sec)
    black = total(segments)
    metrics = {
        "segments": segments,
        "black_sec": black,
        "black_ratio": round(black / end, 4) if end else 0.0,
        "leading_black_sec": ms(leading(segments)),
        "trailing_black_sec": trailing(segments, end),
    }
    c = Checks()
    longest = max((b - a for a, b in segments), default=0.0)
    if params.max_black_sec is not None:
        c.check("longest black stretch", f"{longest:.3f}s", f"<= {params.max_black_sec:g}s", ok=longest <= params.max_black_sec)
    c.within("black ratio", metrics["black_ratio"], high=params.max_black_ratio)
    c.within("leading black", metrics["leading_black_sec"], high=params.max_leading_black_sec, unit="s")
    c.within("trailing black", metrics["trailing_black_sec"], high=params.max_trailing_black_sec, unit="s")
    return c.result(name=NAME, metrics=metrics, summary=f"{len(segments)} black stretch(es), {black:.3f}s in all")
