"""The cost of content detectors in a real evaluation against a bare PyAV decode of the same clip.

Run by hand: ``python benchmarks/content_detectors.py [--runs 3] [--clips plain,grain]``. It
uses the 60 s 1080p30 H.264 + AAC clips (keyframe every 30 frames) that `decode_pass.py`
encodes with `pique_engine.synth` into the git-ignored `fixtures/large/` on first use: "plain"
(~1.3 Mb/s, frames that decode in ~3 ms) and "grain" (fresh noise on every frame, ~7 Mb/s,
an upload's bit rate), then times on each, in rotation so machine noise spreads over all of them:

- bare: PyAV decodes every video frame (frame threads on, as the pass sets them) and does
  nothing with it; "bare+audio" also decodes the AAC track;
- one detector: `Evaluator.evaluate` with a judge of one content detector asking for every
  frame as luma at 320 wide (black-frame style: the mean of each frame);
- four detectors: the same judge with four content criteria on one pass: that luma mean, a
  freeze check (difference from the previous frame, the same request), a sharpness score at
  2 fps on grey 640 wide, and the RMS of mono 16 kHz audio blocks.

Every detector runs on its own thread as in production. Wall and CPU time (all threads) are
recorded; ratios use CPU time, which other work on a shared machine disturbs far less.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, ROOT, machine, markdown, median, table, write_results  # noqa: E402
from decode_pass import bare, clip  # noqa: E402

from pique_engine import AudioBlocks, Checks, Detector, VideoFrames, hookimpl  # noqa: E402
from pique_engine.evaluation import Evaluator, MediaSource  # noqa: E402
from pique_engine.judge import bind_judge, parse_judge  # noqa: E402
from pique_engine.plugins import load_plugins  # noqa: E402

LUMA = VideoFrames(format="luma", max_width=320)


def _black(media, params):
    darkest = min(float(f.image.mean()) for f in media.stream("luma"))
    return Checks().result(name="black", metrics={"darkest": darkest}, summary="ok")


def _freeze(media, params):
    previous, still = None, 0
    for f in media.stream("luma"):
        current = f.image.astype(np.int16)
        if previous is not None and np.abs(current - previous).mean() < 0.5:
            still += 1
        previous = current
    return Checks().result(name="freeze", metrics={"still_frames": still}, summary="ok")


def _sharpness(media, params):
    scores = [float(np.abs(np.diff(f.image.astype(np.int16), axis=1)).mean()) for f in media.stream("grey")]
    return Checks().result(name="sharpness", metrics={"mean": float(np.mean(scores))}, summary="ok")


def _rms(media, params):
    total = n = 0.0
    for b in media.stream("audio"):
        total += float(np.square(b.samples).sum())
        n += len(b.samples)
    return Checks().result(name="rms", metrics={"rms": (total / max(n, 1)) ** 0.5}, summary="ok")


DETECTORS = [
    Detector(name="black", content_types={"video"}, evaluate=_black, requests=lambda p, i: {"luma": LUMA}),
    Detector(name="freeze", content_types={"video"}, evaluate=_freeze, requests=lambda p, i: {"luma": LUMA}),
    Detector(name="sharpness", content_types={"video"}, evaluate=_sharpness,
             requests=lambda p, i: {"grey": VideoFrames(fps=2, format="gray", max_width=640)}),
    Detector(name="rms", content_types={"video"}, evaluate=_rms,
             requests=lambda p, i: {"audio": AudioBlocks(sample_rate=16000, channels="mono", block_frames=16000)}),
]


class _Plugin:
    __name__ = "benchmark_content_detectors"

    @hookimpl
    def register_detectors(self, register):
        for d in DETECTORS:
            register(d)


PLUGINS = load_plugins([], extra=[_Plugin()])


def evaluate(path: Path, names: list[str]) -> dict:
    criteria = [{"criterion_id": n, "detector": n} for n in names]
    judge = bind_judge(parse_judge({"judge_id": "bench", "criteria": criteria}), PLUGINS.detectors)
    payload = Evaluator(PLUGINS).evaluate(MediaSource.from_path(path), judge, job_id="job_bench").payload
    failed = [r.rationale for r in payload.results if not r.pass_check]
    assert not failed, failed
    return {"criteria": len(payload.results)}


CASES = {
    "bare": lambda p: bare(p),
    "bare+audio": lambda p: bare(p, audio=True),
    "one detector": lambda p: evaluate(p, ["black"]),
    "four detectors": lambda p: evaluate(p, ["black", "freeze", "sharpness", "rms"]),
}


def measure(path: Path, runs: int) -> dict[str, dict]:
    wall: dict[str, list[float]] = {name: [] for name in CASES}
    cpu: dict[str, list[float]] = {name: [] for name in CASES}
    load: list[float] = []
    for run in range(runs):
        for name, case in CASES.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            case(path)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)  # every thread of this process
        load.append(os.getloadavg()[0])
        print(f"  run {run + 1}/{runs} done (load average {load[-1]:.1f})", flush=True)
    return {
        "load_average": load,
        **{name: {"median_s": median(wall[name]), "median_cpu_s": median(cpu[name]), "runs_s": wall[name],
                  "runs_cpu_s": cpu[name]} for name in CASES},
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 1 + 0.5 * len(rows)))
    names = [f"{r['clip']}: {r['case']}" for r in rows]
    # Against the bare decode of both streams: the four detectors' judge decodes the audio too.
    ax.barh(names, [r["x_bare_audio"] for r in rows], color=["#999" if r["case"].startswith("bare") else "#4a7" for r in rows])
    ax.axvline(1.25, color="#c33", linestyle="--", label="1.25 x bare (target)")
    ax.set_xlabel("CPU time / bare decode of video + audio (medians), 60 s 1080p30")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


CLIPS = {"plain": False, "grain": True}  # ~1.3 and ~7 Mb/s (decode_pass.clip)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clips", default="plain,grain", help="which clips: plain, grain")
    args = parser.parse_args()
    rows, results = [], {}
    for label in args.clips.split(","):
        path = clip(30, grain=CLIPS[label])
        print(f"{path.name} ({path.stat().st_size * 8 / 60 / 1e6:.1f} Mb/s): {args.runs} runs of {len(CASES)} cases", flush=True)
        result = results[label] = measure(path, args.runs)
        base, base_audio = result["bare"]["median_cpu_s"], result["bare+audio"]["median_cpu_s"]
        rows += [{
            "clip": f"{label} ({path.stat().st_size * 8 / 60 / 1e6:.1f} Mb/s)",
            "case": name,
            "median_s": round(result[name]["median_s"], 2),
            "median_cpu_s": round(result[name]["median_cpu_s"], 2),
            "x_bare": round(result[name]["median_cpu_s"] / base, 2),
            "x_bare_audio": round(result[name]["median_cpu_s"] / base_audio, 2),
            # Each case's fastest run against bare+audio's: on a shared machine the fastest run
            # is the least disturbed one, and the medians move with the neighbours' load.
            "x_bare_audio_best": round(min(result[name]["runs_cpu_s"]) / min(result["bare+audio"]["runs_cpu_s"]), 2),
        } for name in CASES]
    columns = ["clip", "case", "median_s", "median_cpu_s", "x_bare", "x_bare_audio", "x_bare_audio_best"]
    print(table(rows, columns))
    print()
    print(markdown(rows, columns, ["clip", "case", "wall s", "CPU s", "x bare (CPU)", "x bare+audio (CPU)",
                                   "x bare+audio (CPU, fastest runs)"]))
    for written in write_results("content_detectors", {"machine": machine(), "runs": args.runs, "results": results}, rows):
        print(f"wrote {written.relative_to(ROOT)}")
    plot(rows, RESULTS / "content_detectors.png")
    print(f"wrote {(RESULTS / 'content_detectors.png').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
