"""Peak memory of a worker evaluating a 1 GB video against a 10 MB one, through the real worker.

    python benchmarks/worker_memory.py [--judges header,content,frames]

For each video (generated on demand by benchmarks/largemedia.py: 84 s of 1080x1920 H.264 at
100 Mb/s, ~1.05 GB; 2 s at 40 Mb/s, ~9.5 MB) and each judge, one `pique-engine worker
--max-messages 1` process evaluates one upload on the local stack (fake-gcs-server + Pub/Sub
emulator) and exits. Judges:

- ``header``: video_specs only; the probe reads the moov through ranged requests.
- ``content``: video_specs and audio_loudness (the pique-qc plugin; pique-loudness when this was measured), which makes the worker
  stream the object to a temporary file and decode its whole audio track.
- ``frames``: video_specs and six pique-qc detectors fed from one decode pass (black, frozen,
  letterbox, scene cuts and flashes read every video frame; loudness every audio sample).

Peak RSS comes from the kernel. A small launcher process (the child subreaper, prctl
PR_SET_CHILD_SUBREAPER) starts each worker, so the worker, its forkserver and every sandbox child
are reaped there or by a descendant, and the largest ``wait4`` ``ru_maxrss`` is the peak of any
process of the tree. The worker's main process peak (``VmHWM``) and the evaluation children's
(sampled every 5 ms) are read from /proc while the worker runs.
Linux only. Results go to benchmarks/results/worker_memory.{json,csv}. Takes ~2 minutes (uploads
and the 1 GB download to a temporary file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import largemedia
import stackrun
from common import RESULTS, machine, markdown, size, table, write_results

VIDEOS = [("10 MB", "mp4_10mb"), ("1 GB", "mp4_1gb")]
JUDGES = {
    "header": {"judge_id": "judge_header", "criteria": [{"criterion_id": "specs", "detector": "video_specs", "params": {}}]},
    "content": {"judge_id": "judge_content", "criteria": [
        {"criterion_id": "specs", "detector": "video_specs", "params": {}},
        {"criterion_id": "loudness", "detector": "audio_loudness", "params": {}},
    ]},
    "frames": {"judge_id": "judge_frames", "criteria": [
        {"criterion_id": "specs", "detector": "video_specs", "params": {}},
        {"criterion_id": "black", "detector": "black_frames", "params": {}},
        {"criterion_id": "frozen", "detector": "frozen_frames", "params": {}},
        {"criterion_id": "bars", "detector": "letterbox", "params": {}},
        {"criterion_id": "cuts", "detector": "scene_cuts", "params": {}},
        {"criterion_id": "flashes", "detector": "flashes", "params": {}},
        {"criterion_id": "loudness", "detector": "audio_loudness", "params": {}},
    ]},
}
# A small process, started before this script grows, makes itself the child subreaper and
# starts the workers: a child's ru_maxrss includes the RSS of the process it was forked from
# (the kernel keeps the pre-exec high-water mark), so forking from a launcher of ~10 MB keeps
# that out of the numbers, while every orphan (the forkserver) is reaped, with its rusage, there.
LAUNCHER = r"""
import ctypes, json, os, subprocess, sys, time
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    raise SystemExit("prctl(PR_SET_CHILD_SUBREAPER) failed")
print(json.dumps({"launcher_maxrss_kb": __import__("resource").getrusage(0).ru_maxrss}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    with open(req["log"], "wb") as log:
        p = subprocess.Popen(req["argv"], env=req["env"], stdout=subprocess.DEVNULL, stderr=log)
    print(json.dumps({"pid": p.pid}), flush=True)
    _, status, usage = os.wait4(p.pid, 0)
    peaks = {"worker_tree": usage.ru_maxrss}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            peaks[str(pid)] = usage.ru_maxrss
        else:
            time.sleep(0.05)
    print(json.dumps({"status": os.waitstatus_to_exitcode(status), "peaks_kb": peaks}), flush=True)
"""


class Launcher:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.own_kb = json.loads(self.proc.stdout.readline())["launcher_maxrss_kb"]

    def run(self, argv: list[str], env: dict[str, str], log: Path, on_pid) -> dict:
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        pid = json.loads(self.proc.stdout.readline())["pid"]
        on_pid(pid)
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)


def vm_hwm(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(k) for t in os.listdir(f"/proc/{p}/task") for k in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except (OSError, ValueError):
            continue
        out.extend(kids)
        todo.extend(kids)
    return out


def run_worker(launcher: Launcher, env: dict[str, str], log: Path) -> tuple[int, int, int, int]:
    """One burst worker: (exit status, worker VmHWM, sandbox children's sampled VmHWM, tree ru_maxrss), bytes."""
    import threading

    sampled = {"worker": 0, "children": 0}
    stop = threading.Event()

    def sample(pid: int) -> None:
        def loop() -> None:
            while not stop.is_set():
                sampled["worker"] = max(sampled["worker"], vm_hwm(pid) or 0)
                forkservers = [c for c in descendants(pid) if b"forkserver" in _cmdline(c)]
                for fs in forkservers:
                    for child in descendants(fs):
                        sampled["children"] = max(sampled["children"], vm_hwm(child) or 0)
                time.sleep(0.005)

        threading.Thread(target=loop, daemon=True).start()

    argv = [sys.executable, "-m", "pique_engine", "--log-level", "INFO", "worker", "--max-messages", "1"]
    try:
        result = launcher.run(argv, env, log, sample)
    finally:
        stop.set()
    tree = max(result["peaks_kb"].values()) * 1024
    return result["status"], sampled["worker"], sampled["children"], tree


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judges", default="header,content,frames", help="which judges: header, content, frames")
    args = parser.parse_args()
    judges = [j.strip() for j in args.judges.split(",") if j.strip()]
    launcher = Launcher()  # first, while this process is small
    videos = [(label, largemedia.ensure(key)) for label, key in VIDEOS]

    from google.cloud import storage
    from pique_engine.dev.stack import start_local_stack
    from pique_engine.store import Store

    rows = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pique-bench-") as tmp, start_local_stack(tmp) as stack:
        os.environ.update(stack.env)
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir / 'pique.db'}"
        store = Store.open(database_url)
        hooks = stackrun.Webhooks()
        org = store.create_org("Bench", webhook_url=hooks.url)
        hooks.secrets.append(org.webhook_secret)
        for spec in JUDGES.values():
            store.create_judge(org.org.id, spec)
        bucket = storage.Client(project=stack.project).bucket(stack.bucket)
        try:
            for label, path in videos:
                for judge in judges:
                    subscription = stackrun.fresh_subscription(stack, ack_deadline=60)
                    job = store.create_job(org.org.id, judge_id=JUDGES[judge]["judge_id"], content_type="video",
                                           filename=path.name, file_size_bytes=path.stat().st_size)
                    t0 = time.monotonic()
                    bucket.blob(job.object_name).upload_from_filename(str(path), content_type="video/mp4", timeout=600)
                    upload_s = time.monotonic() - t0
                    # Wide limits: the 1 GB video must be measured whole, not abandoned midway.
                    env = stackrun.worker_env(stack, database_url, subscription,
                                              PIQUE_LOAD_PLUGINS="" if judge == "header" else "qc",
                                              PIQUE_DETECTOR_TIMEOUT_SEC="3600", PIQUE_EVALUATION_TIMEOUT_SEC="3600")
                    print(f"{label} video, {judge} judge: uploaded in {upload_s:.1f} s, evaluating ...", flush=True)
                    t0 = time.monotonic()
                    code, worker_hwm, child_hwm, tree = run_worker(launcher, env, workdir / f"worker-{label}-{judge}.log".replace(" ", ""))
                    elapsed = time.monotonic() - t0
                    ok = hooks.wait_for({job.job_id}, timeout=30)
                    status = store.get_job(job.job_id).status.value
                    rows.append({"video": label, "object_bytes": path.stat().st_size, "judge": judge, "job_status": status,
                                 "webhook_verified": ok, "worker_exit": code, "worker_peak_rss": worker_hwm,
                                 "evaluation_child_peak_rss_sampled": child_hwm, "tree_peak_rss": tree, "worker_run_s": elapsed})
        finally:
            hooks.stop()
            store.close()
            launcher.close()
    cols = ["video", "object_bytes", "judge", "job_status", "worker_peak_rss", "evaluation_child_peak_rss_sampled", "tree_peak_rss",
            "worker_run_s"]
    heads = ["video", "object size", "judge", "job", "worker main process", "evaluation child (sampled)", "any process (wait4)",
             "worker run s"]
    sized = ("object_bytes", "worker_peak_rss", "evaluation_child_peak_rss_sampled", "tree_peak_rss")
    shown = [{**r, **{c: size(r[c]) for c in sized}} for r in rows]
    print(table(shown, cols, heads))
    for judge in judges:
        small, big = (next(r for r in rows if r["judge"] == judge and r["video"] == v) for v, _ in VIDEOS)
        print(f"{judge} judge: 1 GB / 10 MB peak RSS of the tree = {big['tree_peak_rss'] / small['tree_peak_rss']:.2f}x")
    payload = {"machine": machine(), "command": " ".join(["python", "benchmarks/worker_memory.py", *sys.argv[1:]]),
               "seconds": round(time.monotonic() - started, 1), "rows": rows, "markdown": markdown(shown, cols, heads)}
    for p in write_results("worker_memory", payload, rows):
        print(f"wrote {p.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
