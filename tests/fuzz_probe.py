"""Fuzzing the probe, the built-in detectors and audio decoding with mutated fixture bytes.

The contract under test: for any bytes, `probe_file` returns a sane `MediaInfo` or raises a
`MediaError`; each built-in detector then returns a `DetectorResult` whose payload entry is
JSON, or raises a `PiqueError`; `decode.audio_blocks` yields finite samples or raises a
`PiqueError`. Anything else (another exception, a crash, a hang, a runaway allocation) is a
finding.

Two ways to run it:

* in the default test suite, a short derandomized Hypothesis run (`tests/test_fuzz.py`);
* for as long as you like, with crashes and hangs caught in a child process::

      python -m tests.fuzz_probe --seconds 600            # or PIQUE_FUZZ_SECONDS=600
      python -m tests.fuzz_probe --seconds 60 --seed 7 --out /tmp/findings
      python -m tests.fuzz_probe --minimize tests/regressions/new/exception-0123abcd.bin

  Each finding is written to ``--out`` (default ``tests/regressions/new``) as
  ``<kind>-<sha1>.bin`` with a ``.txt`` beside it saying what went wrong. Move the inputs
  worth keeping to ``tests/regressions/`` and list them in `tests/test_fuzz.py`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import multiprocessing
import os
import random
import re
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .fuzz_mutations import INTERESTING_32, OPS, apply, random_ops

__all__ = ["INTERESTING_32", "OPS", "REGRESSIONS", "SEEDS", "apply", "find_problem", "random_ops", "seed_corpus"]

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT / "fixtures" / "media"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"

# Small fixtures, one or two per reader and container; the mutations start from these.
SEEDS = (
    "phone_rotated_90.mp4",
    "moov_at_end_320x240_25fps.mp4",
    "clip_320x240.mov",
    "clip_320x240.mkv",
    "browser_recording_no_duration.webm",
    "square_512.png",
    "exif_rotated_6.jpg",
    "animated_64x64_5frames.gif",
    "still_300x200.webp",
    "tone_22050_mono.ogg",
    "voice_16000_mono.opus",
    "tone_44100_stereo.mp3",
    "tone_48000_stereo.m4a",
    "tone_48000_stereo.flac",
)
MAX_DECODE_BLOCKS = 64


def seed_corpus() -> list[bytes]:
    return [(MEDIA / name).read_bytes() for name in SEEDS]


# -- the contract ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    kind: str  # "exception", "invariant", "crash", "hang"
    summary: str  # one line, stable across inputs hitting the same bug (used to dedupe)
    detail: str


_PLUGINS = None


def _plugins():
    global _PLUGINS
    if _PLUGINS is None:
        from pique_engine.plugins import load_plugins

        _PLUGINS = load_plugins([])
    return _PLUGINS


# Params that make every built-in check run, so every branch of each detector is exercised.
STRICT_PARAMS = {
    "video_specs": {"aspect_ratio": "9:16", "min_width": 2, "max_width": 8000, "min_height": 2, "max_height": 8000,
                    "min_fps": 1, "max_fps": 240, "min_duration_sec": 0.1, "max_duration_sec": 3600,
                    "require_audio": True, "audio_sample_rates": [44100, 48000]},
    "image_dimensions": {"min_width": 2, "max_width": 8000, "min_height": 2, "max_height": 8000, "aspect_ratio": "4:5",
                         "formats": ["jpeg", "png"], "allow_animation": False},
    "audio_sample_rate": {"allowed_sample_rates": [44100, 48000], "min_sample_rate": 8000, "min_channels": 1,
                          "max_channels": 2, "min_duration_sec": 0.1, "max_duration_sec": 3600},
}


def _location(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "pique_engine" in f.filename or "/engine/" in f.filename or "/detectors/" in f.filename]
    f = (ours or frames or [None])[-1]
    return f"{Path(f.filename).name} in {f.name}" if f else "?"  # no line number: stable across edits


def _finite_positive(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and math.isfinite(x) and x > 0)


def _invariants(info) -> list[str]:
    bad = []
    if info.video is not None:
        v = info.video
        if v.width <= 0 or v.height <= 0:
            bad.append(f"video size {v.width}x{v.height}")
        if not _finite_positive(v.fps):
            bad.append(f"video fps {v.fps}")
        if v.rotation not in (0, 90, 180, 270):
            bad.append(f"rotation {v.rotation}")
    if info.audio is not None:
        a = info.audio
        if a.sample_rate <= 0:
            bad.append(f"sample rate {a.sample_rate}")
        if a.channels < 0:
            bad.append(f"channels {a.channels}")
    if info.image is not None:
        i = info.image
        if i.width <= 0 or i.height <= 0 or i.frames < 1:
            bad.append(f"image {i.width}x{i.height} frames={i.frames}")
    if not _finite_positive(info.duration_sec):
        bad.append(f"duration {info.duration_sec}")
    if info.kind == "video" and info.video is None or info.kind == "image" and info.image is None:
        bad.append(f"kind {info.kind} without its stream")
    return bad


def find_problem(data: bytes, *, decode: bool = True) -> Finding | None:
    """Run the contract on `data`; None when it holds."""
    from pique_engine.detector import Media
    from pique_engine.errors import MediaError, PiqueError
    from pique_engine.evaluation import run_criterion
    from pique_engine.judge import bind_judge, parse_judge
    from pique_engine.media.probe import ProbeLimits, probe_file

    stage = "probe"
    try:
        try:
            info = probe_file(io.BytesIO(data), ProbeLimits())
        except MediaError:
            return None
        bad = _invariants(info)
        if bad:
            return Finding("invariant", "probe: " + re.sub(r"-?[\d.]+|inf|nan|None", "N", bad[0]), f"{info!r}: {'; '.join(bad)}")
        plugins = _plugins()
        media = Media(info=info, name="fuzz.bin", opener=lambda: io.BytesIO(data))
        judge = bind_judge(parse_judge({"judge_id": "fuzz", "criteria": [
            {"criterion_id": name, "detector": name, "params": params} for name, params in STRICT_PARAMS.items()
        ]}), plugins.detectors)
        for bound in judge.criteria_for(info.kind):
            stage = f"detector {bound.detector.name}"
            try:
                bound.detector.evaluate(media, bound.params)
            except PiqueError:
                pass
            run_criterion(bound, media).model_dump_json()
        if decode and info.audio is not None:
            import numpy as np

            from pique_engine.media.decode import audio_blocks

            stage = "decode.audio_blocks"
            try:
                for i, block in enumerate(audio_blocks(media)):
                    # Documented as [-1, 1]; a decoder may overshoot a little, never by 24 dB.
                    if block.ndim != 2 or (block.size and not bool(np.abs(block).max() <= 16.0)):
                        peak = float(np.abs(block).max()) if block.size else None
                        return Finding("invariant", "decode: samples outside [-1, 1] by far, or misshaped",
                                       f"block {i} shape {block.shape}, peak {peak}")
                    if i >= MAX_DECODE_BLOCKS:
                        break
            except PiqueError:
                pass
    except Exception as exc:  # the finding: nothing but PiqueError may escape
        where = _location(exc)
        return Finding("exception", f"{stage}: {type(exc).__name__} at {where}", "".join(traceback.format_exception(exc)))
    return None


# -- the long run: a child process does the work, so crashes and hangs are caught -----------


def _child(conn, seed: int, deadline: float, current: str, decode: bool, memory_mb: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # libsndfile and FFmpeg chatter about every damaged input
    corpus = seed_corpus()
    rng = random.Random(seed)
    fd = os.open(current, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    count = 0
    while time.time() < deadline:
        base = rng.choice(corpus)
        data = apply(base, random_ops(rng, len(base), len(corpus)), corpus)
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, data)  # what to keep if this input kills us
        conn.send(("tick", count))
        try:
            finding = find_problem(data, decode=decode)
        except MemoryError:
            finding = Finding("memory", "MemoryError", f"over {memory_mb} MiB")
        if finding:
            conn.send(("found", finding, data))
        count += 1
    conn.send(("done", count))


def _save(out: Path, finding: Finding, data: bytes) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:12]
    path = out / f"{finding.kind}-{digest}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(f"{finding.summary}\n\n{finding.detail}\n")
    return path


def run(seconds: float, *, seed: int, out: Path, decode: bool = True, hang_sec: float = 10.0, memory_mb: int = 2048) -> dict:
    """Fuzz for `seconds`; returns counters and the distinct findings (saved under `out`)."""
    ctx = multiprocessing.get_context("fork")
    end = time.time() + seconds
    current = str(out.parent / f".fuzz-current-{os.getpid()}.bin")
    out.parent.mkdir(parents=True, exist_ok=True)
    stats = {"inputs": 0, "children": 0, "findings": {}}
    while time.time() < end:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(child, seed + stats["children"], end, current, decode, memory_mb), daemon=True)
        proc.start()
        child.close()
        stats["children"] += 1
        last_tick = time.monotonic()
        outcome = None
        while True:
            if parent.poll(1.0):
                try:
                    msg = parent.recv()
                except EOFError:
                    proc.join(5)
                    outcome = Finding("crash", f"crash: exit {proc.exitcode}", f"child died with exit code {proc.exitcode}")
                    break
                if msg[0] == "tick":
                    last_tick = time.monotonic()
                    stats["inputs"] += 1
                    if stats["inputs"] % 20000 == 0:
                        print(f"{stats['inputs']} inputs, {len(stats['findings'])} findings", file=sys.stderr, flush=True)
                elif msg[0] == "found":
                    _, finding, data = msg
                    if finding.summary not in stats["findings"]:
                        stats["findings"][finding.summary] = str(_save(out, finding, data))
                        print(f"finding: {finding.summary}", file=sys.stderr)
                elif msg[0] == "done":
                    break
            elif time.monotonic() - last_tick > hang_sec:
                outcome = Finding("hang", "hang", f"no progress for {hang_sec:g} s")
                break
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()
        if outcome is not None:
            data = Path(current).read_bytes()
            key = f"{outcome.summary} ({hashlib.sha1(data).hexdigest()[:8]})"
            stats["findings"][key] = str(_save(out, outcome, data))
            print(f"finding: {key}", file=sys.stderr)
    Path(current).unlink(missing_ok=True)
    return stats


def minimize(data: bytes, summary: str, *, decode: bool = True, budget: int = 4000) -> bytes:
    """Greedily cut chunks (halves down to single bytes) while the same finding persists."""

    def same(candidate: bytes) -> bool:
        finding = find_problem(candidate, decode=decode)
        return finding is not None and finding.summary == summary

    chunk = max(len(data) // 2, 1)
    tries = 0
    while chunk >= 1 and tries < budget:
        pos, cut_any = 0, False
        while pos < len(data) and tries < budget:
            candidate = data[:pos] + data[pos + chunk :]
            tries += 1
            if candidate and same(candidate):
                data, cut_any = candidate, True
            else:
                pos += chunk
        if not cut_any:
            chunk //= 2
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("PIQUE_FUZZ_SECONDS", "60")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("PIQUE_FUZZ_SEED", "0")))
    parser.add_argument("--out", type=Path, default=REGRESSIONS / "new")
    parser.add_argument("--no-decode", action="store_true", help="skip decode.audio_blocks")
    parser.add_argument("--minimize", type=Path, metavar="FILE", help="shrink a finding's input, keeping its finding")
    args = parser.parse_args(argv)
    if args.minimize:
        data = args.minimize.read_bytes()
        finding = find_problem(data, decode=not args.no_decode)
        if finding is None:
            print(f"{args.minimize}: no finding")
            return 0
        small = minimize(data, finding.summary, decode=not args.no_decode)
        out = args.minimize.with_suffix(".min.bin")
        out.write_bytes(small)
        print(f"{finding.summary}: {len(data)} -> {len(small)} bytes, {out}")
        return 1
    started = time.monotonic()
    stats = run(args.seconds, seed=args.seed, out=args.out, decode=not args.no_decode)
    elapsed = time.monotonic() - started
    print(f"{stats['inputs']} inputs in {elapsed:.0f} s ({stats['inputs'] / max(elapsed, 1e-9):.0f}/s), "
          f"{stats['children']} child processes, {len(stats['findings'])} distinct findings")
    for summary, path in sorted(stats["findings"].items()):
        print(f"  {summary}: {path}")
    return 1 if stats["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
