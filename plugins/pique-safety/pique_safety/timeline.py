"""Turning per-sample scores into the flags and time ranges the detectors report."""

from __future__ import annotations

from collections.abc import Sequence


def corroborated(times: Sequence[float], min_frames: int, window_sec: float) -> list[float]:
    """The flagged times that belong to a run of `min_frames` flagged times within `window_sec`.

    One frame over the threshold is often a false positive (a 6% per-image rate becomes
    near-certain over a video's frames); a flag needs several agreeing frames close together.
    """
    ts = sorted(times)
    if min_frames <= 1:
        return ts
    keep: set[int] = set()
    for i in range(len(ts) - min_frames + 1):
        j = i + min_frames - 1
        if ts[j] - ts[i] <= window_sec + 1e-9:
            keep.update(range(i, j + 1))
    return [ts[i] for i in sorted(keep)]


def ranges(times: Sequence[float], max_gap: float) -> list[list[float]]:
    """Group sorted times into `[start, end]` ranges, splitting where the gap exceeds `max_gap`."""
    out: list[list[float]] = []
    for t in sorted(times):
        if out and t - out[-1][1] <= max_gap + 1e-9:
            out[-1][1] = t
        else:
            out.append([t, t])
    return [[round(a, 3), round(b, 3)] for a, b in out]

