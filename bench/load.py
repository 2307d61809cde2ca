"""Load from a separate process: wrk (Debian's ``wrk``) with a Lua script, and the server's peak memory.

``run_wrk`` POSTs GraphQL bodies (one, or a rotation of many) over ``connections``
connections for ``seconds``, and returns requests per second, latency
percentiles and the count of errors (non-2xx answers and socket errors).
``peak_rss`` samples a process tree's resident memory while the load runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int
    peak_rss_mb: float


def combined(first: Load, second: Load) -> Load:
    """Two runs of the same load as one: their mean rate, the worse of each percentile, every request and
    error, the higher peak memory."""
    return Load(
        requests_per_second=(first.requests_per_second + second.requests_per_second) / 2,
        p50_ms=max(first.p50_ms, second.p50_ms),
        p95_ms=max(first.p95_ms, second.p95_ms),
        p99_ms=max(first.p99_ms, second.p99_ms),
        requests=first.requests + second.requests,
        errors=first.errors + second.errors,
        peak_rss_mb=max(first.peak_rss_mb, second.peak_rss_mb),
    )


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    bodies: Sequence[bytes],
    headers: dict[str, str],
    *,
    connections: int = 32,
    seconds: int = 20,
    threads: int = 2,
    watch_pid: int | None = None,
) -> Load:
    script = _script(bodies, headers)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    sampler = _RssSampler(watch_pid) if watch_pid else None
    if sampler:
        sampler.start()
    try:
        finished = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                file.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
    finally:
        if sampler:
            sampler.stop()
        os.unlink(file.name)
    return _parse(finished.stdout, sampler.peak_mb if sampler else 0.0)


DONE = """
done = function(summary, latency, requests)
  io.write(string.format("percentile 50 %d\\n", latency:percentile(50)))
  io.write(string.format("percentile 95 %d\\n", latency:percentile(95)))
  io.write(string.format("percentile 99 %d\\n", latency:percentile(99)))
end
"""


def _script(bodies: Sequence[bytes], headers: dict[str, str]) -> str:
    return _requests(bodies, headers) + DONE


def _requests(bodies: Sequence[bytes], headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}" for name, value in headers.items()]
    if len(bodies) == 1:
        lines.append(f"wrk.body = {_lua_string(bodies[0])}")
        return "\n".join(lines) + "\n"
    lines.append("local bodies = {")
    lines += [f"  {_lua_string(body)}," for body in bodies]
    lines.append("}")
    lines.append("local counter = 0")
    lines.append("request = function()")
    lines.append("  counter = counter + 1")
    lines.append("  return wrk.format(nil, nil, nil, bodies[(counter % #bodies) + 1])")
    lines.append("end")
    return "\n".join(lines) + "\n"


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{byte}" for byte in data) + '"'


def _parse(output: str, peak_mb: float) -> Load:
    def latency(label: str) -> float:
        match = re.search(rf"^percentile {label} (\d+)$", output, re.MULTILINE)
        return int(match.group(1)) / 1000 if match else float("nan")

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(part) for part in socket.groups()) if socket else 0
    )
    return Load(
        float(rate.group(1)) if rate else 0.0,
        latency("50"),
        latency("95"),
        latency("99"),
        int(total.group(1)) if total else 0,
        errors,
        peak_mb,
    )


class _RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))
            time.sleep(0.25)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            total += int(match.group(1))
        pending.extend(int(child) for child in children)
    return total / 1024
