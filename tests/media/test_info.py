"""The shared description: frozen, strict, and described in one phrase for error messages."""

from __future__ import annotations

import io

import pydantic
import pytest

from pique_engine import AudioStream, ImageInfo, Media, MediaInfo, VideoStream


def video() -> VideoStream:
    return VideoStream(codec="h264", width=360, height=640, stored_width=640, stored_height=360, rotation=90,
                       fps=30.0, frames=60, duration_sec=2.0, bit_rate=None, pix_fmt="yuv420p")  # fmt: skip


def test_each_kind_describes_itself_for_error_messages():
    audio = AudioStream(codec="pcm_s16le", sample_rate=44100, channels=1, duration_sec=1.0, bit_rate=None)
    image = ImageInfo(format="png", width=512, height=256, stored_width=512, stored_height=256, orientation=1, frames=1, mode="RGB")
    common = {"size_bytes": 10, "duration_sec": None, "bit_rate": None}
    assert MediaInfo(kind="video", container="mp4", video=video(), audio=audio, **common).describe() == "a video (mp4, 360x640)"
    assert MediaInfo(kind="audio", container="wav", audio=audio, **common).describe() == "audio (wav, 44100 Hz)"
    assert MediaInfo(kind="image", container="png", image=image, **common).describe() == "an image (png, 512x256)"
    assert MediaInfo(kind="audio", container="ogg", **common).describe() == "a ogg file"


def test_descriptions_are_frozen_and_refuse_unknown_fields():
    v = video()
    with pytest.raises(pydantic.ValidationError):
        v.width = 1
    with pytest.raises(pydantic.ValidationError, match="extra"):
        VideoStream(**v.model_dump(), colour="blue")
    with pytest.raises(pydantic.ValidationError):
        MediaInfo(kind="text", container="txt", size_bytes=1, duration_sec=None, bit_rate=None)


def test_media_opens_a_fresh_file_each_time():
    info = MediaInfo(kind="video", container="mp4", size_bytes=3, duration_sec=None, bit_rate=None, video=video())
    media = Media(info=info, name="clip.mp4", opener=lambda: io.BytesIO(b"abc"))
    first, second = media.open(), media.open()
    assert first is not second and first.read() == second.read() == b"abc"
    assert "opener" not in repr(media)
