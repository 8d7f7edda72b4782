"""Aspect ratios as people write them ("9:16") and as numbers."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import AfterValidator

# Ratios people name; a size within 1% of one is labelled with it (1366x768 is "16:9").
COMMON = ("1:1", "9:16", "16:9", "4:5", "5:4", "3:4", "4:3", "2:3", "3:2", "1:2", "2:1", "21:9", "9:21")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:/x]\s*(\d+(?:\.\d+)?)\s*$")


def parse_ratio(text: str) -> float:
    """'9:16' (or '9/16', '9x16') as width / height; ValueError for anything else."""
    m = _RATIO.match(text)
    if not m or float(m.group(2)) == 0 or float(m.group(1)) == 0:
        raise ValueError(f"aspect ratio {text!r} must look like 'W:H', e.g. '9:16'")
    return float(m.group(1)) / float(m.group(2))


def _valid_ratio(text: str) -> str:
    parse_ratio(text)
    return text


AspectRatio = Annotated[str, AfterValidator(_valid_ratio)]
"""A params field holding a ratio like '9:16', validated when the judge is loaded."""


def aspect_ratio_label(width: int, height: int) -> str:
    """The reduced 'W:H' of a size: exact when its terms are small, else the nearest common ratio.

    576x1024 and 1080x1920 are '9:16', 1080x1350 is '4:5'; 1366x768 reduces to 683:384,
    which nobody means, so it is labelled '16:9'.
    """
    if width <= 0 or height <= 0:
        return "0:0"
    g = math.gcd(width, height)
    w, h = width // g, height // g
    if w <= 64 and h <= 64:
        return f"{w}:{h}"
    value = width / height
    nearest = min(COMMON, key=lambda r: abs(parse_ratio(r) - value) / parse_ratio(r))
    if abs(parse_ratio(nearest) - value) / parse_ratio(nearest) <= 0.01:
        return nearest
    return f"{w}:{h}"


def ratio_matches(width: int, height: int, wanted: str, tolerance: float) -> bool:
    """True when width/height is within `tolerance` (relative, 0.01 = 1%) of `wanted`."""
    target = parse_ratio(wanted)
    return height > 0 and abs(width / height - target) / target <= tolerance
