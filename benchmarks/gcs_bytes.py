"""Bytes read from GCS (fake-gcs-server) to evaluate large objects, against object size and the physical floor.

    python benchmarks/gcs_bytes.py [--dir fixtures/large]

Generates the large files on demand (benchmarks/largemedia.py, into the git-ignored
fixtures/large/), starts the local stack (`pique_engine.dev.stack`: fake-gcs-server on
127.0.0.1), uploads each file once, then evaluates it with a header-only judge exactly as the
worker's child does: the probe reads through `GcsObjectReader` (ranged GETs, 64 KiB blocks).

Per object it reports the bytes fetched and the range requests made, the bytes the probe asked
the reader for, and the *physical floor*: the bytes of the header structures that hold the answer
(MP4: the top-level box headers walked to reach ``moov`` plus ``ftyp`` and ``moov``; WAV: RIFF
header, ``fmt`` chunk and ``data`` chunk header; WebP: RIFF and VP8X headers, every chunk
header, the EXIF payload; GIF: the whole file, since counting frames means following every
sub-block). For contrast, the same object opened the library's default way through the same
reader (``av.open`` with FFmpeg's default probing; libsndfile for WAV; Pillow ``Image.open`` +
``n_frames`` for WebP and GIF). Latency is the median of 3 evaluations, each with a fresh reader.
Results go to benchmarks/results/gcs_bytes.{json,csv,png}. Takes 1-2 minutes (uploads).
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import largemedia
from common import (
    RESULTS,
    machine,
    markdown,
    plot_available,
    size,
    table,
    write_results,
)

OBJECTS = [
    ("mp4 faststart", "mp4_faststart_300mb"),
    ("mp4 moov at end", "mp4_moov_end_300mb"),
    ("mp4 keyframe first (no audio)", "mp4_video_only_300mb"),
    ("wav", "wav_345mb"),
    ("webp (EXIF at the end)", "webp_large"),
    ("gif (40 frames)", "gif_large"),
]
TARGET_MP4_BYTES = 256 * 1024
REPEAT = 3


def physical_floor(path: Path) -> int:
    """Bytes of the header structures that hold what the probe reports."""
    data_size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(16)
        if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
            return _mp4_floor(f, data_size)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _riff_floor(f, data_size, stop=b"data", whole={b"fmt "})
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return _riff_floor(f, data_size, stop=None, whole={b"VP8X", b"EXIF"})
        return data_size  # GIF: the frame count needs every block


def _mp4_floor(f, end: int) -> int:
    pos, total = 0, 0
    while pos + 8 <= end:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", f.read(8))[0], 16
        elif size == 0:
            size = end - pos
        total += size if kind in (b"ftyp", b"moov") else header
        if kind == b"moov":
            return total
        pos += size
    return total


def _riff_floor(f, end: int, *, stop: bytes | None, whole: set[bytes]) -> int:
    pos, total = 12, 12
    while pos + 8 <= end:
        f.seek(pos)
        kind, length = struct.unpack("<4sI", f.read(8))
        total += 8 + (length if kind in whole else 0)
        if kind == stop:
            break
        pos += 8 + length + (length & 1)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=largemedia.DEFAULT_DIR, help="where the large files are (generated if missing)")
    args = parser.parse_args()
    files = [(label, largemedia.ensure(key, args.dir)) for label, key in OBJECTS]

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from pique_engine.cli.bench import CountingFile, default_judge
    from pique_engine.evaluation import Evaluator, MediaSource
    from pique_engine.storage.gcs import GcsObjectReader
    from pique_engine.dev.stack import start_local_stack
    from pique_engine.plugins import load_plugins

    plugins = load_plugins([])
    judge = default_judge(plugins)
    evaluator = Evaluator(plugins)
    rows = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pique-bench-") as workdir, start_local_stack(workdir) as stack:
        os.environ.update(stack.env)
        client = storage.Client(project=stack.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": stack.gcs_url})
        bucket = client.bucket(stack.bucket)
        for label, path in files:
            blob = bucket.blob(f"bench/{path.name}")
            t0 = time.monotonic()
            blob.upload_from_filename(str(path), timeout=600)
            blob.reload()
            upload_s = time.monotonic() - t0
            print(f"uploaded {path.name} ({size(blob.size)}) in {upload_s:.1f} s", flush=True)

            readers: list[GcsObjectReader] = []
            asked = {"probe": 0}

            def open_header(name=blob.name, gen=blob.generation, n=blob.size, readers=readers, asked=asked):
                reader = GcsObjectReader(bucket, name, gen, size=n)
                readers.append(reader)
                return CountingFile(reader, asked, lambda: "probe")

            def no_content():
                raise AssertionError("a header-only judge never opens the content")

            timings = []
            for _ in range(REPEAT):  # every run opens a fresh reader: an empty block cache, as in the worker
                t0 = time.perf_counter()
                ev = evaluator.evaluate(MediaSource(path.name, open_header, no_content), judge, job_id="bench")
                timings.append((time.perf_counter() - t0) * 1000)
                assert ev.completed, ev.payload
            eval_ms = statistics.median(timings)
            default_fetched, default_requests, default_ms = _library_default(bucket, blob)
            floor = physical_floor(path)
            reader = readers[-1]
            asked["probe"] //= REPEAT
            rows.append({
                "object": label, "file": path.name, "object_bytes": blob.size,
                "fetched_bytes": reader.bytes_fetched, "range_requests": reader.requests, "probe_asked_bytes": asked["probe"],
                "floor_bytes": floor, "fetched / floor": reader.bytes_fetched / floor,
                "fetched / object %": 100 * reader.bytes_fetched / blob.size, "eval_ms": eval_ms,
                "library_default_fetched_bytes": default_fetched, "library_default_requests": default_requests,
                "library_default_ms": default_ms, "described_as": ev.info.describe(),
            })
    total_s = time.monotonic() - started

    cols = ["object", "object_bytes", "floor_bytes", "probe_asked_bytes", "fetched_bytes", "range_requests", "fetched / object %",
            "eval_ms", "library_default_fetched_bytes", "library_default_ms"]
    heads = ["object", "object size", "physical floor", "probe asked", "fetched", "requests", "fetched % of object", "eval ms",
             "library default fetched", "library default ms"]
    shown = [{**r, **{c: size(r[c]) for c in cols if c.endswith("bytes")}} for r in rows]
    print(table(shown, cols, heads))
    mp4 = [r for r in rows if r["object"].startswith("mp4")]
    worst = max(r["fetched_bytes"] for r in mp4)
    print(f"\ntarget: < 256 KB fetched for a >= 300 MB MP4, moov first or last: worst {size(worst)} "
          f"({'met' if worst < TARGET_MP4_BYTES else 'NOT met'})")
    payload = {"machine": machine(), "command": "python benchmarks/gcs_bytes.py", "block_size": 65536, "seconds": round(total_s, 1),
               "rows": rows, "markdown": markdown(shown, cols, heads)}
    for p in write_results("gcs_bytes", payload, rows):
        print(f"wrote {p.relative_to(RESULTS.parent.parent)}")
    if plot_available():
        print(f"wrote {plot(rows).relative_to(RESULTS.parent.parent)}")


def _library_default(bucket, blob) -> tuple[int, int, float]:
    """Bytes, requests and ms for the library's default open through the same ranged reader."""
    import av
    from PIL import Image
    from pique_engine.storage.gcs import GcsObjectReader

    t0 = time.perf_counter()
    reader = GcsObjectReader(bucket, blob.name, blob.generation, size=blob.size)
    head = reader.read(16)
    reader.seek(0)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" or head[:3] == b"GIF":
        with Image.open(reader) as im:
            _ = im.size, getattr(im, "n_frames", 1)
    elif head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        import soundfile

        with soundfile.SoundFile(reader) as sf:
            _ = sf.samplerate, sf.frames
    else:
        with av.open(reader) as c:
            _ = [s.codec_context.width for s in c.streams.video]
    return reader.bytes_fetched, reader.requests, (time.perf_counter() - t0) * 1000


def plot(rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(12, 4.2))
    y = np.arange(len(rows))
    series = [("object_bytes", "object size", "#cccccc"), ("library_default_fetched_bytes", "library default open", "#d62728"),
              ("fetched_bytes", "pique-engine fetched", "#1f77b4"), ("floor_bytes", "physical floor", "#2ca02c")]
    h = 0.8 / len(series)
    for i, (key, name, color) in enumerate(series):
        ax.barh(y + (i - len(series) / 2 + 0.5) * h, [r[key] for r in rows], height=h, color=color, label=name)
    ax.axvline(TARGET_MP4_BYTES, color="black", linestyle="--", linewidth=1, label="256 KB target (MP4)")
    ax.set_yticks(y, [r["object"] for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("bytes (log scale)")
    ax.set_title("Bytes read from GCS (fake-gcs-server, 64 KiB ranged reads) to evaluate large objects, header-only judge")
    ax.title.set_fontsize(9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    out = RESULTS / "gcs_bytes.png"
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    main()
