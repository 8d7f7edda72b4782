"""Large media for the benchmarks, generated on demand into a git-ignored folder (never committed).

Run by hand to (re)generate: ``python benchmarks/largemedia.py [--dir fixtures/large]``.

How the big files are made, honestly:

- **MP4 (H.264 + AAC).** 1080x1920 at 30 fps, encoded by x264 (``ultrafast``) in constant
  bit rate with HRD filler data (``nal-hrd=cbr``), the way broadcast encoders keep a rate: every
  frame is a real access unit padded with filler NAL units to the target rate, so sample sizes,
  sample tables and the ``moov`` are those of a real 40 Mb/s phone clip. A static noise band
  makes each keyframe large (~0.9 MB, as a high-bit-rate IDR frame is) while P-frames stay cheap
  to encode. The moov-at-end copy is written first; the faststart copy is a packet-for-packet
  remux of it with ``movflags=+faststart``.
- **WAV.** 48 kHz stereo 16-bit PCM, written in chunks by libsndfile.
- **WebP.** A noisy lossless (VP8L) picture from Pillow, with EXIF orientation 6, so the EXIF chunk sits
  after the image data at the end of the file.
- **GIF.** An animated GIF whose frames are real LZW image data.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "fixtures" / "large"
MB = 1_000_000


@dataclass(frozen=True)
class LargeFile:
    """One generated file: what it is and how big it is meant to be."""

    key: str
    name: str
    description: str


def _x264_cbr_video(path: Path, *, seconds: float, bit_rate: int, width: int = 1080, height: int = 1920,
                    fps: int = 30, faststart: bool = False, audio: bool = True) -> Path:
    import av

    tmp = path.with_suffix(".part.mp4")
    rate = Fraction(fps)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(tmp), "w", format="mp4", options=options) as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.bit_rate = bit_rate
        vs.options = {
            "preset": "ultrafast",
            "x264-params": f"nal-hrd=cbr:force-cfr=1:keyint={2 * fps}",
            "maxrate": str(bit_rate),
            "minrate": str(bit_rate),
            "bufsize": str(bit_rate),
        }
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=48000, layout="stereo")
            astream.bit_rate = 128_000
        rng = np.random.default_rng(1)
        base = np.full((height, width), 60, np.uint8)
        band = min(800, height // 2)
        base[:band] = rng.integers(0, 256, (band, width), dtype=np.uint8)
        chroma = np.full((height // 2, width), 128, np.uint8)
        n_frames = round(seconds * fps)
        bar = max(1, width // 16)
        audio_pts = 0
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(1024) / 48000)).astype(np.float32)
        block = np.ascontiguousarray(np.stack([tone, tone]))
        for i in range(n_frames):
            y = base.copy()
            x = (i // fps * bar) % (width - bar)
            y[band:, x : x + bar] = 200
            frame = av.VideoFrame.from_ndarray(np.concatenate([y, chroma]), format="yuv420p")
            frame.pts, frame.time_base = i, 1 / rate
            for packet in vs.encode(frame):
                out.mux(packet)
            while astream is not None and audio_pts < (i + 1) * 48000 // fps:
                af = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, audio_pts, Fraction(1, 48000)
                for packet in astream.encode(af):
                    out.mux(packet)
                audio_pts += 1024
        for packet in vs.encode(None):
            out.mux(packet)
        if astream is not None:
            for packet in astream.encode(None):
                out.mux(packet)
    tmp.replace(path)
    return path


def remux(src: Path, dst: Path, *, faststart: bool, kinds: tuple[str, ...] = ("video", "audio")) -> Path:
    """Copy the packets of `src`'s `kinds` of streams into `dst`, with the moov first or last."""
    import av

    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"} if faststart else {}) as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in kinds}
        for packet in inp.demux(*[inp.streams[i] for i in mapping]):
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
    tmp.replace(dst)
    return dst


def _wav(path: Path, *, seconds: float, rate: int = 48000, channels: int = 2) -> Path:
    import soundfile

    tmp = path.with_suffix(".part.wav")
    chunk = rate * 10
    t = np.arange(chunk) / rate
    block = np.repeat((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None], channels, axis=1)
    with soundfile.SoundFile(str(tmp), "w", samplerate=rate, channels=channels, subtype="PCM_16", format="WAV") as f:
        for _ in range(int(seconds * rate) // chunk):
            f.write(block)
    tmp.replace(path)
    return path


def _webp(path: Path, *, width: int, height: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(2)
    # Lossless (VP8L): lossy VP8 overflows its 512 KiB first partition on a picture this noisy.
    xs = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    ys = np.linspace(0, 200, height, dtype=np.float32)[:, None, None]
    rgb = (xs * 0.5 + ys * 0.5 + rng.normal(0, 24, (height, width, 3))).clip(0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    tmp = path.with_suffix(".part.webp")
    Image.fromarray(rgb).save(tmp, format="WEBP", lossless=True, quality=0, method=0, exif=exif.tobytes())
    tmp.replace(path)
    return path


def _gif(path: Path, *, width: int, height: int, frames: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(3)
    images = [Image.fromarray(rng.integers(0, 255, (height, width), dtype=np.uint8), "L").convert("P") for _ in range(frames)]
    tmp = path.with_suffix(".part.gif")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    tmp.replace(path)
    return path


FILES = {
    "mp4_moov_end_300mb": LargeFile("mp4_moov_end_300mb", "h264_1080x1920_40mbps_62s_moov_end.mp4", "62 s 1080x1920 H.264 40 Mb/s + AAC, moov after mdat"),
    "mp4_faststart_300mb": LargeFile("mp4_faststart_300mb", "h264_1080x1920_40mbps_62s_faststart.mp4", "the same packets, moov first"),
    "mp4_video_only_300mb": LargeFile("mp4_video_only_300mb", "h264_1080x1920_40mbps_62s_video_only.mp4", "the same video packets without audio, moov first: the first packet is a 0.9 MB keyframe"),
    "mp4_1gb": LargeFile("mp4_1gb", "h264_1080x1920_100mbps_84s_faststart.mp4", "84 s 1080x1920 H.264 100 Mb/s + AAC, faststart"),
    "mp4_10mb": LargeFile("mp4_10mb", "h264_1080x1920_40mbps_2s_faststart.mp4", "2 s 1080x1920 H.264 40 Mb/s + AAC, faststart"),
    "wav_345mb": LargeFile("wav_345mb", "pcm16_48000_stereo_30min.wav", "30 min 48 kHz stereo 16-bit PCM"),
    "webp_large": LargeFile("webp_large", "noise_6000x4000_exif6.webp", "6000x4000 lossless WebP of noise, EXIF orientation 6 at the end"),
    "gif_large": LargeFile("gif_large", "noise_1000x1000_40frames.gif", "1000x1000 animated GIF, 40 frames of noise"),
}


def ensure(key: str, directory: Path = DEFAULT_DIR, log=print) -> Path:
    """The path of generated file `key`, generating it first if it is missing."""
    spec = FILES[key]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / spec.name
    if path.exists():
        return path
    started = time.monotonic()
    log(f"generating {path.name} ({spec.description}) ...")
    if key == "mp4_moov_end_300mb":
        _x264_cbr_video(path, seconds=62, bit_rate=40_000_000)
    elif key == "mp4_faststart_300mb":
        remux(ensure("mp4_moov_end_300mb", directory, log), path, faststart=True)
    elif key == "mp4_video_only_300mb":
        remux(ensure("mp4_moov_end_300mb", directory, log), path, faststart=True, kinds=("video",))
    elif key == "mp4_1gb":
        _x264_cbr_video(path, seconds=84, bit_rate=100_000_000, faststart=True)
    elif key == "mp4_10mb":
        _x264_cbr_video(path, seconds=2, bit_rate=40_000_000, faststart=True)
    elif key == "wav_345mb":
        _wav(path, seconds=30 * 60)
    elif key == "webp_large":
        _webp(path, width=6000, height=4000)
    elif key == "gif_large":
        _gif(path, width=1000, height=1000, frames=40)
    log(f"  {path.stat().st_size / MB:,.1f} MB in {time.monotonic() - started:.1f} s")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("keys", nargs="*", default=list(FILES), help=f"which files (default all): {', '.join(FILES)}")
    args = parser.parse_args()
    for key in args.keys:
        ensure(key, args.dir)


if __name__ == "__main__":
    main()
