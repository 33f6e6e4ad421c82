"""Child processes the benchmarks and the integration tests start (a server, an agent each), stopped as an
operator stops them."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterable
from typing import Any

__all__ = ["stop"]


def stop(processes: Iterable[subprocess.Popen[Any]], patience: float = 30) -> None:
    """SIGTERM to each process still running, SIGKILL to any that has not exited ``patience`` s later; their
    stdout closed. All are signalled before any is waited for, so they shut down side by side."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(patience)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
