"""`onscreen_text`: text shown in the picture, read by PP-OCR on sampled frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pique_engine import Checks, DetectorResult

from . import models
from .content import image_request, pictures
from .words import contains, fold, tokens


_SAME_LINE = 0.8  # similarity of two readings (difflib ratio) taken as the same line


class OnscreenTextParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    forbidden_words: list[str] = Field(default_factory=list)
    required_words: list[str] = Field(default_factory=list)
    max_text_area_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    sample_fps: float = Field(default=0.5, gt=0.0, le=30.0)
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)


def requests(params: OnscreenTextParams, info) -> dict:
    # 960 px keeps 16 px captions of a 1080p frame legible (they become 8 px) at a quarter of the cost.
    return {"frames": image_request(info, params.sample_fps, max_side=960)}


@dataclass
class Line:
    """One line of text read on one frame; `box` is [x, y, w, h] in the frame's own pixels."""

    text: str
    confidence: float
    box: list[int]


def read(image: np.ndarray, min_confidence: float) -> list[Line]:
    """The lines of text in one RGB frame, scaled to the frame handed over."""
    result = models.ocr_engine()(image)
    if not result.txts:
        return []
    lines = []
    for text, conf, quad in zip(result.txts, result.scores, result.boxes):
        if conf < min_confidence or not text.strip():
            continue
        xs, ys = np.asarray(quad)[:, 0], np.asarray(quad)[:, 1]
        box = [int(xs.min()), int(ys.min()), int(round(xs.max() - xs.min())), int(round(ys.max() - ys.min()))]
        lines.append(Line(text=text.strip(), confidence=float(conf), box=box))
    return lines


@dataclass
class _Shown:
    text: str
    t: float
    until: float
    confidence: float
    box: list[int]
    scale: float

    def as_metric(self) -> dict:
        x, y, w, h = (round(v * self.scale) for v in self.box)
        return {"t": round(self.t, 3), "until": round(self.until, 3), "text": self.text,
                "confidence": round(self.confidence, 4), "box": [x, y, w, h]}


@dataclass
class _Timeline:
    """Text deduplicated across consecutive sampled frames, with word matches per frame."""

    params: OnscreenTextParams
    shown: list[_Shown] = field(default_factory=list)
    open: dict[str, _Shown] = field(default_factory=dict)
    matches: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    area_ratio: float = 0.0
    frames: int = 0

    def add(self, t: float, lines: list[Line], frame_shape: tuple[int, int], scale: float) -> None:
        self.frames += 1
        still_open: dict[str, _Shown] = {}
        for line in lines:
            key = fold(line.text)
            seen = self._same_line(key)
            if seen is None:
                seen = _Shown(line.text, t, t, line.confidence, line.box, scale)
                self.shown.append(seen)
            elif line.confidence > seen.confidence:  # keep the clearest reading of the line
                seen.text, seen.confidence, seen.box = line.text, line.confidence, line.box
            seen.until = t
            still_open[key] = seen
        self.open = still_open
        h, w = frame_shape
        area = sum(line.box[2] * line.box[3] for line in lines)
        self.area_ratio = max(self.area_ratio, min(1.0, area / float(w * h)))
        frame_tokens = tokens(" ".join(line.text for line in lines))
        for kind, words in (("forbidden", self.params.forbidden_words), ("required", self.params.required_words)):
            for word in words:
                if contains(frame_tokens, word):
                    self.matches.setdefault((kind, word), []).append(round(t, 3))

    def _same_line(self, key: str) -> _Shown | None:
        """The line read on the previous sampled frame that this reading continues, if any.

        Over a moving background the same caption can read `morning` on one frame and
        `moming` on the next; readings this close are one line shown on both frames.
        """
        if key in self.open:
            return self.open[key]
        best = max(self.open.items(), key=lambda kv: SequenceMatcher(None, key, kv[0]).ratio(), default=None)
        if best is not None and SequenceMatcher(None, key, best[0]).ratio() >= _SAME_LINE:
            return best[1]
        return None


def evaluate(media, params: OnscreenTextParams) -> DetectorResult:
    timeline = _Timeline(params)
    width = _display_width(media)
    for frame in pictures(media):
        h, w = frame.image.shape[:2]
        scale = width / w if width else 1.0
        timeline.add(frame.time, read(frame.image, params.min_confidence), (h, w), scale)
    matched = [{"word": word, "list": kind, "times": times} for (kind, word), times in timeline.matches.items()]
    metrics = {
        "texts": [s.as_metric() for s in timeline.shown],
        "text_area_ratio": round(timeline.area_ratio, 4),
        "matched_words": matched,
        "frames_read": timeline.frames,
        "sample_fps": params.sample_fps,
        "model": models.OCR_MODEL,
    }
    return _judge(params, timeline, metrics)


def _judge(params: OnscreenTextParams, timeline: _Timeline, metrics: dict) -> DetectorResult:
    c = Checks()
    for word in params.forbidden_words:
        times = timeline.matches.get(("forbidden", word), [])
        c.check(f"forbidden word {word!r}", _at(times), "absent", ok=not times)
    for word in params.required_words:
        times = timeline.matches.get(("required", word), [])
        c.check(f"required word {word!r}", "not shown", "shown", ok=bool(times))
    if params.max_text_area_ratio is not None:
        c.within("text area ratio", timeline.area_ratio, high=params.max_text_area_ratio, shown=round(timeline.area_ratio, 3))
    n = len(timeline.shown)
    summary = f"{n} text line{'s' if n != 1 else ''} on screen over {timeline.frames} frames"
    if n:
        summary += f", first {timeline.shown[0].text!r} at {timeline.shown[0].t:.1f} s"
    return c.result(name="onscreen_text", metrics=metrics, summary=summary)


def _at(times: list[float]) -> str:
    if not times:
        return "absent"
    shown = ", ".join(f"{t:.1f}" for t in times[:5]) + (" ..." if len(times) > 5 else "")
    n = len(times)
    return f"shown at {shown} s ({n} frame{'s' if n != 1 else ''})"


def _display_width(media) -> int | None:
    info = media.info
    shown = info.video or info.image
    return shown.width if shown is not None else None
