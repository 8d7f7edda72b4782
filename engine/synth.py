"""Making small media files: fixtures, tests and benchmarks generate what they need.

Everything is synthesised (tones, gradients, moving bars, black, frozen and silent stretches,
text drawn on frames, detailed pictures to blur) with PyAV, numpy, Pillow and soundfile, so
nothing is ever downloaded and plugin tests need no ffmpeg binary.

A video's picture is a function `(index, seconds) -> luma plane` (uint8, limited range: black
is 16, white 235); the stretch makers wrap one picture in another:

    picture = synth.with_text(synth.black_stretch(synth.moving_bars(320, 240, 30), 1.0, 2.0), "HELLO")
    synth.write_video(path, width=320, height=240, picture=picture, seconds=3,
                      sound=synth.silent_stretch(synth.tone(3, 44100, 2), 44100, 0.5, 1.5))
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = [
    "BLACK_LUMA",
    "WHITE_LUMA",
    "Picture",
    "black_stretch",
    "detailed_image",
    "draw_text",
    "frozen_stretch",
    "moving_bars",
    "silent_stretch",
    "tone",
    "with_text",
    "write_audio",
    "write_image",
    "write_video",
]


def tone(seconds: float, rate: int, channels: int = 1, *, freq: float = 440.0, amplitude: float = 0.5,
         lead_silence: float = 0.0, tail_silence: float = 0.0) -> np.ndarray:
    """A sine tone as float32 (frames, channels), optionally padded with digital silence."""
    n = int(round(seconds * rate))
    t = np.arange(n, dtype=np.float64) / rate
    mono = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    mono = np.concatenate([np.zeros(int(lead_silence * rate), np.float32), mono, np.zeros(int(tail_silence * rate), np.float32)])
    return np.repeat(mono[:, None], channels, axis=1)


# Limited ("TV") range, as H.264 and phones store it: a black frame's luma is 16, not 0.
BLACK_LUMA = 16
WHITE_LUMA = 235
_BACKGROUND_LUMA, _BAR_LUMA = 60, 200

Picture = Callable[[int, float], np.ndarray]
"""A video's picture: `(frame index, seconds) -> luma plane`, uint8 of shape (height, width)."""


def moving_bars(width: int, height: int, fps: float | Fraction = 30) -> Picture:
    """A grey picture with a bright bar that steps once a second (the fixtures' picture)."""
    step = max(1, round(float(fps)))
    bar = max(1, width // 16)
    background = np.full((height, width), _BACKGROUND_LUMA, np.uint8)

    def picture(index: int, _t: float) -> np.ndarray:
        y = background.copy()
        # Stepping once a second changes the picture, yet keeps the files small enough to commit.
        x = (index // step * bar) % max(1, width - bar)
        y[:, x : x + bar] = _BAR_LUMA
        return y

    return picture


def black_stretch(picture: Picture, start: float, end: float) -> Picture:
    """`picture`, but black (luma 16) for frames timed in [start, end) seconds."""

    def black(index: int, t: float) -> np.ndarray:
        y = picture(index, t)
        return np.full_like(y, BLACK_LUMA) if start <= t < end else y

    return black


def frozen_stretch(picture: Picture, start: float, end: float) -> Picture:
    """`picture`, but showing the frame at `start` unchanged until `end` (frames made in order)."""
    held: list[np.ndarray] = []

    def frozen(index: int, t: float) -> np.ndarray:
        if not start <= t < end:
            return picture(index, t)
        if not held:
            held.append(picture(index, t))
        return held[0].copy()

    return frozen


def with_text(picture: Picture, text: str, *, size: int = 48, xy: tuple[int, int] = (16, 16),
              luma: int = WHITE_LUMA, start: float = 0.0, end: float = float("inf")) -> Picture:
    """`picture` with `text` drawn on the frames timed in [start, end) seconds."""

    def texted(index: int, t: float) -> np.ndarray:
        y = picture(index, t)
        return draw_text(y, text, size=size, xy=xy, luma=luma) if start <= t < end else y

    return texted


def draw_text(plane: np.ndarray, text: str, *, size: int = 48, xy: tuple[int, int] = (16, 16),
              luma: int = WHITE_LUMA) -> np.ndarray:
    """A copy of a uint8 luma plane (or RGB image) with `text` drawn at `xy` in DejaVu Sans."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(plane)
    fill = luma if image.mode == "L" else (luma, luma, luma)
    ImageDraw.Draw(image).text(xy, text, fill=fill, font=_font(size))
    return np.asarray(image).copy()


def detailed_image(width: int, height: int, *, blur: float = 0.0, seed: int = 0):
    """A Pillow RGB picture full of hard edges (colour blocks, outlines, text), Gaussian-blurred by `blur` px."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    blocks = rng.integers(40, 216, (max(1, height // 8), max(1, width // 8), 3), dtype=np.uint8)
    image = Image.fromarray(blocks).resize((width, height), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    for _ in range(24):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.rectangle([x, y, x + int(rng.integers(6, 60)), y + int(rng.integers(6, 40))], outline=colour, width=2)
    for line, top in enumerate(range(4, height - 14, 28)):
        draw.text((8, top), "Sharp edges 0123 ABC xyz", fill=(0, 0, 0) if line % 2 else (255, 255, 255), font=_font(14))
    return image.filter(ImageFilter.GaussianBlur(blur)) if blur > 0 else image


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)  # Pillow looks in the system font folders
    except OSError:
        return ImageFont.load_default(size=size)  # Pillow's own scalable font, with FreeType


def silent_stretch(samples: np.ndarray, rate: int, start: float, end: float) -> np.ndarray:
    """A copy of float32 (frames, channels) `samples` with digital silence in [start, end) seconds."""
    out = samples.copy()
    out[int(round(start * rate)) : int(round(end * rate))] = 0.0
    return out


def write_audio(path: str | Path, samples: np.ndarray, rate: int, *, subtype: str | None = None) -> Path:
    """Write samples with libsndfile (wav, flac, ogg, mp3) or FFmpeg (m4a, opus) by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".m4a", ".aac", ".opus"):
        codec = "libopus" if suffix == ".opus" else "aac"
        if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
            raise ValueError(f"Opus encodes at 8/12/16/24/48 kHz, not {rate} Hz")
        fmt = {".m4a": "mp4", ".aac": "adts", ".opus": "ogg"}[suffix]
        _encode_audio(path, samples, rate, codec, fmt)
        return path
    import soundfile

    kwargs = {}
    if suffix == ".ogg":
        kwargs = {"format": "OGG", "subtype": "VORBIS"}
    elif suffix == ".mp3":
        kwargs = {"format": "MP3", "subtype": "MPEG_LAYER_III"}
    if subtype:
        kwargs["subtype"] = subtype
    soundfile.write(str(path), samples, rate, **kwargs)
    return path


def _encode_audio(path: Path, samples: np.ndarray, rate: int, codec: str, fmt: str) -> None:
    import av

    channels = samples.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        _mux_audio(out, stream, samples, rate, layout)


def _mux_audio(out, stream, samples: np.ndarray, rate: int, layout: str) -> None:
    import av

    block = 1024
    for start in range(0, len(samples), block):
        chunk = np.ascontiguousarray(samples[start : start + block].T)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def write_video(
    path: str | Path,
    *,
    width: int,
    height: int,
    fps: float | Fraction = 30,
    seconds: float = 1.0,
    audio_rate: int | None = 44100,
    audio_channels: int = 2,
    rotation: int = 0,
    faststart: bool = True,
    codec: str | None = None,
    bit_rate: int | None = None,
    picture: Picture | None = None,
    sound: np.ndarray | None = None,
    codec_options: dict[str, str] | None = None,
) -> Path:
    """Encode a test video (MP4/MOV/MKV/WebM by suffix), by default moving bars and a tone.

    `rotation` is clockwise degrees a player should turn the stored picture (a phone's
    portrait video is stored landscape with rotation 90). `picture` draws each stored frame
    (see `moving_bars`); `sound` is float32 (frames, channels) at `audio_rate`, cut or padded
    with silence to the video's length. `codec_options` are the encoder's own options
    (e.g. x264's `{"preset": "veryfast", "g": "30"}`), replacing the small-file defaults.
    """
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "+faststart"} if faststart and suffix in (".mp4", ".mov", ".m4a") else {}
    n_frames = int(round(seconds * float(rate)))
    with av.open(str(path), "w", options=options) as out:
        vs = _video_stream(out, suffix, codec, rate, width, height, bit_rate, codec_options)
        if rotation:
            vs.set_display_rotation(-rotation)  # PyAV counts counter-clockwise
        audio = _AudioTrack(out, suffix, audio_rate, audio_channels, sound, n_frames / float(rate)) if audio_rate else None
        picture = picture or moving_bars(width, height, rate)
        for i in range(n_frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            _fill_yuv(frame, _checked_plane(picture(i, i / float(rate)), width, height))
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in vs.encode(frame):
                out.mux(packet)
            if audio:  # interleaved as a camera writes them, so readers see both streams advance
                audio.write_until((i + 1) / float(rate))
        for packet in vs.encode(None):
            out.mux(packet)
        if audio:
            audio.finish()
    return path


def _video_stream(out, suffix: str, codec: str | None, rate: Fraction, width: int, height: int,
                  bit_rate: int | None, codec_options: dict[str, str] | None):
    vcodec = codec or {".webm": "libvpx-vp9"}.get(suffix, "libx264")
    vs = out.add_stream(vcodec, rate=rate)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    if bit_rate:
        vs.bit_rate = bit_rate
    if codec_options is not None:
        vs.options = dict(codec_options)
    elif vcodec == "libx264":
        vs.options = {"preset": "ultrafast", "crf": "35"} if not bit_rate else {"preset": "ultrafast"}
    elif vcodec.startswith("libvpx"):
        vs.options = {"deadline": "realtime", "cpu-used": "8", "crf": "50", "b": "0"} if not bit_rate else {"deadline": "realtime", "cpu-used": "8"}
    return vs


class _AudioTrack:
    """The soundtrack of `write_video`, encoded block by block alongside the frames."""

    BLOCK = 1024

    def __init__(self, out, suffix: str, audio_rate: int, channels: int, sound: np.ndarray | None, seconds: float):
        acodec = {".webm": "libopus", ".mkv": "libopus"}.get(suffix, "aac")
        self.rate = 48000 if acodec == "libopus" else audio_rate
        self.layout = "mono" if channels == 1 else "stereo"
        self.out = out
        self.stream = out.add_stream(acodec, rate=self.rate, layout=self.layout)
        self.stream.bit_rate = 32000 * channels
        self.samples = tone(seconds, self.rate, channels) if sound is None else _fitted(sound, seconds, self.rate, channels)
        self.done = 0

    def write_until(self, seconds: float) -> None:
        end = min(len(self.samples), int(round(seconds * self.rate)))
        while self.done + self.BLOCK <= end:
            self._encode(self.samples[self.done : self.done + self.BLOCK])

    def finish(self) -> None:
        while self.done < len(self.samples):
            self._encode(self.samples[self.done : self.done + self.BLOCK])
        for packet in self.stream.encode(None):
            self.out.mux(packet)

    def _encode(self, chunk: np.ndarray) -> None:
        import av

        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T), format="fltp", layout=self.layout)
        frame.sample_rate = self.rate
        frame.pts = self.done
        frame.time_base = Fraction(1, self.rate)
        self.done += len(chunk)
        for packet in self.stream.encode(frame):
            self.out.mux(packet)


def _checked_plane(y: np.ndarray, width: int, height: int) -> np.ndarray:
    if y.shape != (height, width) or y.dtype != np.uint8:
        raise ValueError(f"a picture must return a uint8 luma plane of shape ({height}, {width}), got {y.dtype} {y.shape}")
    return y


def _fitted(sound: np.ndarray, seconds: float, rate: int, channels: int) -> np.ndarray:
    if sound.ndim != 2 or sound.shape[1] != channels:
        raise ValueError(f"sound must be float32 of shape (frames, {channels}), got {sound.shape}")
    n = int(round(seconds * rate))
    out = np.zeros((n, channels), np.float32)
    out[: min(n, len(sound))] = sound[:n]
    return out


def _fill_yuv(frame, y: np.ndarray) -> None:
    planes = frame.planes
    planes[0].update(_pad(y, planes[0].line_size))
    h2, w2 = (y.shape[0] + 1) // 2, (y.shape[1] + 1) // 2
    chroma = np.full((h2, w2), 128, np.uint8)
    planes[1].update(_pad(chroma, planes[1].line_size))
    planes[2].update(_pad(chroma, planes[2].line_size))


def _pad(plane: np.ndarray, line_size: int) -> bytes:
    h, w = plane.shape
    if w == line_size:
        return plane.tobytes()
    padded = np.zeros((h, line_size), np.uint8)
    padded[:, :w] = plane
    return padded.tobytes()


def write_image(
    path: str | Path,
    *,
    width: int,
    height: int,
    exif_orientation: int | None = None,
    frames: int = 1,
) -> Path:
    """Write a gradient image (format by suffix); several frames make an animated GIF/WebP."""
    from PIL import Image

    path = Path(path)
    xs = np.linspace(0, 255, width, dtype=np.uint8)
    ys = np.linspace(0, 255, height, dtype=np.uint8)
    rgb = np.stack([np.tile(xs, (height, 1)), np.tile(ys[:, None], (1, width)), np.full((height, width), 90, np.uint8)], axis=2)
    images = [Image.fromarray(np.roll(rgb, i * 7, axis=1)) for i in range(frames)]
    kwargs = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    if frames > 1:
        kwargs.update(save_all=True, append_images=images[1:], duration=40, loop=0)
    images[0].save(path, **kwargs)
    return path
