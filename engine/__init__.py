"""pique-engine: evaluate video, image and audio against a judge's criteria.

Plugin authors need only what is exported here:

    from pique_engine import Checks, Detector, DetectorResult, hookimpl

    @hookimpl
    def register_detectors(register):
        register(Detector(name="my_check", content_types={"video"}, evaluate=my_check))

A content detector also declares `requests` (`VideoFrames`, `AudioBlocks`, `ImagePixels`,
`VideoFilter`, `AudioFilter`) and reads `Frame`, `AudioBlock` and `FilterEvent` items; see
docs/plugins.md. These, `audio_blocks`, `run_detector` and `synth` load on first use: they
bring numpy, PyAV and pytest, which a process that only evaluates headers never needs.
"""

from __future__ import annotations

from typing import Any

from .detector import Checks, Detector, DetectorResult, NoParams, check_ranges
from .errors import (
    ContentMismatch,
    DetectorError,
    JudgeError,
    MediaError,
    MediaLimitError,
    PiqueError,
    PluginError,
    ProbeError,
    SignatureError,
    WebhookError,
)
from .hookspecs import hookimpl
from .media.info import AudioStream, ContentType, ImageInfo, Media, MediaInfo, VideoStream
from .media.ratio import AspectRatio, aspect_ratio_label, parse_ratio, ratio_matches

_CONTENT = ("AudioBlock", "AudioBlocks", "AudioFilter", "FilterEvent", "Frame", "ImagePixels", "VideoFilter", "VideoFrames")

__all__ = [
    "AspectRatio",
    "AudioBlock",
    "AudioBlocks",
    "AudioFilter",
    "AudioStream",
    "Checks",
    "ContentMismatch",
    "ContentType",
    "Detector",
    "DetectorError",
    "DetectorResult",
    "FilterEvent",
    "Frame",
    "ImageInfo",
    "ImagePixels",
    "JudgeError",
    "Media",
    "MediaError",
    "MediaInfo",
    "MediaLimitError",
    "NoParams",
    "PiqueError",
    "PluginError",
    "ProbeError",
    "SignatureError",
    "VideoFilter",
    "VideoFrames",
    "VideoStream",
    "WebhookError",
    "aspect_ratio_label",
    "audio_blocks",
    "check_ranges",
    "hookimpl",
    "parse_ratio",
    "ratio_matches",
    "run_detector",
    "synth",
]


def __getattr__(name: str) -> Any:
    # Imported on first use; written as import statements so the import graph test sees them.
    if name in _CONTENT:
        from .media import content

        value = getattr(content, name)
    elif name == "audio_blocks":
        from .media.decode import audio_blocks as value
    elif name == "run_detector":
        from .testing import run_detector as value
    elif name == "synth":
        import pique_engine.synth  # `from . import synth` would ask this very function again

        value = pique_engine.synth
    else:
        raise AttributeError(f"module 'pique_engine' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
