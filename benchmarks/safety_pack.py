"""The pique-safety detectors against a bare decode of every frame of the same clip.

Run by hand: ``python benchmarks/safety_pack.py [--runs 3]`` (needs ``pip install -e
plugins/pique-safety`` and Debian's ``espeak-ng``). On first use it makes a 60 s 1080p30
H.264 + AAC clip into the git-ignored `fixtures/large/`: a panning texture with captions drawn
in DejaVu Sans (some of them forbidden words) and espeak-ng speech between stretches of
silence and tones. Then, in rotation so machine noise spreads over every case:

- bare: PyAV decodes every video frame (frame threads on) and nothing else;
- safety: `nsfw`, `onscreen_text` and `speech` with their defaults, together, through the
  engine's content runner (one decode pass, each detector on its own thread);
- each detector alone, and its requests alone fed to consumers that only count (the pass
  without the model): the difference is the model's CPU time.

Each case runs in a fresh child process that evaluates the clip twice: the first evaluation
loads the models, the second shows the warm cost; the child's peak RSS covers both (models
are loaded once per process, not per evaluation). Ratios use CPU time (every thread of the
child), which other work on a shared machine disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, ROOT, machine, markdown, median, plot_available, table, write_results  # noqa: E402

LARGE = ROOT / "fixtures" / "large"
WIDTH, HEIGHT, FPS, SECONDS, RATE = 1920, 1080, 30, 60, 48_000
CAPTIONS = [  # text, size, top-left, start, end
    ("SUMMER SALE TODAY", 96, (120, 90), 2.0, 14.0),
    ("Play at the casino", 64, (700, 820), 18.0, 26.0),
    ("Fresh coffee every morning", 56, (200, 600), 30.0, 44.0),
    ("Cold beer tonight", 72, (900, 200), 48.0, 56.0),
]
SENTENCES = [
    (1.0, "Welcome to our summer sale, everything must go."),
    (12.0, "Visit the store this weekend and bring a friend."),
    (25.0, "Our coffee is roasted fresh every single morning."),
    (40.0, "Thank you for watching, and see you next time."),
]


def clip() -> Path:
    path = LARGE / "safety_1080p30_60s.mp4"
    if path.exists():
        return path
    from pique_engine import synth

    LARGE.mkdir(parents=True, exist_ok=True)
    print(f"encoding {path.name} (once) ...", flush=True)
    started = time.perf_counter()
    rng = np.random.default_rng(5)
    small = rng.integers(30, 170, (HEIGHT // 8 + 64, WIDTH // 8 + 64), dtype=np.uint8)
    texture = np.kron(small, np.ones((8, 8), np.uint8))

    def background(i: int, _t: float) -> np.ndarray:
        dx, dy = (i * 4) % 500, (i * 2) % 500
        return texture[dy : dy + HEIGHT, dx : dx + WIDTH].copy()

    picture = background
    for text, size, xy, start, end in CAPTIONS:
        picture = synth.with_text(picture, text, size=size, xy=xy, start=start, end=end)
    options = {"preset": "veryfast", "crf": "23", "g": "60"}
    tmp = path.with_suffix(".tmp.mp4")
    synth.write_video(tmp, width=WIDTH, height=HEIGHT, fps=FPS, seconds=SECONDS, audio_rate=RATE,
                      audio_channels=2, picture=picture, sound=soundtrack(), codec_options=options)
    tmp.rename(path)
    print(f"  {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def soundtrack() -> np.ndarray:
    """espeak-ng sentences over quiet tones; stereo float32 at RATE."""
    import io

    import soundfile

    t = np.arange(SECONDS * RATE) / RATE
    out = 0.03 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.1 * t) > 0)
    for at, sentence in SENTENCES:
        wav = subprocess.run(["espeak-ng", "--stdout", sentence], check=True, capture_output=True).stdout
        voice, native = soundfile.read(io.BytesIO(wav), dtype="float32")
        n = int(len(voice) * RATE / native)
        voice = np.interp(np.arange(n) * native / RATE, np.arange(len(voice)), voice)
        start = int(at * RATE)
        out[start : start + n] += voice[: len(out) - start]
    mono = np.clip(out, -1, 1).astype(np.float32)
    return np.stack([mono, mono], axis=1)


# --- cases, each run inside a child process -------------------------------------------------

DETECTORS = ("nsfw", "onscreen_text", "speech")


def bare(path: Path) -> dict:
    import av

    frames = 0
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        for _ in c.decode(c.streams.video[0]):
            frames += 1
    return {"decoded": frames}


def detectors(path: Path, names: tuple[str, ...]) -> dict:
    from pique_engine import Media
    from pique_engine.content_run import run_content
    from pique_engine.evaluation import MediaSource
    from pique_engine.media.probe import ProbeLimits, probe
    from pique_engine.testing import installed_plugins

    registry = installed_plugins().detectors
    source = MediaSource.from_path(path)
    media = Media(info=probe(path), name=source.name, opener=source.open_content)
    criteria = [(n, registry.get(n), registry.get(n).params()) for n in names]
    outcomes: dict = {}
    run_content(criteria, media, budget=lambda: 3600.0, limits=ProbeLimits(), on_outcome=outcomes.__setitem__)
    failed = {n: o.error for n, o in outcomes.items() if o.result is None}
    if failed:
        raise SystemExit(f"detectors failed: {failed}")
    return {n: {"pass": o.result.pass_check, "rationale": o.result.rationale} for n, o in outcomes.items()}


class _Count:
    def __init__(self) -> None:
        self.n = 0

    def feed(self, item) -> None:
        self.n += 1

    def close(self) -> None:
        pass


def requests_only(path: Path, name: str) -> dict:
    """The decode pass serving `name`'s requests to consumers that only count: the cost without the model."""
    from pique_engine.media.decode_pass import run_pass
    from pique_engine.media.probe import probe
    from pique_engine.testing import installed_plugins

    detector = installed_plugins().detectors.get(name)
    info = probe(path)
    asked = detector.requests(detector.params(), info)
    consumers = [_Count() for _ in asked]
    stats = run_pass(path, list(zip(asked.values(), consumers)), info=info)
    return {"items": sum(c.n for c in consumers), "decoded": stats.video_frames_decoded}


def run_case(case: str, path: Path, repeat: int) -> dict:
    """Time `case` `repeat` times in this process; CPU time counts every thread."""
    if case == "bare":
        call = lambda: bare(path)  # noqa: E731
    elif case == "safety":
        call = lambda: detectors(path, DETECTORS)  # noqa: E731
    elif case.endswith(" pass only"):
        call = lambda: requests_only(path, case.split()[0])  # noqa: E731
    else:
        call = lambda: detectors(path, (case,))  # noqa: E731
    runs = []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        detail = call()
        runs.append({"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - started_cpu})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"runs": runs, "peak_rss_bytes": peak, "detail": detail}


CASES = ["bare", "safety", *DETECTORS, *(f"{d} pass only" for d in DETECTORS)]


def in_child(case: str, path: Path, repeat: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", case, "--repeat", str(repeat), str(path)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(path: Path, runs: int, repeat: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {case: [] for case in CASES}
    for run in range(runs):
        for case in CASES:
            results[case].append(in_child(case, path, repeat))
        print(f"  run {run + 1}/{runs} done (load average {os.getloadavg()[0]:.1f})", flush=True)
    return results


def rows_of(results: dict[str, list[dict]]) -> list[dict]:
    def warm(case: str, key: str) -> float:  # the last evaluation of each child: models already loaded
        return median([r["runs"][-1][key] for r in results[case]])

    base = warm("bare", "cpu_s")
    rows = []
    for case in CASES:
        cpu = warm(case, "cpu_s")
        model = cpu - warm(f"{case} pass only", "cpu_s") if case in DETECTORS else None
        rows.append({
            "case": case,
            "wall_s": round(warm(case, "wall_s"), 2),
            "cpu_s": round(cpu, 2),
            "x_bare_cpu": round(cpu / base, 2),
            "model_cpu_s_per_min": round(model * 60 / SECONDS, 2) if model is not None else None,
            "first_eval_cpu_s": round(median([r["runs"][0]["cpu_s"] for r in results[case]]), 2),
            "peak_rss_mb": round(max(r["peak_rss_bytes"] for r in results[case]) / 2**20),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2, help="evaluations per child process (the first loads the models)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child, Path(args.path), args.repeat)))
        return
    path = clip()
    print(f"{path.name}: {args.runs} runs of {len(CASES)} cases, {args.repeat} evaluations per child", flush=True)
    results = measure(path, args.runs, args.repeat)
    rows = rows_of(results)
    columns = ["case", "wall_s", "cpu_s", "x_bare_cpu", "model_cpu_s_per_min", "first_eval_cpu_s", "peak_rss_mb"]
    print(table(rows, columns))
    print()
    print(markdown(rows, columns, ["case", "wall s (warm)", "CPU s (warm)", "x bare (CPU)", "model CPU s per min of video",
                                   "CPU s, first evaluation (loads models)", "peak RSS MB"]))
    safety = next(r for r in results["safety"])
    print("\nsafety rationales:", json.dumps(safety["detail"], indent=1))
    payload = {"machine": machine(), "runs": args.runs, "repeat": args.repeat, "clip": str(path.relative_to(ROOT)),
               "results": results}
    for written in write_results("safety_pack", payload, rows):
        print(f"wrote {written.relative_to(ROOT)}")
    if plot_available():
        print(f"wrote {plot(rows).relative_to(ROOT)}")


def plot(rows: list[dict]) -> Path:
    """Warm CPU seconds per case, with the bare decode and the 2.5x target marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = rows[0]["cpu_s"]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh([r["case"] for r in rows][::-1], [r["cpu_s"] for r in rows][::-1], color="#4c78a8")
    ax.axvline(base, color="black", lw=1, label=f"bare decode, {base:.1f} s")
    ax.axvline(2.5 * base, color="#e45756", ls="--", lw=1, label="target: 2.5x bare")
    ax.set_xlabel("CPU seconds for 60 s of 1080p30 (warm child, median)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    out = RESULTS / "safety_pack.png"
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    main()
