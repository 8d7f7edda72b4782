"""Recovery after a SIGKILLed worker: from the restart until every job of its batch is settled.

    python benchmarks/worker_recovery.py [--trials 5] [--uploads 20] [--watch 45]

Per trial, on the Pub/Sub emulator and fake-gcs-server with a fresh subscription and database:
one `pique-engine worker` (concurrency 2, default lease and sweep settings unless given) takes
a batch of uploads and is killed with SIGKILL once 3 webhooks have arrived; a new worker starts
at once. Reported: jobs unsettled at the kill, seconds from the restart until all are settled
(completed or failed, in the database), how many the restarted worker settled itself at start
or by reclaiming run-out leases (`source=sweep`), and how many notifications of those unsettled
jobs the emulator never redelivered within the settling time plus `--watch` seconds ("stranded").
Results go to benchmarks/results/worker_recovery.{json,csv}.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stackrun
from common import MEDIA, machine, median, table, write_results

FILE = MEDIA / "phone_rotated_90.mp4"
SETTLED = ("completed", "failed")


def unsettled(store, job_ids) -> list[str]:
    return [j for j in job_ids if store.get_job(j).status.value not in SETTLED]


def trial(stack, workdir: Path, i: int, args) -> dict:
    from google.cloud import storage

    from pique_engine.store import Store

    data = FILE.read_bytes()
    database_url = f"sqlite:///{workdir / f'recovery-{i}.db'}"
    store = Store.open(database_url)
    hooks = stackrun.Webhooks()
    extra = {"PIQUE_CONCURRENCY": "2", **({"PIQUE_JOB_LEASE_SEC": str(args.lease)} if args.lease else {}),
             **({"PIQUE_SWEEP_INTERVAL_SEC": str(args.interval)} if args.interval else {})}  # fmt: skip
    env = stackrun.worker_env(stack, database_url, stackrun.fresh_subscription(stack, ack_deadline=10), **extra)
    workers = []
    try:
        org = store.create_org("Bench", webhook_url=hooks.url)
        hooks.secrets.append(org.webhook_secret)
        store.create_judge(org.org.id, stackrun.REELS)
        workers.append(stackrun.start_worker(env, workdir / f"worker-{i}-first.log"))
        stackrun.wait_ready(workers)
        jobs = [store.create_job(org.org.id, judge_id="judge_reels", content_type="video", filename=f"k{n}.mp4",
                                 file_size_bytes=len(data)).job_id for n in range(args.uploads)]  # fmt: skip
        bucket = storage.Client(project=stack.project).bucket(stack.bucket)
        for job_id in jobs:
            bucket.blob(store.get_job(job_id).object_name).upload_from_string(data, content_type="video/mp4")
        while len(hooks.arrivals) < 3:
            time.sleep(0.01)
        workers[0].proc.kill()
        workers[0].proc.wait(10)
        left = unsettled(store, jobs)
        restarted = time.monotonic()
        workers.append(stackrun.start_worker(env, workdir / f"worker-{i}-restarted.log"))
        while unsettled(store, jobs) and time.monotonic() - restarted < args.give_up:
            time.sleep(0.1)
        settled_s = time.monotonic() - restarted if not unsettled(store, jobs) else None
        time.sleep(args.watch)  # late redeliveries arrive as duplicates
        lines = workers[1].log_lines()
        by_sweep = {ln["job_id"] for ln in lines if ln.get("source") == "sweep" and ln.get("outcome") in SETTLED}
        notified = {ln["job_id"] for ln in lines if "job_id" in ln and "outcome" in ln and ln.get("source") != "sweep"}
        return {"trial": i, "unsettled_at_kill": len(left), "all_settled_s": None if settled_s is None else round(settled_s, 1),
                "settled_by_restarted_worker_itself": len(by_sweep & set(left)),
                "never_redelivered": len(set(left) - notified), "webhooks": len(hooks.arrivals)}  # fmt: skip
    finally:
        for w in workers:
            w.stop(timeout=30)
        hooks.stop()
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--watch", type=float, default=45.0, help="seconds to keep watching for redeliveries after all settled")
    parser.add_argument("--give-up", type=float, default=300.0)
    parser.add_argument("--lease", type=float, help="PIQUE_JOB_LEASE_SEC (default: the worker's)")
    parser.add_argument("--interval", type=float, help="PIQUE_SWEEP_INTERVAL_SEC (default: the worker's)")
    args = parser.parse_args()

    from pique_engine.dev.stack import start_local_stack

    rows = []
    with tempfile.TemporaryDirectory(prefix="pique-recovery-") as tmp, start_local_stack(Path(tmp)) as stack:
        os.environ.update(stack.env)
        for i in range(args.trials):
            rows.append(trial(stack, Path(tmp), i, args))
            print(rows[-1], flush=True)
    cols = ["trial", "unsettled_at_kill", "all_settled_s", "settled_by_restarted_worker_itself", "never_redelivered", "webhooks"]
    print()
    print(table(rows, cols))
    times = [r["all_settled_s"] for r in rows if r["all_settled_s"] is not None]
    outstanding = sum(r["unsettled_at_kill"] for r in rows)
    stranded = sum(r["never_redelivered"] for r in rows)
    summary = {"machine": machine(), "args": vars(args), "trials": len(rows), "settled_trials": len(times),
               "median_s": median(times) if times else None, "max_s": max(times) if times else None,
               "outstanding": outstanding, "never_redelivered": stranded}  # fmt: skip
    print(f"\nall settled in {len(times)} of {len(rows)} trials; median {summary['median_s']} s, max {summary['max_s']} s; "
          f"{stranded} of {outstanding} outstanding notifications never redelivered")
    for path in write_results("worker_recovery", {**summary, "rows": rows}, rows):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
