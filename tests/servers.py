"""Real servers for tests: ``govgraph serve`` in a subprocess on a free port, started and stopped for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

STARTUP_ATTEMPTS = 300
"""Polls of /healthz, a tenth of a second apart, before a server counts as failed to start."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the master and its workers)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    for _ in range(STARTUP_ATTEMPTS):
        if process is not None and process.poll() is not None:
            output = log.read_text(errors="replace") if log and log.exists() else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{output[-4000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not become healthy")


def demo_environ(demo_dir: Path, directory: Path, **settings: str) -> dict[str, str]:
    """A server over the SQLite demo city with an audit store of its own in ``directory``; ``settings``
    are further ``GOVGRAPH_*`` variables."""
    return {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_AUDIT_URL": f"sqlite+aiosqlite:///{directory}/audit.db",
        "GOVGRAPH_AUDIT_SPOOL": str(directory / "spool.jsonl"),
        **settings,
    }


@contextmanager
def govgraph_server(
    environ: Mapping[str, str], tmp_path: Path, *, workers: int = 1, arguments: tuple[str, ...] = ()
) -> Iterator[Server]:
    """``govgraph serve`` with the given environment (added to this process's), until the block ends."""
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    env = {**os.environ, **environ}
    command = [
        sys.executable,
        "-m",
        "govgraph.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *arguments,
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path
        )
    server = Server(process, port, log)
    try:
        wait_until_healthy(server.url, process, log)
        yield server
    finally:
        server.kill(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill(signal.SIGKILL)
            process.wait(timeout=20)


def wait_for_subscriptions(url: str) -> None:
    """Until ``/readyz`` says subscriptions have started (the change bus knows where each department stands)."""
    body: object = None
    for _ in range(STARTUP_ATTEMPTS):
        body = httpx.get(f"{url}/readyz", timeout=5).json()
        if isinstance(body, dict) and body.get("subscriptions", {}).get("status") == "ok":
            return
        time.sleep(0.1)
    raise RuntimeError(f"subscriptions at {url} did not start: {body}")
