"""``BalancedWorkers``: uvicorn's worker supervisor, with a listening socket of its own per worker.

With one socket shared by every worker, the worker that wakes first accepts
every connection waiting, up to a hundred at a time: a burst of 32 client
connections measured 32/0, 26/6 and 23/9 between two workers, so one core
served while the other idled (a third of the machine idle at full load).
Here each worker listens on its own socket bound to the same address with
``SO_REUSEPORT``, and the kernel spreads new connections across them.

Only the socket handed to each worker changes; starting, health checks,
restarts of dead or hung workers and shutdown are uvicorn's own, and the
three methods below differ from uvicorn's only in passing
``[self.sockets[index]]``.
"""

from __future__ import annotations

import logging
import socket
import sys

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from govgraph.metrics.multiprocess import process_gone

logger = logging.getLogger("uvicorn.error")


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to one address (the first one's port, when ``port`` is 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family=family)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.set_inheritable(True)
    except OSError as error:
        for sock in sockets:
            sock.close()
        logger.error("cannot listen on %s:%d: %s", host, port, error.strerror or error)
        sys.exit(STARTUP_FAILURE)
    return sockets


class BalancedWorkers(Multiprocess):
    def __init__(self, config: Config) -> None:
        sockets = listening_sockets(config.host, config.port, config.workers)
        super().__init__(config, sockets)
        logger.info(
            "govgraph running on http://%s:%d with %d workers, one listening socket each",
            config.host,
            sockets[0].getsockname()[1],
            config.workers,
        )

    def init_processes(self) -> None:
        for index in range(self.processes_num):
            process = Process(self.config, [self.sockets[index]])
            process.start()
            self.processes.append(process)

    def restart_all(self) -> None:
        for index, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = Process(self.config, [self.sockets[index]])
            new_process.start()
            if not new_process.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new_process.kill()
                new_process.join()
                if not self.should_exit.is_set():
                    logger.error(
                        "New child process [%s] was not ready in time; keeping worker [%s] and aborting "
                        "the restart.",
                        new_process.pid,
                        old_process.pid,
                    )
                return
            old_process.terminate()
            old_process.join()
            self.processes[index] = new_process

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            process_gone(process.pid)  # its circuit-state gauges would otherwise outlive it in the scrape
            if process.exitcode == STARTUP_FAILURE:
                logger.error("Child process [%s] failed to start, stopping the parent process.", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("Child process [%s] died", process.pid)
            process = Process(self.config, [self.sockets[index]])
            process.start()
            self.processes[index] = process
