"""pique-engine: evaluate video, image and audio against a judge's criteria.

Plugin authors need only what is exported here:

    from pique_engine import Checks, Detector, DetectorResult, hookimpl

    @hookimpl
    def register_detectors(register):
        register(Detector(name="my_check", content_types={"video"}, evaluate=my_check))
"""

from .detector import Checks, Detector, DetectorResult, Media, NoParams
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
from .media.info import AudioStream, ContentType, ImageInfo, MediaInfo, VideoStream

__all__ = [
    "AudioStream",
    "Checks",
    "ContentMismatch",
    "ContentType",
    "Detector",
    "DetectorError",
    "DetectorResult",
    "ImageInfo",
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
    "VideoStream",
    "WebhookError",
    "hookimpl",
]
