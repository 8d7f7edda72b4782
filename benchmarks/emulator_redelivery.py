"""How the Pub/Sub emulator hands back a subscriber's messages after that subscriber is SIGKILLed.

    python benchmarks/emulator_redelivery.py [--trials 20] [--messages 20] [--give-up 60]

No pique-engine code in the loop: a bare streaming-pull subscriber (google-cloud-pubsub, flow
control of one message, 10 s lease extensions, as the worker's tests run it) acknowledges 4
messages of a batch and is killed with SIGKILL; a second subscriber then starts on the same
subscription. Per trial: how long until the second one acknowledged its first message, and
whether every message came back within `--give-up` seconds (if not, a synchronous pull is tried
too). This is the measurement behind the worker's sweep: on the real service a killed
subscriber's messages return when their deadline passes; on the emulator, now and then, they
never do. Results go to benchmarks/results/emulator_redelivery.{json,csv}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stackrun
from common import machine, table, write_results

SUBSCRIBER = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

def callback(message):
    time.sleep(0.05)  # a short evaluation
    message.ack()
    print(message.data.decode(), flush=True)

flow = pubsub_v1.types.FlowControl(max_messages=1, min_duration_per_lease_extension=10, max_duration_per_lease_extension=10)
future = pubsub_v1.SubscriberClient().subscribe(sys.argv[1], callback, flow_control=flow,
                                               scheduler=ThreadScheduler(ThreadPoolExecutor(max_workers=1)))
future.result()
"""


class Subscriber:
    """A subscriber subprocess; `acked` collects (monotonic time, message data) as it acknowledges."""

    def __init__(self, subscription: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, subscription], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.acked: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.acked.append((time.monotonic(), line.decode().strip()))

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def trial(stack, publisher, n: int, give_up: float) -> dict:
    from google.cloud import pubsub_v1

    subscription = stackrun.fresh_subscription(stack, ack_deadline=10)
    for i in range(n):
        publisher.publish(stack.topic_path, str(i).encode()).result()
    first = Subscriber(subscription)
    started = time.monotonic()
    while len(first.acked) < 4:
        if time.monotonic() - started > 60:
            first.kill()
            raise SystemExit("the first subscriber received nothing in 60 s; is the emulator up?")
        time.sleep(0.005)
    first.kill()
    killed = time.monotonic()
    second = Subscriber(subscription)

    def acked() -> set[str]:
        return {data for _, data in first.acked + second.acked}

    while len(acked()) < n and time.monotonic() - killed < give_up:
        time.sleep(0.05)
    row = {
        "first_redelivery_s": round(second.acked[0][0] - killed, 1) if second.acked else None,
        "all_back_s": round(time.monotonic() - killed, 1) if len(acked()) == n else None,
        "returned": len(acked()) - len(first.acked),
        "stranded": n - len(acked()),
        "sync_pull_got": None,
    }
    second.kill()
    if row["stranded"]:
        client = pubsub_v1.SubscriberClient()
        response = client.pull(request={"subscription": subscription, "max_messages": n}, timeout=10)
        row["sync_pull_got"] = len(response.received_messages)
        client.close()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--give-up", type=float, default=60.0, help="seconds to wait for every message to come back")
    args = parser.parse_args()

    from google.cloud import pubsub_v1

    from pique_engine.dev.stack import start_local_stack

    rows = []
    with tempfile.TemporaryDirectory() as tmp, start_local_stack(Path(tmp)) as stack:
        os.environ.update(stack.env)
        publisher = pubsub_v1.PublisherClient()
        for i in range(args.trials):
            row = {"trial": i, **trial(stack, publisher, args.messages, args.give_up)}
            rows.append(row)
            print(f"trial {i}: first redelivery {row['first_redelivery_s']} s, stranded {row['stranded']}", flush=True)
    stranded = sum(1 for r in rows if r["stranded"])
    print()
    print(table(rows, ["trial", "first_redelivery_s", "all_back_s", "returned", "stranded", "sync_pull_got"]))
    print(f"\n{stranded} of {len(rows)} trials left messages stranded for {args.give_up:g} s")
    summary = {"machine": machine(), "args": vars(args), "stranded_trials": stranded, "trials": len(rows)}
    for path in write_results("emulator_redelivery", {**summary, "rows": rows}, rows):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
