"""Making small media files: fixtures, tests and benchmarks generate what they need.

Everything is synthesised (tones, gradients, moving bars) with PyAV, numpy, Pillow and
soundfile, so nothing is ever downloaded.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def tone(seconds: float, rate: int, channels: int = 1, *, freq: float = 440.0, amplitude: float = 0.5,
         lead_silence: float = 0.0, tail_silence: float = 0.0) -> np.ndarray:
    """A sine tone as float32 (frames, channels), optionally padded with digital silence."""
    n = int(round(seconds * rate))
    t = np.arange(n, dtype=np.float64) / rate
    mono = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    mono = np.concatenate([np.zeros(int(lead_silence * rate), np.float32), mono, np.zeros(int(tail_silence * rate), np.float32)])
    return np.repeat(mono[:, None], channels, axis=1)


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
) -> Path:
    """Encode a moving-bar test video (MP4/MOV/MKV/WebM by suffix) with an optional tone.

    `rotation` is clockwise degrees a player should turn the stored picture (a phone's
    portrait video is stored landscape with rotation 90).
    """
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    vcodec = codec or {".webm": "libvpx-vp9"}.get(suffix, "libx264")
    acodec = {".webm": "libopus", ".mkv": "libopus"}.get(suffix, "aac")
    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "+faststart"} if faststart and suffix in (".mp4", ".mov", ".m4a") else {}
    n_frames = int(round(seconds * float(rate)))
    with av.open(str(path), "w", options=options) as out:
        vs = out.add_stream(vcodec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        if bit_rate:
            vs.bit_rate = bit_rate
        if vcodec == "libx264":
            vs.options = {"preset": "ultrafast", "crf": "35"} if not bit_rate else {"preset": "ultrafast"}
        elif vcodec.startswith("libvpx"):
            vs.options = {"deadline": "realtime", "cpu-used": "8", "crf": "50", "b": "0"} if not bit_rate else {"deadline": "realtime", "cpu-used": "8"}
        if rotation:
            vs.set_display_rotation(-rotation)  # PyAV counts counter-clockwise
        audio = None
        if audio_rate:
            arate = 48000 if acodec == "libopus" else audio_rate
            layout = "mono" if audio_channels == 1 else "stereo"
            astream = out.add_stream(acodec, rate=arate, layout=layout)
            astream.bit_rate = 32000 * audio_channels
            audio = (astream, arate, layout)
        bar = max(1, width // 16)
        y = np.full((height, width), 60, np.uint8)
        for i in range(n_frames):
            frame_y = y.copy()
            # The bar steps once a second: the picture changes, yet files stay small enough to commit.
            x = (i // max(1, round(float(rate))) * bar) % max(1, width - bar)
            frame_y[:, x : x + bar] = 200
            frame = av.VideoFrame(width, height, "yuv420p")
            _fill_yuv(frame, frame_y)
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        if audio:
            stream, arate, layout = audio
            _mux_audio(out, stream, tone(n_frames / float(rate), arate, 1 if layout == "mono" else 2), arate, layout)
    return path


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
