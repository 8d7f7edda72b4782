"""The cost of the content decode pass against a bare PyAV decode of the same clip.

Run by hand: ``python benchmarks/decode_pass.py [--runs 3] [--gops 30,250]``. On first use it
encodes a 60 s 1080p30 H.264 + AAC clip per keyframe interval with `pique_engine.synth` into
the git-ignored `fixtures/large/` (~1-3 min each on 2 cores), then times, in rotation so
machine noise spreads over all of them:

- bare: PyAV decodes every video frame (frame threads on, as the pass sets them) and does
  nothing with it; "bare+audio" also decodes the AAC track;
- one: the pass with one consumer of every frame (grey, scaled to 320 wide);
- four: the pass with four consumers (grey every frame at 320 wide, grey 2 fps at 640 wide,
  RGB 1 fps within 224x224, mono 16 kHz audio), each computing a mean, as a detector would;
- four-threads: the same four, each run as a loop detector on its own thread (`Iterating`);
- 1 fps / every frame: one luma consumer at 1 frame per second, and at every frame.

Each case's wall time and CPU time (all threads of the process) are recorded; the ratios use
CPU time, which other work on a shared machine disturbs far less than wall time.

The picture is a panning noise texture with a moving bar, so x264 spends a realistic bit rate
on motion; the encoder uses `veryfast` with B-frames, with a keyframe every `g` frames.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, markdown, median, table, write_results  # noqa: E402

from pique_engine import synth  # noqa: E402
from pique_engine.media.consumers import Iterating  # noqa: E402
from pique_engine.media.content import AudioBlocks, VideoFrames  # noqa: E402
from pique_engine.media.decode_pass import run_pass  # noqa: E402

LARGE = ROOT / "fixtures" / "large"
WIDTH, HEIGHT, FPS, SECONDS = 1920, 1080, 30, 60


def clip(gop: int, grain: bool = False) -> Path:
    """The benchmark clip with a keyframe every `gop` frames.

    With `grain`, fresh sensor-like noise on every frame makes x264 spend ~7 Mb/s (an upload's
    bit rate: YouTube asks for 8 Mb/s at 1080p30) where the plain clip needs ~1.3 Mb/s, so its
    frames cost more to decode.
    """
    path = LARGE / f"decode_pass_1080p30_60s_g{gop}{'_grain' if grain else ''}.mp4"
    if path.exists():
        return path
    LARGE.mkdir(parents=True, exist_ok=True)
    print(f"encoding {path.name} (once) ...", flush=True)
    started = time.perf_counter()
    rng = np.random.default_rng(3)
    # Smooth noise, so the encoder sees texture and motion rather than flat colour.
    small = rng.integers(30, 200, (HEIGHT // 8 + 64, WIDTH // 8 + 64), dtype=np.uint8)
    texture = np.kron(small, np.ones((8, 8), np.uint8))
    bars = synth.moving_bars(WIDTH, HEIGHT, FPS)
    # Eight noise fields, each shifted by a different column every frame: never the same twice.
    noise = rng.integers(-8, 9, (8, HEIGHT, WIDTH + 64), dtype=np.int16) if grain else None

    def picture(i: int, t: float) -> np.ndarray:
        dx, dy = (i * 4) % 500, (i * 2) % 500
        y = texture[dy : dy + HEIGHT, dx : dx + WIDTH].copy()
        bar = bars(i, t) == 200
        y[bar] = 230
        if noise is not None:
            shift = (i * 7) % 64
            y = np.clip(y + noise[i % 8, :, shift : shift + WIDTH], 0, 255).astype(np.uint8)
        return y

    options = {"preset": "veryfast", "crf": "23", "g": str(gop), "keyint_min": str(min(gop, 25))}
    tmp = path.with_suffix(".tmp.mp4")
    synth.write_video(tmp, width=WIDTH, height=HEIGHT, fps=FPS, seconds=SECONDS, audio_rate=48000, picture=picture, codec_options=options)
    tmp.rename(path)
    print(f"  {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def bare(path: Path, audio: bool = False) -> dict:
    import av

    frames = 0
    with av.open(str(path)) as c:
        streams = [c.streams.video[0]] + ([c.streams.audio[0]] if audio else [])
        c.streams.video[0].thread_type = "AUTO"
        for frame in c.decode(*streams):
            frames += 1
    return {"decoded": frames}


class Mean:
    """A consumer that does what a cheap detector does: one statistic per item."""

    def __init__(self) -> None:
        self.n = 0
        self.total = 0.0

    def feed(self, item) -> None:
        self.n += 1
        self.total += float((item.image if hasattr(item, "image") else item.samples).mean())

    def close(self) -> None:
        pass


def means(items) -> float:
    total = 0.0
    for item in items:
        total += float((item.image if hasattr(item, "image") else item.samples).mean())
    return total


FOUR = [
    VideoFrames(format="gray", max_width=320),
    VideoFrames(fps=2, format="gray", max_width=640),
    VideoFrames(fps=1, format="rgb", max_width=224, max_height=224),
    AudioBlocks(sample_rate=16000, channels="mono", block_frames=16000),
]


def through_pass(path: Path, requests, threaded: bool = False) -> dict:
    consumers = [Iterating(means) if threaded else Mean() for _ in requests]
    stats = run_pass(path, list(zip(requests, consumers)))
    assert not stats.failures, stats.failures
    return {"decoded": stats.video_frames_decoded, "skipped_packets": stats.video_packets_skipped, "packets": stats.video_packets}


CASES = {
    "bare": lambda p: bare(p),
    "bare+audio": lambda p: bare(p, audio=True),
    "one (grey 320, every frame)": lambda p: through_pass(p, [FOUR[0]]),
    "four": lambda p: through_pass(p, FOUR),
    "four-threads": lambda p: through_pass(p, FOUR, threaded=True),
    "luma every frame": lambda p: through_pass(p, [VideoFrames(max_width=320)]),
    "luma 1 fps": lambda p: through_pass(p, [VideoFrames(fps=1, max_width=320)]),
}


def measure(path: Path, runs: int) -> dict[str, dict]:
    wall: dict[str, list[float]] = {name: [] for name in CASES}
    cpu: dict[str, list[float]] = {name: [] for name in CASES}
    detail: dict[str, dict] = {}
    for run in range(runs):
        for name, case in CASES.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            detail[name] = case(path)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)  # every thread of this process
        print(f"  run {run + 1}/{runs} done (load average {os.getloadavg()[0]:.1f})", flush=True)
    return {
        name: {"median_s": median(wall[name]), "median_cpu_s": median(cpu[name]), "runs_s": wall[name], "runs_cpu_s": cpu[name], **detail[name]}
        for name in CASES
    }


def _rows(gop: int, result: dict[str, dict]) -> list[dict]:
    """Ratios from CPU seconds: on a shared machine they move far less than wall time."""
    base, base_audio = result["bare"]["median_cpu_s"], result["bare+audio"]["median_cpu_s"]
    every = result["luma every frame"]["median_cpu_s"]
    rows = []
    for name, r in result.items():
        rows.append({
            "clip": f"GOP {gop} ({gop / FPS:.3g} s)",
            "case": name,
            "median_s": round(r["median_s"], 2),
            "median_cpu_s": round(r["median_cpu_s"], 2),
            "x_bare": round(r["median_cpu_s"] / base, 2),
            "x_bare_audio": round(r["median_cpu_s"] / base_audio, 2),
            "x_every_frame": round(r["median_cpu_s"] / every, 2) if name.startswith("luma") else None,
            "frames_decoded": r["decoded"],
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gops", default="30,250", help="keyframe intervals to encode and measure, in frames")
    args = parser.parse_args()
    rows, raw = [], {}
    for gop in [int(g) for g in args.gops.split(",")]:
        path = clip(gop)
        print(f"{path.name}: {args.runs} runs of {len(CASES)} cases", flush=True)
        result = measure(path, args.runs)
        raw[f"g{gop}"] = result
        rows += _rows(gop, result)
    columns = ["clip", "case", "median_s", "median_cpu_s", "x_bare", "x_bare_audio", "x_every_frame", "frames_decoded"]
    print(table(rows, columns))
    print()
    print(markdown(rows, columns, ["clip", "case", "wall s", "CPU s", "x bare (CPU)", "x bare+audio (CPU)",
                                   "x every frame (CPU)", "video frames decoded"]))
    for written in write_results("decode_pass", {"machine": machine(), "runs": args.runs, "results": raw}, rows):
        print(f"wrote {written.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
