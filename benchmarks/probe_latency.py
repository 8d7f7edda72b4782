"""Probe latency per file type, side by side in one run: pique-engine vs ffprobe vs MediaInfo vs the bare library.

    python benchmarks/probe_latency.py [--repeat 30] [--process-repeat 7] [--large]

For each file (one per type from fixtures/media; with --large also the big generated files) and
in round-robin order, so every method sees the same machine state:

- ``pique eval``: in-process `Evaluator.evaluate` with a header-only judge (video_specs,
  image_dimensions, audio_sample_rate): open, sniff, probe, run the detectors, build the payload.
- ``pique probe``: `pique_engine.media.probe.probe` alone.
- ``floor``: the bare library call the engine uses for that type, on the path: PyAV ``av.open``
  with the same small-probe options, Pillow ``Image.open`` (size, mode), or libsndfile's
  ``SoundFile`` (rate, channels, frames), reading the stream fields.
- ``pyav default``: ``av.open(path)`` with FFmpeg's default probing (PyAV-read types only).
- ``ffprobe``: ``ffprobe -v error -show_streams -show_format -of json FILE``, one process per file.
- ``mediainfo``: ``mediainfo --Output=JSON FILE``, one process per file.

ffprobe and MediaInfo come from Debian's packages (installed with apt-get when missing). Results go
to benchmarks/results/probe_latency.{json,csv,png}. Takes about a minute.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    MEDIA,
    RESULTS,
    ensure_tools,
    machine,
    markdown,
    median,
    percentile,
    plot_available,
    table,
    tool_version,
    write_results,
)

FILES = [
    ("mp4 faststart", "contract_576x1024_30fps.mp4"),
    ("mp4 moov-at-end", "moov_at_end_320x240_25fps.mp4"),
    ("mov", "clip_320x240.mov"),
    ("mkv", "clip_320x240.mkv"),
    ("webm", "clip_320x240.webm"),
    ("jpeg", "portrait_1080x1350.jpg"),
    ("png", "square_512.png"),
    ("webp", "still_300x200.webp"),
    ("gif", "animated_64x64_5frames.gif"),
    ("wav", "tone_44100_mono.wav"),
    ("flac", "tone_48000_stereo.flac"),
    ("mp3", "tone_44100_stereo.mp3"),
    ("m4a", "tone_48000_stereo.m4a"),
    ("ogg", "tone_22050_mono.ogg"),
]
LARGE = [
    ("mp4 faststart 311 MB", "mp4_faststart_300mb"),
    ("mp4 moov-at-end 311 MB", "mp4_moov_end_300mb"),
    ("mp4 keyframe-first 310 MB", "mp4_video_only_300mb"),
    ("wav 346 MB", "wav_345mb"),
    ("webp 67 MB", "webp_large"),
    ("gif 55 MB", "gif_large"),
]
METHODS = ["pique eval", "pique probe", "floor", "pyav default", "ffprobe", "mediainfo"]


def floor_call(path: Path):
    """The bare library call for `path`'s type, as the engine would pick it."""
    import av
    import soundfile
    from PIL import Image
    from pique_engine.media.sniff import sniff

    with open(path, "rb") as f:
        fmt = sniff(f.read(64))
    if fmt.reader == "pillow":
        def call():
            with Image.open(path) as im:
                return im.size, im.mode
        return "Pillow open", call
    if fmt.reader == "soundfile":
        def call():
            with soundfile.SoundFile(str(path)) as sf:
                return sf.samplerate, sf.channels, sf.frames
        return "soundfile open", call
    options = {"probesize": "32", "analyzeduration": "0", "fpsprobesize": "0", "max_ts_probe": "0"}

    def call():
        with av.open(str(path), format=fmt.demuxer, container_options=options, options={"pixel_format": "yuv420p"}) as c:
            return [(s.codec_context.width, s.codec_context.height) if s.type == "video" else s.codec_context.sample_rate for s in c.streams], c.duration
    return "PyAV open (small probe)", call


def pyav_default(path: Path):
    import av

    def call():
        with av.open(str(path)) as c:
            return [(s.codec_context.width, s.codec_context.height) if s.type == "video" else s.codec_context.sample_rate for s in c.streams], c.duration
    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per file of the in-process methods")
    parser.add_argument("--process-repeat", type=int, default=7, help="timed runs per file of ffprobe and mediainfo")
    parser.add_argument("--large", action="store_true", help="also the large generated files (generated if missing)")
    args = parser.parse_args()

    tools = ensure_tools("ffprobe", "mediainfo")
    for module in ("av", "soundfile", "PIL.Image"):  # import time is not what is measured
        importlib.import_module(module)
    from pique_engine.cli.bench import CountingFile, default_judge
    from pique_engine.evaluation import Evaluator, MediaSource
    from pique_engine.plugins import load_plugins
    from pique_engine.media.probe import ProbeLimits, probe, probe_file

    plugins = load_plugins([])
    judge = default_judge(plugins)
    evaluator = Evaluator(plugins)
    files = [(label, MEDIA / name) for label, name in FILES]
    if args.large:
        import largemedia

        files += [(label, largemedia.ensure(key)) for label, key in LARGE]

    calls: dict[tuple[str, str], object] = {}
    floor_names: dict[str, str] = {}
    for label, path in files:
        calls[(label, "pique eval")] = lambda p=path: evaluator.evaluate(MediaSource.from_path(p), judge, job_id="bench")
        calls[(label, "pique probe")] = lambda p=path: probe(p)
        floor_names[label], calls[(label, "floor")] = floor_call(path)
        if floor_names[label].startswith("PyAV"):
            calls[(label, "pyav default")] = pyav_default(path)
        if tools["ffprobe"]:
            calls[(label, "ffprobe")] = ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)]
        if tools["mediainfo"]:
            calls[(label, "mediainfo")] = ["mediainfo", "--Output=JSON", str(path)]

    def run(call) -> float:
        t0 = time.perf_counter()
        if isinstance(call, list):
            subprocess.run(call, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        else:
            call()
        return (time.perf_counter() - t0) * 1000

    for call in calls.values():  # warm-up: imports, page cache, lazy initialisation
        run(call)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in calls}
    rounds = max(args.repeat, args.process_repeat)
    started = time.monotonic()
    for i in range(rounds):
        for (label, method), call in calls.items():
            if i < (args.process_repeat if isinstance(call, list) else args.repeat):
                times[(label, method)].append(run(call))
        print(f"\rround {i + 1}/{rounds}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    rows = []
    for label, path in files:
        sink = {"r": 0}
        with open(path, "rb") as f:
            probe_file(CountingFile(f, sink, lambda: "r"), ProbeLimits())
        row = {"type": label, "file": path.name, "size_bytes": path.stat().st_size, "floor_call": floor_names[label],
               "pique_bytes_read": sink["r"]}
        for method in METHODS:
            t = times.get((label, method))
            row[f"{method} ms"] = median(t) if t else None
            row[f"{method} p95 ms"] = percentile(t, 95) if t else None
        row["ffprobe / pique"] = _ratio(row["ffprobe ms"], row["pique eval ms"])
        row["mediainfo / pique"] = _ratio(row["mediainfo ms"], row["pique eval ms"])
        row["pique / floor"] = _ratio(row["pique eval ms"], row["floor ms"])
        rows.append(row)

    cols = ["type", "pique eval ms", "pique probe ms", "floor ms", "pyav default ms", "mediainfo ms", "ffprobe ms",
            "ffprobe / pique", "mediainfo / pique", "pique / floor", "pique_bytes_read"]
    heads = ["type", "pique eval", "pique probe", "floor", "PyAV default", "mediainfo", "ffprobe", "ffprobe/pique", "mediainfo/pique",
             "eval/floor", "bytes read"]
    print(table(rows, cols, heads))
    print("\nmedian ms per file; ratios of medians. floor = bare library call:",
          ", ".join(sorted({f"{r['type']}: {r['floor_call']}" for r in rows if r['type'] in ('mp4 faststart', 'jpeg', 'wav')})))
    small = [r for r in rows if r["type"] in dict(FILES)]
    worst_ffprobe = min((r["ffprobe / pique"] for r in small if r["ffprobe / pique"]), default=None)
    worst_floor = max(r["pique / floor"] for r in small)
    print(f"target >= 20x faster than ffprobe: worst {worst_ffprobe and f'{worst_ffprobe:.0f}x'}; "
          f"target within 1.5x of the floor: worst {worst_floor:.2f}x "
          f"({', '.join(r['type'] for r in small if r['pique / floor'] > 1.5) or 'every type within'})")
    payload = {
        "machine": machine() | {"ffprobe": tool_version(["ffprobe", "-version"]), "mediainfo": tool_version(["mediainfo", "--Version"])},
        "command": " ".join(["python", "benchmarks/probe_latency.py", *sys.argv[1:]]),
        "repeat": args.repeat, "process_repeat": args.process_repeat, "seconds": round(time.monotonic() - started, 1),
        "rows": rows, "raw_ms": {f"{label}|{method}": t for (label, method), t in times.items()},
        "markdown": markdown(rows, cols, heads),
    }
    for p in write_results("probe_latency", payload, rows):
        print(f"wrote {p.relative_to(RESULTS.parent.parent)}")
    if plot_available():
        print(f"wrote {plot(rows).relative_to(RESULTS.parent.parent)}")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def plot(rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    methods = [("ffprobe", "#d62728"), ("mediainfo", "#ff7f0e"), ("pyav default", "#9467bd"), ("floor", "#7f7f7f"),
               ("pique probe", "#9ecae1"), ("pique eval", "#1f77b4")]
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(rows) + 1.5))
    y = np.arange(len(rows))
    h = 0.8 / len(methods)
    for i, (m, color) in enumerate(methods):
        vals = [r[f"{m} ms"] or 0 for r in rows]
        ax.barh(y + (i - len(methods) / 2 + 0.5) * h, vals, height=h, color=color, label=m)
    ax.set_yticks(y, [f"{r['type']}" for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median ms per file (log scale)")
    ax.set_title("Probe latency per file: pique-engine (in-process, header-only judge) vs ffprobe, MediaInfo and the bare library")
    ax.title.set_fontsize(9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    out = RESULTS / "probe_latency.png"
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    main()
