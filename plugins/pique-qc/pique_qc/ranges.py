"""Time ranges as every detector of the pack reports them: [[start, end], ...] in seconds, to the ms."""

from __future__ import annotations

Ranges = list[list[float]]


def ms(seconds: float) -> float:
    return round(float(seconds), 3)


def total(ranges: Ranges) -> float:
    return ms(sum(end - start for start, end in ranges))


def ranges_from_events(events: list[tuple[float, str]], end_of_stream: float, min_duration: float = 0.0) -> Ranges:
    """Pair "start"/"end" marks (time, kind) into [[start, end], ...]; an open range ends with the stream."""
    out: Ranges = []
    start: float | None = None
    for t, kind in events:
        if kind == "start" and start is None:
            start = t
        elif kind == "end" and start is not None:
            if t - start + 1e-6 >= min_duration:  # times are rounded to the frame's timestamp
                out.append([ms(start), ms(t)])
            start = None
    if start is not None and end_of_stream - start + 1e-6 >= min_duration:
        out.append([ms(start), ms(max(start, end_of_stream))])
    return out


def duration(info, kind: str = "video") -> float:
    """The stream's duration in seconds (the container's when the stream does not say)."""
    stream = getattr(info, kind, None)
    return float((stream and stream.duration_sec) or info.duration_sec or 0.0)


def leading(ranges: Ranges) -> float:
    return ranges[0][1] - ranges[0][0] if ranges and ranges[0][0] <= 0.0005 else 0.0


def trailing(ranges: Ranges, end: float) -> float:
    return ms(ranges[-1][1] - ranges[-1][0]) if ranges and ranges[-1][1] >= end - 0.0005 else 0.0
