"""The probe reports what a viewer sees, from headers, for every fixture format."""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from pique_engine.errors import MediaLimitError, ProbeError
from pique_engine.media.probe import ProbeLimits, probe

from ..conftest import FIXTURES

MEDIA = FIXTURES / "media"

# file -> (kind, container, width, height, fps, duration, audio sample rate, rotation)
VIDEOS = {
    "contract_576x1024_30fps.mp4": ("mp4", 576, 1024, 30.0, 38.033, 44100, 0),
    "phone_rotated_90.mp4": ("mp4", 360, 640, 30.0, 2.0, 44100, 90),
    "moov_at_end_320x240_25fps.mp4": ("mp4", 320, 240, 25.0, 2.0, 44100, 0),
    "ntsc_640x360_29.97fps.mp4": ("mp4", 640, 360, 29.97, 2.002, 44100, 0),
    "silent_1080x1350.mp4": ("mp4", 1080, 1350, 24.0, 1.0, None, 0),
    "clip_320x240.mov": ("mov", 320, 240, 30.0, 2.0, 44100, 0),
    "clip_320x240.mkv": ("mkv", 320, 240, 30.0, 2.008, 48000, 0),
    "clip_320x240.webm": ("webm", 320, 240, 30.0, 2.008, 48000, 0),
    "browser_recording_no_duration.webm": ("webm", 320, 240, 30.0, 1.5, None, 0),
}


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_video_fixture_is_described_as_displayed(name):
    container, w, h, fps, duration, rate, rotation = VIDEOS[name]
    info = probe(MEDIA / name)
    assert info.kind == "video"
    assert info.container == container
    assert (info.video.width, info.video.height) == (w, h)
    assert info.video.rotation == rotation
    assert info.video.fps == pytest.approx(fps, abs=0.01)
    assert info.duration_sec == pytest.approx(duration, abs=0.01)
    assert (info.audio.sample_rate if info.audio else None) == rate


def test_rotated_phone_video_keeps_its_stored_size_too():
    v = probe(MEDIA / "phone_rotated_90.mp4").video
    assert (v.stored_width, v.stored_height) == (640, 360)


AUDIO = {
    "tone_44100_mono.wav": ("wav", 44100, 1, 1.0, "pcm_s16le"),
    "tone_48000_stereo.flac": ("flac", 48000, 2, 2.0, "flac"),
    "tone_44100_stereo.mp3": ("mp3", 44100, 2, 2.0, "mp3"),
    "tone_48000_stereo.m4a": ("m4a", 48000, 2, 2.0, "aac"),
    "tone_22050_mono.ogg": ("ogg", 22050, 1, 2.0, "vorbis"),
    "voice_16000_mono.opus": ("ogg", 16000, 1, 2.0, "opus"),
}


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_audio_fixture_reports_rate_channels_duration_codec(name):
    container, rate, channels, duration, codec = AUDIO[name]
    info = probe(MEDIA / name)
    assert info.kind == "audio"
    assert info.container == container
    assert (info.audio.sample_rate, info.audio.channels, info.audio.codec) == (rate, channels, codec)
    assert info.duration_sec == pytest.approx(duration, abs=0.06)
    assert info.video is None


IMAGES = {
    "portrait_1080x1350.jpg": ("jpeg", 1080, 1350, 1, 1),
    "exif_rotated_6.jpg": ("jpeg", 480, 640, 6, 1),
    "square_512.png": ("png", 512, 512, 1, 1),
    "animated_64x64_5frames.gif": ("gif", 64, 64, 1, 5),
    "still_300x200.webp": ("webp", 300, 200, 1, 1),
}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_fixture_reports_displayed_size_orientation_frames(name):
    fmt, w, h, orientation, frames = IMAGES[name]
    info = probe(MEDIA / name)
    assert info.kind == "image"
    assert (info.image.format, info.image.width, info.image.height) == (fmt, w, h)
    assert (info.image.orientation, info.image.frames) == (orientation, frames)


def test_exif_orientation_6_swaps_the_stored_size():
    img = probe(MEDIA / "exif_rotated_6.jpg").image
    assert (img.stored_width, img.stored_height) == (640, 480)


@pytest.mark.parametrize(
    "name, error, words",
    [
        ("empty.mp4", ProbeError, "empty (0 bytes)"),
        ("random_bytes.mp4", ProbeError, "not recognised media: the first bytes"),
        ("truncated_moov_missing.mp4", ProbeError, "is it complete"),
        ("hls_playlist_named_as.mp4", ProbeError, "HLS/M3U playlist"),
        ("bomb_40000x40000.png", MediaLimitError, "1600000000 pixels"),
    ],
)
def test_broken_and_hostile_files_raise_a_clear_error(name, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        probe(MEDIA / name)


def test_a_file_named_mp4_is_read_as_what_its_bytes_are():
    info = probe(MEDIA / "wav_named_as.mp4")
    assert (info.kind, info.container) == ("audio", "wav")


def test_probe_accepts_any_seekable_file_object():
    data = (MEDIA / "phone_rotated_90.mp4").read_bytes()
    info = probe(io.BytesIO(data))
    assert (info.video.width, info.video.height, info.video.rotation) == (360, 640, 90)


class CountingReader(io.RawIOBase):
    """A file object that counts the bytes a reader asks for."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._f.readinto(b)
        self.bytes_read += n
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


def test_probing_the_contract_video_reads_a_small_fraction_of_it():
    data = (MEDIA / "contract_576x1024_30fps.mp4").read_bytes()
    reader = CountingReader(data)
    probe(reader)
    # The moov header of this 38 s file is ~20 KB; frames are never decoded.
    assert reader.bytes_read < 100_000 < len(data)


def test_image_pixel_limit_is_configurable():
    with pytest.raises(MediaLimitError, match="262,143-pixel limit"):
        probe(MEDIA / "square_512.png", ProbeLimits(max_image_pixels=512 * 512 - 1))


def test_duration_limit_refuses_long_files_from_their_header():
    with pytest.raises(MediaLimitError, match="duration of 38 s"):
        probe(MEDIA / "contract_576x1024_30fps.mp4", ProbeLimits(max_duration_sec=30))


# -- what the benchmarks hold the probe to -------------------------------------------------


class Counting(io.BytesIO):
    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def _keyframe_first_mp4(path) -> bytes:
    """A video-only MP4 whose first packet is a ~100 KB keyframe of noise."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        vs.options = {"preset": "ultrafast", "qp": "0"}
        noise = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(noise, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    return path.read_bytes()


def test_an_mp4_whose_first_packet_is_a_keyframe_is_probed_without_reading_it(tmp_path):
    data = _keyframe_first_mp4(tmp_path / "keyframe_first.mp4")
    assert len(data) > 100_000
    f = Counting(data)
    info = probe(f)
    assert (info.video.width, info.video.height, info.video.frames, info.video.fps) == (320, 240, 5, 30.0)
    assert f.bytes_read < 20_000  # a 16 KB buffer of header and the tkhd walk, not the keyframe
    assert info.video.pix_fmt == "yuv420p"  # from the avcC record, not from a decoded frame


def _webp(mode: str, *, lossless: bool, frames: int, orientation: int | None) -> bytes:
    rng = np.random.default_rng(frames)
    images = [Image.fromarray(rng.integers(0, 256, (37, 53, 4), dtype=np.uint8), "RGBA").convert(mode) for _ in range(frames)]
    kwargs = {"format": "WEBP", "lossless": lossless}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    if frames > 1:
        kwargs.update(save_all=True, append_images=images[1:], duration=40)
    out = io.BytesIO()
    images[0].save(out, **kwargs)
    return out.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
@pytest.mark.parametrize("lossless", [False, True])
@pytest.mark.parametrize("frames, orientation", [(1, None), (1, 6), (3, None), (3, 8)])
def test_webp_is_described_from_its_chunks_as_pillow_describes_it(mode, lossless, frames, orientation):
    data = _webp(mode, lossless=lossless, frames=frames, orientation=orientation)
    pillow = Image.open(io.BytesIO(data))
    swap = orientation in (6, 8)
    f = Counting(data)
    img = probe(f).image
    assert (img.stored_width, img.stored_height, img.mode, img.frames) == (*pillow.size, pillow.mode, getattr(pillow, "n_frames", 1))
    assert (img.width, img.height) == (pillow.size[::-1] if swap else pillow.size)
    assert img.orientation == (orientation or 1)
    if frames == 1 and not orientation:
        assert f.bytes_read < 200  # the chunk headers, not the picture


def test_a_truncated_or_garbled_webp_fails_with_a_probe_error():
    from pique_engine.errors import ProbeError

    data = _webp("RGB", lossless=True, frames=1, orientation=None)
    with pytest.raises(ProbeError, match="WEBP"):
        probe(io.BytesIO(data[:16]))
    with pytest.raises(ProbeError, match="VP8L signature"):
        probe(io.BytesIO(data[:20] + b"\x00" + data[21:]))


def test_gif_frames_are_counted_as_pillow_counts_them(tmp_path):
    rng = np.random.default_rng(1)
    frames = [Image.fromarray(rng.integers(0, 255, (50, 60), dtype=np.uint8), "L").convert("P") for _ in range(7)]
    path = tmp_path / "noise.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40, loop=0)
    assert probe(path).image.frames == Image.open(path).n_frames == 7
