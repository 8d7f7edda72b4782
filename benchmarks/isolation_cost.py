"""What running each evaluation in a sandbox child costs, per evaluation, in milliseconds.

    python benchmarks/isolation_cost.py [--repeat 40] [--json out.json]

Measured side by side, round-robin, for a header-only judge on small fixtures:

- ``in-process``: `Evaluator.evaluate` in this process, plugins loaded once (the floor).
- ``sandbox noop``: `run_isolated` of a function that does nothing: fork from the forkserver,
  pipe, join. The fixed price of isolation.
- ``sandbox eval``: `run_isolated(evaluate_upload, ...)` reading the file from a local folder,
  exactly what the worker runs per message (plugins are loaded in every child).

The difference between ``sandbox eval`` and ``in-process`` is the isolation cost per evaluation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
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


def _noop(*, progress) -> None:
    return None


def measure(repeat: int) -> dict[str, dict[str, float]]:
    from pique_engine.evaluation import Evaluator, MediaSource
    from pique_engine.judge import bind_judge, parse_judge
    from pique_engine.plugins import load_plugins
    from pique_engine.worker.sandbox import Limits, run_isolated, warm_up
    from pique_engine.storage.local import LocalStorage
    from pique_engine.worker.child import UploadRequest, evaluate_upload

    warm_up()
    plugins = load_plugins([])
    evaluator = Evaluator(plugins)
    judge = bind_judge(parse_judge(JUDGE), plugins.detectors)
    limits = Limits(timeout_sec=60, memory_bytes=4 << 30)
    samples: dict[str, list[float]] = {}

    def timed(key: str, fn) -> None:
        t0 = time.perf_counter()
        fn()
        samples.setdefault(key, []).append((time.perf_counter() - t0) * 1000)

    for _ in range(repeat):
        timed("sandbox noop", lambda: run_isolated(_noop, limits=limits))
        for kind, name in FILES.items():
            path = MEDIA / name
            found = LocalStorage(MEDIA).locate(name)
            request = UploadRequest(job_id="job_bench", storage=LocalStorage(MEDIA), object_name=name, generation=found.generation,
                                    size=found.size, content_type=kind, declared_size=found.size, judge=JUDGE, plugin_selection=[])
            timed(f"in-process {kind}", lambda: evaluator.evaluate(MediaSource.from_path(path), judge, job_id="job_bench"))
            timed(f"sandbox eval {kind}", lambda: run_isolated(evaluate_upload, request, limits=limits))
    return {k: {"median_ms": statistics.median(v), "p90_ms": sorted(v)[int(0.9 * (len(v) - 1))], "n": len(v)}
            for k, v in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = measure(args.repeat)
    print(f"{'':24} {'median ms':>10} {'p90 ms':>8}")
    for key, r in results.items():
        print(f"{key:24} {r['median_ms']:10.1f} {r['p90_ms']:8.1f}")
    for kind in FILES:
        cost = results[f"sandbox eval {kind}"]["median_ms"] - results[f"in-process {kind}"]["median_ms"]
        print(f"isolation cost, {kind}: {cost:.1f} ms per evaluation")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
