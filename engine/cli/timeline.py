"""Time ranges and moments found in detectors' metrics, by their shape alone.

The engine never names a detector, so nothing here knows which detector reports what. A
metric is read as a timeline track when its value has one of these shapes:

- ranges: ``[[start_sec, end_sec], ...]`` (``segments``, ``blurry_segments``) or
  ``[{"start": s, "end": e, ...}, ...]``;
- moments: ``[t, ...]`` (``cuts``) or ``[{"t": t, ...}, ...]`` (``flagged_frames``, ``texts``).

Bare lists of numbers are only moments when the media has a duration and every number lies
within it, so a list of sample rates is not mistaken for cut times. Metrics are the
detector's (third-party, and fed by the uploaded file), so every value is checked here and
escaped where it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..payloads import CriterionResult

# Past the end of the media by less than this is rounding, not a different kind of number.
_SLACK_SEC = 0.5
_MAX_DEPTH = 4
_NOTE_CHARS = 120


class Span(BaseModel):
    """One range (`end` set) or moment (`end` None) on a track, with what the detector said of it."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float | None = None
    note: str = ""


class Track(BaseModel):
    """Every range or moment one metric of one detector reported."""

    model_config = ConfigDict(frozen=True)

    detector: str
    key: str  # the metric's path inside the detector's metrics, e.g. "segments" or "video.cuts"
    spans: tuple[Span, ...]

    @property
    def label(self) -> str:
        return f"{self.detector} · {self.key}"


def tracks(results: list[CriterionResult], duration_sec: float | None) -> list[Track]:
    """The timeline tracks in `results`' metrics, in the order the criteria and keys come."""
    found: list[Track] = []
    seen: set[tuple[str, str]] = set()
    for result in results:
        metrics = result.metrics
        # Metrics are keyed by detector name; a key path starts inside that level.
        inner = metrics.get(result.detector_name) if set(metrics) == {result.detector_name} else metrics
        for key, value in _walk(inner, "", 0):
            spans = _spans(value, duration_sec)
            if spans and (result.detector_name, key) not in seen:
                seen.add((result.detector_name, key))
                found.append(Track(detector=result.detector_name, key=key, spans=spans))
    return found


def moments(found: list[Track], limit: int) -> list[float]:
    """Up to `limit` distinct times worth a thumbnail: each moment, and each range's start."""
    times = sorted({round(s.start, 2) for t in found for s in t.spans})
    if len(times) <= limit:
        return times
    step = (len(times) - 1) / (limit - 1) if limit > 1 else 0
    return [times[round(i * step)] for i in range(limit)]


def _walk(value: Any, path: str, depth: int) -> Iterator[tuple[str, Any]]:
    if not isinstance(value, dict) or depth > _MAX_DEPTH:
        return
    for key, inner in value.items():
        here = f"{path}.{key}" if path else str(key)
        if isinstance(inner, dict):
            yield from _walk(inner, here, depth + 1)
        elif isinstance(inner, list) and inner:
            yield here, inner


def _spans(items: list, duration: float | None) -> tuple[Span, ...]:
    limit = duration + _SLACK_SEC if duration else None
    if all(_number(x) for x in items):
        if limit is None or not all(x <= limit for x in items):
            return ()
        return tuple(Span(start=float(x)) for x in items)
    spans = []
    for item in items:
        span = _span(item)
        if span is None or (limit is not None and span.start > limit):
            return ()
        spans.append(span)
    return tuple(spans)


def _span(item: Any) -> Span | None:
    if isinstance(item, (list, tuple)) and len(item) == 2 and all(_number(x) for x in item) and item[0] <= item[1]:
        return Span(start=float(item[0]), end=float(item[1]))
    if not isinstance(item, dict):
        return None
    if _number(item.get("t")):
        return Span(start=float(item["t"]), note=_note(item, {"t"}))
    start, end = item.get("start", item.get("start_sec")), item.get("end", item.get("end_sec"))
    if _number(start) and _number(end) and start <= end:
        return Span(start=float(start), end=float(end), note=_note(item, {"start", "end", "start_sec", "end_sec"}))
    return None


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def _note(item: dict, skip: set[str]) -> str:
    parts = [f"{k}: {v}" for k, v in item.items() if k not in skip and isinstance(v, (str, int, float, bool))]
    note = ", ".join(parts)
    return note if len(note) <= _NOTE_CHARS else note[: _NOTE_CHARS - 1] + "…"
