"""Services a fault test may break without disturbing other tests: its own PostgreSQL, and
stop/pause/restart for the servers of its own `LocalStack`.

PostgreSQL comes from the server binaries (``/usr/lib/postgresql/*/bin``): `initdb` into a
temporary folder, `pg_ctl` on a free port. As root, they run as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from pique_engine.dev import stack as localstack
from pique_engine.dev.stack import LocalStack

from .conftest import require_service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port; `stop`/`start`/`restart` at will."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        require_service(bindir is not None, "PostgreSQL server binaries (initdb, pg_ctl) missing")
        self.bin = bindir
        # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
        root = self.root = Path(tempfile.mkdtemp(prefix="pique-pg-"))
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = free_port()
        self._as = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "test")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/test"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bin / tool), *args], check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once, as a restart or failover does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# -- the servers of a private LocalStack ----------------------------------------------------


def _server(stack: LocalStack, name: str):
    return next(s for s in stack._servers if s.name == name)


def pause(stack: LocalStack, name: str) -> None:
    """Freeze a server (SIGSTOP to its process group): connections hang, state is kept."""
    os.killpg(_server(stack, name).process.pid, signal.SIGSTOP)


def resume(stack: LocalStack, name: str) -> None:
    os.killpg(_server(stack, name).process.pid, signal.SIGCONT)


def kill(stack: LocalStack, name: str) -> None:
    """Stop a server: connections are refused. Its command is kept for `revive`."""
    server = _server(stack, name)
    server.stop()
    stack._servers.remove(server)
    stack._stopped = getattr(stack, "_stopped", {})
    stack._stopped[name] = server.process.args


def revive(stack: LocalStack, name: str, timeout: float = 60.0) -> None:
    """Start a `kill`ed server again with the same command and port, and wait until it answers.

    fake-gcs-server keeps its objects on disk; the Pub/Sub emulator comes back empty, so
    topics and subscriptions must be created again (see `recreate_pubsub`).
    """
    args = stack._stopped.pop(name)
    env = dict(os.environ)
    if name == "fake-gcs-server":
        env["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host
    server = localstack._spawn(name, list(args), stack.workdir, env)
    stack._servers.append(server)
    url = f"{stack.gcs_url}/storage/v1/b" if name == "fake-gcs-server" else f"http://{stack.pubsub_host}/"
    localstack._wait_http(server, url, time.monotonic() + timeout)
