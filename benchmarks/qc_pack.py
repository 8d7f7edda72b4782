"""The pique-qc pack against one ffmpeg command running the same filters, and its memory over length.

    python benchmarks/qc_pack.py [--seconds 60] [--rss 10,60,600] [--repeat 2]

Makes a 1080x1920 (9:16 1080p) 30 fps H.264 + AAC clip with faults at known times (a black
half-second, a frozen second, leading silence, a cut every 5 s), then times, in the same run and
alternating: `pique-engine evaluate --no-isolate` with fixtures/judges/qc_short_video.json, the
same judge with `fast` where a detector allows it, and one `ffmpeg` with the equivalent filters
in one graph. It checks the two find the same things, and measures peak RSS (wait4's ru_maxrss)
of the evaluation on clips of each `--rss` length. Results and a plot go to benchmarks/results/.
Clips are generated into fixtures/large/ (git-ignored) once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, machine, markdown, median, plot_available, table, write_results

JUDGE = ROOT / "fixtures" / "judges" / "qc_short_video.json"
LARGE = ROOT / "fixtures" / "large"
W, H, FPS, RATE = 1080, 1920, 30, 48000
FILTERS_V = "blackdetect=d=0.1:pix_th=0.1:pic_th=0.98,freezedetect=n=-60dB:d=0.5,scdet=threshold=10,cropdetect=limit=24:round=2:reset=0"
FILTERS_A = "silencedetect=n=-60dB:d=0.5,ebur128=peak=true"


def clip(seconds: int) -> Path:
    """The benchmark clip: a shot every 5 s drifting 2 px a frame, black at 20-20.5 s, frozen at 40-41 s."""
    from pique_engine import synth

    path = LARGE / f"qc_{W}x{H}_{seconds}s.mp4"
    if path.exists():
        return path
    LARGE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    textures = [np.clip(level + 50 * rng.standard_normal((H // 8, W // 8 + 60)), 20, 235).astype(np.uint8).repeat(8, 0).repeat(8, 1)
                for level in (70, 160, 100, 190, 80, 140)]

    def picture(index: int, t: float) -> np.ndarray:
        shot = textures[int(t // 5) % len(textures)]
        x = (2 * index) % 240
        return shot[:, x : x + W]

    picture = synth.frozen_stretch(synth.black_stretch(picture, 20.0, 20.5), 40.0, 41.0)
    tone = synth.tone(seconds, RATE, 2, freq=997, amplitude=0.2, lead_silence=0.0)
    sound = synth.silent_stretch(tone, RATE, 0.0, 0.4)
    tmp = path.with_suffix(".part.mp4")
    synth.write_video(tmp, width=W, height=H, fps=FPS, seconds=seconds, audio_rate=RATE, picture=picture, sound=sound,
                      codec_options={"preset": "ultrafast", "crf": "23", "g": "60"})
    tmp.rename(path)
    return path


def run(cmd: list[str]) -> tuple[float, int, str, str]:
    """Wall seconds, peak RSS (KiB) of the process and its children, stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        # A wide detector time limit: a 10-minute clip must be measured whole, not abandoned midway.
        env = {**os.environ, "PIQUE_DETECTOR_TIMEOUT_SEC": "3600"}
        # Bytecode caching on, as a pip-installed engine has its modules compiled at install: a
        # machine that sets PYTHONDONTWRITEBYTECODE recompiles the editable checkout's ~300
        # modules at every start (0.1 s).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss, stdout, stderr


def fast_judge() -> Path:
    judge = json.loads(JUDGE.read_text())
    for criterion in judge["criteria"]:
        if criterion["detector"] in ("letterbox", "sharpness"):
            criterion["params"]["fast"] = True
    path = Path(tempfile.gettempdir()) / "qc_short_video_fast.json"
    path.write_text(json.dumps(judge))
    return path


def pique_cmd(path: Path, judge: Path) -> list[str]:
    return [sys.executable, "-m", "pique_engine", "evaluate", "--no-isolate", str(path), "--judge", str(judge)]


def ffmpeg_cmd(path: Path) -> list[str]:
    return ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-vf", FILTERS_V, "-af", FILTERS_A, "-f", "null", "-"]


def findings_pique(stdout: str) -> dict:
    m = {r["detector_name"]: r["metrics"][r["detector_name"]] for r in json.loads(stdout)["results"]}
    return {
        "black": m["black_frames"]["segments"],
        "frozen": m["frozen_frames"]["segments"],
        "silence": m["silence"]["segments"],
        "cuts": m["scene_cuts"]["cuts"],
        "crop": m["letterbox"]["active_area"],
        "integrated_lufs": m["audio_loudness"]["integrated_lufs"],
        "true_peak_dbtp": m["audio_loudness"]["true_peak_dbtp"],
    }


def findings_ffmpeg(log: str, duration: float) -> dict:
    def f(pattern: str) -> list[float]:
        return [round(float(x), 3) for x in re.findall(pattern, log)]

    def pairs(starts: list[float], ends: list[float]) -> list[list[float]]:
        return [[s, e] for s, e in zip(starts, ends + [duration] * (len(starts) - len(ends)))]

    summary = log[log.rindex("Summary:"):]
    w, h, x, y = map(int, re.findall(r"crop=(\d+):(\d+):(\d+):(\d+)", log)[-1])
    return {
        "black": pairs(f(r"black_start:([\d.]+)"), f(r"black_end:([\d.]+)")),
        "frozen": pairs(f(r"freeze_start: ([\d.]+)"), f(r"freeze_end: ([\d.]+)")),
        "silence": pairs([max(0.0, s) for s in f(r"silence_start: (-?[\d.]+)")], f(r"silence_end: ([\d.]+)")),
        "cuts": f(r"lavfi\.scd\.time: ([\d.]+)"),
        "crop": [x, y, w, h],
        "integrated_lufs": float(re.findall(r"I:\s+(-?[\d.]+) LUFS", summary)[0]),
        "true_peak_dbtp": float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", summary)[0]),
    }


def agree(ours: dict, theirs: dict, frame: float = 1 / FPS) -> dict[str, bool]:
    def close(a, b, tol) -> bool:
        a, b = np.ravel(np.asarray(a, float)), np.ravel(np.asarray(b, float))
        return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol))

    return {
        "black": close(ours["black"], theirs["black"], frame + 0.001),
        "frozen": close(ours["frozen"], theirs["frozen"], frame + 0.001),
        "silence": close(ours["silence"], theirs["silence"], 0.025),
        "cuts": close(ours["cuts"], theirs["cuts"], frame + 0.001),
        "crop": close(ours["crop"], theirs["crop"], 2),
        "integrated_lufs": close(ours["integrated_lufs"], theirs["integrated_lufs"], 0.1),
        "true_peak_dbtp": close(ours["true_peak_dbtp"], theirs["true_peak_dbtp"], 0.3),
    }


def speed(seconds: int, repeat: int) -> tuple[list[dict], dict]:
    path, fast = clip(seconds), fast_judge()
    variants = {"ffmpeg (one graph)": ffmpeg_cmd(path), "pique evaluate": pique_cmd(path, JUDGE),
                "pique evaluate, fast": pique_cmd(path, fast)}
    walls: dict[str, list[float]] = {k: [] for k in variants}
    rss: dict[str, int] = {}
    outputs: dict[str, str] = {}
    for _ in range(repeat):  # alternating, so machine load hits each alike
        for name, cmd in variants.items():
            wall, peak, out, err = run(cmd)
            walls[name].append(wall)
            rss[name] = max(rss.get(name, 0), peak)
            outputs[name] = err if name.startswith("ffmpeg") else out
    base = median(walls["ffmpeg (one graph)"])
    rows = [{"run": k, "median_s": round(median(v), 2), "runs_s": [round(x, 2) for x in v],
             "vs_ffmpeg": round(median(v) / base, 2), "peak_rss_mib": round(rss[k] / 1024)} for k, v in walls.items()]
    theirs = findings_ffmpeg(outputs["ffmpeg (one graph)"], float(seconds))
    ours = findings_pique(outputs["pique evaluate"])
    return rows, {"pique": ours, "ffmpeg": theirs, "agree": agree(ours, theirs),
                  "fast_agree": agree(findings_pique(outputs["pique evaluate, fast"]), theirs)}


def memory(lengths: list[int]) -> list[dict]:
    rows = []
    for seconds in lengths:
        wall, peak, _, _ = run(pique_cmd(clip(seconds), JUDGE))
        rows.append({"clip_s": seconds, "peak_rss_mib": round(peak / 1024), "wall_s": round(wall, 1)})
        print(f"  {seconds:>4} s clip: peak RSS {peak / 1024:.0f} MiB, {wall:.1f} s", flush=True)
    return rows


def plot(speed_rows: list[dict], memory_rows: list[dict]) -> Path | None:
    if not plot_available():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.barh([r["run"] for r in speed_rows], [r["median_s"] for r in speed_rows], color=["#888", "#3a7", "#37a"])
    a.set_xlabel("wall seconds (median)"), a.set_title("60 s 1080x1920 H.264 + AAC clip")
    b.plot([r["clip_s"] for r in memory_rows], [r["peak_rss_mib"] for r in memory_rows], "o-")
    b.set_xscale("log"), b.set_ylim(bottom=0), b.set_xlabel("clip length (s)"), b.set_ylabel("peak RSS (MiB)")
    b.set_title("pique-engine evaluate, qc_short_video.json")
    fig.tight_layout()
    out = RESULTS / "qc_pack.png"
    fig.savefig(out, dpi=110)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--rss", default="10,60,600", help="clip lengths (s) for the peak-RSS sweep")
    ap.add_argument("--make-clips", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make_clips:
        for seconds in args.make_clips.split(","):
            clip(int(seconds))
        return
    # Clips are encoded in a child: a child's ru_maxrss counts the pages it shared with this
    # process between fork and exec, so a parent grown by encoding would inflate every reading.
    lengths = sorted({args.seconds, *(int(s) for s in args.rss.split(","))})
    subprocess.run([sys.executable, __file__, "--make-clips", ",".join(map(str, lengths))], check=True)
    print("timing ffmpeg and pique on the same clip ...", flush=True)
    rows, findings = speed(args.seconds, args.repeat)
    print(table(rows, ["run", "median_s", "vs_ffmpeg", "peak_rss_mib", "runs_s"]))
    print("agreement with ffmpeg:", findings["agree"], "fast:", findings["fast_agree"])
    print("peak RSS over clip length ...", flush=True)
    mem = memory([int(s) for s in args.rss.split(",")])
    print(table(mem, ["clip_s", "peak_rss_mib", "wall_s"]))
    files = write_results("qc_pack", {"machine": machine(), "speed": rows, "findings": findings, "memory": mem})
    png = plot(rows, mem)
    print(markdown(rows, ["run", "median_s", "vs_ffmpeg", "peak_rss_mib"]))
    print(markdown(mem, ["clip_s", "peak_rss_mib", "wall_s"]))
    print("wrote", *[str(p.relative_to(ROOT)) for p in files + ([png] if png else [])])


if __name__ == "__main__":
    main()
