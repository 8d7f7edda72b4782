"""What a content detector asks for, and what it is handed.

A detector declares one or more *requests* (frozen models); the decode pass opens the file
once and serves the union of every detector's requests, handing each consumer its own stream
of *items*:

    request                 items
    VideoFrames             Frame: a uint8 picture (luma/gray HxW or RGB HxWx3) and its time
    AudioBlocks             AudioBlock: float32 samples (frames, channels) and their start time
    ImagePixels             Frame: an image's pixels, EXIF orientation applied (time 0)
    VideoFilter/AudioFilter FilterEvent: the `lavfi.*` metadata an FFmpeg filter attached
                            (a VideoFilter runs on images too, once, upright)

Times are seconds from the start of presentation. Pictures are upright (the display rotation
of a phone video is applied) and never larger than the bounds asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VideoFrames(_Request):
    """Video frames: every frame (the default), `fps` per second, or keyframes only.

    `format`: "luma" is the stored Y plane (limited range in most video: black is 16, white
    235; the cheapest), "gray" is full-range grey (black 0), "rgb" is HxWx3. Frames larger than
    `max_width` x `max_height` are scaled down, keeping their aspect ratio. A sampled request
    gets the first decoded frame at or after each multiple of 1/fps; the pass skips decoding
    frames no request needs, so a sample may come a few frames after its mark (its `time`
    says when).

    `shot_starts`: also the first frame of each new shot, when a scene-cut filter (`scdet`)
    runs in the same pass (for example a `scene_cuts` criterion of the same judge); without
    one, only the sampled frames. The sample marks stay where they are, and a cut frame that
    falls on a mark comes once. Every frame is already handed over without sampling, so there
    it changes nothing; keyframes alone cannot be combined with it (ask for `fps`).
    """

    fps: float | None = Field(default=None, gt=0)
    keyframes_only: bool = False
    shot_starts: bool = False
    max_width: int | None = Field(default=None, ge=2)
    max_height: int | None = Field(default=None, ge=2)
    format: Literal["luma", "gray", "rgb"] = "luma"

    @model_validator(mode="after")
    def _one_rate(self) -> VideoFrames:
        if self.fps is not None and self.keyframes_only:
            raise ValueError("ask for either fps or keyframes_only, not both")
        if self.shot_starts and self.keyframes_only:
            # A keyframes-only request exists to skip decoding; shot starts need every frame decoded.
            raise ValueError("shot_starts adds frames to fps sampling, not to keyframes_only: ask for fps with shot_starts")
        return self

    @property
    def every_frame(self) -> bool:
        return self.fps is None and not self.keyframes_only


class AudioBlocks(_Request):
    """Audio as float32 blocks of `block_frames` samples (the last may be shorter).

    `sample_rate` None keeps the stored rate; `channels` "mono" is the mean of the stored
    channels, "stereo" FFmpeg's up- or downmix, "original" the stored layout.
    Works on audio files and on the soundtrack of videos.
    """

    sample_rate: int | None = Field(default=None, ge=1000, le=384_000)
    channels: Literal["mono", "stereo", "original"] = "mono"
    block_frames: int = Field(default=4096, ge=1, le=1 << 22)


class ImagePixels(_Request):
    """A still image's pixels (the first frame of an animation), EXIF orientation applied."""

    format: Literal["gray", "rgb"] = "rgb"
    max_width: int | None = Field(default=None, ge=2)
    max_height: int | None = Field(default=None, ge=2)


class VideoFilter(_Request):
    """An FFmpeg video filter chain run on every decoded frame, e.g. `blackdetect=d=0.1:pix_th=0.1`.

    A video's frames reach the chain as decoded (stored orientation, full size). A still image
    reaches it once, at time 0: upright (EXIF orientation applied), full size, the first frame
    of an animation, in the pixel format FFmpeg decodes the image to (JPEG as full-range YCbCr,
    lossy WebP as YUV, the others as RGB or grey), so the chain reads what `ffmpeg -i image
    -vf chain` reads. The consumer gets one `FilterEvent` per filtered frame that carries metadata.
    """

    chain: str = Field(min_length=1, max_length=2000)


class AudioFilter(_Request):
    """An FFmpeg audio filter chain, e.g. `silencedetect=n=-60dB:d=0.5` or `ebur128=peak=true:metadata=1`."""

    chain: str = Field(min_length=1, max_length=2000)


Request = Union[VideoFrames, AudioBlocks, ImagePixels, VideoFilter, AudioFilter]


@dataclass(frozen=True, eq=False)
class Frame:
    """One picture: `image` is uint8, HxW (luma, gray) or HxWx3 (rgb); `time` in seconds.

    `image` is read-only (consumers that asked for the same picture share it) and may be a view
    with padded rows; `np.ascontiguousarray(image)` where a library needs packed rows.
    `shot_start`: a scene-cut filter (`scdet`) in the same pass marked it as the first frame of
    a new shot (always False when none runs).
    """

    time: float
    image: np.ndarray
    keyframe: bool = False
    shot_start: bool = False


@dataclass(frozen=True, eq=False)
class AudioBlock:
    """Consecutive samples: float32 of shape (frames, channels), starting at `time` seconds."""

    time: float
    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class FilterEvent:
    """The metadata an FFmpeg filter attached to the frame at `time`, e.g. {"lavfi.black_start": "2"}."""

    time: float
    metadata: Mapping[str, str]


Item = Union[Frame, AudioBlock, FilterEvent]
