"""The typed description of a probed media file that every detector shares.

A probe opens the file once and fills these frozen models; detectors read them and never
reopen the file unless they declared that they need its content (see `Detector.reads`).
Dimensions are what a viewer sees: rotation and EXIF orientation are already applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict

ContentType = Literal["video", "image", "audio"]
CONTENT_TYPES: tuple[ContentType, ...] = ("video", "image", "audio")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VideoStream(_Frozen):
    """The first video stream, as displayed."""

    codec: str
    width: int
    height: int
    stored_width: int
    stored_height: int
    rotation: int  # degrees clockwise a player turns the stored picture: 0, 90, 180 or 270
    fps: float | None  # average frame rate; None when the container does not say
    frames: int | None
    duration_sec: float | None
    bit_rate: int | None
    pix_fmt: str | None


class AudioStream(_Frozen):
    """The first audio stream."""

    codec: str
    sample_rate: int
    channels: int
    duration_sec: float | None
    bit_rate: int | None


class ImageInfo(_Frozen):
    """A still or animated image, as displayed (EXIF orientation applied)."""

    format: str
    width: int
    height: int
    stored_width: int
    stored_height: int
    orientation: int  # EXIF orientation tag, 1 when absent
    frames: int
    mode: str


class MediaInfo(_Frozen):
    """What one probe learnt about a file, shared by every detector."""

    kind: ContentType  # what the file is, whatever it was declared as
    container: str  # "mp4", "webm", "wav", "jpeg", ...
    size_bytes: int | None
    duration_sec: float | None
    bit_rate: int | None
    video: VideoStream | None = None
    audio: AudioStream | None = None
    image: ImageInfo | None = None

    def describe(self) -> str:
        """One short human phrase for error messages, e.g. 'audio (wav, 44100 Hz)'."""
        if self.image is not None:
            return f"an image ({self.container}, {self.image.width}x{self.image.height})"
        if self.video is not None:
            return f"a video ({self.container}, {self.video.width}x{self.video.height})"
        if self.audio is not None:
            return f"audio ({self.container}, {self.audio.sample_rate} Hz)"
        return f"a {self.container} file"


@dataclass(frozen=True)
class Media:
    """A probed file as a detector receives it.

    `info` is the shared description. Detectors that declared `reads="content"` may call
    `open()` for a fresh seekable binary file object of the whole content (or use
    `pique_engine.audio_blocks` to get samples); header-only detectors never should.
    """

    info: MediaInfo
    name: str
    opener: Callable[[], IO[bytes]] = field(repr=False)

    def open(self) -> IO[bytes]:
        return self.opener()
