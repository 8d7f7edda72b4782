"""Worker throughput and latency on the Pub/Sub emulator and fake-gcs-server: N uploads -> N verified webhooks.

    python benchmarks/worker_throughput.py [-n 60] [--workers 1,2] [--concurrency 2] [--database-url URL]

One local stack (`pique_engine.dev.stack`), one store (a SQLite file unless --database-url), one
organisation whose webhook URL is a loopback receiver that verifies every signature. For each
worker count, a fresh subscription, that many `pique-engine worker` processes (each
`PIQUE_CONCURRENCY` evaluations in flight, each in a sandboxed child), then N uploads of a small
MP4 from 4 threads at once (burst: throughput, and latency with a queue), and the wait for N
verified webhooks; then a paced run (one upload a second by default: latency without a queue).

Reported per run: evaluations/s (N / first upload start to last webhook; for a paced run this is
the pace), finalize -> webhook latency p50/p95/max (upload call returned -> verified webhook
received), the worker's own
evaluation time (from its logs, sandbox fork included), and two floors measured during the same
run: the emulator's publish -> deliver latency (a probe topic, one message every 20 ms, one
streaming-pull subscriber) and upload -> notification delivered (a spy subscription on the uploads
topic: fake-gcs-server's notification plus the emulator). Results go to
benchmarks/results/worker_throughput.{json,csv}. Takes 1-3 minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stackrun
from common import (
    MEDIA,
    RESULTS,
    machine,
    markdown,
    median,
    percentile,
    table,
    write_results,
)

FILE = MEDIA / "phone_rotated_90.mp4"


class Floors:
    """Publish -> deliver on a probe topic, and upload -> notification on the uploads topic."""

    def __init__(self, stack) -> None:
        from google.cloud import pubsub_v1

        self.stack = stack
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        topic = f"projects/{stack.project}/topics/bench-floor"
        self.topic = topic
        self.publisher.create_topic(name=topic)
        probe_sub = f"projects/{stack.project}/subscriptions/bench-floor"
        self.subscriber.create_subscription(name=probe_sub, topic=topic)
        spy_sub = stackrun.fresh_subscription(stack)
        self.publish_deliver: list[float] = []
        self.notified: dict[str, float] = {}
        self._futures = [
            self.subscriber.subscribe(probe_sub, self._on_probe),
            self.subscriber.subscribe(spy_sub, self._on_notification),
        ]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _on_probe(self, message) -> None:
        self.publish_deliver.append((time.time() - float(message.attributes["t"])) * 1000)
        message.ack()

    def _on_notification(self, message) -> None:
        self.notified.setdefault(message.attributes.get("objectId", ""), time.time())
        message.ack()

    def start(self) -> None:
        self._stop.clear()
        self.publish_deliver.clear()

        def loop() -> None:
            while not self._stop.wait(0.02):
                self.publisher.publish(self.topic, b"probe", t=repr(time.time()))

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        time.sleep(0.3)  # let the last probes arrive

    def close(self) -> None:
        for f in self._futures:
            f.cancel()
        self.subscriber.close()


def run_once(stack, store, org, hooks, floors, workdir: Path, *, workers: int, n: int, concurrency: int, database_url: str,
             pace: float = 0.0) -> dict:
    from google.cloud import storage

    data = FILE.read_bytes()
    subscription = stackrun.fresh_subscription(stack)
    env = stackrun.worker_env(stack, database_url, subscription, PIQUE_CONCURRENCY=str(concurrency))
    tag = f"paced-{workers}" if pace else f"burst-{workers}"
    procs = [stackrun.start_worker(env, workdir / f"worker-{tag}-{i}.log") for i in range(workers)]
    try:
        stackrun.wait_ready(procs)
        jobs = [store.create_job(org.org.id, judge_id="judge_reels", content_type="video", filename=f"clip{i}.mp4",
                                 file_size_bytes=len(data)) for i in range(n)]
        bucket = storage.Client(project=stack.project).bucket(stack.bucket)
        uploaded: dict[str, float] = {}

        def upload(job) -> None:
            bucket.blob(job.object_name).upload_from_string(data, content_type="video/mp4")
            uploaded[job.job_id] = time.time()

        floors.start()
        t_start = time.time()
        with ThreadPoolExecutor(4) as pool:
            if pace:  # one upload every `pace` seconds: latency without a queue
                for i, job in enumerate(jobs):
                    time.sleep(max(0.0, t_start + i * pace - time.time()))
                    pool.submit(upload, job)
            else:
                list(pool.map(upload, jobs))
        done = hooks.wait_for({j.job_id for j in jobs}, timeout=60 + n)
        floors.stop()
        if not done:
            raise RuntimeError(f"only {len({j.job_id for j in jobs} & hooks.arrivals.keys())} of {n} webhooks arrived")
        t_end = max(hooks.arrivals[j.job_id] for j in jobs)
    finally:
        codes = [p.stop() for p in procs]
    latency = [(hooks.arrivals[j.job_id] - uploaded[j.job_id]) * 1000 for j in jobs]
    notify = [(floors.notified[j.object_name] - uploaded[j.job_id]) * 1000 for j in jobs if j.object_name in floors.notified]
    evals = [s * 1000 for s in stackrun.evaluation_seconds(procs)]
    return {
        "load": f"paced {1 / pace:g}/s" if pace else "burst", "workers": workers, "concurrency_per_worker": concurrency,
        "uploads": n, "webhooks_verified": n,
        "evaluations_per_s": n / (t_end - t_start), "wall_s": t_end - t_start,
        "finalize_to_webhook_p50_ms": median(latency), "finalize_to_webhook_p95_ms": percentile(latency, 95),
        "finalize_to_webhook_max_ms": max(latency),
        "worker_evaluation_p50_ms": median(evals), "worker_evaluation_p95_ms": percentile(evals, 95),
        "upload_to_notification_p50_ms": median(notify), "upload_to_notification_p95_ms": percentile(notify, 95),
        "emulator_publish_to_deliver_p50_ms": median(floors.publish_deliver),
        "emulator_publish_to_deliver_p95_ms": percentile(floors.publish_deliver, 95),
        "emulator_probe_messages": len(floors.publish_deliver), "worker_exit_codes": codes,
        "signature_rejections": hooks.rejected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=60, help="uploads per run")
    parser.add_argument("--workers", default="1,2", help="worker process counts to run, comma separated")
    parser.add_argument("--concurrency", type=int, default=2, help="PIQUE_CONCURRENCY of each worker")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: a SQLite file in the run's temporary folder)")
    parser.add_argument("--paced", type=int, default=20, help="uploads of the paced (unloaded) run after each burst; 0 skips it")
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between paced uploads")
    args = parser.parse_args()

    from pique_engine.dev.stack import start_local_stack
    from pique_engine.store import Store

    rows = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pique-bench-") as tmp, start_local_stack(tmp) as stack:
        os.environ.update(stack.env)
        workdir = Path(tmp)
        database_url = args.database_url or f"sqlite:///{workdir / 'pique.db'}"
        store = Store.open(database_url)
        hooks = stackrun.Webhooks()
        floors = Floors(stack)
        try:
            org = store.create_org("Bench", webhook_url=hooks.url)
            hooks.secrets.append(org.webhook_secret)
            store.create_judge(org.org.id, stackrun.REELS)
            for count in [int(x) for x in args.workers.split(",")]:
                print(f"{count} worker(s), {args.n} uploads at once ...", flush=True)
                rows.append(run_once(stack, store, org, hooks, floors, workdir, workers=count, n=args.n,
                                     concurrency=args.concurrency, database_url=database_url))
                if args.paced:
                    print(f"  then {args.paced} uploads, one every {args.pace:g} s ...", flush=True)
                    rows.append(run_once(stack, store, org, hooks, floors, workdir, workers=count, n=args.paced,
                                         concurrency=args.concurrency, database_url=database_url, pace=args.pace))
        finally:
            floors.close()
            hooks.stop()
            store.close()
    cols = ["workers", "load", "uploads", "evaluations_per_s", "finalize_to_webhook_p50_ms", "finalize_to_webhook_p95_ms",
            "worker_evaluation_p50_ms", "upload_to_notification_p50_ms", "upload_to_notification_p95_ms",
            "emulator_publish_to_deliver_p50_ms", "emulator_publish_to_deliver_p95_ms"]
    heads = ["workers", "load", "uploads", "evals/s", "finalize->webhook p50 ms", "p95 ms", "worker eval p50 ms",
             "upload->notification p50 ms", "p95 ms", "emulator publish->deliver p50 ms", "p95 ms"]
    print(table(rows, cols, heads))
    payload = {"machine": machine(), "command": " ".join(["python", "benchmarks/worker_throughput.py", *sys.argv[1:]]),
               "file": FILE.name, "database": "sqlite" if not args.database_url else args.database_url.split(":", 1)[0],
               "seconds": round(time.monotonic() - started, 1), "rows": rows, "markdown": markdown(rows, cols, heads)}
    for p in write_results("worker_throughput", payload, rows):
        print(f"wrote {p.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
