"""What running each evaluation in a sandbox child costs, per evaluation, in milliseconds.

    python benchmarks/isolation_cost.py [--repeat 60] [--corpus-rounds 5] [--pique-engine PATH] [--json out.json]

Part 1, side by side, round-robin, for a header-only judge on small fixtures (video, image, audio):

- ``in-process``: `evaluate_upload(request)` called in this process, plugins loaded once (the
  floor: the same work without a child).
- ``warm child``: `partial.evaluate_isolated(evaluate_upload, ...)`, exactly what the worker runs
  per message: the call goes to a warm child of the pool.
- ``fork per call``: the same, through a pool that keeps no child, so every evaluation forks a
  fresh child from the forkserver (the sandbox before warm children).

Part 2: ``pique-engine evaluate`` (isolation on, the default) over every file in
fixtures/media, against ``ffprobe -show_streams -show_format -of json`` run once per file. The
command's start-up (imports, forkserver, plugins) is paid once per run, so the per-file cost is
the time between consecutive payload lines (each is flushed as its evaluation ends), over the
corpus listed `corpus-rounds` times; the first payload's delay is reported apart.
`--pique-engine` points at another install (e.g. the main branch's) to compare.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT / "fixtures" / "media"
FILES = {
    "video": "contract_576x1024_30fps.mp4",
    "image": "portrait_1080x1350.jpg",
    "audio": "tone_44100_mono.wav",
}
JUDGE = {
    "judge_id": "bench",
    "criteria": [
        {"criterion_id": "video", "detector": "video_specs", "params": {"min_width": 320}},
        {"criterion_id": "image", "detector": "image_dimensions", "params": {"min_width": 64}},
        {"criterion_id": "audio", "detector": "audio_sample_rate", "params": {"min_sample_rate": 16000}},
    ],
}


def _stats(v: list[float]) -> dict[str, float]:
    ordered = sorted(v)
    return {"median_ms": statistics.median(v), "p95_ms": ordered[round(0.95 * (len(v) - 1))], "n": len(v)}


def per_evaluation(repeat: int) -> dict[str, dict[str, float]]:
    from pique_engine.storage.local import LocalStorage
    from pique_engine.worker import sandbox
    from pique_engine.worker.child import UploadRequest, evaluate_upload
    from pique_engine.worker.partial import criteria_of, evaluate_isolated
    from pique_engine.worker.sandbox import Limits, warm_up
    from pique_engine.worker.warm_pool import WarmPool

    warm_up()
    limits = Limits(timeout_sec=60, memory_bytes=4 << 30, detector_timeout_sec=30)
    warm, cold = sandbox.pool(), WarmPool(sandbox._ctx, size=0)
    samples: dict[str, list[float]] = {}

    def timed(key: str, fn) -> None:
        t0 = time.perf_counter()
        fn()
        samples.setdefault(key, []).append((time.perf_counter() - t0) * 1000)

    def isolated(pool, request):
        sandbox._pool = pool  # evaluate_isolated uses the process's pool
        outcome = evaluate_isolated(evaluate_upload, request, criteria=criteria_of(JUDGE), limits=limits)
        assert outcome.evaluation.completed

    for _ in range(repeat):
        for kind, name in FILES.items():
            found = LocalStorage(MEDIA).locate(name)
            request = UploadRequest(job_id="job_bench", storage=LocalStorage(MEDIA), object_name=name, generation=found.generation,
                                    size=found.size, content_type=kind, declared_size=found.size, judge=JUDGE, plugin_selection=[])
            timed(f"in-process {kind}", lambda: evaluate_upload(request, progress=lambda label: None))
            timed(f"warm child {kind}", lambda: isolated(warm, request))
            timed(f"fork per call {kind}", lambda: isolated(cold, request))
    sandbox._pool = warm
    return {k: _stats(v) for k, v in samples.items()}


def corpus(rounds: int, engine: str) -> dict[str, float]:
    files = sorted(str(p) for p in MEDIA.iterdir() if p.is_file())
    many = files * rounds
    with tempfile.TemporaryDirectory() as tmp:
        judge = Path(tmp) / "judge.json"
        judge.write_text(json.dumps(JUDGE))
        t0 = time.perf_counter()
        run = subprocess.Popen([engine, "evaluate", *many, "--judge", str(judge)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=tmp)
        stamps = []
        for line in run.stdout:  # one flushed JSON line per file, as each evaluation ends
            json.loads(line)
            stamps.append(time.perf_counter())
        run.wait()
    assert len(stamps) == len(many), f"{len(stamps)} payloads for {len(many)} files"
    per_file = [(b - a) * 1000 for a, b in zip(stamps, stamps[1:])]
    ffprobe = shutil.which("ffprobe")
    probe_ms = []
    for f in many:
        p0 = time.perf_counter()
        subprocess.run([ffprobe, "-v", "quiet", "-show_streams", "-show_format", "-of", "json", f], capture_output=True)
        probe_ms.append((time.perf_counter() - p0) * 1000)
    evaluate, probe = _stats(per_file), _stats(probe_ms)
    return {"files": len(files), "evaluations": len(many), "evaluate_first_payload_ms": (stamps[0] - t0) * 1000,
            "evaluate_per_file_median_ms": evaluate["median_ms"], "evaluate_per_file_p95_ms": evaluate["p95_ms"],
            "ffprobe_per_file_median_ms": probe["median_ms"], "ffprobe_per_file_p95_ms": probe["p95_ms"],
            "speedup_median": probe["median_ms"] / evaluate["median_ms"]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--corpus-rounds", type=int, default=5)
    parser.add_argument("--pique-engine", default=str(Path(sys.executable).parent / "pique-engine"))
    parser.add_argument("--skip-part-1", action="store_true", help="only the corpus (for another install's command)")
    parser.add_argument("--skip-corpus", action="store_true", help="only part 1")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict = {}
    if not args.skip_part_1:
        results["per_evaluation"] = per = per_evaluation(args.repeat)
        print(f"{'':24} {'median ms':>10} {'p95 ms':>8}")
        for key, r in per.items():
            print(f"{key:24} {r['median_ms']:10.2f} {r['p95_ms']:8.2f}")
        for kind in FILES:
            for mode in ("warm child", "fork per call"):
                cost = per[f"{mode} {kind}"]["median_ms"] - per[f"in-process {kind}"]["median_ms"]
                print(f"isolation cost, {mode}, {kind}: {cost:.2f} ms per evaluation (median)")
    if not args.skip_corpus:
        results["corpus"] = c = corpus(args.corpus_rounds, args.pique_engine)
        print(json.dumps(c, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
